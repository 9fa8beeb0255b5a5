"""Periodic jobs: the scheduler enqueues them when due, and the heartbeat records that it is alive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from redis import Redis

from config.settings import Settings
from jobs.maintenance import heartbeat, last_heartbeat
from jobs.queues import DEFAULT, EMAIL, PULL, PUSH, queue_spec
from jobs.schedule import SCHEDULE, PeriodicJob, build_scheduler
from jobs.worker import make_worker


def test_the_schedule_holds_the_heartbeat() -> None:
    assert "jobs.maintenance.heartbeat" in [job.func for job in SCHEDULE]


def test_reminders_are_planned_once_a_day() -> None:
    planner = [job for job in SCHEDULE if job.func == "jobs.planning.plan_reminders_job"]
    assert planner == [PeriodicJob("jobs.planning.plan_reminders_job", DEFAULT, cron="0 6 * * *")]


def test_the_scheduler_enqueues_due_jobs_and_a_worker_records_the_heartbeat(settings: Settings, redis: Redis) -> None:
    scheduler = build_scheduler(redis)
    enqueued = {job.func_name: job for job in scheduler.enqueue_jobs()}
    # Interval jobs are due at once (heartbeat, incremental pull, outbox sweep, renewal intents); cron ones wait.
    assert set(enqueued) == {
        "jobs.maintenance.heartbeat",
        "jobs.pull.pull_job",
        "jobs.push.push_job",
        "jobs.email.send_due_job",
        "jobs.renewal_intents.settle_renewal_intents_job",
    }
    assert enqueued["jobs.push.push_job"].queue_name == PUSH
    assert enqueued["jobs.renewal_intents.settle_renewal_intents_job"].queue_name == PUSH
    assert enqueued["jobs.email.send_due_job"].queue_name == EMAIL
    assert enqueued["jobs.maintenance.heartbeat"].queue_name == DEFAULT
    assert enqueued["jobs.maintenance.heartbeat"].job_options["job_timeout"] == queue_spec(DEFAULT).timeout_seconds
    assert enqueued["jobs.pull.pull_job"].queue_name == PULL
    # Not due again until their intervals have passed.
    assert scheduler.enqueue_jobs() == []

    assert last_heartbeat(redis) is None
    make_worker(settings).work(burst=True)
    beat = last_heartbeat(redis)
    assert beat is not None
    assert datetime.now(UTC) - beat < timedelta(minutes=1)


def test_heartbeat_outside_a_worker_uses_the_app_settings(app: Flask, redis: Redis) -> None:
    with app.app_context():
        recorded = heartbeat()
    assert last_heartbeat(redis) == datetime.fromisoformat(recorded)
