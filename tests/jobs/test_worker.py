"""Jobs run on a real Redis, in our worker, inside the app context, with our timeouts and retry policy."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from rq import Worker
from rq.job import JobStatus

from config.settings import Settings
from email_actions.mail.rendering import formatting
from jobs.base import RETRY_BACKOFF_SECONDS, RETRY_JITTER, enqueue, get_queue
from jobs.queues import DEFAULT, EMAIL, PULL, PUSH, QUEUE_NAMES, queue_spec
from jobs.worker import job_app, make_worker, render_inputs
from sync_service.store.db import current_session
from tests.factories import make_contract
from tests.jobs import sample_jobs
from tests.paths import REPO
from tests.processes import RestartableRedis, renewals_env, start_renewals, stop_process, wait_until


def test_a_job_runs_inside_the_app_context(app: Flask, settings: Settings, redis: Redis) -> None:
    with app.app_context():
        job = enqueue(EMAIL, sample_jobs.report_app, "hello")

    assert make_worker(settings).work(burst=True)

    job.refresh()
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {
        "app": "renewals.jobs",  # the jobs' own app context: settings and store, nothing of the web app
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


@pytest.mark.timeout(120)
def test_a_running_worker_rides_out_a_redis_restart(settings: Settings, tmp_path: Path) -> None:
    """`renewals worker` keeps working across a Redis restart during a job (it waits for Redis, then works on)
    instead of exiting and leaving the queue to whoever restarts it."""
    own = RestartableRedis(tmp_path)
    own.start()
    env = renewals_env(
        {
            "RENEWALS_SECRET_KEYS": settings.signing_key.reveal(),
            "RENEWALS_DATABASE_URL": settings.database_url,
            "RENEWALS_REDIS_URL": own.url,
            "RENEWALS_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(REPO),  # the sample job's module
        }
    )
    log = tmp_path / "worker.log"
    worker = start_renewals(["worker", "--queue", DEFAULT], env, log)
    try:
        redis = Redis.from_url(own.url)
        wait_until(lambda: bool(Worker.all(connection=redis)), "the worker to register", process=worker, timeout=60)
        napping = get_queue(DEFAULT, redis).enqueue("tests.jobs.sample_jobs.nap", 2)
        wait_until(
            lambda: napping.get_status(refresh=True) == "started", "a job to be running", process=worker, timeout=60
        )
        own.stop()  # while the job runs: the worker's heartbeat and bookkeeping fail
        # Not a wait for something: the outage itself, long enough that the 2-second job ends inside it.
        time.sleep(3)
        own.start()
        assert worker.poll() is None, log.read_text()[-2000:]
        redis = Redis.from_url(own.url)
        job = get_queue(DEFAULT, redis).enqueue("tests.jobs.sample_jobs.add", 2, 3)
        wait_until(
            lambda: job.get_status(refresh=True) == "finished",
            "the job to run after the restart",
            process=worker,
            timeout=60,
        )
        assert job.return_value() == 5 and worker.poll() is None
    finally:
        stop_process(worker, timeout=30)
        own.stop()


def test_a_worker_loads_the_contacts_locales_before_it_forks(app: Flask, settings: Settings) -> None:
    with app.app_context():
        session = current_session()
        for locale in ("de_DE", "fr-FR", "de_DE", None, "xx_NOT_A_LOCALE"):
            make_contract(session, end_date=date(2027, 3, 31), locale=locale)
        session.commit()

    book, locales = render_inputs(app, settings)

    assert book is not None
    assert sorted(locales) == ["de_DE", "fr-FR", "xx_NOT_A_LOCALE"]
    # Each as the renderer will use it (an unknown one falls back to the default), the default always.
    assert formatting.warm(locales) == ["de_DE", "en_US", "fr_FR"]


def test_a_worker_on_a_store_not_made_yet_warms_the_default_locale_only(settings: Settings, tmp_path: Path) -> None:
    unmade = dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path / 'not-yet.db'}")
    assert render_inputs(job_app(unmade), unmade) == (None, [])
    assert not (tmp_path / "not-yet.db").exists()
    assert formatting.warm([]) == ["en_US"]


def test_a_worker_imports_every_job_module_before_it_forks() -> None:
    # In a fresh interpreter: a work horse inherits what its worker imported, and imports the rest per job.
    check = (
        "import sys\n"
        "from jobs.worker import import_job_modules\n"
        "assert 'jobs.push' not in sys.modules\n"
        "names = import_job_modules()\n"
        "assert {'jobs.push', 'jobs.pull', 'jobs.email', 'jobs.planning', 'jobs.maintenance'} <= set(names)\n"
        "assert set(names) <= set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", check], cwd=REPO, check=True)
