"""Sending the due reminders (email_actions.mail.sending): the scheduler queues them every few minutes and fans
the queued emails out in batches over the email queue, so several workers send in parallel under the one
rate limit they share in Redis.

A batch job may run twice (an RQ retry, a worker killed and the job requeued): it only sends emails still
`queued`, each claimed with a conditional update first, so nothing goes out twice.

**Batch size from the rate.** A batch must end well inside the email queue's job timeout: a job that times
out is killed with emails in flight, and those end `unknown`, never sent. Every worker on the email queue
may be sending a batch at once, so a batch gets about ``rate / workers`` emails a second, and holds at most
what that share sends in ``BATCH_TIME_SHARE`` of the timeout (at 1 email a second and two workers, 37). As a
last guard a batch stops taking send slots at ``DEADLINE_SHARE`` of its timeout (more workers than counted,
a slower rate): what it did not reach stays `queued` and goes in a batch of its own, queued at once.

While the store's data is stale (:mod:`sync_service.freshness`) the send job queues no reminder and fans out only
the queued emails that are not reminders or rep notices (confirmations, contact-request notices); its result
says why in ``stale_pause``. The reminders wait in the queue until a pull succeeds.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from redis import Redis
from rq import Worker, get_current_job

from config.settings import get_settings
from email_actions.mail.sending import ratelimit
from email_actions.mail.sending.pipeline import EmailSender, queue_due, queued_ids, sweep_stale_sending
from email_actions.mail.sending.ses import read_quota
from jobs.base import enqueue, get_queue, redis_connection
from jobs.queues import EMAIL, queue_spec
from sync_service.freshness import reminders_paused
from sync_service.store.db import current_database
from sync_service.store.models import utcnow

log = structlog.get_logger(__name__)

BATCH = 100  # the most emails in one batch, however fast the rate (each batch costs a work horse and a set-up)
BATCH_TIME_SHARE = 0.25  # a batch is sized to take at most this share of the queue's job timeout
DEADLINE_SHARE = 0.8  # a batch takes no send slot after this share of its job's timeout


def batch_size(rate: float, workers: int, timeout_seconds: float) -> int:
    """How many emails a batch may hold so that it ends within ``BATCH_TIME_SHARE`` of `timeout_seconds`
    when each of `workers` sends a batch at once at an equal share of `rate` (emails per second)."""
    share = rate / max(1, workers)
    return max(1, min(BATCH, int(share * timeout_seconds * BATCH_TIME_SHARE)))


def staggered_batches(ids: list[int], size: int, workers: int) -> list[list[int]]:
    """`ids` in batches of `size`, except the first ones: with several workers the first `workers` batches grow
    by ``size / workers`` each, so the workers that take them together finish them one after the other, and
    stay staggered after. A work horse sends nothing while it starts (the fork, the set-up, the first render:
    a tenth to a third of a second on a busy machine); if every worker's horse started at once, as equal
    batches taken together make them do, each start would be a gap in the rate for all of them (measured with
    two workers at 50 emails a second: about 7 % of the rate)."""
    sizes: list[int] = []
    if workers > 1 and size > 1:
        sizes = [max(1, size * (k + 1) // workers) for k in range(workers - 1)]
    batches: list[list[int]] = []
    start = 0
    for length in sizes:
        if start >= len(ids):
            break
        batches.append(ids[start : start + length])
        start += length
    batches.extend(ids[i : i + size] for i in range(start, len(ids), size))
    return batches


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
    size = BATCH
    workers = Worker.count(queue=get_queue(EMAIL, redis))
    if ids:
        size = batch_size(_send_rate(redis), workers, queue_spec(EMAIL).timeout_seconds)
    batches = staggered_batches(ids, size, workers)
    for batch in batches:
        enqueue(EMAIL, send_batch_job, batch)
    log.info("reminders queued", reminders=reminders, emails=len(ids), batches=len(batches), stale=stale)
    return {**result, "batches": len(batches), "batch_size": size, "paused": None}


def send_batch_job(message_ids: list[int]) -> dict[str, Any]:
    """Send these emails (those still queued), taking no send slot past ``DEADLINE_SHARE`` of the job's
    timeout; the emails not reached by then go in a new batch if this one sent anything (otherwise the
    scheduler's next send job fans them out again, so a rate too slow for any slot never spins)."""
    db = current_database()
    sender = EmailSender(db.sessionmaker, get_settings(), redis_connection())
    summary = sender.send(message_ids, deadline=_deadline())
    result = summary.as_dict()
    if (
        summary.deferred_ids
        and summary.paused is None
        and summary.sent + summary.failed + sum(summary.skipped.values())
    ):
        enqueue(EMAIL, send_batch_job, summary.deferred_ids)
        log.info("email batch out of time; the rest queued as a new batch", emails=summary.deferred)
    log.info("email batch sent", **result)
    return result


def _send_rate(redis: Redis) -> float:
    """The rate all workers share (emails per second); while SES cannot say, one a second, so batches stay
    short until it can."""
    try:
        return read_quota(get_settings(), redis).max_send_rate
    except (BotoCoreError, ClientError) as exc:
        log.warning("SES quota unreadable; batches sized for one email a second", error=str(exc))
        return 1.0


def _deadline() -> float | None:
    """When the running batch job must stop taking send slots (`time.monotonic()`); None outside a job or
    for a job without a timeout."""
    job = get_current_job()
    if job is None or job.timeout is None or job.timeout <= 0:
        return None
    return time.monotonic() + job.timeout * DEADLINE_SHARE
