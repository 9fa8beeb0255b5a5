"""``renewals worker`` and ``renewals scheduler``: the Procfile's background processes."""

from __future__ import annotations

import time
from typing import Any

import click
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError

from config.commands.cli import settings_from_environment
from config.settings.logs import configure_logging
from jobs.base import redis_connection
from jobs.queues import QUEUE_NAMES
from jobs.schedule import build_scheduler
from jobs.worker import make_worker


@click.command()
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(QUEUE_NAMES),
    help="A queue to work on (repeatable); default: all, in priority order.",
)
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
def worker(queues: tuple[str, ...], burst: bool) -> None:
    """Run jobs from the queues, each inside the app context."""

    settings = settings_from_environment()
    configure_logging(settings.log_level)
    chosen = tuple(name for name in QUEUE_NAMES if name in queues) or QUEUE_NAMES
    while True:
        _wait_for_redis(settings)
        try:
            # with_scheduler: releases jobs waiting for a retry; RQ makes sure only one worker does it at a time.
            # RQ's log set-up finds our handler on the root logger and adds none of its own (its lines come out
            # once, in our format); logging_level sets its loggers to ours, which importing RQ set to INFO.
            make_worker(settings, chosen).work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
            return
        except RedisConnectionError as exc:
            # Redis restarted under a running worker (RQ gives up on it): wait for Redis and work on, as a new
            # RQ worker; a job that was running is found again by its own idempotency (the outbox, the emails).
            if burst:
                raise
            structlog.get_logger(__name__).warning("lost Redis; waiting for it to work on", error=str(exc))


@click.command()
def scheduler() -> None:
    """Enqueue the periodic jobs (jobs/schedule.py) when they are due."""

    settings = settings_from_environment()
    configure_logging(settings.log_level)
    build_scheduler(redis_connection(settings)).start()


REDIS_WAIT_SECONDS = 120


def _wait_for_redis(settings: Any) -> None:
    """A worker started (or left running) while Redis restarts waits for it (backing off) instead of exiting at
    once; after REDIS_WAIT_SECONDS it gives up with a clear message."""

    log = structlog.get_logger(__name__)
    deadline = time.monotonic() + REDIS_WAIT_SECONDS
    delay = 0.2
    while True:
        try:
            redis_connection(settings).ping()
            return
        except RedisConnectionError as exc:
            if time.monotonic() > deadline:
                raise click.ClickException(f"Redis is not reachable at RENEWALS_REDIS_URL: {exc}") from exc
            log.warning("waiting for Redis", retry_in=round(delay, 1))
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
