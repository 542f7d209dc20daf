"""`serve`: the one-machine setup, the webhook under gunicorn plus the scheduler in-process.

One gunicorn worker with threads serves the webhook; the scheduler runs in that worker (it is
started after the fork, so it is never copied into a second process). Past one machine, run
`gunicorn -w N 'bot.app:create_app()'` for the web and a single `python -m bot scheduler`.

`serve` binds 127.0.0.1 unless told otherwise (HTTPS comes from a proxy in front,
docs/deploy.md), writes its files owner-only (umask 077), and runs `BufferingThreadWorker`:
gunicorn's gthread worker gives a connection a thread as soon as its first byte arrives and
then reads the rest blocking, so eight clients that send a byte now and then (as many as
there are threads) stall every other request. This worker reads each request, headers and a
body up to `BUFFER_BODY` bytes, without blocking, between the poller's wake-ups; a thread
only sees a request once it is all there, and a request that takes longer than
`REQUEST_SECONDS` to arrive is dropped. The same worker serves
`gunicorn -k bot.server.BufferingThreadWorker`; a buffering proxy in front (nginx's default)
does this job too, and is what deploy.md recommends.
"""
from __future__ import annotations

import logging
import os
import re
import time

from gunicorn.app.base import BaseApplication
from gunicorn.workers import gthread

from handlers.config import Config

log = logging.getLogger(__name__)

REQUEST_SECONDS = 10.0          # from a request's first byte to its last
BUFFER_BODY = 256 * 1024        # = bot.app.MAX_BODY: larger bodies are refused with 413 anyway
MAX_HEADERS = 64 * 1024         # gunicorn refuses longer header blocks itself
_CONTENT_LENGTH = re.compile(rb"\r?\ncontent-length[ \t]*:[ \t]*(\d{1,12})[ \t]*\r?\n", re.I)
_CHUNKED = re.compile(rb"\r?\ntransfer-encoding[ \t]*:", re.I)


def request_complete(buf: bytes) -> bool:
    """True when `buf` holds a whole request (or all of it this worker will wait for)."""
    end = buf.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end, sep = buf.find(b"\n\n"), 2
    if end < 0:
        return len(buf) > MAX_HEADERS            # let gunicorn refuse it
    head = buf[:end + sep]
    if _CHUNKED.search(head):
        return True                              # not from WeCom; read by gunicorn as usual
    m = _CONTENT_LENGTH.search(head)
    if m is None:
        return True
    length = int(m.group(1))
    return length > BUFFER_BODY or len(buf) - len(head) >= length


class _Pending:
    __slots__ = ("buf", "started")

    def __init__(self):
        self.buf = b""
        self.started: float | None = None


class BufferingThreadWorker(gthread.ThreadWorker):
    """gthread that hands a thread only a request that has fully arrived (see the module)."""

    def handle(self, conn):
        if self.cfg.is_ssl:
            return super().handle(conn)
        state = getattr(conn, "_mc_pending", None)
        if state is None:
            state = conn._mc_pending = _Pending()
        if conn.parser is not None:              # bytes read ahead after the last request
            state.buf += conn.parser.unreader.take_buffered()
        closed = False
        try:
            conn.sock.setblocking(False)
            while len(state.buf) <= MAX_HEADERS + BUFFER_BODY:
                try:
                    chunk = conn.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                if not chunk:
                    closed = True
                    break
                state.buf += chunk
        except OSError:
            return False
        if state.buf and state.started is None:
            state.started = time.monotonic()
        if not (closed or request_complete(state.buf)):
            if state.started is not None and time.monotonic() - state.started > REQUEST_SECONDS:
                log.info("dropped a request from %s that took over %.0f s to arrive",
                         conn.client[0] if conn.client else "?", REQUEST_SECONDS)
                # closed here, at once: gunicorn's graceful close lingers up to 2 s reading
                # what the client still sends, on the worker's main thread
                conn.sock.close()
                return False
            conn.data_ready = False
            return gthread._DEFER                # back to the poller, no thread held
        if closed and not state.buf:
            return False
        data, state.buf, state.started = state.buf, b"", None
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.unread(data)
        conn.data_ready = True
        return super().handle(conn)


class _Gunicorn(BaseApplication):
    def __init__(self, factory, options: dict):
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.factory()


def serve(config: Config, *, host: str, port: int, scheduler: bool, threads: int = 8) -> int:
    from bot.app import create_app

    os.umask(0o077)            # the database, its WAL, exports: readable by this user only
    started = {}

    def post_worker_init(worker):
        if scheduler:
            from scheduler.runner import start_in_background
            from bot.wecom.client import make_client
            started["scheduler"] = start_in_background(config, make_client(config))

    def worker_exit(server, worker):
        sched = started.pop("scheduler", None)
        if sched is not None:
            sched.shutdown()

    options = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": "bot.server.BufferingThreadWorker",
        "threads": threads,
        "worker_connections": 256,          # buffered requests: at most 256 × 320 KB
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "accesslog": "-",
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }
    log.info("serving the webhook on http://%s:%s/wecom/callback%s", host, port,
             " with the scheduler" if scheduler else "")
    _Gunicorn(lambda: create_app(config), options).run()
    return 0
