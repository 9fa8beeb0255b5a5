"""The service's front page and the health check a load balancer or the demo polls.

The health check answers from one indexed query and never calls Salesforce or Redis: its status code says
whether the database answers; the age of the oldest write still owed to Salesforce rides along as
information (a push waiting out a Salesforce outage is not an unhealthy web app).
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template
from sqlalchemy.exc import SQLAlchemyError

from sync_service.outbox.waiting import oldest_pending_seconds
from sync_service.store.db import current_session

bp = Blueprint("status", __name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str | int | None], int]:
    try:
        # The outbox's question doubles as the database probe: one aggregate the status index answers.
        oldest = oldest_pending_seconds(current_session())
    except SQLAlchemyError:
        # Logged with its traceback for the operator; the response names no host, URL or driver detail.
        current_app.logger.exception("health check: database unreachable (or not migrated)")
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok", "outbox_oldest_pending_seconds": oldest}, 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
