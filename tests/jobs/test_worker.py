"""Jobs run on a real Redis, in our worker, inside the app context, with our timeouts and retry policy."""

from __future__ import annotations

from flask import Flask
from redis import Redis
from rq.job import JobStatus

from config.settings import Settings
from jobs.base import RETRY_BACKOFF_SECONDS, RETRY_JITTER, enqueue, get_queue
from jobs.queues import EMAIL, PULL, PUSH, QUEUE_NAMES, queue_spec
from jobs.worker import make_worker
from tests.jobs import sample_jobs


def test_a_job_runs_inside_the_app_context(app: Flask, settings: Settings, redis: Redis) -> None:
    with app.app_context():
        job = enqueue(EMAIL, sample_jobs.report_app, "hello")

    assert make_worker(settings).work(burst=True)

    job.refresh()
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {
        "app": "email_actions.app",
        "public_base_url": "http://renewals.test",
        "marker": "hello",
    }
    assert redis.get("sample:marker") == b"hello"


def test_jobs_get_their_queues_timeout_and_the_retry_policy(app: Flask, redis: Redis) -> None:
    with app.app_context():
        push_job = enqueue(PUSH, sample_jobs.fail)
        pull_job = enqueue(PULL, "tests.jobs.sample_jobs.fail")

    assert push_job.timeout == queue_spec(PUSH).timeout_seconds
    assert pull_job.timeout == queue_spec(PULL).timeout_seconds
    for job in (push_job, pull_job):
        assert job.retries_left == len(RETRY_BACKOFF_SECONDS)
        assert job.retry_intervals is not None
        for interval, base in zip(job.retry_intervals, RETRY_BACKOFF_SECONDS, strict=True):
            assert base * (1 - RETRY_JITTER) - 1 <= interval <= base * (1 + RETRY_JITTER) + 1


def test_a_failing_job_is_scheduled_for_a_retry_not_lost(app: Flask, settings: Settings, redis: Redis) -> None:
    with app.app_context():
        job = enqueue(PUSH, sample_jobs.fail)

    make_worker(settings, (PUSH,)).work(burst=True)

    job.refresh()
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == len(RETRY_BACKOFF_SECONDS) - 1
    assert job.id in get_queue(PUSH, redis).scheduled_job_registry.get_job_ids()


def test_the_worker_listens_latency_sensitive_queues_first(settings: Settings) -> None:
    assert QUEUE_NAMES[0] == PUSH
    assert make_worker(settings).queue_names() == list(QUEUE_NAMES)
