"""``POST /sns/ses-events``: SES bounce, complaint and delivery notifications, delivered by SNS.

Every message is verified in full (:mod:`email_actions.mail.sns_verify`) before anything acts on it. A verified
message is recorded once per SNS ``MessageId`` (SNS redelivers with the same id) together with its effect,
in one transaction; a redelivery is answered 200 ``duplicate`` and changes nothing.

- ``Notification``: the SES notification is applied (:mod:`email_actions.mail.bounces`).
- ``SubscriptionConfirmation``: confirmed with ``sns.confirm_subscription`` (boto3, the app's AWS
  credentials). ``SubscribeURL`` is never fetched: it is a URL an attacker could choose (reference §4.7).
- ``UnsubscribeConfirmation``: recorded only.

Answers: 200 for accepted and duplicate messages; 400 for a body that is not an SNS message; 403 for a
message that fails verification; 413 for a body over 256 kB; 503 when the signing certificate or the
confirmation call is unavailable, so SNS tries again (SNS retries 5xx only, and drops on 4xx). Rejections
are logged with the reason and the MessageId, never the body.
"""

from __future__ import annotations

from typing import Any, cast

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, Flask, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from config.settings import Settings
from email_actions.mail.bounces import apply_notification
from email_actions.mail.sns_verify import (
    HttpsCertificateFetcher,
    SnsEnvelope,
    SnsMalformed,
    SnsRejected,
    SnsVerifier,
    parse_body,
)
from email_actions.web.security import csrf, limiter
from sync_service.store.db import current_database
from sync_service.store.models import SnsMessage, utcnow

MAX_BODY_BYTES = 256 * 1024
VERIFIER_KEY = "renewals.sns_verifier"

bp = Blueprint("sns", __name__)

Reply = tuple[dict[str, str], int] | tuple[dict[str, str], int, dict[str, str]]


def make_verifier(settings: Settings) -> SnsVerifier:
    """The verifier for the configured topics; with the local certificate endpoint (moto) it fetches from
    there and accepts moto's object-shaped ``Message``."""
    local = settings.sns_certificate_endpoint_url
    return SnsVerifier(
        settings.sns_topic_arns,
        fetch_certificate=HttpsCertificateFetcher(local_endpoint=local),
        accept_object_message=local is not None,
    )


def get_verifier(app: Flask | None = None) -> SnsVerifier:
    """The app's verifier (tests replace its ``fetch_certificate``)."""
    return cast(SnsVerifier, (app or current_app).extensions[VERIFIER_KEY])


def confirm_subscription(settings: Settings, topic_arn: str, token: str) -> None:
    """Confirm an SNS subscription through the SNS API, in the topic's region (never via SubscribeURL)."""
    client = boto3.client("sns", region_name=topic_arn.split(":")[3], endpoint_url=settings.ses_endpoint_url or None)
    client.confirm_subscription(TopicArn=topic_arn, Token=token)


@bp.post("/sns/ses-events")
def ses_events() -> Reply:
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        current_app.logger.warning("SNS message refused: the body is over %d bytes", MAX_BODY_BYTES)
        return {"status": "rejected", "reason": "the body is too large"}, 413
    message_id = "(unknown)"
    try:
        data = parse_body(body)
        message_id = _loggable_id(data.get("MessageId"))
        header_type = request.headers.get("x-amz-sns-message-type")
        if header_type is not None and header_type != data.get("Type"):
            raise SnsMalformed("the x-amz-sns-message-type header does not match Type")
        envelope = get_verifier().verify(data)
    except SnsRejected as exc:
        current_app.logger.warning("SNS message %s rejected: %s", message_id, exc.reason)
        status = "retry" if exc.status >= 500 else "rejected"
        return {"status": status, "reason": exc.reason}, exc.status
    return _record(envelope)


def _loggable_id(value: object) -> str:
    if isinstance(value, str) and value.isprintable():
        return repr(value[:100])
    return "(unknown)"


def _record(envelope: SnsEnvelope) -> Reply:
    settings = cast(Settings, current_app.extensions["renewals.settings"])
    database = current_database()
    with database.sessionmaker() as session:
        if session.scalar(select(SnsMessage.id).where(SnsMessage.message_id == envelope.message_id)) is not None:
            return _duplicate(envelope)
    outcome = None
    if envelope.type == "SubscriptionConfirmation":
        try:
            confirm_subscription(settings, envelope.topic_arn, envelope.token or "")
        except (BotoCoreError, ClientError) as exc:
            current_app.logger.warning(
                "SNS subscription to %s not confirmed (message %r): %s",
                envelope.topic_arn,
                envelope.message_id,
                type(exc).__name__,
            )
            return {"status": "retry", "reason": "the subscription could not be confirmed"}, 503, {"Retry-After": "20"}
        outcome = "subscription confirmed"
    elif envelope.type == "UnsubscribeConfirmation":
        outcome = "unsubscribe confirmation recorded"
    try:
        with database.sessionmaker() as session, session.begin():
            row = SnsMessage(
                message_id=envelope.message_id,
                type=envelope.type,
                topic_arn=envelope.topic_arn,
                outcome=outcome,
                received_at=utcnow(),
            )
            session.add(row)
            session.flush()  # the unique MessageId: a concurrent redelivery stops here
            if envelope.type == "Notification":
                result = apply_notification(session, envelope.message, received_at=row.received_at)
                row.notification_type = result.notification_type
                row.ses_message_id = result.ses_message_id
                row.outcome = result.outcome
            outcome = row.outcome
    except IntegrityError:
        with database.sessionmaker() as session:
            if session.scalar(select(SnsMessage.id).where(SnsMessage.message_id == envelope.message_id)) is None:
                raise
        return _duplicate(envelope)
    current_app.logger.info("SNS message %r (%s): %s", envelope.message_id, envelope.type, outcome)
    reply: dict[str, Any] = {"status": "accepted", "outcome": outcome or ""}
    return reply, 200


def _duplicate(envelope: SnsEnvelope) -> Reply:
    current_app.logger.info("SNS message %r is a redelivery; ignored", envelope.message_id)
    return {"status": "duplicate"}, 200


def init_app(app: Flask) -> None:
    settings = cast(Settings, app.extensions["renewals.settings"])
    app.extensions[VERIFIER_KEY] = make_verifier(settings)
    # SNS posts carry no session or CSRF token: their authenticity is the signature verified above.
    csrf.exempt(bp)
    limiter.limit("600/minute")(bp)
    app.register_blueprint(bp)
