"""The Flask app factory: `create_app()` wires the webhook, health check and dashboard.

gunicorn runs `bot.app:create_app()` in every worker, so the factory never starts a
scheduler; `python -m bot serve` or `python -m bot scheduler` runs the one scheduler.

Behind a reverse proxy (docs/deploy.md) `[server] trusted_proxies = N` applies werkzeug's
ProxyFix to the last N hops of X-Forwarded-For and X-Forwarded-Proto: the dashboard's
per-address login limit then sees each client's own address, and https requests get Secure
cookies and HSTS. Without it those headers are ignored (anyone can send them), and a request
that carries them is logged once as a likely misconfiguration.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from bot import aibot, callback, dashboard, dashboard_notices, health  # noqa: F401 - its pages
from bot import dashboard_watch  # noqa: F401 - the 摸排 page
from bot import dashboard_supplies  # noqa: F401 - the 物资 page
from bot import dashboard_signals  # noqa: F401 - the early-warning pages
from bot.config import Config, load_config, resolve_path
from bot.services import EXTENSION, Services

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024        # any request; the webhooks allow less (aibot_crypto.MAX_BODY)
HSTS = "max-age=31536000"    # a year; only ever sent on https


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
    _init_transport(app, services.config.server.trusted_proxies)
    return app


def _init_transport(app: Flask, trusted_proxies: int) -> None:
    if trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies)
    warned = []

    @app.after_request
    def _transport_headers(response):
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        elif (not trusted_proxies and not warned
              and ("X-Forwarded-For" in request.headers or "X-Forwarded-Proto" in request.headers)):
            warned.append(True)
            log.warning("requests come through a proxy (X-Forwarded-For/-Proto) but "
                        "[server] trusted_proxies is 0: client addresses and https are not "
                        "seen; set it to the number of proxies in front (docs/deploy.md)")
        return response


def _init_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return Response(exc.description or exc.name, status=exc.code, mimetype="text/plain")

    @app.errorhandler(SQLAlchemyError)
    def _database(exc: SQLAlchemyError):
        # WeCom retries a callback that fails; the unique MsgId keeps the retry single.
        log.error("database unavailable: %s", str(getattr(exc, "orig", exc)).splitlines()[0])
        return Response("database unavailable, retry later", status=503, mimetype="text/plain")
