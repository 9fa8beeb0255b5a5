"""Periodic jobs, as data, run by RQ's cron scheduler (``renewals scheduler``).

A periodic job gets its queue's timeout but no RQ retries: the next tick is its retry, and a retry
landing next to the next tick would only run it twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from rq.cron import CronScheduler
from rq.utils import import_attribute

from jobs.queues import DEFAULT, queue_spec


@dataclass(frozen=True)
class PeriodicJob:
    func: str
    queue: str
    interval_seconds: int | None = None
    cron: str | None = None


SCHEDULE: tuple[PeriodicJob, ...] = (PeriodicJob("jobs.maintenance.heartbeat", DEFAULT, interval_seconds=60),)


def build_scheduler(connection: Redis, schedule: tuple[PeriodicJob, ...] = SCHEDULE) -> CronScheduler:
    scheduler = CronScheduler(connection=connection)
    for job in schedule:
        scheduler.register(
            import_attribute(job.func),
            queue_name=job.queue,
            interval=job.interval_seconds,
            cron=job.cron,
            job_timeout=queue_spec(job.queue).timeout_seconds,
        )
    return scheduler
