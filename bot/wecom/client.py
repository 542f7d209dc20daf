"""The outbound WeCom client: access token, `message/send` to people, `webhook/send` to groups.

Method names follow WeCom's API paths. Everything goes under `api_base` (WeCom itself, or the
local stand-in).

Built on requests rather than wechatpy's `wechatpy.enterprise.WeChatClient`: in 1.8 its token
fetch builds its own URL (a custom API base has to be patched in twice), its auto-retry on
40014/42001 recurses without a bound, the webhook robot API is not part of it at all, and it
has no bounded retry on network errors or 5xx. What we need is three small HTTP calls, so the
retry, token and redaction rules are easier to read and test here than as overrides.

Token cache: any object with get(key) / set(key, value, ttl) (and optionally delete(key));
by default wechatpy's in-process `MemoryStorage`; `RedisTokenStore(url)` shares the token
between the web workers and the scheduler and falls back to the process's memory, with a
WARNING, while Redis is unreachable. A token counts as expired `TOKEN_MARGIN` seconds early.

Errors: a token error (40001/40014/42001) from an API call drops the token, fetches a new one
and retries once; a second token error raises `WeComError` (never a loop). Network errors,
timeouts, HTTP 5xx and errcode -1 (WeCom's "system busy") retry with exponential backoff
(`retries` times, `backoff` * 2**n seconds via the injectable `sleep`), then raise
`WeComUnavailable`. 45009/45033/130101 raise `WeComRateLimited` for the outbox to wait and
resend. Note that a retried timeout or 5xx may deliver a message twice if WeCom had in fact
accepted the first try: sending is at-least-once.

No secret, access token or webhook key ever appears in a log line, an exception message or
a repr: urllib3's request-line logs are filtered, and every errmsg we pass on is cleaned.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
from typing import Callable

import requests

from handlers.config import Config
from handlers.outgoing import WeComError, WeComRateLimited, WeComUnavailable  # noqa: F401
from wechatpy.session.memorystorage import MemoryStorage

log = logging.getLogger(__name__)

TOKEN_ERRORS = (40001, 40014, 42001)
RATE_LIMITS = (45009, 45033, 130101)
MAX_USERIDS = 1000
DUPLICATE_CHECK_SECONDS = 1800      # message/send's duplicate check window (WeCom: 1800 by default)
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


class FallbackTokenStore:
    """A shared token store (Redis) that falls back to this process's memory when it fails.

    After a failure the shared store is left alone for `retry_after` seconds, so a Redis that
    is down costs one connection attempt per interval rather than one per message. The
    WARNING is logged once per outage.
    """

    def __init__(self, primary, fallback=None, retry_after: float = 30.0):
        self.primary = primary
        self.fallback = fallback if fallback is not None else MemoryStorage()
        self.retry_after = retry_after
        self.warned = False
        self._down_until = 0.0

    def _usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + self.retry_after
        if not self.warned:
            log.warning("shared token cache unavailable (%s); using a per-process cache",
                        exc.__class__.__name__)
            self.warned = True

    # A cache: whatever the shared store raises (redis.ConnectionError, TimeoutError, a value
    # that does not decode, ...) is logged and answered from this process's memory instead.
    def get(self, key, default=None):
        if self._usable():
            try:
                value = self.primary.get(key, default)
            except Exception as exc:
                self._failed(exc)
            else:
                if self.warned:
                    log.info("shared token cache is back")
                    self.warned = False
                return value
        return self.fallback.get(key, default)

    def set(self, key, value, ttl=None):
        self.fallback.set(key, value, ttl)
        if self._usable():
            try:
                self.primary.set(key, value, ttl)
            except Exception as exc:
                self._failed(exc)

    def delete(self, key):
        self.fallback.delete(key)
        if self._usable():
            try:
                self.primary.delete(key)
            except Exception as exc:
                self._failed(exc)


class RedisTokenStore(FallbackTokenStore):
    """wechatpy's RedisStorage on `redis_url`, falling back to memory while Redis is down.

    Every process pointed at the same Redis shares one access token. Redis calls time out
    after a second, so an unreachable Redis slows a send by at most that before the fallback.
    """

    def __init__(self, redis_url: str, prefix: str = "morningcheck"):
        import redis
        from wechatpy.session.redisstorage import RedisStorage

        client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        super().__init__(RedisStorage(client, prefix=prefix))


def redis_token_store(redis_url: str) -> RedisTokenStore:
    """Kept for callers of the earlier name: `RedisTokenStore(redis_url)`."""
    return RedisTokenStore(redis_url)


def _errcode(data: dict) -> int:
    """The answer's errcode as an int (absent: 0; not a number: -1, i.e. a failure)."""
    try:
        return int(data.get("errcode", 0) or 0)
    except (TypeError, ValueError):
        return -1


class WeComClient:
    """WeCom's server API for one app (corp id + secret + agent id) and its group robots."""

    def __init__(self, corp_id: str, secret: str, agent_id: int, api_base: str, *,
                 token_store=None, timeout: float = 5.0, retries: int = 3, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep, session: requests.Session | None = None):
        self.corp_id = corp_id
        self._secret = secret
        self.agent_id = agent_id
        self.api_base = api_base.rstrip("/")
        self.store = token_store if token_store is not None else MemoryStorage()
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.sleep = sleep
        self.http = session or requests.Session()
        self._token_key = "token:" + hashlib.sha256(f"{corp_id}:{secret}".encode()).hexdigest()[:16]
        self._token_lock = threading.Lock()
        self._seen_tokens: dict[str, None] = {}      # recent tokens, masked in every message

    def __repr__(self) -> str:
        return f"WeComClient(corp_id={self.corp_id!r}, api_base={self.api_base!r})"

    # --- transport ---------------------------------------------------------------------
    def _http_json(self, method: str, path: str, *, params: dict, json_body=None) -> dict:
        """One API call with bounded retries on network errors, HTTP 5xx and errcode -1."""
        url = self.api_base + path
        for attempt in range(self.retries + 1):
            try:
                resp = self.http.request(method, url, params=params, json=json_body,
                                         timeout=self.timeout)
            except requests.RequestException as exc:
                problem = exc.__class__.__name__          # never str(exc): it holds the URL
            else:
                problem = None
                if resp.status_code >= 500:
                    problem = f"HTTP {resp.status_code}"
                else:
                    try:
                        data = resp.json()
                    except ValueError:
                        raise WeComError(-1, f"{path}: HTTP {resp.status_code} with a non-JSON body") from None
                    if not isinstance(data, dict):
                        raise WeComError(-1, f"{path}: answer is not a JSON object")
                    if data.get("errcode") == -1:          # WeCom: "system busy, retry"
                        problem = "errcode -1 (system busy)"
                    else:
                        return data
            if attempt == self.retries:
                raise WeComUnavailable(-1, f"{path}: {problem} after {self.retries + 1} tries")
            delay = self.backoff * (2 ** attempt)
            log.info("%s: %s, retrying in %.1fs", path, problem, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def _clean(self, text: str, *more: str) -> str:
        """`text` with the secret, every token we have held and `more` (robot keys) masked."""
        for s in (self._secret, *list(self._seen_tokens), *more):
            if s:
                text = text.replace(s, "***")
        return _SECRET_PARAMS.sub(r"\1***", text)

    # --- token -------------------------------------------------------------------------
    def get_access_token(self) -> str:
        """The cached access token, fetched from /cgi-bin/gettoken when missing or expiring."""
        token = self._cached_token()
        if token:
            return token
        with self._token_lock:                 # one fetch for all threads of this process
            return self._cached_token() or self._fetch_token()

    def _cached_token(self) -> str | None:
        cached = self.store.get(self._token_key)
        if isinstance(cached, dict) and cached.get("expires_at", 0) > time.time() and cached.get("token"):
            self._remember(cached["token"])
            return cached["token"]
        return None

    def _remember(self, token: str) -> None:
        if token not in self._seen_tokens:
            self._seen_tokens[token] = None
            while len(self._seen_tokens) > 8:
                self._seen_tokens.pop(next(iter(self._seen_tokens)))

    def _fetch_token(self) -> str:
        data = self._http_json("GET", "/cgi-bin/gettoken",
                               params={"corpid": self.corp_id, "corpsecret": self._secret})
        code = _errcode(data)
        token = data.get("access_token")
        if code != 0 or not isinstance(token, str) or not token:
            raise WeComError(code or -1, "gettoken failed: " + self._clean(str(data.get("errmsg", ""))))
        self._remember(token)
        try:
            ttl = max(1, int(data.get("expires_in") or 7200))
        except (TypeError, ValueError):
            ttl = 7200
        value = {"token": token, "expires_at": time.time() + ttl - min(TOKEN_MARGIN, ttl // 2)}
        self.store.set(self._token_key, value, ttl)
        log.info("fetched a WeCom access token (valid %ss)", ttl)
        return token

    def _drop_token(self, token: str) -> None:
        """Forgets `token`, unless another thread or process has already replaced it."""
        with self._token_lock:
            cached = self.store.get(self._token_key)
            if isinstance(cached, dict) and cached.get("token") not in (None, token):
                return
            delete = getattr(self.store, "delete", None)
            if delete is not None:
                delete(self._token_key)
            else:
                self.store.set(self._token_key, None, 1)

    def _api(self, path: str, body: dict) -> dict:
        """POST with the access token; on a token error fetches a new one and retries once."""
        token = self.get_access_token()
        data = self._http_json("POST", path, params={"access_token": token}, json_body=body)
        code = _errcode(data)
        if code in TOKEN_ERRORS:
            log.info("%s: access token rejected (errcode %s), fetching a new one", path, code)
            self._drop_token(token)
            token = self.get_access_token()
            data = self._http_json("POST", path, params={"access_token": token}, json_body=body)
            code = _errcode(data)
            if code in TOKEN_ERRORS:
                raise WeComError(code, f"{path}: access token rejected again right after a refresh "
                                       f"(check corp_id, secret and the app's permissions): "
                                       + self._clean(str(data.get("errmsg", ""))))
        return self._check(path, data)

    def _check(self, path: str, data: dict, *keys: str) -> dict:
        code = _errcode(data)
        if code == 0:
            return data
        msg = f"{path}: " + self._clean(str(data.get("errmsg", "")), *keys)
        if code in RATE_LIMITS:
            raise WeComRateLimited(code, msg)
        raise WeComError(code, msg)

    # --- message/send --------------------------------------------------------------------
    def _message_send(self, touser: list[str], msgtype: str, content: str) -> dict:
        """One call per 1000 userids ("a|b|c"); the invalid users of all calls are merged."""
        if isinstance(touser, str):
            touser = touser.split("|")
        users = [u for u in dict.fromkeys(touser) if u]
        if not users:
            raise ValueError("message_send needs at least one userid")
        last: dict = {}
        invalid: list[str] = []
        for i in range(0, len(users), MAX_USERIDS):
            body = {"touser": "|".join(users[i:i + MAX_USERIDS]), "msgtype": msgtype,
                    "agentid": self.agent_id, msgtype: {"content": content}, "safe": 0,
                    # WeCom drops the same content to the same person within the interval:
                    # a resend after a lost answer or a crash reaches nobody twice.
                    "enable_duplicate_check": 1,
                    "duplicate_check_interval": DUPLICATE_CHECK_SECONDS}
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
        if not key:
            raise ValueError("webhook_send needs a robot key")
        data = self._http_json("POST", "/cgi-bin/webhook/send", params={"key": key}, json_body=body)
        return self._check("/cgi-bin/webhook/send", data, key)

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


def make_client(config: Config, *, sleep=None):
    """The real WeCom client for `[wecom]`, sharing its token through Redis when configured."""
    w = config.wecom
    kwargs = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    store = _token_store(config)
    if store is not None:
        kwargs["token_store"] = store
    return WeComClient(w.corp_id, w.secret, w.agent_id, w.api_base, **kwargs)


def _token_store(config: Config):
    if not config.redis_url:
        return None
    return redis_token_store(config.redis_url)     # falls back to memory if Redis is down
