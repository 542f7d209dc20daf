"""The Flask app factory: `create_app()` wires the webhook, health check and dashboard.

gunicorn runs `bot.app:create_app()` in every worker, so the factory never starts a
scheduler; `python -m bot serve` or `python -m bot scheduler` runs the one scheduler.
"""
from __future__ import annotations

import logging

from flask import Flask, Response
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from bot import aibot, callback, dashboard, health
from bot.config import Config, load_config, resolve_path
from bot.services import EXTENSION, Services

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024       # WeCom's real callbacks are a few KB


def create_app(config: Config | None = None, *, clock=None, services: Services | None = None) -> Flask:
    if services is None:
        if config is None:
            config = load_config(resolve_path(None))
        services = Services.build(config, clock=clock)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions[EXTENSION] = services
    callback.init_app(app)
    aibot.init_app(app)
    health.init_app(app)
    dashboard.init_app(app)
    _init_errors(app)
    return app


def _init_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return Response(exc.description or exc.name, status=exc.code, mimetype="text/plain")

    @app.errorhandler(SQLAlchemyError)
    def _database(exc: SQLAlchemyError):
        # WeCom retries a callback that fails; the unique MsgId keeps the retry single.
        log.error("database unavailable: %s", str(getattr(exc, "orig", exc)).splitlines()[0])
        return Response("database unavailable, retry later", status=503, mimetype="text/plain")
