"""Sending reminders through the real boto3 client and moto's SES server: each email at most once (a job run
twice, two senders at once, an answer lost), throttling answers of both API versions backed off without
loss, the daily quota pausing everyone, and one bad email never stopping the batch."""

from __future__ import annotations

import dataclasses
import email
import re
import threading
import time
from collections import Counter
from datetime import date, timedelta
from email.message import EmailMessage as MimeMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from email_actions.mail.links import Links
from email_actions.mail.sending import ratelimit
from email_actions.mail.sending.pipeline import (
    SEND_CONCURRENCY,
    EmailSender,
    queue_due,
    queued_ids,
    sweep_stale_sending,
)
from email_actions.mail.sending.ratelimit import HEADROOM, RateLimiter
from email_actions.mail.sending.ses import SEND_ATTEMPTS, SesSender
from sync_service.outbox.record import event_key
from sync_service.store import models
from sync_service.store.models import utcnow
from tests.conftest import sent_emails
from tests.factories import make_contract, make_reminder
from tests.ses_proxy import DAILY_QUOTA, REJECTED, THROTTLE_V1, THROTTLE_V2, Fault, ses_proxy

TODAY = date(2026, 11, 22)


def add_due_reminder(session: Session, *, offset: int = -30, **contract: Any) -> models.Reminder:
    contract_row = make_contract(session, end_date=TODAY - timedelta(days=offset), **contract)
    return make_reminder(session, contract_row, offset_days=offset, due_on=TODAY)


def send_settings(settings: Settings, endpoint: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"ses_endpoint_url": endpoint, "ses_max_send_rate": 200.0, "ses_daily_quota": 100_000}
    return dataclasses.replace(settings, **{**values, **overrides})


def run_send(
    store: sessionmaker[Session],
    settings: Settings,
    redis: Redis,
    *,
    ses: SesSender | None = None,
    concurrency: int = SEND_CONCURRENCY,
) -> dict[str, Any]:
    with store() as session:
        queue_due(session, today=TODAY)
        session.commit()
        ids = queued_ids(session)
    sender = EmailSender(store, settings, redis, ses=ses, today=TODAY, concurrency=concurrency)
    return sender.send(ids).as_dict()


def parsed(raw: dict[str, Any]) -> MimeMessage:
    message = email.message_from_string(raw["raw_data"], policy=default_policy)
    assert isinstance(message, MimeMessage)
    return message


def per_email(endpoint: str) -> Counter[str]:
    """How many times moto received each of our emails (by the header naming the email row)."""
    return Counter(str(parsed(raw)["X-Renewals-Email"]) for raw in sent_emails(endpoint))


def statuses(store: sessionmaker[Session]) -> dict[str, str]:
    with store() as session:
        return {row.key: row.status for row in session.scalars(select(models.EmailMessage))}


def test_a_due_reminder_goes_to_the_customer_and_the_rep_once_with_its_headers_and_sent_task(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        reminder = add_due_reminder(session)
        contract = reminder.contract
        ids = (contract.sf_id, contract.contact.sf_id, contract.rep.sf_id)  # type: ignore[union-attr]
        session.commit()
    summary = run_send(store, send_settings(settings, ses_endpoint), redis)
    assert summary["sent"] == 2 and summary["skipped"] == 0

    raws = {str(parsed(raw)["X-Renewals-Email"]).split("-")[0]: raw for raw in sent_emails(ses_endpoint)}
    customer, rep = parsed(raws["reminder"]), parsed(raws["rep_notice"])
    assert customer["To"] == "buyer@customer.example"
    assert customer["Reply-To"] == "riley.rep@vendor.example"
    assert customer["List-Unsubscribe"].startswith("<http://renewals.test/u/")
    assert customer["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Northwind" in customer["From"]
    assert rep["To"] == "riley.rep@vendor.example"
    assert rep["List-Unsubscribe"] is None

    with store() as session:
        rows = {row.kind: row for row in session.scalars(select(models.EmailMessage))}
        assert {kind: row.status for kind, row in rows.items()} == {"reminder": "sent", "rep_notice": "sent"}
        assert rows["reminder"].ses_message_id == raws["reminder"]["id"]
        assert rows["reminder"].sent_at is not None
        assert session.get_one(models.Reminder, rows["reminder"].reminder_id).status == "sent"
        tasks = session.scalars(select(models.OutboxItem)).all()
        assert [task.key for task in tasks] == [event_key("sent", rows["reminder"].id)]
        fields = tasks[0].payload["fields"]
        assert (fields["WhatId"], fields["WhoId"], fields["OwnerId"]) == ids
        assert "Renewal email sent" in tasks[0].payload["subject"]


def test_every_link_in_a_sent_email_is_signed_on_the_public_base_url(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session)
        session.commit()
    settings = send_settings(settings, ses_endpoint, public_base_url="https://renew.vendor.example")
    run_send(store, settings, redis)
    links = Links(settings)
    for raw in sent_emails(ses_endpoint):
        message = parsed(raw)
        for part in message.walk():
            if part.get_content_maintype() != "text":
                continue
            for url in re.findall(r"https?://[^\s\"'<>)]+", part.get_content()):
                assert url.startswith("https://renew.vendor.example/"), url
        html = message.get_body(("html",))
        assert html is not None
        renew = re.search(r'href="https://renew\.vendor\.example/a/renew/([^"]+)"', html.get_content())
        if str(message["X-Renewals-Email"]).startswith("reminder-"):
            assert renew is not None
            assert links.verify("renew", renew.group(1)).purpose == "renew"


def test_running_the_send_twice_sends_nothing_twice(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        for _ in range(3):
            add_due_reminder(session)
        session.commit()
    settings = send_settings(settings, ses_endpoint)
    first = run_send(store, settings, redis)
    second = run_send(store, settings, redis)
    assert first["sent"] == 6 and second["sent"] == 0
    assert set(per_email(ses_endpoint).values()) == {1} and len(per_email(ses_endpoint)) == 6


def test_two_senders_racing_over_the_same_emails_send_each_once(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        for _ in range(10):
            add_due_reminder(session)
        session.commit()
        queue_due(session, today=TODAY)
        session.commit()
        ids = queued_ids(session)
    settings = send_settings(settings, ses_endpoint)
    results: list[dict[str, Any]] = []

    def worker() -> None:
        sender = EmailSender(store, settings, Redis.from_url(settings.redis_url), today=TODAY)
        results.append(sender.send(ids).as_dict())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(result["sent"] for result in results) == 20
    counts = per_email(ses_endpoint)
    assert len(counts) == 20 and set(counts.values()) == {1}


@pytest.mark.parametrize("fault", [THROTTLE_V2, THROTTLE_V1], ids=["v2-TooManyRequests", "v1-Throttling"])
def test_throttling_answers_back_off_and_the_email_goes_once(
    fault: Fault, store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session)
        session.commit()
    with ses_proxy(ses_endpoint) as proxy:
        proxy.faults = [fault, fault]
        settings = send_settings(settings, proxy.url)
        summary = run_send(store, settings, redis, ses=SesSender(settings, redis, sleep=lambda _: None))
        # Two throttled attempts, then both emails: any other call would follow another answer SES gave that
        # proves the email did not go (a 5xx, no connection), logged with its reason by the sender.
        assert proxy.sends == 4, f"{proxy.sends} SendEmail calls for 2 throttles and 2 emails: {summary}"
    assert summary["sent"] == 2 and summary["throttled"] == 2
    assert float(redis.get(ratelimit.WINDOW_KEY + ":extra") or 0) == 2 * ratelimit.WIDEN_STEP * 1e6  # widened twice
    assert set(per_email(ses_endpoint).values()) == {1}
    with store() as session:
        assert session.scalar(select(func.count()).where(models.EmailMessage.ses_message_id.is_not(None))) == 2


def test_throttled_past_its_retries_an_email_waits_in_the_queue_and_goes_next_time(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session)
        session.commit()
    with ses_proxy(ses_endpoint) as proxy:
        proxy.faults = [THROTTLE_V2] * SEND_ATTEMPTS
        settings = send_settings(settings, proxy.url)
        first = run_send(store, settings, redis, ses=SesSender(settings, redis, sleep=lambda _: None), concurrency=1)
        # The retry budget: SEND_ATTEMPTS calls for the throttled email (boto3 adds none), one for the other.
        assert proxy.sends == SEND_ATTEMPTS + 1
    assert first["requeued"] == 1 and first["sent"] == 1
    assert "queued" in statuses(store).values() and len(sent_emails(ses_endpoint)) == 1
    second = run_send(store, send_settings(settings, ses_endpoint), redis)
    assert second["sent"] == 1
    assert set(statuses(store).values()) == {"sent"}
    assert set(per_email(ses_endpoint).values()) == {1}


def test_the_daily_quota_answer_pauses_every_sender_and_loses_nothing(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session)
        session.commit()
    with ses_proxy(ses_endpoint) as proxy:
        proxy.faults = [DAILY_QUOTA]
        settings = send_settings(settings, proxy.url)
        summary = run_send(store, settings, redis, concurrency=1)
        assert proxy.sends == 1
        again = run_send(store, settings, redis)
        assert proxy.sends == 1  # paused: no call at all
    assert "Daily message quota" in (summary["paused"] or "")
    assert again["paused"] == summary["paused"]
    assert set(statuses(store).values()) == {"queued"}
    ratelimit.resume(redis)
    assert run_send(store, send_settings(settings, ses_endpoint), redis)["sent"] == 2


def test_a_throttled_quota_read_leaves_the_emails_queued_for_the_next_run(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session)
        session.commit()
    with ses_proxy(ses_endpoint) as proxy:
        proxy.quota_throttles = 2
        settings = send_settings(settings, proxy.url, ses_max_send_rate=None)
        first = run_send(store, settings, redis, concurrency=1)
        assert proxy.sends == 0
        second = run_send(store, settings, redis, concurrency=1)
    assert first["requeued"] == 2 and first["sent"] == 0
    assert second["sent"] == 2
    assert set(per_email(ses_endpoint).values()) == {1}


def test_the_daily_quota_is_respected_before_calling_ses(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session)
        session.commit()
    # One at a time: with several emails in flight the check can let through one per sender thread more.
    summary = run_send(store, send_settings(settings, ses_endpoint, ses_daily_quota=1), redis, concurrency=1)
    assert summary["sent"] == 1 and summary["paused"] is not None
    assert len(sent_emails(ses_endpoint)) == 1
    assert sorted(statuses(store).values()) == ["queued", "sent"]


def test_a_rejected_email_fails_alone_and_the_batch_goes_on(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session)
        add_due_reminder(session)
        session.commit()
    with ses_proxy(ses_endpoint) as proxy:
        proxy.faults = [REJECTED]
        summary = run_send(store, send_settings(settings, proxy.url), redis, concurrency=1)
        assert proxy.sends == 4  # not retried
    assert summary["failed"] == 1 and summary["sent"] == 3
    with store() as session:
        failed = session.scalars(select(models.EmailMessage).where(models.EmailMessage.status == "failed")).one()
        assert "MessageRejected" in (failed.error or "") and "not verified" in (failed.error or "")
        assert failed.reminder is not None and failed.reminder.status == "skipped"
        assert "MessageRejected" in (failed.reminder.reason or "")


def test_an_unverified_brand_sender_is_rejected_by_ses_for_those_emails_only(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    boto3.client("ses", endpoint_url=ses_endpoint, region_name="us-east-1").delete_identity(
        Identity="partners@northwind.example"
    )
    with store() as session:
        add_due_reminder(session, reseller="Summit IT Solutions")
        add_due_reminder(session)
        session.commit()
    summary = run_send(store, send_settings(settings, ses_endpoint), redis)
    assert summary["failed"] == 2 and summary["sent"] == 2
    with store() as session:
        rows = session.scalars(select(models.EmailMessage).where(models.EmailMessage.status == "failed")).all()
        assert {row.brand for row in rows} == {"partner"}


def test_an_answer_lost_after_ses_took_the_email_leaves_it_unknown_and_never_resent(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session)
        session.commit()
    with ses_proxy(ses_endpoint) as proxy:
        proxy.faults = [Fault(500, "InternalFailure", "late", forward=True, delay=2.5)]
        settings = send_settings(settings, proxy.url)
        client = boto3.client(
            "sesv2",
            endpoint_url=proxy.url,
            region_name="us-east-1",
            config=Config(read_timeout=1, retries={"mode": "standard", "total_max_attempts": 1}),
        )
        summary = run_send(store, settings, redis, ses=SesSender(settings, redis, client=client))
        again = run_send(store, settings, redis)
    assert summary["unknown"] == 1 and summary["sent"] == 1 and again["sent"] == 0
    assert set(per_email(ses_endpoint).values()) == {1} and len(per_email(ses_endpoint)) == 2
    with store() as session:
        unknown = session.scalars(select(models.EmailMessage).where(models.EmailMessage.status == "unknown")).one()
        assert "may have sent" in (unknown.error or "")


def test_an_email_left_sending_by_a_killed_worker_becomes_unknown_and_is_not_resent(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session)
        session.commit()
        queue_due(session, today=TODAY)
        session.commit()
        message = session.scalars(select(models.EmailMessage).where(models.EmailMessage.kind == "reminder")).one()
        message.status = "sending"  # what a worker killed between its claim and SES's answer leaves
        message.sending_at = utcnow() - timedelta(minutes=11)
        session.commit()
        assert sweep_stale_sending(session) == 1
        session.commit()
    summary = run_send(store, send_settings(settings, ses_endpoint), redis)
    assert summary["sent"] == 1  # the rep's notice only
    assert statuses(store)[message.key] == "unknown"


def test_bad_recipients_are_skipped_with_a_reason_and_the_rest_go(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session, email=None)
        add_due_reminder(session, email="gone@customer.example")
        add_due_reminder(session, email="ok@customer.example")
        session.add(models.EmailSuppression(address="gone@customer.example", reason="bounce", scope="all"))
        session.commit()
    summary = run_send(store, send_settings(settings, ses_endpoint), redis)
    assert summary["sent"] == 4  # one customer and three reps
    assert summary["skipped_reasons"] == {"the contact has no email address": 1, "address suppressed": 1}
    recipients = {str(parsed(raw)["To"]) for raw in sent_emails(ses_endpoint)}
    assert "gone@customer.example" not in recipients and "ok@customer.example" in recipients
    with store() as session:
        reasons = {r.reason for r in session.scalars(select(models.Reminder)) if r.status == "skipped"}
        assert reasons == {"the contact has no email address", "gone@customer.example is suppressed (bounce)"}


def test_a_brand_with_a_missing_field_skips_its_emails_and_the_rest_go(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str, tmp_path: Path
) -> None:
    shipped = Path(settings.brands_file)
    (tmp_path / "brands").mkdir()
    for logo in (shipped.parent / "brands").iterdir():
        (tmp_path / "brands" / logo.name).write_bytes(logo.read_bytes())
    text = shipped.read_text().replace('    sender: "Northwind Partner Renewals <partners@northwind.example>"\n', "")
    (tmp_path / "brands.yaml").write_text(text)
    with store() as session:
        add_due_reminder(session, reseller="Summit IT Solutions")
        add_due_reminder(session)
        session.commit()
    summary = run_send(store, send_settings(settings, ses_endpoint, brands_file=tmp_path / "brands.yaml"), redis)
    assert summary["sent"] == 2
    assert summary["skipped_reasons"] == {"brand cannot be used": 2}
    with store() as session:
        skipped = session.scalars(select(models.EmailMessage).where(models.EmailMessage.status == "skipped")).all()
        assert all("brand 'partner' cannot be used: sender: missing" in (row.error or "") for row in skipped)


def test_a_contract_renewed_after_queueing_gets_no_reminder(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        reminder = add_due_reminder(session)
        queue_due(session, today=TODAY)
        reminder.contract.renewed_at = utcnow()
        session.commit()
    summary = run_send(store, send_settings(settings, ses_endpoint), redis)
    assert summary["sent"] == 0 and summary["skipped_reasons"] == {"the contract was renewed": 2}
    assert sent_emails(ses_endpoint) == []


def test_the_rate_limiter_spaces_slots_one_interval_apart_across_clients_and_reserves_none_past_a_deadline(
    redis: Redis,
) -> None:
    # 0.1 email a second: slots 10.5 s apart, so a busy machine would have to stall for seconds to change this.
    first = RateLimiter(redis, 0.1)
    second = RateLimiter(Redis.from_url(_url(redis)), 0.1)
    assert first.interval == pytest.approx(1 / (0.1 * HEADROOM))
    now = time.monotonic()
    opening = first.reserve()
    assert opening is not None and opening.at <= time.monotonic()  # nothing sent yet: the first slot is now
    # The next slot is an interval away, too late for a deadline 5 s out: refused, and nothing reserved.
    assert second.reserve(deadline=now + 5) is None
    following = second.reserve(deadline=now + 60)
    assert following is not None and following.at > now + 5
    last = first.reserve()
    assert last is not None and last.at > following.at + 5  # one interval after the other client's slot
    assert not first.take(deadline=time.monotonic() + 5)


def test_the_rate_limiters_window_lets_no_more_than_the_rate_leave_within_a_second(redis: Redis) -> None:
    """The dispatch log is SES's own rule: two emails a second, so a third waits until the first is more than
    the window (a second and a margin) old, however late the senders came for their slots."""
    first = RateLimiter(redis, 2.0)
    second = RateLimiter(Redis.from_url(_url(redis)), 2.0)
    assert first.try_dispatch() == 0 and second.try_dispatch() == 0
    wait = first.try_dispatch()
    assert 0 < wait <= first.window
    assert first.window == pytest.approx(1.0 + ratelimit.WINDOW_MARGIN)
    # A throttling answer SES still gave widens the window for every client, up to a limit.
    assert second.widen() == pytest.approx(ratelimit.WIDEN_STEP)
    assert 0 < first.try_dispatch() <= first.window + ratelimit.WIDEN_STEP
    for _ in range(20):
        second.widen()
    assert first.widen() == pytest.approx(ratelimit.WIDEN_MAX)


def test_a_run_past_its_deadline_claims_nothing_and_leaves_its_emails_queued(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    with store() as session:
        add_due_reminder(session)
        add_due_reminder(session)
        session.commit()
        queue_due(session, today=TODAY)
        session.commit()
        ids = queued_ids(session)
    sender = EmailSender(store, send_settings(settings, ses_endpoint), redis, today=TODAY)
    summary = sender.send(ids, deadline=time.monotonic())
    assert summary.deferred == 4 and sorted(summary.deferred_ids) == sorted(ids) and summary.sent == 0
    assert set(statuses(store).values()) == {"queued"} and sent_emails(ses_endpoint) == []


def test_an_email_whose_slot_comes_after_the_deadline_stays_queued_and_goes_next_time(
    store: sessionmaker[Session], settings: Settings, redis: Redis, ses_endpoint: str
) -> None:
    """At 0.1 email a second the first email takes the opening slot and the second's comes 10.5 s later, past
    the run's deadline 5 s out: it is not claimed (or given back), never left `sending`, and the next run
    sends it."""
    with store() as session:
        add_due_reminder(session)
        session.commit()
        queue_due(session, today=TODAY)
        session.commit()
        ids = queued_ids(session)
    slow = send_settings(settings, ses_endpoint, ses_max_send_rate=0.1)
    summary = EmailSender(store, slow, redis, today=TODAY).send(ids, deadline=time.monotonic() + 5)
    assert summary.sent == 1 and summary.deferred == 1 and summary.requeued == 0
    assert sorted(statuses(store).values()) == ["queued", "sent"]
    with store() as session:
        left = session.scalars(select(models.EmailMessage).where(models.EmailMessage.status == "queued")).one()
        assert summary.deferred_ids == [left.id]
    redis.delete(ratelimit.SLOT_KEY)  # the next run, a slot later
    assert run_send(store, send_settings(settings, ses_endpoint), redis)["sent"] == 1
    assert set(statuses(store).values()) == {"sent"} and set(per_email(ses_endpoint).values()) == {1}


def _url(redis: Redis) -> str:
    kwargs = redis.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"
