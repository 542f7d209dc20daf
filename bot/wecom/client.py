"""The outbound WeCom client: access token, `message/send` to people, `webhook/send` to groups.

Method names follow WeCom's API paths. Everything goes under `api_base` (WeCom itself, or the
local stand-in). Built on requests rather than wechatpy's `WeChatClient`: that client's token
fetch ignores a custom API base, and its auto-retry on 40014 recurses without a bound. The
token cache is a wechatpy session storage (`MemoryStorage`, or `RedisStorage` shared by every
worker and the scheduler), so the token is fetched once between them.

Errors: a token error (40001/40014/42001) drops the token and retries once, then raises;
network errors and HTTP 5xx retry with exponential backoff a bounded number of times;
45009/130101 raise `WeComRateLimited` for the outbox to wait and resend. No secret, token or
webhook key ever appears in a log line or an exception message.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from typing import Callable

import requests
from wechatpy.session.memorystorage import MemoryStorage

log = logging.getLogger(__name__)

TOKEN_ERRORS = (40001, 40014, 42001)
RATE_LIMITS = (45009, 45033, 130101)
MAX_USERIDS = 1000
TOKEN_MARGIN = 300          # seconds before expiry when a cached token counts as expired


_SECRET_PARAMS = re.compile(r"((?:corpsecret|access_token|key)=)[^&\s\"']+")


class RedactQuerySecrets(logging.Filter):
    """Masks corpsecret=, access_token= and key= in urllib3's request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        if _SECRET_PARAMS.search(message):
            record.msg, record.args = _SECRET_PARAMS.sub(r"\1***", message), ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(RedactQuerySecrets())


class WeComError(Exception):
    def __init__(self, errcode: int, errmsg: str):
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"WeCom errcode {errcode}: {errmsg}")


class WeComRateLimited(WeComError):
    """45009 / 130101: the API or a group robot's 20-a-minute limit; resend later."""


class WeComUnavailable(WeComError):
    """Network errors or HTTP 5xx that outlasted the retries."""


class FallbackTokenStore:
    """A shared token store (Redis) that falls back to this process's memory when it fails."""

    def __init__(self, primary, fallback=None):
        self.primary = primary
        self.fallback = fallback or MemoryStorage()
        self.warned = False

    def _warn(self, exc: Exception) -> None:
        if not self.warned:
            log.warning("shared token cache unavailable (%s); using a per-process cache",
                        exc.__class__.__name__)
            self.warned = True

    def get(self, key, default=None):
        try:
            value = self.primary.get(key, default)
            self.warned = False
            return value
        except Exception as exc:  # redis.ConnectionError, TimeoutError, ...
            self._warn(exc)
            return self.fallback.get(key, default)

    def set(self, key, value, ttl=None):
        self.fallback.set(key, value, ttl)
        try:
            self.primary.set(key, value, ttl)
        except Exception as exc:
            self._warn(exc)

    def delete(self, key):
        self.fallback.delete(key)
        try:
            self.primary.delete(key)
        except Exception as exc:
            self._warn(exc)


def redis_token_store(redis_url: str) -> FallbackTokenStore:
    """wechatpy's RedisStorage on `redis_url`, falling back to memory when Redis is down."""
    import redis
    from wechatpy.session.redisstorage import RedisStorage

    client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
    return FallbackTokenStore(RedisStorage(client, prefix="morningcheck"))


class WeComClient:
    def __init__(self, corp_id: str, secret: str, agent_id: int, api_base: str, *,
                 token_store=None, timeout: float = 5.0, retries: int = 3, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None):
        self.corp_id = corp_id
        self._secret = secret
        self.agent_id = agent_id
        self.api_base = api_base.rstrip("/")
        self.store = token_store if token_store is not None else MemoryStorage()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.http = session or requests.Session()
        self._token_key = "token:" + hashlib.sha256(f"{corp_id}:{secret}".encode()).hexdigest()[:16]
        self._secrets = tuple(s for s in (secret,) if s)

    def __repr__(self) -> str:
        return f"WeComClient(corp_id={self.corp_id!r}, api_base={self.api_base!r})"

    # --- transport ---------------------------------------------------------------------
    def _http_json(self, method: str, path: str, *, params: dict, json_body=None) -> dict:
        """One API call with bounded retries on network errors and HTTP 5xx."""
        url = self.api_base + path
        for attempt in range(self.retries + 1):
            try:
                resp = self.http.request(method, url, params=params, json=json_body,
                                         timeout=self.timeout)
            except requests.RequestException as exc:
                problem = exc.__class__.__name__
            else:
                if resp.status_code < 500:
                    try:
                        data = resp.json()
                    except ValueError:
                        raise WeComError(-1, f"HTTP {resp.status_code} with a non-JSON body") from None
                    if not isinstance(data, dict):
                        raise WeComError(-1, "answer is not a JSON object")
                    return data
                problem = f"HTTP {resp.status_code}"
            if attempt == self.retries:
                raise WeComUnavailable(-1, f"{path}: {problem} after {self.retries + 1} tries")
            delay = self.backoff * (2 ** attempt)
            log.info("%s: %s, retrying in %.1fs", path, problem, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def _clean(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    # --- token -------------------------------------------------------------------------
    def get_access_token(self) -> str:
        cached = self.store.get(self._token_key)
        if isinstance(cached, dict) and cached.get("expires_at", 0) > time.time():
            return cached["token"]
        return self._fetch_token()

    def _fetch_token(self) -> str:
        data = self._http_json("GET", "/cgi-bin/gettoken",
                               params={"corpid": self.corp_id, "corpsecret": self._secret})
        if data.get("errcode", 0) != 0 or not data.get("access_token"):
            raise WeComError(int(data.get("errcode", -1)),
                             "gettoken failed: " + self._clean(str(data.get("errmsg", ""))))
        ttl = int(data.get("expires_in", 7200))
        value = {"token": data["access_token"], "expires_at": time.time() + ttl - TOKEN_MARGIN}
        self.store.set(self._token_key, value, ttl)
        log.info("fetched a WeCom access token (valid %ss)", ttl)
        return data["access_token"]

    def _drop_token(self) -> None:
        self.store.delete(self._token_key)

    def _api(self, path: str, body: dict) -> dict:
        """POST with the access token; refreshes it once on a token error."""
        for attempt in (1, 2):
            token = self.get_access_token()
            data = self._http_json("POST", path, params={"access_token": token}, json_body=body)
            code = int(data.get("errcode", 0) or 0)
            if code in TOKEN_ERRORS and attempt == 1:
                log.info("%s: token rejected (errcode %s), fetching a new one", path, code)
                self._drop_token()
                continue
            return self._check(path, data)
        raise AssertionError("unreachable")

    def _check(self, path: str, data: dict) -> dict:
        code = int(data.get("errcode", 0) or 0)
        if code == 0:
            return data
        msg = f"{path}: " + self._clean(str(data.get("errmsg", "")))
        if code in RATE_LIMITS:
            raise WeComRateLimited(code, msg)
        raise WeComError(code, msg)

    # --- message/send --------------------------------------------------------------------
    def _message_send(self, touser: list[str], msgtype: str, content: str) -> dict:
        users = [u for u in dict.fromkeys(touser) if u]
        if not users:
            raise ValueError("message_send needs at least one userid")
        last: dict = {}
        invalid: list[str] = []
        for i in range(0, len(users), MAX_USERIDS):
            body = {"touser": "|".join(users[i:i + MAX_USERIDS]), "msgtype": msgtype,
                    "agentid": self.agent_id, msgtype: {"content": content}, "safe": 0}
            last = self._api("/cgi-bin/message/send", body)
            if last.get("invaliduser"):
                invalid += str(last["invaliduser"]).split("|")
        if invalid:
            log.warning("message/send: %d userid(s) unknown to WeCom", len(invalid))
        return {**last, "invaliduser": "|".join(invalid)}

    def message_send_text(self, touser: list[str], content: str) -> dict:
        return self._message_send(touser, "text", content)

    def message_send_markdown(self, touser: list[str], content: str) -> dict:
        return self._message_send(touser, "markdown", content)

    # --- webhook/send (group robots) ----------------------------------------------------------
    def _webhook(self, key: str, body: dict) -> dict:
        data = self._http_json("POST", "/cgi-bin/webhook/send", params={"key": key}, json_body=body)
        code = int(data.get("errcode", 0) or 0)
        if code:
            msg = "/cgi-bin/webhook/send: " + self._clean(str(data.get("errmsg", ""))).replace(key, "***")
            if code in RATE_LIMITS:
                raise WeComRateLimited(code, msg)
            raise WeComError(code, msg)
        return data

    def webhook_send_text(self, key: str, content: str, mentioned_list=None) -> dict:
        text = {"content": content}
        if mentioned_list:
            text["mentioned_list"] = list(mentioned_list)
        return self._webhook(key, {"msgtype": "text", "text": text})

    def webhook_send_markdown(self, key: str, content: str) -> dict:
        return self._webhook(key, {"msgtype": "markdown", "markdown": {"content": content}})

    def webhook_send_image(self, key: str, png_bytes: bytes) -> dict:
        return self._webhook(key, {"msgtype": "image", "image": {
            "base64": base64.b64encode(png_bytes).decode(), "md5": hashlib.md5(png_bytes).hexdigest()}})
