"""The service's front page and the health check a load balancer or the demo polls.

The health check answers from two indexed queries and never calls Salesforce or Redis: its status code says
whether the database answers; the age of the oldest write still owed to Salesforce rides along as
information (a push waiting out a Salesforce outage is not an unhealthy web app).

Stale data rides along the same way (``stale_mappings``: each active mapping past the freshness limit, with its
last successful pull, since when it is stale and why reminders wait; empty while fresh) and keeps the answer
200: a load balancer that took the web app out of rotation would stop Renew, the portals and the console,
which work on stale data (Renew reads the org live), and restarting the web app fixes no pull. Monitoring that
cares alerts on a non-empty list. See :mod:`sync_service.freshness`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, render_template
from sqlalchemy.exc import SQLAlchemyError

from config.settings import get_settings
from sync_service.freshness import freshness_limit, stale_mappings
from sync_service.outbox.waiting import oldest_pending_seconds
from sync_service.store.db import current_session

bp = Blueprint("status", __name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    try:
        # The outbox's question doubles as the database probe: one aggregate the status index answers.
        session = current_session()
        oldest = oldest_pending_seconds(session)
        stale = stale_mappings(session, limit=freshness_limit(get_settings()))
    except SQLAlchemyError:
        # Logged with its traceback for the operator; the response names no host, URL or driver detail.
        current_app.logger.exception("health check: database unreachable (or not migrated)")
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {
        "status": "ok",
        "database": "ok",
        "outbox_oldest_pending_seconds": oldest,
        "stale_mappings": [item.as_dict() for item in stale],
    }, 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
