"""A local WeCom stand-in: the parts of WeCom's server API the bot calls, over real HTTP.

Answers `GET /cgi-bin/gettoken`, `POST /cgi-bin/message/send` and `POST /cgi-bin/webhook/send`,
records every request for inspection, and can be told to fail (`fail_next`). Used by the tests
and the demo; `python -m bot.wecom.standin --port 8090` runs it alone and prints what it gets.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN_TTL = 7200


@dataclass
class _Fault:
    errcode: int | None
    status: int | None
    delay: float | None
    times: int


class WeComStandIn:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, corp_id: str | None = None,
                 secret: str | None = None, echo=None):
        self.host, self.port = host, port
        self.corp_id, self.secret = corp_id, secret    # None: accept any
        self.received: list[dict] = []
        self.token_fetches = 0
        self.tokens: dict[str, float] = {}             # token → expiry (monotonic)
        self.faults: dict[str, list[_Fault]] = {}
        self.lock = threading.Lock()
        self.echo = echo                               # callable(record) for the CLI
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> "WeComStandIn":
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- control -----------------------------------------------------------------------
    def fail_next(self, path: str, errcode: int | None = None, status: int | None = None,
                  times: int = 1, delay: float | None = None) -> None:
        """The next `times` calls to `path` answer `errcode`, or HTTP `status`, or sleep `delay`."""
        with self.lock:
            self.faults.setdefault(path, []).append(_Fault(errcode, status, delay, times))

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.faults.clear()
            self.token_fetches = 0

    # --- inspection ----------------------------------------------------------------------
    def sends(self, path: str) -> list[dict]:
        """Accepted (errcode 0) calls to `path`."""
        return [r for r in list(self.received) if r["path"] == path and r["errcode"] == 0]

    def messages_to(self, userid: str) -> list[dict]:
        return [r["json"] for r in self.sends("/cgi-bin/message/send")
                if userid in str(r["json"].get("touser", "")).split("|")]

    def webhook_messages(self, key: str) -> list[dict]:
        return [r["json"] for r in self.sends("/cgi-bin/webhook/send") if r["query"].get("key") == key]

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

    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict]:
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
        status, answer = self._answer(path, query, record)
        record["errcode"] = answer.get("errcode") if status == 200 else None
        record["status"] = status
        with self.lock:
            self.received.append(record)
        if self.echo:
            self.echo(record)
        return status, answer

    def _answer(self, path: str, query: dict, record: dict) -> tuple[int, dict]:
        fault = self._take_fault(path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return fault.status, {"errcode": -1, "errmsg": "injected HTTP error"}
            if fault.errcode is not None:
                return 200, {"errcode": fault.errcode, "errmsg": f"injected errcode {fault.errcode}"}
        if path == "/cgi-bin/gettoken":
            if self.secret is not None and query.get("corpsecret") != self.secret:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            if self.corp_id is not None and query.get("corpid") != self.corp_id:
                return 200, {"errcode": 40013, "errmsg": "invalid corpid"}
            token = secrets.token_hex(16)
            with self.lock:
                self.tokens[token] = time.monotonic() + TOKEN_TTL
                self.token_fetches += 1
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": TOKEN_TTL}
        if path == "/cgi-bin/message/send":
            token = query.get("access_token")
            with self.lock:
                expiry = self.tokens.get(token or "")
            if expiry is None:
                return 200, {"errcode": 40014, "errmsg": "invalid access_token"}
            if expiry < time.monotonic():
                return 200, {"errcode": 42001, "errmsg": "access_token expired"}
            body = record["json"] or {}
            if not body.get("touser") or body.get("msgtype") not in ("text", "markdown"):
                return 200, {"errcode": 40008, "errmsg": "invalid message"}
            return 200, {"errcode": 0, "errmsg": "ok", "invaliduser": "",
                         "msgid": secrets.token_hex(8)}
        if path == "/cgi-bin/webhook/send":
            if not query.get("key"):
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
            body = record["json"] or {}
            kind = body.get("msgtype")
            if kind == "image":
                img = body.get("image") or {}
                try:
                    data = base64.b64decode(img.get("base64", ""), validate=True)
                except ValueError:
                    return 200, {"errcode": 40009, "errmsg": "invalid image"}
                if hashlib.md5(data).hexdigest() != img.get("md5"):
                    return 200, {"errcode": 40009, "errmsg": "image md5 mismatch"}
            elif kind not in ("text", "markdown"):
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            elif len(((body.get(kind) or {}).get("content") or "").encode()) > 4096:
                return 200, {"errcode": 40058, "errmsg": "content exceeds 4096 bytes"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        return 404, {"errcode": 404, "errmsg": "not part of the stand-in"}


class _Handler(BaseHTTPRequestHandler):
    owner: WeComStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def _reply(self, status: int, answer: dict) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
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
    if r["path"] == "/cgi-bin/gettoken":
        print(f"gettoken → {'ok' if r['errcode'] == 0 else r['errcode']}", flush=True)
        return
    body = r["json"] or {}
    kind = body.get("msgtype")
    target = body.get("touser") or f"group robot {r['query'].get('key', '')[:6]}…"
    content = "[image]" if kind == "image" else (body.get(kind) or {}).get("content", "")
    print(f"{r['path']} → {target} ({kind}):\n  " + str(content).replace("\n", "\n  "), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.wecom.standin",
                                 description="a local WeCom API stand-in for trying the bot")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8090)
    a = ap.parse_args(argv)
    standin = WeComStandIn(host=a.host, port=a.port, echo=_print_record).start()
    print(f"WeCom stand-in at {standin.url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
