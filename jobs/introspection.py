"""What the queues hold, read for the admin console: each queue's depths, the number of workers, the failed
jobs (described without their tracebacks or arguments), and putting a failed job back on its queue.

Reading never changes anything: depths are the raw sizes of RQ's lists and registries, read in one round
trip, because the registries' own counters clean up expired entries first. Redis is reached with short
timeouts, so an unreachable Redis costs a page seconds, not a hang; its errors (``redis.exceptions.RedisError``)
reach the caller, which says so on the page. Only retrying changes RQ's state, and only for the job named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache

from redis import Redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result
from rq.worker_registration import REDIS_WORKER_KEYS

from config.settings import Settings
from jobs.queues import QUEUES

REDIS_CONNECT_TIMEOUT = 2.0
REDIS_TIMEOUT = 5.0
EXCEPTION_PREVIEW = 200


@lru_cache(maxsize=8)
def _redis_for(url: str) -> Redis:
    # Short timeouts: an unreachable Redis must cost a page seconds, not hang it.
    return Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT, socket_timeout=REDIS_TIMEOUT)


def introspection_redis(settings: Settings) -> Redis:
    """A Redis client for the settings' URL, with short timeouts; it connects on first command, not here."""
    return _redis_for(settings.redis_url)


# ---------------------------------------------------------------------------------------------- depths


@dataclass(frozen=True)
class QueueDepth:
    name: str
    holds: str
    waiting: int
    running: int
    scheduled: int
    deferred: int
    failed: int


def queue_depths(connection: Redis) -> tuple[list[QueueDepth], int]:
    """Every queue's depths and the number of workers, read in one round trip without side effects (the
    registries' own counters clean up expired entries first: a GET must not change anything)."""
    queues = [Queue(spec.name, connection=connection) for spec in QUEUES]
    with connection.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.llen(queue.key)
            for registry in (
                queue.started_job_registry,
                queue.scheduled_job_registry,
                queue.deferred_job_registry,
                queue.failed_job_registry,
            ):
                pipe.zcard(registry.key)
        pipe.scard(REDIS_WORKER_KEYS)
        values = [int(v or 0) for v in pipe.execute()]
    depths = []
    for index, spec in enumerate(QUEUES):
        waiting, running, scheduled, deferred, failed = values[index * 5 : index * 5 + 5]
        depths.append(QueueDepth(spec.name, spec.holds, waiting, running, scheduled, deferred, failed))
    return depths, values[-1]


# ---------------------------------------------------------------------------------------------- failed jobs


_TRACEBACK_FRAME = re.compile(r"^\s")
_CREDENTIALS_IN_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@")


def exception_summary(exc_string: str | None, limit: int = EXCEPTION_PREVIEW) -> str:
    """The exception's type and the first line of its message, from a formatted traceback, credentials in
    URLs masked and truncated: enough to recognise a failure, without the traceback's locals, arguments or
    the rest of a message that may carry data."""
    if not exc_string or not exc_string.strip():
        return ""
    lines = exc_string.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    line = lines[0]
    if starts:
        for candidate in lines[starts[-1] + 1 :]:
            if candidate.strip() and not _TRACEBACK_FRAME.match(candidate):
                line = candidate
                break
    line = _CREDENTIALS_IN_URL.sub(r"\1***@", line.strip())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class FailedJob:
    id: str
    queue: str
    function: str = ""
    enqueued_at: datetime | None = None
    ended_at: datetime | None = None
    exception: str = ""
    expired: bool = False  # the job's data is gone (it outlived its TTL): nothing to retry


def _failed_registry(connection: Redis, queue_name: str) -> FailedJobRegistry:
    return Queue(queue_name, connection=connection).failed_job_registry


def _describe(connection: Redis, queue_name: str, job_ids: list[str]) -> list[FailedJob]:
    described = []
    for job_id, job in zip(job_ids, Job.fetch_many(job_ids, connection=connection), strict=True):
        if job is None:
            described.append(FailedJob(id=job_id, queue=queue_name, expired=True))
            continue
        result = job.latest_result()
        exc = result.exc_string if result is not None and result.type == Result.Type.FAILED else None
        try:
            function = job.func_name or ""
        except Exception:  # the job's payload cannot be read by this version of the code
            function = "(unreadable)"
        described.append(
            FailedJob(
                id=job.id,
                queue=queue_name,
                function=function,
                enqueued_at=job.enqueued_at,
                ended_at=job.ended_at or (result.created_at if result is not None else None),
                exception=exception_summary(exc),
            )
        )
    return described


def failed_jobs(connection: Redis, queue_name: str, start: int, stop: int) -> list[FailedJob]:
    """Failed jobs `start` … `stop` (inclusive) of a queue, most recently failed first."""
    job_ids = _failed_registry(connection, queue_name).get_job_ids(start, stop, desc=True, cleanup=False)
    return _describe(connection, queue_name, job_ids)


# ---------------------------------------------------------------------------------------------- retry


class Requeue(Enum):
    """What came of putting one failed job back on its queue."""

    DONE = "done"
    NOT_FAILED = "not failed"  # not (or no longer) among the queue's failed jobs
    EXPIRED = "expired"  # the job's data has expired from Redis: there is nothing to run again
    GONE = "gone"  # retried or removed by someone else meanwhile


def _requeue(registry: FailedJobRegistry, job_id: str) -> bool:
    """Put one failed job back on its queue; False when it is no longer there to retry."""
    try:
        registry.requeue(job_id)
    except (InvalidJobOperation, NoSuchJobError):
        return False
    return True


def requeue_failed_job(connection: Redis, queue_name: str, job_id: str) -> Requeue:
    """Put failed job `job_id` of a queue back on that queue, unless it cannot be (the answer says why)."""
    registry = _failed_registry(connection, queue_name)
    if job_id not in registry:
        return Requeue.NOT_FAILED
    if Job.fetch_many([job_id], connection=connection)[0] is None:
        return Requeue.EXPIRED
    return Requeue.DONE if _requeue(registry, job_id) else Requeue.GONE


def requeue_all_failed(connection: Redis, queue_name: str) -> tuple[int, list[str]]:
    """Put every failed job of a queue back on it: (how many had failed, the ids of those put back — the
    others were retried or removed meanwhile)."""
    registry = _failed_registry(connection, queue_name)
    candidates = registry.get_job_ids(cleanup=False)
    return len(candidates), [job_id for job_id in candidates if _requeue(registry, job_id)]
