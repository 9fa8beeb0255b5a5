"""The push of the outbox to Salesforce (sync_service.outbox): after a commit that recorded a write worth
seeing at once (Renew, Contact rep), and every minute by the scheduler for whatever is left.

Push jobs get no RQ retry: rows that failed transiently carry their own backoff in the outbox, and the next
sweep is the retry (a second retry layer would only multiply attempts). A push that stopped because Salesforce
did not answer is recorded as a `retrying` run: it blocks nothing, and its rows wait without spending attempts.

A push that finds more due rows than one batch asks the other workers on the push queue for help: it queues
helper pushes, one per idle worker up to one per batch due (at most `MAX_PARALLEL_PUSHES` pushes at once), which
drain the same outbox in parallel. They never write one row twice: each claim takes rows no other push holds
(FOR UPDATE SKIP LOCKED) and leases them (sync_service.outbox.push). Helpers ask for no help themselves, so one
backlog makes one fan-out. The point is throughput: each call waits on Salesforce far longer than on us, so a
backlog (the Tasks of a day's sending, an outage's writes) drains about as many times faster as workers help.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import structlog
from rq import Worker
from rq.job import Job
from sqlalchemy import func, select

from config.settings import get_settings
from jobs.base import enqueue_after_commit, get_queue
from jobs.queues import PUSH
from sync_service import console_settings
from sync_service.link_hits import drain_hits
from sync_service.outbox.push import BATCH, Pusher
from sync_service.pull.service import NothingToPull, active_mappings
from sync_service.salesforce.client import connect
from sync_service.salesforce.connect_settings import connection_from_settings
from sync_service.salesforce.runs import record_run
from sync_service.store import models
from sync_service.store.db import current_database
from sync_service.store.models import utcnow

log = structlog.get_logger(__name__)

# Pushes at once on one backlog, whatever the workers: Salesforce allows 25 long-running calls per org at a
# time, and the service shares the org with everyone else's integrations.
MAX_PARALLEL_PUSHES = 8


def push_job(helper: bool = False) -> dict[str, Any]:
    """Drain the due outbox rows; a `helper` (queued by another push for a backlog) queues no helpers itself."""
    db = current_database()
    settings = get_settings()
    drain_hits(db.sessionmaker)  # the link hits appended since: their events, and the human ones' Tasks
    with db.session_scope() as session:
        due_rows = (
            select(models.OutboxItem.id)
            .where(models.OutboxItem.status == "pending", models.OutboxItem.next_attempt_at <= utcnow())
            .limit(BATCH * MAX_PARALLEL_PUSHES + 1)
        )
        due = session.scalar(select(func.count()).select_from(due_rows.subquery()))
        if not due:
            return {"status": "idle"}  # no sign-in, no API call, when there is nothing to send
        try:
            # Tasks look the same whichever mapping caused them: the first active mapping's conventions.
            _, mapping = active_mappings(session)[0]
        except NothingToPull as exc:
            log.info("outbox waits", reason=str(exc))
            return {"status": "skipped", "reason": str(exc)}
        budget = console_settings.api_budget(session, settings)  # the admin console's, else the environment's
    helpers = 0 if helper else ask_for_help(due)
    started = datetime.now(UTC)
    sf = connect(connection_from_settings(settings))
    result = Pusher(db.sessionmaker, sf, mapping.write_back.tasks, budget).push()
    summary = {**asdict(result), "helpers": helpers}
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


def ask_for_help(due: int) -> int:
    """Queue helper pushes for `due` rows: one per batch beyond the first, no more than the other workers on the
    push queue (busy ones take theirs when they are free, and find little left) nor MAX_PARALLEL_PUSHES in all.
    Returns how many were queued; without Redis, none (this push drains alone)."""
    wanted = min(MAX_PARALLEL_PUSHES, math.ceil(due / BATCH)) - 1
    if wanted <= 0:
        return 0
    with enqueue_after_commit("push helpers"):
        queue = get_queue(PUSH)
        # This push's own worker is among them.
        helpers = min(wanted, Worker.count(queue=queue) - 1)
        for _ in range(helpers):
            queue.enqueue_call("jobs.push.push_job", kwargs={"helper": True})
        return max(helpers, 0)
    return 0


def enqueue_push() -> Job:
    """Queue a push now; call only after the commit that recorded the rows (a fast worker must see them)."""
    return get_queue(PUSH).enqueue_call("jobs.push.push_job")
