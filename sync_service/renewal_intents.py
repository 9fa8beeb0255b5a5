"""Completing the renewals the org could not confirm when the customer pressed Renew (issue 13, part 6).

A :class:`models.RenewalIntent` is recorded by :func:`sync_service.renewal_live.renew_live` when the live read
of the quote failed transiently. :func:`settle_intent` tries it again, the same way (one live read, the same
rules, the total the customer confirmed), each in a transaction of its own:

- renewed → the intent is ``renewed`` (the renewal, write-back, Task and confirmation email as from the page);
- the contract was renewed meanwhile (by another Renew, or in Salesforce) → ``renewed`` too, nothing twice,
  with the reason saying so;
- refused (the quote changed, expired, was withdrawn, the contract was cancelled…) → ``refused`` with the
  reason, and an email of kind ``renewal_refused`` tells the customer why (its ``data.reason``) with the way to
  their rep;
- the org still does not answer, or refuses the read (an admin must fix the mapping) → stays ``pending``
  (``attempts`` counts the tries): an intent is never dropped.

The intent row is claimed first (``UPDATE … WHERE status = 'pending'``): two workers settling the same intent
cannot both renew (and ``renew_contract``'s own claim is the second guard).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import Mapping
from sync_service.renewal import RenewOutcome, Source, queue_customer_email
from sync_service.renewal_live import renew_live
from sync_service.salesforce.record_reads import RecordReader
from sync_service.store import models
from sync_service.store.models import utcnow

SETTLED_RENEWED = "renewed"
SETTLED_REFUSED = "refused"


@dataclass
class Settled:
    """What one pass over an intent did; `emails` are the queued email ids to send after the commit."""

    intent_id: int
    status: str  # renewed, refused or pending
    reason: str | None = None
    emails: list[int] = field(default_factory=list)
    pushed: bool = False


def pending_intents(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(models.RenewalIntent.id)
            .where(models.RenewalIntent.status == "pending")
            .order_by(models.RenewalIntent.created_at, models.RenewalIntent.id)
        )
    )


def settle_intent(
    session: Session, reader: RecordReader, sessions: sessionmaker[Session], intent_id: int, mapping: Mapping | None
) -> Settled:
    """Try the pending intent `intent_id` again (see the module docstring). The caller commits."""
    intent = session.get(models.RenewalIntent, intent_id)
    if intent is None or intent.status != "pending":
        return Settled(intent_id, intent.status if intent is not None else "gone")
    contract = intent.contract
    message = session.get(models.EmailMessage, intent.email_message_id) if intent.email_message_id else None
    source: Source = "portal" if intent.source == "portal" else "email"
    outcome = renew_live(
        session,
        reader,
        sessions,
        contract=contract,
        email_message=message,
        quote_total_seen=intent.quote_total_seen,
        purchase_order=intent.purchase_order,
        source=source,
        mapping=mapping,
        intent=intent,
    )
    if outcome.status == "pending":
        return Settled(intent_id, "pending", outcome.detail)
    status, reason = _verdict(outcome)
    claimed = session.execute(
        update(models.RenewalIntent)
        .where(models.RenewalIntent.id == intent_id, models.RenewalIntent.status == "pending")
        .values(status=status, reason=reason, settled_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        session.rollback()  # another worker settled it first: undo this pass's renewal, if any
        return Settled(intent_id, "settled elsewhere")
    settled = Settled(intent_id, status, reason, pushed=outcome.status == "renewed")
    if outcome.status == "renewed" and outcome.confirmation is not None:
        session.flush()
        settled.emails.append(outcome.confirmation.id)
    if status == SETTLED_REFUSED:
        email = _queue_refusal(session, intent, message, reason)
        settled.emails.append(email.id)
    return settled


def _verdict(outcome: RenewOutcome) -> tuple[str, str]:
    """The intent's final status and the reason in the customer's words."""
    if outcome.status == "renewed":
        return SETTLED_RENEWED, "renewed once Salesforce answered"
    if outcome.status == "already_renewed":
        when = f" on {outcome.renewed_at.date().isoformat()}" if outcome.renewed_at is not None else ""
        return SETTLED_RENEWED, f"the contract was already renewed{when}"
    if outcome.status == "quote_changed":
        amount = f" to {outcome.total} {outcome.currency or ''}".rstrip() if outcome.total is not None else ""
        return SETTLED_REFUSED, (
            f"Your renewal quote changed in the meantime (its total is now{amount}), so we did not renew at the "
            "amount you confirmed. Please review the updated quote and confirm it again."
        )
    if outcome.status == "refused" and outcome.refusal is not None:
        return SETTLED_REFUSED, outcome.refusal.message
    if outcome.status == "cancelled":
        return SETTLED_REFUSED, "The contract has been cancelled, so it cannot be renewed online."
    return SETTLED_REFUSED, "There is no renewal quote to accept any more; your account manager can send a new one."


def _queue_refusal(
    session: Session, intent: models.RenewalIntent, message: models.EmailMessage | None, reason: str
) -> models.EmailMessage:
    contract = intent.contract
    contact_id = message.contact_id if message is not None else contract.contact_id
    email = queue_customer_email(
        session,
        contract,
        key=f"renewal_refused:{intent.id}:{intent.created_at.isoformat()}",
        kind="renewal_refused",
        contact_id=contact_id,
        data={"reason": reason},
    )
    session.flush()
    return email
