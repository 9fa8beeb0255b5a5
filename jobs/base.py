"""The one place jobs are put on queues: Redis connection, default timeouts and the retry policy.

Retries with backoff happen here and only here (the layers below, e.g. the Salesforce client and boto3,
must not retry too, or attempts multiply). A retried job waits 15 s, 1 min, 5 min, then 20 min, each with
±20 % jitter so jobs that failed together don't come back together. Waiting retries are released by the
RQ scheduler that ``renewals worker`` runs.

Work is enqueued only after the commit of the rows it needs, inside :func:`enqueue_after_commit`: when Redis
is unreachable the committed rows wait for the scheduler's periodic sweeps instead of failing the request.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import structlog
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job
from rq.types import FunctionReferenceType

from config.settings import Settings, get_settings
from jobs.queues import queue_spec

RETRY_BACKOFF_SECONDS: tuple[int, ...] = (15, 60, 300, 1200)
RETRY_JITTER = 0.2

log = structlog.get_logger(__name__)


def redis_connection(settings: Settings | None = None) -> Redis:
    """A Redis client for the settings' URL; it connects on first command, not here."""
    return _connection_for((settings or get_settings()).redis_url)


@lru_cache(maxsize=8)
def _connection_for(url: str) -> Redis:
    return Redis.from_url(url)


def retry_policy() -> Retry:
    intervals = [round(base * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)) for base in RETRY_BACKOFF_SECONDS]
    return Retry(max=len(intervals), interval=intervals)


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    spec = queue_spec(name)
    return Queue(spec.name, connection=connection or redis_connection(), default_timeout=spec.timeout_seconds)


def enqueue(queue_name: str, func: FunctionReferenceType, *args: Any, **kwargs: Any) -> Job:
    """Put ``func(*args, **kwargs)`` on a queue with that queue's timeout and the retry policy.

    ``func`` is a function or its dotted path. Jobs take ids, not ORM objects, and are enqueued only after
    the transaction they depend on has committed (otherwise a fast worker may not find the row).
    """
    queue = get_queue(queue_name)
    return queue.enqueue_call(func, args=args, kwargs=kwargs, retry=retry_policy())


@contextmanager
def enqueue_after_commit(work: str) -> Iterator[None]:
    """Around the enqueueing of `work` whose rows are committed already: if Redis is unreachable, log it and
    carry on. Nothing is lost: the scheduler's periodic sweeps (the push every minute, the send every few
    minutes) find the committed rows anyway. The first Redis error ends the block; other errors propagate.
    """
    try:
        yield
    except RedisError as exc:
        log.warning("work not queued; the periodic sweep will pick it up", work=work, error=str(exc))
