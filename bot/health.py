"""`/healthz`: 200 when the database answers, 503 when it does not."""
from flask import Blueprint, jsonify

from bot.services import services
from storage.db import ping

bp = Blueprint("health", __name__)


def init_app(app) -> None:
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz():
    if ping(services().engine):
        return jsonify(status="ok", database="ok")
    return jsonify(status="unavailable", database="unreachable"), 503
