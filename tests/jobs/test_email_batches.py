"""The send jobs' batches fit the email queue's job timeout at any rate: the fan-out sizes them from the rate
shared by the workers, and a batch that runs out of time stops taking send slots, leaves the rest queued and
queues them as a batch of their own, so a slow rate never leaves an email `unknown` or stranded."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_string
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from email_actions.mail.sending.pipeline import queue_due, queued_ids
from email_actions.web.app import create_app
from jobs.base import get_queue
from jobs.email import BATCH, BATCH_TIME_SHARE, batch_size, send_due_job, staggered_batches
from jobs.queues import EMAIL, queue_spec
from sync_service.store import models
from sync_service.store.db import current_database
from sync_service.store.models import utcnow
from tests.conftest import AWS_TEST_ENV, TEST_SECRET_KEY, sent_emails
from tests.factories import make_contract, make_reminder
from tests.processes import Workers, renewals_env, wait_until


@pytest.mark.parametrize("rate", [0.1, 0.5, 1.0, 2.0, 14.0, 50.0, 500.0])
@pytest.mark.parametrize("workers", [0, 1, 2, 8])
def test_a_batch_at_its_share_of_the_rate_ends_within_a_quarter_of_the_job_timeout(rate: float, workers: int) -> None:
    timeout = queue_spec(EMAIL).timeout_seconds
    size = batch_size(rate, workers, timeout)
    assert 1 <= size <= BATCH
    if size > 1:  # one email a batch is the least there is; below that rate the batch deadline guards
        assert size / (rate / max(1, workers)) <= timeout * BATCH_TIME_SHARE
    assert batch_size(1.0, 2, timeout) <= 40  # one email a second, two workers: a few dozen


def test_the_first_batches_are_staggered_so_the_workers_finish_them_one_after_the_other() -> None:
    ids = list(range(1000))
    batches = staggered_batches(ids, 100, 2)
    assert [len(batch) for batch in batches] == [50] + [100] * 9 + [50]
    assert [len(batch) for batch in staggered_batches(ids, 100, 4)][:5] == [25, 50, 75, 100, 100]
    assert [len(batch) for batch in staggered_batches(ids, 100, 1)] == [100] * 10
    assert [len(batch) for batch in staggered_batches(ids[:60], 100, 4)] == [25, 35]
    assert [len(batch) for batch in staggered_batches(ids[:3], 1, 8)] == [1, 1, 1]
    for workers in (0, 1, 2, 3, 8):  # every email in exactly one batch, in order
        assert [n for batch in staggered_batches(ids, 100, workers) for n in batch] == ids


@pytest.fixture
def slow_sending_app(settings: Settings, ses_endpoint: str) -> Iterator[Flask]:
    app = create_app(dataclasses.replace(settings, ses_endpoint_url=ses_endpoint, ses_max_send_rate=0.2))
    app.config["TESTING"] = True
    yield app
    app.extensions["renewals.database"].dispose()


def test_the_fan_out_sizes_its_batches_from_the_send_rate(slow_sending_app: Flask, redis: Redis) -> None:
    """At 0.2 email a second (one worker's share: no worker registered counts as one) a batch holds 15 emails,
    75 s of sending, a quarter of the email queue's five minutes."""
    today = utcnow().date()
    with slow_sending_app.app_context(), current_database().session_scope() as session:
        for n in range(10):
            contract = make_contract(session, end_date=today + timedelta(days=30), email=f"buyer{n}@customer.example")
            make_reminder(session, contract, offset_days=-30, due_on=today)
    with slow_sending_app.app_context():
        result = send_due_job()
    assert (result["queued"], result["batch_size"], result["batches"]) == (20, 15, 2)
    jobs = get_queue(EMAIL, redis).get_jobs()
    assert [job.func_name for job in jobs] == ["jobs.email.send_batch_job"] * 2
    assert sorted(len(job.args[0]) for job in jobs) == [5, 15]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_batch_at_one_email_a_second_longer_than_its_job_timeout_sends_every_email(
    store: sessionmaker[Session], redis_url: str, ses_endpoint: str, tmp_path: Path
) -> None:
    """10 emails at one email a second in one batch whose job may run 10 s: the limiter allows at most 8 sends
    before the batch's deadline (80 % of the timeout), so the batch stops taking slots, leaves the rest queued
    and queues them as a new batch. Every email goes once; none is left `unknown`, `sending` or `queued`."""
    today = utcnow().date()
    with store() as session:
        for n in range(5):
            contract = make_contract(session, end_date=today + timedelta(days=30), email=f"buyer{n}@customer.example")
            make_reminder(session, contract, offset_days=-30, due_on=today)
        session.commit()
        queue_due(session, today=today)
        session.commit()
        ids = queued_ids(session)
    env = renewals_env(
        {
            **AWS_TEST_ENV,
            "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
            "RENEWALS_DATABASE_URL": store.kw["bind"].url.render_as_string(hide_password=False),
            "RENEWALS_REDIS_URL": redis_url,
            "RENEWALS_PUBLIC_BASE_URL": "https://renewals.test",
            "RENEWALS_SES_ENDPOINT_URL": ses_endpoint,
            "RENEWALS_SES_MAX_SEND_RATE": "1",
            "RENEWALS_SES_DAILY_QUOTA": "100000",
            "RENEWALS_LOG_LEVEL": "WARNING",
        }
    )
    redis = Redis.from_url(redis_url)
    queue = get_queue(EMAIL, redis)
    workers = Workers(env, tmp_path / "workers.log", EMAIL)
    try:
        workers.start()
        batch = queue.enqueue_call("jobs.email.send_batch_job", args=(ids,), timeout=10)

        def settled() -> bool:
            with store() as session:
                return all(row.status == "sent" for row in session.scalars(select(models.EmailMessage)))

        wait_until(settled, "every email sent", timeout=150)
        wait_until(lambda: queue.count == 0, "no batch left", timeout=30)
        first = Job.fetch(batch.id, connection=redis).return_value()
    finally:
        workers.stop()
        redis.close()

    assert first is not None and first["deferred"] >= len(ids) - 8 and first["sent"] + first["deferred"] == len(ids)
    counts = Counter(str(message_from_string(raw["raw_data"])["X-Renewals-Email"]) for raw in sent_emails(ses_endpoint))
    assert len(counts) == len(ids) and set(counts.values()) == {1}
