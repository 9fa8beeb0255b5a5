"""Periodic jobs, as data, run by RQ's cron scheduler (``renewals scheduler``).

A periodic job gets its queue's timeout but no RQ retries: the next tick is its retry, and a retry
landing next to the next tick would only run it twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from rq.cron import CronScheduler
from rq.utils import import_attribute

from jobs.queues import DEFAULT, EMAIL, PULL, PUSH, queue_spec


@dataclass(frozen=True)
class PeriodicJob:
    func: str
    queue: str
    interval_seconds: int | None = None
    cron: str | None = None


SCHEDULE: tuple[PeriodicJob, ...] = (
    PeriodicJob("jobs.maintenance.heartbeat", DEFAULT, interval_seconds=60),
    # Daily, at 06:00 in the scheduler host's time zone (RQ's cron reads local time); the job itself plans
    # for the UTC date, and, being idempotent, may run again by hand at any time.
    PeriodicJob("jobs.planning.plan_reminders_job", DEFAULT, cron="0 6 * * *"),
    # Incremental pulls are cheap (one query per entity when little changed); the nightly reconcile catches
    # records that left the scope or were deleted in ways an incremental pull cannot select.
    PeriodicJob("jobs.pull.pull_job", PULL, interval_seconds=15 * 60),
    PeriodicJob("jobs.pull.reconcile_job", PULL, cron="30 2 * * *"),
    # The outbox sweep: what no after-commit push took, and rows whose retry is due. Idle sweeps cost one
    # local query and no API call.
    PeriodicJob("jobs.push.push_job", PUSH, interval_seconds=60),
    # Renewals the org could not confirm at the Renew POST: tried again each minute until the org answers
    # (an idle tick is one local query). On the push queue: both wait on the org, neither on the other.
    PeriodicJob("jobs.renewal_intents.settle_renewal_intents_job", PUSH, interval_seconds=60),
    # Reminders are planned at 06:00 and go out from the next tick on; idle ticks cost one local query.
    PeriodicJob("jobs.email.send_due_job", EMAIL, interval_seconds=5 * 60),
)


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
