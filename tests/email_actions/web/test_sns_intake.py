"""The SNS endpoint for SES feedback: what each verified message does to the store, on SQLite and PostgreSQL,
what forged or malformed ones are answered, and a round trip through moto's SES and SNS.

Messages are signed with a test key (``test_sns_verify``); only the certificate fetch is replaced, except in
the moto round trip, where moto signs and serves the certificate itself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage as MimeMessage
from typing import Any

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse
from werkzeug.wrappers import Request, Response

from config.settings import DEFAULT_CADENCE_FILE, Settings, load_settings
from email_actions.mail.sns_verify import CertificateFetchError
from email_actions.web import sns_intake as views
from email_actions.web.app import create_app
from sync_service.outbox.record import event_key
from sync_service.planning.cadence import load_cadence
from sync_service.planning.planner import CANCEL_SUPPRESSED, plan_reminders
from sync_service.store import models
from sync_service.store.db import make_engine
from tests.conftest import TEST_SECRET_KEY
from tests.email_actions.mail.test_sns_verify import (
    TOPIC,
    FakeFetcher,
    Signer,
    make_signer,
    notification,
    subscription_message,
)
from tests.factories import make_contract, make_reminder, make_sent_reminder_email
from tests.processes import serve_wsgi

ENDPOINT = "/sns/ses-events"
SNS_CONTENT_TYPE = "text/plain; charset=UTF-8"


@pytest.fixture(scope="module")
def signer() -> Signer:
    return make_signer()


@dataclass
class Intake:
    """The app with the SNS endpoint, its store, and the test signer whose certificate the fetch returns."""

    app: Flask
    client: FlaskClient
    sessions: sessionmaker[Session]
    fetcher: FakeFetcher
    signer: Signer

    def post(self, data: dict[str, Any], **headers: str) -> TestResponse:
        return self.client.post(ENDPOINT, data=json.dumps(data), content_type=SNS_CONTENT_TYPE, headers=headers)

    def deliver(self, ses_notification: dict[str, Any], *, message_id: str = "") -> tuple[dict[str, Any], TestResponse]:
        """Sign and POST an SNS Notification carrying this SES notification."""
        data = self.signer.sign(notification(json.dumps(ses_notification), message_id=message_id))
        return data, self.post(data)

    def count(self, model: type[models.Base]) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def sns_rows(self) -> list[models.SnsMessage]:
        with self.sessions() as session:
            return list(session.scalars(select(models.SnsMessage).order_by(models.SnsMessage.id)))


def start_intake(settings: Settings, database_url: str, signer: Signer, **overrides: Any) -> Intake:
    app = create_app(dataclasses.replace(settings, database_url=database_url, sns_topic_arns=(TOPIC,), **overrides))
    app.config["TESTING"] = True
    fetcher = FakeFetcher(signer.pem)
    views.get_verifier(app).fetch_certificate = fetcher
    return Intake(
        app, app.test_client(), sessionmaker(make_engine(database_url), expire_on_commit=False), fetcher, signer
    )


def stop_intake(intake: Intake) -> None:
    intake.app.extensions["renewals.database"].dispose()
    bind = intake.sessions.kw["bind"]
    bind.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def intake(
    request: pytest.FixtureRequest, settings: Settings, migrated_database: Callable[[str], str], signer: Signer
) -> Iterator[Intake]:
    """The endpoint over a freshly migrated store on each backend."""
    url = migrated_database(request.param)
    running = start_intake(settings, url, signer)
    yield running
    stop_intake(running)


@pytest.fixture
def sqlite_intake(settings: Settings, signer: Signer, ses_endpoint: str) -> Iterator[Intake]:
    """The endpoint on the test's SQLite store, with moto as the SNS API (for subscription confirmations)."""
    running = start_intake(settings, settings.database_url, signer, ses_endpoint_url=ses_endpoint)
    yield running
    stop_intake(running)


# --- Store rows and SES notifications ----------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    contract_id: int
    contact_id: int
    email_id: int
    planned_reminder_id: int
    sent_reminder_id: int
    ses_message_id: str


def seed(intake: Intake, *, email: str = "buyer@customer.example", status: str = "sent") -> Seeded:
    """A contract whose -60 reminder was sent through SES and whose -30 reminder is planned."""
    today = datetime.now(UTC).date()
    ses_id = f"0100018f-{uuid.uuid4()}-000000"
    with intake.sessions.begin() as session:
        contract = make_contract(session, end_date=today + timedelta(days=30), email=email)
        message = make_sent_reminder_email(
            session,
            contract,
            offset_days=-60,
            status=status,
            to_address=email,
            subject="Your renewal is coming up",
            ses_message_id=ses_id,
            sent_at=datetime.now(UTC) - timedelta(minutes=5),
        )
        planned = make_reminder(session, contract, offset_days=-30)
        assert contract.contact is not None and message.reminder_id is not None
        return Seeded(contract.id, contract.contact.id, message.id, planned.id, message.reminder_id, ses_id)


def mail(ses_id: str, to: list[str]) -> dict[str, Any]:
    return {
        "timestamp": "2026-05-01T10:00:00.000Z",
        "messageId": ses_id,
        "source": "renewals@northwind.example",
        "destination": to,
    }


def ses_bounce(
    ses_id: str,
    to: list[str],
    *,
    bounce_type: str = "Permanent",
    subtype: str = "General",
    key: str = "notificationType",
) -> dict[str, Any]:
    return {
        key: "Bounce",
        "mail": mail(ses_id, to),
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": subtype,
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
                for address in to
            ],
            "timestamp": "2026-05-01T10:00:05.000Z",
            "feedbackId": str(uuid.uuid4()),
        },
    }


def ses_complaint(ses_id: str, to: list[str], *, key: str = "notificationType") -> dict[str, Any]:
    return {
        key: "Complaint",
        "mail": mail(ses_id, to),
        "complaint": {
            "complainedRecipients": [{"emailAddress": address} for address in to],
            "complaintFeedbackType": "abuse",
            "userAgent": "Mail feedback loop",
            "timestamp": "2026-05-02T08:00:00.000Z",
            "feedbackId": str(uuid.uuid4()),
        },
    }


def ses_delivery(ses_id: str, to: list[str]) -> dict[str, Any]:
    return {
        "notificationType": "Delivery",
        "mail": mail(ses_id, to),
        "delivery": {"timestamp": "2026-05-01T10:00:02.000Z", "recipients": to, "smtpResponse": "250 ok"},
    }


def email_row(intake: Intake, email_id: int) -> models.EmailMessage:
    with intake.sessions() as session:
        row = session.get(models.EmailMessage, email_id)
        assert row is not None
        return row


def reminder_row(intake: Intake, reminder_id: int) -> models.Reminder:
    with intake.sessions() as session:
        row = session.get(models.Reminder, reminder_id)
        assert row is not None
        return row


def contact_row(intake: Intake, contact_id: int) -> models.Contact:
    with intake.sessions() as session:
        row = session.get(models.Contact, contact_id)
        assert row is not None
        return row


def suppressions(intake: Intake) -> dict[str, tuple[str, str]]:
    with intake.sessions() as session:
        return {row.address: (row.reason, row.scope) for row in session.scalars(select(models.EmailSuppression))}


def tasks(intake: Intake) -> list[models.OutboxItem]:
    with intake.sessions() as session:
        return list(session.scalars(select(models.OutboxItem).where(models.OutboxItem.kind == "task")))


# --- Bounces, complaints, deliveries -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["notificationType", "eventType"])
def test_a_hard_bounce_suppresses_the_contact_and_tells_the_rep(intake: Intake, key: str) -> None:
    seeded = seed(intake, email="Buyer@Customer.example")
    # Another contract's contact with the same address in another case, and a deleted one.
    with intake.sessions.begin() as session:
        twin = make_contract(session, end_date=date(2031, 1, 1), email="BUYER@customer.EXAMPLE")
        gone = make_contract(session, end_date=date(2031, 1, 1), email="buyer@customer.example")
        assert twin.contact is not None and gone.contact is not None
        gone.contact.is_deleted = True
        twin_contact_id, gone_contact_id = twin.contact.id, gone.contact.id

    data, response = intake.deliver(ses_bounce(seeded.ses_message_id, ["Buyer@Customer.example"], key=key))

    assert response.status_code == 200
    assert response.json is not None and response.json["status"] == "accepted"
    assert suppressions(intake) == {"buyer@customer.example": ("bounce", "all")}
    assert contact_row(intake, seeded.contact_id).suppressed_at is not None
    assert contact_row(intake, twin_contact_id).suppressed_at is not None
    assert contact_row(intake, gone_contact_id).suppressed_at is None
    planned = reminder_row(intake, seeded.planned_reminder_id)
    assert (planned.status, planned.reason) == ("cancelled", CANCEL_SUPPRESSED)
    assert reminder_row(intake, seeded.sent_reminder_id).status == "sent"
    email = email_row(intake, seeded.email_id)
    assert email.status == "bounced"
    assert email.status_at == datetime(2026, 5, 1, 10, 0, 5, tzinfo=UTC)
    [task] = tasks(intake)
    assert task.key == event_key("bounced", seeded.email_id)
    assert task.count == 1
    assert "550 5.1.1 user unknown" in task.payload["description"]
    [row] = intake.sns_rows()
    assert (row.message_id, row.type, row.topic_arn) == (data["MessageId"], "Notification", TOPIC)
    assert (row.notification_type, row.ses_message_id) == ("Bounce", seeded.ses_message_id)
    assert row.outcome is not None and "hard bounce" in row.outcome and "bounced" in row.outcome


@pytest.mark.parametrize("key", ["notificationType", "eventType"])
def test_a_complaint_suppresses_the_contact_and_tells_the_rep(intake: Intake, key: str) -> None:
    seeded = seed(intake, status="delivered")
    _, response = intake.deliver(ses_complaint(seeded.ses_message_id, ["buyer@customer.example"], key=key))
    assert response.status_code == 200
    assert suppressions(intake) == {"buyer@customer.example": ("complaint", "all")}
    assert contact_row(intake, seeded.contact_id).suppressed_at is not None
    assert reminder_row(intake, seeded.planned_reminder_id).status == "cancelled"
    assert email_row(intake, seeded.email_id).status == "complained"
    [task] = tasks(intake)
    assert task.key == event_key("complained", seeded.email_id)
    assert intake.sns_rows()[0].notification_type == "Complaint"


@pytest.mark.parametrize(("bounce_type", "subtype"), [("Transient", "MailboxFull"), ("Undetermined", "Undetermined")])
def test_a_soft_bounce_suppresses_nothing(intake: Intake, bounce_type: str, subtype: str) -> None:
    seeded = seed(intake)
    _, response = intake.deliver(
        ses_bounce(seeded.ses_message_id, ["buyer@customer.example"], bounce_type=bounce_type, subtype=subtype)
    )
    assert response.status_code == 200
    assert suppressions(intake) == {}
    assert contact_row(intake, seeded.contact_id).suppressed_at is None
    assert reminder_row(intake, seeded.planned_reminder_id).status == "planned"
    assert email_row(intake, seeded.email_id).status == "sent"
    assert tasks(intake) == []
    [row] = intake.sns_rows()
    assert row.notification_type == "Bounce"
    assert row.outcome is not None and "nothing suppressed" in row.outcome


def test_a_delivery_marks_the_email_delivered(intake: Intake) -> None:
    seeded = seed(intake)
    _, response = intake.deliver(ses_delivery(seeded.ses_message_id, ["buyer@customer.example"]))
    assert response.status_code == 200
    email = email_row(intake, seeded.email_id)
    assert email.status == "delivered"
    assert email.status_at == datetime(2026, 5, 1, 10, 0, 2, tzinfo=UTC)
    assert suppressions(intake) == {}
    assert tasks(intake) == []


def test_statuses_only_move_forward(intake: Intake) -> None:
    seeded = seed(intake)
    intake.deliver(ses_delivery(seeded.ses_message_id, ["buyer@customer.example"]))
    intake.deliver(ses_bounce(seeded.ses_message_id, ["buyer@customer.example"]))
    assert email_row(intake, seeded.email_id).status == "bounced"  # a late bounce after a delivery
    _, response = intake.deliver(ses_delivery(seeded.ses_message_id, ["buyer@customer.example"]))
    assert response.status_code == 200
    assert email_row(intake, seeded.email_id).status == "bounced"
    intake.deliver(ses_complaint(seeded.ses_message_id, ["buyer@customer.example"]))
    assert email_row(intake, seeded.email_id).status == "bounced"
    assert [t.key for t in tasks(intake)] == [event_key("bounced", seeded.email_id)]
    outcomes = [row.outcome or "" for row in intake.sns_rows()]
    assert "kept status bounced" in outcomes[2]


def test_a_redelivered_message_has_no_second_effect(intake: Intake) -> None:
    seeded = seed(intake)
    data, first = intake.deliver(ses_bounce(seeded.ses_message_id, ["buyer@customer.example"]))
    second = intake.post(data)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json == {"status": "duplicate"}
    assert intake.count(models.SnsMessage) == 1
    assert intake.count(models.EmailSuppression) == 1
    [task] = tasks(intake)
    assert task.count == 1


def test_a_second_sns_message_about_the_same_bounce_makes_no_second_task(intake: Intake) -> None:
    # E.g. identity notifications and configuration-set events both configured: two SNS ids, one SES event.
    seeded = seed(intake)
    intake.deliver(ses_bounce(seeded.ses_message_id, ["buyer@customer.example"]))
    _, response = intake.deliver(ses_bounce(seeded.ses_message_id, ["buyer@customer.example"], key="eventType"))
    assert response.status_code == 200
    assert intake.count(models.SnsMessage) == 2
    [task] = tasks(intake)
    assert task.count == 1


def test_an_unknown_ses_message_still_suppresses_the_address(intake: Intake) -> None:
    seeded = seed(intake)
    _, response = intake.deliver(ses_bounce("0100018f-not-ours-000000", ["buyer@customer.example"]))
    assert response.status_code == 200
    assert suppressions(intake) == {"buyer@customer.example": ("bounce", "all")}
    assert contact_row(intake, seeded.contact_id).suppressed_at is not None
    assert email_row(intake, seeded.email_id).status == "sent"
    assert tasks(intake) == []
    outcome = intake.sns_rows()[0].outcome
    assert outcome is not None and "no matching email" in outcome


def test_an_unsubscribe_is_widened_by_a_hard_bounce(intake: Intake) -> None:
    seeded = seed(intake)
    with intake.sessions.begin() as session:
        session.add(models.EmailSuppression(address="buyer@customer.example", reason="unsubscribe", scope="reminders"))
    intake.deliver(ses_bounce(seeded.ses_message_id, ["buyer@customer.example"]))
    assert suppressions(intake) == {"buyer@customer.example": ("bounce", "all")}


def test_a_suppressed_contact_gets_no_more_reminders(intake: Intake) -> None:
    seeded = seed(intake)
    other = seed(intake, email="someone.else@customer.example")
    intake.deliver(ses_bounce(seeded.ses_message_id, ["buyer@customer.example"]))

    # A week before the end date the 7-day stage comes up: only the contact that did not bounce gets it.
    day = datetime.now(UTC).date() + timedelta(days=23)
    with intake.sessions.begin() as session:
        plan_reminders(session, today=day, cadence=load_cadence(DEFAULT_CADENCE_FILE))
    with intake.sessions() as session:
        planned = session.scalars(
            select(models.Reminder.contract_id).where(
                models.Reminder.status == "planned", models.Reminder.offset_days == -7
            )
        ).all()
    assert planned == [other.contract_id]


@pytest.mark.parametrize(
    "message",
    ["not json", "[1, 2]", json.dumps({"notificationType": "Open", "mail": {"messageId": "x"}})],
    ids=["not-json", "not-an-object", "unprocessed-type"],
)
def test_a_verified_notification_that_is_not_feedback_is_recorded_and_ignored(intake: Intake, message: str) -> None:
    data = intake.signer.sign(notification(message))
    response = intake.post(data)
    assert response.status_code == 200
    [row] = intake.sns_rows()
    assert row.outcome is not None and row.outcome.startswith("ignored")
    assert intake.post(data).json == {"status": "duplicate"}


def test_a_redelivery_racing_the_first_is_answered_duplicate(intake: Intake, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first delivery commits between the second's duplicate check and its insert: the unique
    MessageId stops the second, which answers 200 duplicate."""
    data = intake.signer.sign(subscription_message())

    def concurrent_first_delivery(settings: Settings, topic_arn: str, token: str) -> None:
        with intake.sessions.begin() as session:
            session.add(
                models.SnsMessage(
                    message_id=data["MessageId"], type=data["Type"], topic_arn=TOPIC, outcome="first delivery"
                )
            )

    monkeypatch.setattr(views, "confirm_subscription", concurrent_first_delivery)
    response = intake.post(data)
    assert response.status_code == 200
    assert response.json == {"status": "duplicate"}
    assert [row.outcome for row in intake.sns_rows()] == ["first delivery"]


# --- Forged, malformed and unwanted requests ---------------------------------------------------------------


def test_a_forged_bounce_is_refused_and_changes_nothing(intake: Intake) -> None:
    seeded = seed(intake)
    forged = make_signer().sign(notification(json.dumps(ses_bounce(seeded.ses_message_id, ["buyer@customer.example"]))))
    response = intake.post(forged)
    assert response.status_code == 403
    assert response.json == {"status": "rejected", "reason": "the signature does not match the message"}
    assert intake.count(models.SnsMessage) == 0
    assert suppressions(intake) == {}
    assert email_row(intake, seeded.email_id).status == "sent"


def test_an_edited_bounce_is_refused(intake: Intake) -> None:
    seeded = seed(intake)
    data, _ = intake.deliver(ses_delivery(seeded.ses_message_id, ["buyer@customer.example"]))
    data["Message"] = json.dumps(ses_bounce(seeded.ses_message_id, ["buyer@customer.example"]))
    data["MessageId"] = str(uuid.uuid4())
    assert intake.post(data).status_code == 403
    assert suppressions(intake) == {}


def test_an_unknown_topic_is_refused_without_fetching_anything(intake: Intake) -> None:
    other = "arn:aws:sns:us-east-1:999999999999:ses-events"
    response = intake.post(intake.signer.sign(notification("{}", topic=other)))
    assert response.status_code == 403
    assert intake.fetcher.calls == []
    assert intake.count(models.SnsMessage) == 0


def test_a_bad_certificate_url_is_refused_without_fetching_anything(intake: Intake) -> None:
    data = intake.signer.sign(
        notification("{}"), cert_url="https://attacker.s3.amazonaws.com/SimpleNotificationService-1.pem"
    )
    response = intake.post(data)
    assert response.status_code == 403
    assert intake.fetcher.calls == []


def test_an_unreachable_certificate_host_asks_sns_to_retry(intake: Intake) -> None:
    intake.fetcher.error = CertificateFetchError("ConnectTimeout", transient=True)
    data = intake.signer.sign(notification("{}"))
    response = intake.post(data)
    assert response.status_code == 503
    assert intake.count(models.SnsMessage) == 0
    intake.fetcher.error = None
    assert intake.post(data).status_code == 200
    assert intake.count(models.SnsMessage) == 1


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b"[]", b'{"Type": "Notification"}', json.dumps({"Type": "Other", "MessageId": "1"}).encode()],
    ids=["empty", "not-json", "array", "missing-fields", "unknown-type"],
)
def test_a_malformed_body_is_a_400(intake: Intake, body: bytes) -> None:
    response = intake.client.post(ENDPOINT, data=body, content_type=SNS_CONTENT_TYPE)
    assert response.status_code == 400
    assert response.json is not None and response.json["status"] == "rejected"
    assert intake.count(models.SnsMessage) == 0


def test_a_message_type_header_that_disagrees_is_a_400(intake: Intake) -> None:
    data = intake.signer.sign(notification("{}"))
    assert intake.post(data, **{"x-amz-sns-message-type": "SubscriptionConfirmation"}).status_code == 400
    assert intake.post(data, **{"x-amz-sns-message-type": "Notification"}).status_code == 200


def test_an_oversized_body_is_refused(intake: Intake) -> None:
    data = intake.signer.sign(notification("x" * (300 * 1024)))
    response = intake.post(data)
    assert response.status_code == 413
    assert intake.fetcher.calls == []
    assert intake.count(models.SnsMessage) == 0


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_only_post_is_served(intake: Intake, method: str) -> None:
    data = intake.signer.sign(notification("{}"))
    response = intake.client.open(ENDPOINT, method=method, data=json.dumps(data), content_type=SNS_CONTENT_TYPE)
    assert response.status_code == 405
    assert intake.count(models.SnsMessage) == 0
    assert intake.fetcher.calls == []


def test_rejections_are_logged_with_the_reason_and_message_id_only(
    intake: Intake, caplog: pytest.LogCaptureFixture
) -> None:
    data = make_signer().sign(notification('{"secret": "do-not-log-this"}', message_id="forged-id-1"))
    with caplog.at_level(logging.INFO):
        assert intake.post(data).status_code == 403
    assert "forged-id-1" in caplog.text
    assert "the signature does not match the message" in caplog.text
    assert "do-not-log-this" not in caplog.text
    assert data["Signature"] not in caplog.text


# --- Subscription confirmation -----------------------------------------------------------------------------


@pytest.fixture
def url_recorder() -> Iterator[tuple[str, list[str]]]:
    """A loopback server that records every request: SubscribeURL points here and must never be hit."""
    hits: list[str] = []

    @Request.application
    def record(request: Request) -> Response:
        hits.append(request.url)
        return Response("confirmed")

    with serve_wsgi(record) as url:
        yield f"{url}/?Action=ConfirmSubscription&Token=x", hits


@pytest.fixture
def confirmations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Records each ConfirmSubscription the endpoint makes, which still goes to moto's SNS."""
    calls: list[tuple[str, str]] = []
    real = views.confirm_subscription

    def spy(settings: Settings, topic_arn: str, token: str) -> None:
        calls.append((topic_arn, token))
        real(settings, topic_arn, token)

    monkeypatch.setattr(views, "confirm_subscription", spy)
    return calls


def create_topic(endpoint: str) -> str:
    arn = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1").create_topic(Name="ses-events")
    assert arn["TopicArn"] == TOPIC
    return TOPIC


def test_a_subscription_is_confirmed_through_the_api_never_the_url(
    sqlite_intake: Intake,
    ses_endpoint: str,
    url_recorder: tuple[str, list[str]],
    confirmations: list[tuple[str, str]],
) -> None:
    create_topic(ses_endpoint)
    subscribe_url, hits = url_recorder
    data = sqlite_intake.signer.sign(subscription_message(subscribe_url=subscribe_url), version="1")
    response = sqlite_intake.post(data)
    assert response.status_code == 200
    assert confirmations == [(TOPIC, data["Token"])]
    [row] = sqlite_intake.sns_rows()
    assert (row.type, row.outcome) == ("SubscriptionConfirmation", "subscription confirmed")
    assert sqlite_intake.post(data).json == {"status": "duplicate"}
    assert len(confirmations) == 1
    assert hits == []


def test_a_confirmation_for_another_topic_is_neither_confirmed_nor_fetched(
    sqlite_intake: Intake, url_recorder: tuple[str, list[str]], confirmations: list[tuple[str, str]]
) -> None:
    subscribe_url, hits = url_recorder
    other = "arn:aws:sns:us-east-1:123456789012:not-ours"
    for data in (
        sqlite_intake.signer.sign(subscription_message(topic=other, subscribe_url=subscribe_url)),
        make_signer().sign(subscription_message(subscribe_url=subscribe_url)),
    ):
        assert sqlite_intake.post(data).status_code == 403
    assert confirmations == []
    assert hits == []
    assert sqlite_intake.count(models.SnsMessage) == 0


def test_a_failed_confirmation_is_retried_by_sns(
    sqlite_intake: Intake, ses_endpoint: str, confirmations: list[tuple[str, str]]
) -> None:
    data = sqlite_intake.signer.sign(subscription_message())
    response = sqlite_intake.post(data)  # the topic does not exist in moto yet: ConfirmSubscription fails
    assert response.status_code == 503
    assert sqlite_intake.count(models.SnsMessage) == 0
    create_topic(ses_endpoint)
    assert sqlite_intake.post(data).status_code == 200
    assert len(confirmations) == 2


def test_an_unsubscribe_confirmation_is_only_recorded(
    sqlite_intake: Intake, url_recorder: tuple[str, list[str]], confirmations: list[tuple[str, str]]
) -> None:
    subscribe_url, hits = url_recorder
    data = sqlite_intake.signer.sign(subscription_message("UnsubscribeConfirmation", subscribe_url=subscribe_url))
    assert sqlite_intake.post(data).status_code == 200
    [row] = sqlite_intake.sns_rows()
    assert row.type == "UnsubscribeConfirmation"
    assert confirmations == []
    assert hits == []


# --- Round trip through moto -------------------------------------------------------------------------------


@pytest.fixture
def live_app(settings: Settings, ses_endpoint: str) -> Iterator[tuple[str, Settings]]:
    """The real app on a free port, configured as in local development: moto is the SES and SNS endpoint
    and serves the signing certificates; the allowed topic is the one created in moto."""
    create_topic(ses_endpoint)
    live_settings = load_settings(
        {
            "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
            "RENEWALS_DATABASE_URL": settings.database_url,
            "RENEWALS_REDIS_URL": settings.redis_url,
            "RENEWALS_PUBLIC_BASE_URL": "http://renewals.test",
            "RENEWALS_SNS_TOPIC_ARNS": TOPIC,
            "RENEWALS_SES_ENDPOINT_URL": ses_endpoint,
            "RENEWALS_SNS_CERTIFICATE_ENDPOINT_URL": ses_endpoint,
        }
    )
    app = create_app(live_settings)
    try:
        with serve_wsgi(app) as url:
            yield url, live_settings
    finally:
        app.extensions["renewals.database"].dispose()


def test_moto_bounce_notifications_are_verified_and_applied(live_app: tuple[str, Settings], ses_endpoint: str) -> None:
    base_url, live_settings = live_app
    engine = make_engine(live_settings.database_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    # moto's canned bounce names recipient1@example.com (failed) and recipient2@example.com (delayed).
    with sessions.begin() as session:
        failed = make_contract(session, end_date=date(2031, 1, 1), email="recipient1@example.com")
        delayed = make_contract(session, end_date=date(2031, 1, 1), email="recipient2@example.com")
        assert failed.contact is not None and delayed.contact is not None
        failed_contact, delayed_contact = failed.contact.id, delayed.contact.id

    sns = boto3.client("sns", endpoint_url=ses_endpoint, region_name="us-east-1")
    sns.subscribe(TopicArn=TOPIC, Protocol="http", Endpoint=f"{base_url}{ENDPOINT}")
    ses = boto3.client("ses", endpoint_url=ses_endpoint, region_name="us-east-1")
    # moto picks the feedback topic by the sender's domain identity.
    ses.verify_domain_identity(Domain="northwind.example")
    ses.set_identity_notification_topic(Identity="northwind.example", NotificationType="Bounce", SnsTopic=TOPIC)
    mime = MimeMessage()
    mime["From"] = "Northwind Renewals <renewals@northwind.example>"
    mime["To"] = "bounce@simulator.amazonses.com"
    mime["Subject"] = "Your renewal"
    mime.set_content("Time to renew.")
    sesv2 = boto3.client("sesv2", endpoint_url=ses_endpoint, region_name="us-east-1")
    sesv2.send_email(FromEmailAddress="renewals@northwind.example", Content={"Raw": {"Data": mime.as_bytes()}})

    # moto posted the signed notification synchronously, during the send.
    with sessions() as session:
        [row] = session.scalars(select(models.SnsMessage)).all()
        assert (row.type, row.topic_arn, row.notification_type) == ("Notification", TOPIC, "Bounce")
        assert row.ses_message_id == "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000"
        assert row.outcome is not None and "no matching email" in row.outcome
        assert {s.address: s.reason for s in session.scalars(select(models.EmailSuppression))} == {
            "recipient1@example.com": "bounce"
        }
        failed_row = session.get(models.Contact, failed_contact)
        delayed_row = session.get(models.Contact, delayed_contact)
        assert failed_row is not None and failed_row.suppressed_at is not None
        assert delayed_row is not None and delayed_row.suppressed_at is None
    engine.dispose()
