"""At most once when the worker is killed mid-batch: real `renewals worker --queue email` processes send due
reminders into moto's SES; the test SIGKILLs the worker (and its work horse) twice while batches are being
sent, starts a new one and re-runs the scheduler's send job. Every email reaches SES at most once; the ones a
kill caught between their claim and SES's answer are left `sending` (then `unknown`), never resent.

How many a kill catches depends on the machine's speed (a worker has up to ``SEND_CONCURRENCY`` emails in flight,
each claimed shortly before its send slot), so the test waits for what the design fixes instead: nothing left
`queued` and the last worker idle. Then every email still `sending` was claimed before the last kill, by a killed
worker, and there are at most ``SEND_CONCURRENCY`` of them per kill.

The send rate is held low (a batch takes seconds) only while a kill is still to come: the worker started after
the last kill sends at a rate that does not hold it back, which saves about 3 s a backend and changes nothing
that is asserted."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from email import message_from_string
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.worker import WorkerStatus
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from email_actions.mail.sending.pipeline import SEND_CONCURRENCY, sweep_stale_sending
from jobs.base import get_queue
from jobs.queues import EMAIL
from sync_service.store import models
from sync_service.store.models import utcnow
from tests.conftest import AWS_TEST_ENV, TEST_SECRET_KEY, sent_emails
from tests.factories import make_contract, make_reminder
from tests.processes import Workers, renewals_env, wait_until

REMINDERS = 40
RATE = 12  # emails per second: a batch of 50 takes about four seconds, long enough to be killed in
KILLS = (10, 35)  # the worker is killed once this many emails are sent
RATE_AFTER_THE_KILLS = 500  # the rest goes as fast as the worker can send


def _env(store_url: str, redis_url: str, ses: str, rate: int = RATE) -> dict[str, str]:
    return renewals_env(
        {
            **AWS_TEST_ENV,
            "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
            "RENEWALS_DATABASE_URL": store_url,
            "RENEWALS_REDIS_URL": redis_url,
            "RENEWALS_PUBLIC_BASE_URL": "https://renewals.test",
            "RENEWALS_SES_ENDPOINT_URL": ses,
            "RENEWALS_SES_MAX_SEND_RATE": str(rate),
            "RENEWALS_SES_DAILY_QUOTA": "100000",
            "RENEWALS_LOG_LEVEL": "WARNING",
        }
    )


def _sent(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).where(models.EmailMessage.status == "sent")) or 0)


def _queued(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).where(models.EmailMessage.status == "queued")) or 0)


def _idle(queue: Queue, workers: Workers) -> bool:
    """No batch waiting and the running worker not busy: whatever it was going to send has gone (or never
    will). Workers killed earlier stay registered as busy until their heartbeat lapses, so only the one running
    now is asked."""
    if queue.count or workers.current is None:
        return False
    running = [worker for worker in Worker.all(queue=queue) if worker.pid == workers.current.pid]
    return bool(running) and all(worker.get_state() != WorkerStatus.BUSY for worker in running)


@pytest.mark.timeout(300)
def test_killing_the_worker_mid_batch_never_sends_an_email_twice(
    store: sessionmaker[Session], redis_url: str, ses_endpoint: str, tmp_path: Path
) -> None:
    """80 due emails (40 reminders and their rep notices) sent by a real worker that is SIGKILLed twice while
    a batch is going out, the scheduler's send job re-run after each kill: every email that reached SES did
    so exactly once, every row is `sent` or left `sending` by a kill (claimed before it, at most the emails a
    worker has in flight), never resent, and the stale-sending sweep turns exactly those into `unknown`."""
    today = utcnow().date()
    with store() as session:
        for n in range(REMINDERS):
            contract = make_contract(session, end_date=today + timedelta(days=30), email=f"buyer{n}@customer.example")
            make_reminder(session, contract, offset_days=-30, due_on=today)
        session.commit()
    bind = store.kw["bind"]
    store_url = bind.url.render_as_string(hide_password=False)
    env = _env(store_url, redis_url, ses_endpoint)
    workers = Workers(env, tmp_path / "workers.log", EMAIL)
    redis = Redis.from_url(redis_url)
    queue = get_queue(EMAIL, redis)
    try:
        workers.start()
        queue.enqueue_call("jobs.email.send_due_job")
        for kill_after in KILLS:
            wait_until(lambda n=kill_after: _sent(store) >= n, f"{kill_after} emails sent", timeout=90)  # type: ignore[misc]
            workers.kill()
            last_kill = utcnow()  # the killed worker (and its work horse) claims nothing after this
            if kill_after == KILLS[-1]:  # no kill to come: no need to keep batches slow
                workers.env = _env(store_url, redis_url, ses_endpoint, rate=RATE_AFTER_THE_KILLS)
            workers.start()
            # The scheduler's next tick: queue what is due and fan the queued emails out again.
            queue.enqueue_call("jobs.email.send_due_job")
        # Nothing queued and the worker idle: whatever the last worker claimed is settled, and an email sent
        # twice would have reached SES by the count below.
        wait_until(lambda: _queued(store) == 0 and _idle(queue, workers), "every queued email sent", timeout=180)
    finally:
        workers.stop()
        redis.close()

    counts = Counter(str(message_from_string(raw["raw_data"])["X-Renewals-Email"]) for raw in sent_emails(ses_endpoint))
    assert counts and set(counts.values()) == {1}, "an email reached SES twice"
    with store() as session:
        rows = session.scalars(select(models.EmailMessage)).all()
        by_status = Counter(row.status for row in rows)
        assert len(rows) == 2 * REMINDERS
        # Only emails a kill caught between claim and answer may be left `sending`; everything else went once.
        assert set(by_status) <= {"sent", "sending"}
        assert by_status["sending"] <= len(KILLS) * SEND_CONCURRENCY
        for row in rows:
            if row.status == "sent":
                assert counts[f"{row.kind}-{row.id}"] == 1
            else:
                assert row.sending_at is not None and row.sending_at < last_kill
                assert counts[f"{row.kind}-{row.id}"] <= 1
        assert sweep_stale_sending(session, now=utcnow() + timedelta(minutes=11)) == by_status["sending"]
        session.commit()
    with store() as session:
        assert session.scalar(select(func.count()).where(models.EmailMessage.status == "sending")) == 0
