"""The service's front page and the health check a load balancer or the demo polls."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from sync_service.store.db import current_session

bp = Blueprint("status", __name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    try:
        current_session().execute(text("SELECT 1"))
    except SQLAlchemyError:
        # Logged with its traceback for the operator; the response names no host, URL or driver detail.
        current_app.logger.exception("health check: database unreachable")
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}, 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
