"""The push of the outbox to Salesforce (sync_service.outbox): after a commit that recorded a write worth
seeing at once (Renew, Contact rep), and every minute by the scheduler for whatever is left.

Push jobs get no RQ retry: rows that failed transiently carry their own backoff in the outbox, and the next
sweep is the retry (a second retry layer would only multiply attempts). A push that stopped because Salesforce
did not answer is recorded as a `retrying` run: it blocks nothing, and its rows wait without spending attempts.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import structlog
from rq.job import Job
from sqlalchemy import select

from config.settings import get_settings
from jobs.base import get_queue
from jobs.queues import PUSH
from sync_service import console_settings
from sync_service.outbox.push import Pusher
from sync_service.pull.service import NothingToPull, active_mappings
from sync_service.salesforce.client import connect
from sync_service.salesforce.connect_settings import connection_from_settings
from sync_service.salesforce.runs import record_run
from sync_service.store import models
from sync_service.store.db import current_database
from sync_service.store.models import utcnow

log = structlog.get_logger(__name__)


def push_job() -> dict[str, Any]:
    db = current_database()
    settings = get_settings()
    with db.session_scope() as session:
        due = session.scalar(
            select(models.OutboxItem.id)
            .where(models.OutboxItem.status == "pending", models.OutboxItem.next_attempt_at <= utcnow())
            .limit(1)
        )
        if due is None:
            return {"status": "idle"}  # no sign-in, no API call, when there is nothing to send
        try:
            # Tasks look the same whichever mapping caused them: the first active mapping's conventions.
            _, mapping = active_mappings(session)[0]
        except NothingToPull as exc:
            log.info("outbox waits", reason=str(exc))
            return {"status": "skipped", "reason": str(exc)}
        budget = console_settings.api_budget(session, settings)  # the admin console's, else the environment's
    started = datetime.now(UTC)
    sf = connect(connection_from_settings(settings))
    result = Pusher(db.sessionmaker, sf, mapping.write_back.tasks, budget).push()
    summary = asdict(result)
    log.info("outbox pushed", **summary)
    # A push that had work is a run the admin can see, like a pull: a pause at the API reserve or a failed
    # sign-in must not hide in a log. Idle sweeps (every minute) leave no row.
    with db.session_scope() as session:
        record_run(
            session,
            mapping_name=mapping.name,
            kind="push",
            started=started,
            status=result.status,
            error=result.error,
            rows={"done": result.done, "retrying": result.retrying, "dead": result.dead, "conflicts": result.conflicts},
            api_calls=result.api_calls,
            usage_recorded=True,  # the pusher counts its calls as it goes
        )
    return summary


def enqueue_push() -> Job:
    """Queue a push now; call only after the commit that recorded the rows (a fast worker must see them)."""
    return get_queue(PUSH).enqueue_call("jobs.push.push_job")
