"""Sending the due reminders (email_actions.mail.sending): the scheduler queues them every few minutes and fans
the queued emails out in batches over the email queue, so several workers send in parallel under the one
rate limit they share in Redis.

A batch job may run twice (an RQ retry, a worker killed and the job requeued): it only sends emails still
`queued`, each claimed with a conditional update first, so nothing goes out twice.
"""

from __future__ import annotations

from typing import Any

import structlog

from config.settings import get_settings
from email_actions.mail.sending import ratelimit
from email_actions.mail.sending.pipeline import EmailSender, queue_due, queued_ids, sweep_stale_sending
from jobs.base import enqueue, redis_connection
from jobs.queues import EMAIL
from sync_service.store.db import current_database
from sync_service.store.models import utcnow

log = structlog.get_logger(__name__)

BATCH = 50


def send_due_job(limit: int | None = None) -> dict[str, Any]:
    """Queue the emails of due reminders and enqueue batches of every queued email."""
    db = current_database()
    redis = redis_connection()
    with db.session_scope() as session:
        stale = sweep_stale_sending(session)
        reminders = queue_due(session, today=utcnow().date(), limit=limit)
    with db.session_scope() as session:
        ids = queued_ids(session)
    reason = ratelimit.paused(redis)
    if reason is not None:
        log.warning("sending paused", reason=reason, queued=len(ids))
        return {"reminders": reminders, "queued": len(ids), "batches": 0, "stale": stale, "paused": reason}
    batches = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    for batch in batches:
        enqueue(EMAIL, send_batch_job, batch)
    log.info("reminders queued", reminders=reminders, emails=len(ids), batches=len(batches), stale=stale)
    return {"reminders": reminders, "queued": len(ids), "batches": len(batches), "stale": stale, "paused": None}


def send_batch_job(message_ids: list[int]) -> dict[str, Any]:
    """Send these emails (those still queued)."""
    db = current_database()
    sender = EmailSender(db.sessionmaker, get_settings(), redis_connection())
    summary = sender.send(message_ids).as_dict()
    log.info("email batch sent", **summary)
    return summary
