"""The daily planning job: brings the reminder rows up to date for today (``sync_service.planning``).

It takes no arguments and always plans for the current UTC day, so a run that is late, repeated or
retried by hand plans exactly what is due when it runs; the planner is idempotent, so running it more
often than daily is harmless. The cadence in force (the admin console's, else the cadence file) is read on
every run, so an edit takes effect on the next run, and a file broken since the process started fails the
job with the planner's message instead of planning with a stale cadence.

While the store's data is stale (:mod:`sync_service.freshness`: a mapping's last successful pull is older than
``RENEWALS_FRESHNESS_LIMIT_HOURS``) the job plans nothing and says why in its result (``paused``); the next run
after a successful pull catches up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from config.settings import get_settings
from sync_service import console_settings
from sync_service.freshness import reminders_paused
from sync_service.planning.planner import plan_reminders
from sync_service.store.db import session_scope

log = structlog.get_logger(__name__)


def plan_reminders_job() -> dict[str, Any]:
    """Plan today's reminders and commit; the summary is the job's result (RQ keeps it)."""
    today = datetime.now(UTC).date()
    settings = get_settings()
    with session_scope() as session:
        paused = reminders_paused(session, settings)
        if paused is not None:
            log.warning("planning paused", reason=paused)
            return {"today": today.isoformat(), "planned": 0, "paused": paused}
        cadence = console_settings.cadence(session, settings)
        summary = plan_reminders(session, today=today, cadence=cadence)
    result = {**summary.as_dict(), "paused": None}
    log.info("reminders planned", **result)
    return result
