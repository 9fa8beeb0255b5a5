"""Sending the due reminders (email_actions.mail.sending): the scheduler queues them every few minutes and fans
the queued emails out in batches over the email queue, so several workers send in parallel under the one
rate limit they share in Redis.

A batch job may run twice (an RQ retry, a worker killed and the job requeued): it only sends emails still
`queued`, each claimed with a conditional update first, so nothing goes out twice.

While the store's data is stale (:mod:`sync_service.freshness`) the send job queues no reminder and fans out only
the queued emails that are not reminders or rep notices (confirmations, contact-request notices); its result
says why in ``stale_pause``. The reminders wait in the queue until a pull succeeds.
"""

from __future__ import annotations

from typing import Any

import structlog

from config.settings import get_settings
from email_actions.mail.sending import ratelimit
from email_actions.mail.sending.pipeline import EmailSender, queue_due, queued_ids, sweep_stale_sending
from jobs.base import enqueue, redis_connection
from jobs.queues import EMAIL
from sync_service.freshness import reminders_paused
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
        stale_pause = reminders_paused(session, get_settings())
        reminders = queue_due(session, today=utcnow().date(), limit=limit) if stale_pause is None else 0
    if stale_pause is not None:
        log.warning("reminders paused", reason=stale_pause)
    with db.session_scope() as session:
        ids = queued_ids(session, reminders=stale_pause is None)
    result = {"reminders": reminders, "queued": len(ids), "stale": stale, "stale_pause": stale_pause}
    reason = ratelimit.paused(redis)
    if reason is not None:
        log.warning("sending paused", reason=reason, queued=len(ids))
        return {**result, "batches": 0, "paused": reason}
    batches = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    for batch in batches:
        enqueue(EMAIL, send_batch_job, batch)
    log.info("reminders queued", reminders=reminders, emails=len(ids), batches=len(batches), stale=stale)
    return {**result, "batches": len(batches), "paused": None}


def send_batch_job(message_ids: list[int]) -> dict[str, Any]:
    """Send these emails (those still queued)."""
    db = current_database()
    sender = EmailSender(db.sessionmaker, get_settings(), redis_connection())
    summary = sender.send(message_ids).as_dict()
    log.info("email batch sent", **summary)
    return summary
