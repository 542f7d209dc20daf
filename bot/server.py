"""`serve`: the one-machine setup, the webhook under gunicorn plus the scheduler in-process.

One gunicorn worker with threads serves the webhook; the scheduler runs in that worker (it is
started after the fork, so it is never copied into a second process). Past one machine, run
`gunicorn -w N 'bot.app:create_app()'` for the web and a single `python -m bot scheduler`.
"""
from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

from bot.config import Config

log = logging.getLogger(__name__)


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

    started = {}

    def post_worker_init(worker):
        if scheduler:
            from scheduler.runner import start_in_background
            started["scheduler"] = start_in_background(config)

    def worker_exit(server, worker):
        sched = started.pop("scheduler", None)
        if sched is not None:
            sched.shutdown()

    options = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 10,
        "accesslog": "-",
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }
    log.info("serving the webhook on http://%s:%s/wecom/callback%s", host, port,
             " with the scheduler" if scheduler else "")
    _Gunicorn(lambda: create_app(config), options).run()
    return 0
