"""Periodic jobs: the scheduler enqueues them when due, and the heartbeat records that it is alive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from redis import Redis

from config.settings import Settings
from jobs.maintenance import heartbeat, last_heartbeat
from jobs.queues import DEFAULT, queue_spec
from jobs.schedule import SCHEDULE, build_scheduler
from jobs.worker import make_worker


def test_the_schedule_holds_the_heartbeat_and_the_daily_planner() -> None:
    assert [job.func for job in SCHEDULE] == ["jobs.maintenance.heartbeat", "jobs.planning.plan_reminders_job"]


def test_the_scheduler_enqueues_due_jobs_and_a_worker_records_the_heartbeat(settings: Settings, redis: Redis) -> None:
    scheduler = build_scheduler(redis)
    enqueued = scheduler.enqueue_jobs()
    assert [job.func_name for job in enqueued] == ["jobs.maintenance.heartbeat"]
    assert [job.queue_name for job in enqueued] == [DEFAULT]
    assert enqueued[0].job_options["job_timeout"] == queue_spec(DEFAULT).timeout_seconds
    # Not due again until its interval has passed.
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
