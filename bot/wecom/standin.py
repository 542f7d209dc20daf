"""A local WeCom stand-in: the parts of WeCom's server API the bot calls, over real HTTP.

Answers `GET /cgi-bin/gettoken`, `POST /cgi-bin/message/send` and `POST /cgi-bin/webhook/send`
on 127.0.0.1, records every request for inspection (`.received`, `.messages_to(userid)`,
`.webhook_messages(key)`, `.token_fetches`), and can be told to fail (`fail_next`,
`expire_tokens`). Used by the tests and the demo; `python -m bot.wecom.standin --port 0` runs
it alone, prints its URL and then every message it receives.

Like WeCom: gettoken answers the same token while it is valid (expires_in counts down) and a
new one after it expired; a wrong corpsecret gets 40001; an unknown access_token gets 40014
and an expired one 42001; a group robot's text may hold 2048 bytes, markdown 4096, an image
2 MB (checked against its md5); message/send takes at most 1000 userids, honours
`enable_duplicate_check` (the same content to the same person within
`duplicate_check_interval` seconds reaches them once: the record's `delivered` lists who got
it), and, with
`known_users` given, lists unknown ones in `invaliduser` (81013 when none is known); with
`robot_limit_per_minute=20` a robot key answers 45009 past 20 messages in a minute (off by
default, so tests and the demo can send in bursts).

Each record in `.received` is a plain dict: method, path, query (dict), json (the parsed
body or None), time (epoch seconds when it arrived), status, errcode.

A request delayed by `fail_next(..., delay=s)` alone is still answered and, like a slow WeCom,
still delivered after the delay: a client that timed out meanwhile and retried has then sent
it twice. Combine `delay` with `status` or `errcode` for a slow failure that delivers nothing.
Records are appended when a request has been answered; `.in_flight` counts the requests still
being answered (a delayed one), so a test can wait for `in_flight == 0` before counting.
`fail_next(path, errcode=60020, errmsg=...)` answers as WeCom does to a server whose IP is not
among the app's trusted IPs (any errcode can be injected like that).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN_TTL = 7200
TEXT_LIMIT = 2048             # bytes of a robot's text content
MARKDOWN_LIMIT = 4096         # bytes of a robot's markdown content
IMAGE_LIMIT = 2 * 1024 * 1024  # bytes of a robot's image, before base64


@dataclass
class _Fault:
    errcode: int | None
    status: int | None
    delay: float | None
    times: int
    errmsg: str | None = None


class WeComStandIn:
    """WeCom's API on 127.0.0.1 (an OS-chosen port by default); `with WeComStandIn() as w:`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, corp_id: str | None = None,
                 secret: str | None = None, echo=None, robot_limit_per_minute: int | None = None,
                 known_users=None):
        self.host, self.port = host, port
        self.corp_id, self.secret = corp_id, secret    # None: accept any
        self.received: list[dict] = []
        self.token_fetches = 0                         # successful gettoken calls
        self.tokens: dict[str, float] = {}             # token → expiry (monotonic)
        self.current: dict[tuple, str] = {}            # (corpid, corpsecret) → its valid token
        self.robot_limit = robot_limit_per_minute
        self.known_users = None if known_users is None else set(known_users)  # None: all known
        self.robot_sends: dict[str, list[float]] = {}  # key → monotonic times of accepted sends
        self.delivered_at: dict[tuple, float] = {}     # (agentid, user, msgtype, content) → when
        self.faults: dict[str, list[_Fault]] = {}
        self.in_flight = 0                             # requests received, not yet answered
        self.lock = threading.Lock()
        self.echo = echo                               # callable(record) for the CLI
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> "WeComStandIn":
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- control -----------------------------------------------------------------------
    def fail_next(self, path: str, errcode: int | None = None, status: int | None = None,
                  times: int = 1, delay: float | None = None, errmsg: str | None = None) -> None:
        """The next `times` calls to `path` answer `errcode` (with `errmsg`), or HTTP `status`,
        after sleeping `delay` seconds if given (a delay alone: answered normally, late).
        Faults queue up per path in the order they were asked for."""
        with self.lock:
            self.faults.setdefault(path, []).append(_Fault(errcode, status, delay, times, errmsg))

    def expire_tokens(self) -> None:
        """Every token handed out so far expires now: API calls with one get 42001."""
        with self.lock:
            past = time.monotonic() - 1
            for token in self.tokens:
                self.tokens[token] = past
            self.current.clear()

    def forget_tokens(self) -> None:
        """Every token handed out so far becomes unknown: API calls with one get 40014."""
        with self.lock:
            self.tokens.clear()
            self.current.clear()

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.faults.clear()
            self.delivered_at.clear()
            self.token_fetches = 0

    # --- inspection ----------------------------------------------------------------------
    def sends(self, path: str) -> list[dict]:
        """Accepted (errcode 0) calls to `path`."""
        return [r for r in list(self.received) if r["path"] == path and r["errcode"] == 0]

    def messages_to(self, userid: str) -> list[dict]:
        """The messages `userid` received (not those WeCom's duplicate check held back)."""
        return [r["json"] for r in self.sends("/cgi-bin/message/send")
                if userid in r.get("delivered", ())]

    def webhook_messages(self, key: str) -> list[dict]:
        return [r["json"] for r in self.sends("/cgi-bin/webhook/send") if r["query"].get("key") == key]

    def calls(self, path: str) -> list[dict]:
        """Every answered request to `path`, accepted or not."""
        return [r for r in list(self.received) if r["path"] == path]

    # --- request handling ----------------------------------------------------------------
    def _take_fault(self, path: str) -> _Fault | None:
        with self.lock:
            queue = self.faults.get(path) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict | str]:
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        record = {"method": method, "path": path, "query": query, "json": None,
                  "time": time.time(), "errcode": None}
        if body:
            try:
                record["json"] = json.loads(body)
            except ValueError:
                record["json"] = {"_raw": body[:200].decode("utf-8", "replace")}
        with self.lock:
            self.in_flight += 1
        try:
            status, answer = self._answer(path, query, record)
            record["errcode"] = (answer.get("errcode") if status == 200 and isinstance(answer, dict)
                                 else None)
            record["status"] = status
            with self.lock:
                self.received.append(record)
        finally:
            with self.lock:
                self.in_flight -= 1
        if self.echo:
            self.echo(record)
        return status, answer

    def _deliver(self, body: dict, kind: str, content: str, users: list[str]) -> tuple[str, ...]:
        """Who receives a message/send: with `enable_duplicate_check`, not those who got the
        same content within `duplicate_check_interval` seconds (WeCom's default: 1800)."""
        if not body.get("enable_duplicate_check"):
            return tuple(users)
        try:
            window = min(max(int(body.get("duplicate_check_interval") or 1800), 0), 14400)
        except (TypeError, ValueError):
            window = 1800
        now = time.monotonic()
        out = []
        with self.lock:
            for u in users:
                key = (body.get("agentid"), u, kind, content)
                if now - self.delivered_at.get(key, -1e12) >= window:
                    self.delivered_at[key] = now
                    out.append(u)
        return tuple(out)

    def _answer(self, path: str, query: dict, record: dict) -> tuple[int, dict | str]:
        fault = self._take_fault(path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return fault.status, f"<html><body>{fault.status} (injected)</body></html>"
            if fault.errcode is not None:
                return 200, {"errcode": fault.errcode,
                             "errmsg": fault.errmsg or f"injected errcode {fault.errcode}"}
        if path == "/cgi-bin/gettoken":
            if self.secret is not None and query.get("corpsecret") != self.secret:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            if self.corp_id is not None and query.get("corpid") != self.corp_id:
                return 200, {"errcode": 40013, "errmsg": "invalid corpid"}
            who = (query.get("corpid"), query.get("corpsecret"))
            now = time.monotonic()
            with self.lock:
                token = self.current.get(who)
                if token is None or self.tokens.get(token, 0) <= now + 1:
                    token = secrets.token_hex(32)
                    self.tokens[token] = now + TOKEN_TTL
                    self.current[who] = token
                self.token_fetches += 1
                left = int(self.tokens[token] - now)
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": left}
        if path == "/cgi-bin/message/send":
            token = query.get("access_token")
            with self.lock:
                expiry = self.tokens.get(token or "")
            if expiry is None:
                return 200, {"errcode": 40014, "errmsg": "invalid access_token"}
            if expiry < time.monotonic():
                return 200, {"errcode": 42001, "errmsg": "access_token expired"}
            body = record["json"] if isinstance(record["json"], dict) else {}
            kind = body.get("msgtype")
            if not isinstance(body.get("touser"), str) or not body["touser"] or kind not in ("text", "markdown"):
                return 200, {"errcode": 40008, "errmsg": "invalid message"}
            content = (body.get(kind) or {}).get("content") if isinstance(body.get(kind), dict) else None
            if not isinstance(content, str) or not content:
                return 200, {"errcode": 44004, "errmsg": "empty content"}
            users = body["touser"].split("|")
            if len(users) > 1000:
                return 200, {"errcode": 40003, "errmsg": "too many userids (at most 1000)"}
            invalid = [] if self.known_users is None else [u for u in users if u not in self.known_users]
            if invalid and len(invalid) == len(users):
                return 200, {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
            record["delivered"] = self._deliver(body, kind, content,
                                                [u for u in users if u not in invalid])
            return 200, {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid),
                         "msgid": secrets.token_hex(8)}
        if path == "/cgi-bin/webhook/send":
            if not query.get("key"):
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
            body = record["json"] if isinstance(record["json"], dict) else {}
            kind = body.get("msgtype")
            if not isinstance(body.get(kind), dict):
                return 200, {"errcode": 40008, "errmsg": "invalid message"}
            if kind == "image":
                img = body["image"]
                try:
                    data = base64.b64decode(img.get("base64") or "", validate=True)
                except (ValueError, TypeError):
                    return 200, {"errcode": 40009, "errmsg": "invalid image"}
                if not data or len(data) > IMAGE_LIMIT:
                    return 200, {"errcode": 40009, "errmsg": "invalid image size"}
                if hashlib.md5(data).hexdigest() != img.get("md5"):
                    return 200, {"errcode": 40009, "errmsg": "image md5 mismatch"}
            elif kind in ("text", "markdown"):
                content = body[kind].get("content")
                mentioned = body[kind].get("mentioned_list")
                if mentioned is not None and not (
                        isinstance(mentioned, list) and all(isinstance(m, str) for m in mentioned)):
                    return 200, {"errcode": 40058, "errmsg": "mentioned_list must be a list of userids"}
                limit = TEXT_LIMIT if kind == "text" else MARKDOWN_LIMIT
                if not isinstance(content, str) or not content:
                    return 200, {"errcode": 44004, "errmsg": "empty content"}
                if len(content.encode()) > limit:
                    return 200, {"errcode": 40058,
                                 "errmsg": f"{kind}.content exceed max length {limit}"}
            else:
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            if self.robot_limit:
                key, now = query["key"], time.monotonic()
                with self.lock:
                    recent = [t for t in self.robot_sends.get(key, []) if t > now - 60]
                    if len(recent) >= self.robot_limit:
                        self.robot_sends[key] = recent
                        return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
                    self.robot_sends[key] = recent + [now]
            return 200, {"errcode": 0, "errmsg": "ok"}
        return 404, {"errcode": 404, "errmsg": "not part of the stand-in"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return          # a client that timed out and hung up before a delayed answer
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: WeComStandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True       # headers and body go out in two writes

    def log_message(self, *args):  # keep test output clean
        pass

    def _reply(self, status: int, answer) -> None:
        if isinstance(answer, str):                  # an injected HTTP error page
            data, kind = answer.encode(), "text/html"
        else:
            data, kind = json.dumps(answer, ensure_ascii=False).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._reply(*self.owner.handle("GET", self.path, b""))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._reply(*self.owner.handle("POST", self.path, body))


def _print_record(r: dict) -> None:
    """One received request, readably, for the command line."""
    stamp = time.strftime("%H:%M:%S", time.localtime(r["time"]))
    outcome = "ok" if r.get("errcode") == 0 else (
        f"errcode {r['errcode']}" if r.get("errcode") is not None else f"HTTP {r.get('status')}")
    if r["path"] == "/cgi-bin/gettoken":
        print(f"[{stamp}] gettoken → {outcome}", flush=True)
        return
    body = r["json"] if isinstance(r["json"], dict) else {}
    kind = body.get("msgtype")
    if r["path"] == "/cgi-bin/message/send":
        target = "to " + str(body.get("touser", "?")).replace("|", ", ")
    else:
        target = f"group robot {str(r['query'].get('key', ''))[:6]}…"
    part = body.get(kind) if isinstance(body.get(kind), dict) else {}
    if kind == "image":
        content = f"[image, {len(base64.b64decode(part.get('base64') or '', validate=False))} bytes]"
    else:
        content = str(part.get("content", ""))
    mentions = part.get("mentioned_list")
    if mentions:
        content += "\n@ " + ", ".join(map(str, mentions))
    print(f"[{stamp}] {r['path']} {target} ({kind}) → {outcome}\n  "
          + content.replace("\n", "\n  "), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.wecom.standin",
                                 description="a local WeCom API stand-in for trying the bot")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8090, help="0: any free port (default 8090)")
    ap.add_argument("--corp-id", default=None, help="accept only this corpid (default: any)")
    ap.add_argument("--secret", default=None, help="accept only this corpsecret (default: any)")
    ap.add_argument("--robot-limit", type=int, default=None,
                    help="messages a robot key may send a minute (WeCom: 20; default: no limit)")
    a = ap.parse_args(argv)
    try:
        standin = WeComStandIn(host=a.host, port=a.port, corp_id=a.corp_id, secret=a.secret,
                               robot_limit_per_minute=a.robot_limit, echo=_print_record).start()
    except OSError as exc:
        print(f"cannot listen on {a.host}:{a.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"WeCom stand-in at {standin.url} (api_base = \"{standin.url}\"; Ctrl-C to stop)",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
