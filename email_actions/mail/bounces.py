"""What SES tells us after a send (bounce, complaint, delivery) does to the store, in the caller's
transaction.

- A **hard bounce** (``bounceType`` ``Permanent``) or a **complaint** suppresses each address it names
  (:class:`~sync_service.store.models.EmailSuppression`, scope ``all``), marks every contact with that
  address suppressed and cancels those contacts' contracts' planned reminders, so nothing more is sent to
  them. The email it is about becomes ``bounced`` / ``complained`` and the rep gets a Task for it.
- A **transient or undetermined bounce** changes nothing: SES has given up on that one email only.
- A **delivery** marks the email ``delivered``.

The notification may use identity notifications (key ``notificationType``) or configuration-set event
publishing (key ``eventType``); both have the same sub-objects. Statuses only move forward (a delivery
reported after a bounce leaves ``bounced``), and the Task is recorded on the move into ``bounced`` or
``complained``, so two SNS messages about the same SES event make one Task. An SES message id the store
does not know is fine: the addresses are still suppressed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sync_service.outbox.tasks import record_email_activity
from sync_service.planning.planner import CANCEL_SUPPRESSED
from sync_service.store import models
from sync_service.store.models import utcnow

HANDLED = ("Bounce", "Complaint", "Delivery")
# Every notificationType / eventType SES documents; anything else is treated as unnamed (see _kind).
KNOWN_TYPES = (
    *HANDLED,
    "Send",
    "Reject",
    "Open",
    "Click",
    "Rendering Failure",
    "DeliveryDelay",
    "Subscription",
    "AmazonSnsSubscriptionSucceeded",
)

# Which statuses each feedback status may replace: sent-ish states move on; a bounce or complaint may
# follow a delivery (a late bounce, a spam report); bounced and complained are final.
MOVES_FROM: dict[str, tuple[str, ...]] = {
    "delivered": ("sending", "sent", "unknown"),
    "bounced": ("sending", "sent", "unknown", "delivered"),
    "complained": ("sending", "sent", "unknown", "delivered"),
}
MAX_SES_MESSAGE_ID_LENGTH = 100  # the width of the ses_message_id columns
MAX_ADDRESS_LENGTH = 320  # the width of email_suppressions.address


@dataclass(frozen=True)
class FeedbackResult:
    """What one SES notification did: its type, the SES message id it is about, and a short outcome."""

    notification_type: str | None
    ses_message_id: str | None
    outcome: str


def parse_notification(message: str | Mapping[str, Any] | Sequence[Any]) -> dict[str, Any] | None:
    """The SES notification in an SNS ``Message`` (a JSON string; an object from moto), or None."""
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            return None
    return dict(message) if isinstance(message, Mapping) else None


def apply_notification(
    session: Session, message: str | Mapping[str, Any] | Sequence[Any], *, received_at: datetime | None = None
) -> FeedbackResult:
    """Apply one SES notification (the SNS ``Message``) to the store; committing is the caller's."""
    received = received_at or utcnow()
    data = parse_notification(message)
    if data is None:
        return FeedbackResult(None, None, "ignored: the message is not an SES notification")
    kind = _kind(data)
    mail = _section(data, "mail")
    ses_id = mail.get("messageId")
    if not isinstance(ses_id, str) or not 0 < len(ses_id) <= MAX_SES_MESSAGE_ID_LENGTH:
        ses_id = None
    if kind == "Bounce":
        return FeedbackResult(kind, ses_id, _bounce(session, _section(data, "bounce"), ses_id, received))
    if kind == "Complaint":
        return FeedbackResult(kind, ses_id, _complaint(session, _section(data, "complaint"), ses_id, received))
    if kind == "Delivery":
        return FeedbackResult(kind, ses_id, _delivery(session, _section(data, "delivery"), ses_id, received))
    return FeedbackResult(kind, ses_id, f"ignored: {kind or 'unnamed'} notifications are not processed")


def suppress_address(
    session: Session,
    address: str,
    *,
    reason: str,
    detail: str,
    email_message: models.EmailMessage | None = None,
) -> bool:
    """Suppress ``address`` for all mail (idempotent); True if it was not suppressed for all mail before.

    An unsubscribe (scope ``reminders``) is widened to ``all`` with the new reason. Two notifications about
    the same address at once are safe: the insert runs in a savepoint and the loser finds the winner's row.
    """
    address = address.strip().lower()
    existing = _suppression(session, address)
    if existing is None:
        try:
            with session.begin_nested():
                session.add(
                    models.EmailSuppression(
                        address=address,
                        reason=reason,
                        scope="all",
                        detail=detail,
                        email_message_id=email_message.id if email_message is not None else None,
                    )
                )
            return True
        except IntegrityError:
            existing = _suppression(session, address)
            if existing is None:
                raise
    if existing.scope == "all":
        return False
    existing.scope = "all"
    existing.reason = reason
    existing.detail = detail
    if email_message is not None:
        existing.email_message_id = email_message.id
    return True


def suppress_contacts(session: Session, address: str, *, at: datetime) -> tuple[int, int]:
    """Mark every live contact with ``address`` (any case) suppressed and cancel the planned reminders of
    their contracts; returns (contacts newly suppressed, reminders cancelled)."""
    contacts = session.scalars(
        select(models.Contact).where(
            func.lower(models.Contact.email) == address.strip().lower(),
            models.Contact.is_deleted.is_(False),
        )
    ).all()
    newly = 0
    for contact in contacts:
        if contact.suppressed_at is None:
            contact.suppressed_at = at
            newly += 1
    if not contacts:
        return 0, 0
    contract_ids = select(models.Contract.id).where(models.Contract.contact_id.in_([c.id for c in contacts]))
    cancelled = session.execute(
        update(models.Reminder)
        .where(models.Reminder.status == "planned", models.Reminder.contract_id.in_(contract_ids))
        .values(status="cancelled", reason=CANCEL_SUPPRESSED)
        .returning(models.Reminder.id)
        .execution_options(synchronize_session="fetch")
    ).all()
    return newly, len(cancelled)


def _kind(data: Mapping[str, Any]) -> str | None:
    kind = data.get("notificationType") or data.get("eventType")
    if isinstance(kind, str) and kind in KNOWN_TYPES:
        return kind
    # Unnamed or unknown: if exactly one bounce/complaint/delivery section is present, that is the type
    # (moto's canned feedback leaves notificationType as the docs' placeholder text).
    present = [name for name in HANDLED if isinstance(data.get(name.lower()), dict)]
    if len(present) == 1:
        return present[0]
    return kind if isinstance(kind, str) else None


def _section(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _addresses(recipients: list[dict[str, Any]]) -> list[str]:
    """The recipients' addresses, lower case, once each (an address too long to store is no address)."""
    found = {_text(r.get("emailAddress")).lower() for r in recipients}
    return sorted(a for a in found if a and len(a) <= MAX_ADDRESS_LENGTH)


def _event_time(section: Mapping[str, Any], fallback: datetime) -> datetime:
    raw = section.get("timestamp")
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return fallback
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return fallback


def _email(session: Session, ses_id: str | None) -> models.EmailMessage | None:
    if ses_id is None:
        return None
    return session.scalar(select(models.EmailMessage).where(models.EmailMessage.ses_message_id == ses_id))


def _suppression(session: Session, address: str) -> models.EmailSuppression | None:
    return session.scalar(select(models.EmailSuppression).where(models.EmailSuppression.address == address))


def _move(email: models.EmailMessage, status: str, at: datetime) -> bool:
    if email.status not in MOVES_FROM[status]:
        return False
    email.status = status
    email.status_at = at
    return True


def _suppress_all(
    session: Session,
    addresses: list[str],
    *,
    reason: str,
    detail: str,
    email: models.EmailMessage | None,
    at: datetime,
) -> str:
    added = contacts = reminders = 0
    for address in addresses:
        added += suppress_address(session, address, reason=reason, detail=detail, email_message=email)
        new_contacts, cancelled = suppress_contacts(session, address, at=at)
        contacts += new_contacts
        reminders += cancelled
    if not addresses:
        return "no recipient address to suppress"
    return (
        f"suppressed {len(addresses)} address(es) ({added} new), "
        f"{contacts} contact(s) suppressed, {reminders} planned reminder(s) cancelled"
    )


def _email_outcome(
    session: Session, email: models.EmailMessage | None, status: str, activity: str, at: datetime, detail: str
) -> str:
    if email is None:
        return "no matching email"
    previous = email.status
    if not _move(email, status, at):
        return f"email #{email.id} kept status {previous}"
    record_email_activity(session, email, activity, at=at, detail=detail)
    return f"email #{email.id} {status}"


def _bounce(session: Session, bounce: Mapping[str, Any], ses_id: str | None, received: datetime) -> str:
    bounce_type = _text(bounce.get("bounceType")) or "Undetermined"
    subtype = _text(bounce.get("bounceSubType"))
    label = f"{bounce_type}/{subtype}" if subtype else bounce_type
    raw_recipients = bounce.get("bouncedRecipients")
    recipients = [r for r in raw_recipients if isinstance(r, dict)] if isinstance(raw_recipients, list) else []
    if bounce_type != "Permanent":
        return f"{bounce_type.lower()} bounce ({label}): nothing suppressed"
    # In a hard bounce every recipient failed; one reported as merely delayed is not suppressed.
    failed = [r for r in recipients if _text(r.get("action")) in ("", "failed")]
    at = _event_time(bounce, received)
    email = _email(session, ses_id)
    diagnostic = _diagnostic(failed, email)
    detail = f"Bounce: {label}" + (f"; {diagnostic}" if diagnostic else "")
    addresses = _addresses(failed)
    suppressed = _suppress_all(session, addresses, reason="bounce", detail=detail, email=email, at=at)
    return f"hard bounce ({label}): {suppressed}; {_email_outcome(session, email, 'bounced', 'bounced', at, detail)}"


def _diagnostic(recipients: list[dict[str, Any]], email: models.EmailMessage | None) -> str:
    """The diagnostic code for the email's own address if listed, else the first one given."""
    own = (email.to_address or "").lower() if email is not None else ""
    ordered = sorted(recipients, key=lambda r: _text(r.get("emailAddress")).lower() != own)
    for recipient in ordered:
        code = _text(recipient.get("diagnosticCode"))
        if code:
            return code[:500]
    return ""


def _complaint(session: Session, complaint: Mapping[str, Any], ses_id: str | None, received: datetime) -> str:
    raw_recipients = complaint.get("complainedRecipients")
    recipients = [r for r in raw_recipients if isinstance(r, dict)] if isinstance(raw_recipients, list) else []
    addresses = _addresses(recipients)
    feedback_type = _text(complaint.get("complaintFeedbackType"))
    user_agent = _text(complaint.get("userAgent"))
    detail = (
        "Complaint"
        + (f": {feedback_type}" if feedback_type else "")
        + (f" (via {user_agent[:200]})" if user_agent else "")
    )
    at = _event_time(complaint, received)
    email = _email(session, ses_id)
    suppressed = _suppress_all(session, addresses, reason="complaint", detail=detail, email=email, at=at)
    return f"complaint: {suppressed}; {_email_outcome(session, email, 'complained', 'complained', at, detail)}"


def _delivery(session: Session, delivery: Mapping[str, Any], ses_id: str | None, received: datetime) -> str:
    email = _email(session, ses_id)
    if email is None:
        return "delivery: no matching email"
    previous = email.status
    if not _move(email, "delivered", _event_time(delivery, received)):
        return f"delivery: email #{email.id} kept status {previous}"
    return f"delivery: email #{email.id} delivered"
