"""Renewing a contract: what the customer's confirmed Renew (from an email or the portal) does to the store.

:func:`renew_contract` does all of it inside the caller's transaction, or none of it:

1. **Claims the contract**: ``UPDATE contracts SET renewed_at = now WHERE id = … AND renewed_at IS NULL AND
   NOT is_cancelled AND NOT is_deleted``. Only the transaction whose update matched the row goes on; a
   second POST, or one racing it, finds the row renewed and is told so. On PostgreSQL the racers wait on
   the row lock and then see it renewed; on SQLite the update takes the database's write lock.
2. **Checks the price the customer saw** against the contract's live renewal quote. A quote that is gone
   or has no total, or a total that differs from the one shown, undoes the claim: nobody is ever renewed at
   a price they did not see. The caller shows the new amount (or the way to the rep) instead.
3. **Records the renewal** (:class:`~sync_service.store.models.Renewal`; its unique ``contract_id`` is the
   second guard), the mapping's write-back (field updates in the outbox), the "renewed" Task, the
   confirmation email (queued), and cancels the contract's remaining planned reminders.

The caller commits, then enqueues the push and the email (never before the commit: a fast worker would not
find the rows). On SQLite, call it at the start of a transaction (commit or roll back earlier reads first):
its first statement is then the write, and concurrent renewals queue for the write lock instead of failing
with "database is locked" (a transaction that read before another one committed cannot take the lock).

The write-back needs the mapping to name resolvable records. When it cannot (a lookup the pull left empty),
the renewal still stands, nothing of the write-back is recorded, and the Task and the outcome say so: the
customer's renewal is not refused for the org's data, and the rep learns what to set by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mappings.model import Mapping
from sync_service.outbox.tasks import record_email_activity
from sync_service.outbox.writeback import Seen, WriteBackUnresolved, live_quote, record_write_back
from sync_service.planning.planner import CANCEL_RENEWED, CANCELLED, PLANNED
from sync_service.renewability import Refusal
from sync_service.store import models
from sync_service.store.models import new_nonce, utcnow

log = structlog.get_logger(__name__)

Source = Literal["email", "portal"]
Status = Literal[
    "renewed", "already_renewed", "cancelled", "quote_changed", "no_quote", "refused", "pending", "unavailable"
]
PURCHASE_ORDER_MAX = 80  # the width of renewals.purchase_order


@dataclass(frozen=True)
class RenewOutcome:
    """What :func:`renew_contract` did. Only ``renewed`` changed anything.

    - ``renewed``: ``renewal``, ``confirmation`` (the queued email) and ``outbox`` (the write-back rows and
      the Task) are set; ``write_back_problem`` says why the write-back could not be recorded, if it could not.
    - ``already_renewed``: ``renewed_at`` is when (this service's renewal, or the contract's mark).
    - ``cancelled``: the contract was cancelled or deleted in Salesforce.
    - ``quote_changed``: ``quote``'s total is not the one the customer saw; ``total`` and ``currency`` are
      the current ones to show and confirm.
    - ``no_quote``: the contract has no live renewal quote with a total to renew at.

    Only :func:`sync_service.renewal_live.renew_live` (the check against the org) gives the last three:

    - ``refused``: the quote may not be renewed from the email (``refusal`` says why, in words).
    - ``pending``: the org did not answer; ``intent`` is the renewal kept to complete later (``recorded``:
      recorded by this call, else one was waiting already).
    - ``unavailable``: the org refused to let the quote be read (``detail``); nothing renewed or kept.
    """

    status: Status
    contract_id: int
    renewed_at: datetime | None = None
    renewal: models.Renewal | None = None
    quote: models.RenewalQuote | None = None
    total: Decimal | None = None
    currency: str | None = None
    confirmation: models.EmailMessage | None = None
    outbox: list[models.OutboxItem] = field(default_factory=list)
    write_back_problem: str | None = None
    refusal: Refusal | None = None
    intent: models.RenewalIntent | None = None
    recorded: bool = False
    detail: str | None = None


def renew_contract(
    session: Session,
    *,
    contract: models.Contract,
    email_message: models.EmailMessage | None = None,
    quote_total_seen: Decimal | None,
    purchase_order: str | None,
    source: Source,
    mapping: Mapping | None,
    seen: dict[tuple[str, str], Seen] | None = None,
) -> RenewOutcome:
    """Renew `contract` at the live quote's total, if that is `quote_total_seen` (see the module docstring).

    `email_message` is the email the customer acted from: the "renewed" Task goes on it. Without one (the
    portal), the Task goes on the contract's latest *sent* reminder, and when none was ever sent there is no
    Task (the renewal, write-back and confirmation still happen). `quote_total_seen` ``None`` means the
    customer was shown no total, which is never enough to renew: the outcome is ``quote_changed`` with the
    total to show. `mapping` ``None`` (no active mapping) records no write-back. A purchase order longer
    than :data:`PURCHASE_ORDER_MAX` raises ``ValueError`` before anything is written. `seen` (what a live read
    of a record found, see :func:`~sync_service.outbox.writeback.record_write_back`) makes the write-back to
    that record conditional on Salesforce still holding it. Nothing is committed.
    """
    purchase_order = _purchase_order(purchase_order)
    now = utcnow()
    claim = session.begin_nested()
    claimed = session.execute(
        update(models.Contract)
        .where(
            models.Contract.id == contract.id,
            models.Contract.renewed_at.is_(None),
            models.Contract.is_cancelled.is_(False),
            models.Contract.is_deleted.is_(False),
        )
        .values(renewed_at=now, renewed_via=source)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        claim.commit()
        session.refresh(contract)
        return _not_renewable(session, contract)

    quote = live_quote(session, contract)
    if quote is None or quote.total is None:
        claim.rollback()
        return RenewOutcome("no_quote", contract.id, quote=quote)
    currency = quote.currency or contract.currency
    if quote_total_seen is None or quote.total != quote_total_seen:
        claim.rollback()
        return RenewOutcome("quote_changed", contract.id, quote=quote, total=quote.total, currency=currency)

    renewal = models.Renewal(
        contract_id=contract.id,
        quote_id=quote.id,
        email_message_id=email_message.id if email_message is not None else None,
        amount=quote.total,
        currency=currency,
        purchase_order=purchase_order,
        source=source,
        renewed_at=now,
    )
    try:
        with session.begin_nested():
            session.add(renewal)
    except IntegrityError:
        # The contract's mark was cleared while a renewal row exists (it is never cleared here): the row wins.
        claim.rollback()
        session.refresh(contract)
        return _not_renewable(session, contract)
    claim.commit()
    session.refresh(contract)

    outbox: list[models.OutboxItem] = []
    problem = None
    if mapping is not None:
        try:
            outbox.extend(record_write_back(session, contract=contract, mapping=mapping, action="renew", seen=seen))
        except WriteBackUnresolved as exc:
            problem = str(exc)
            log.error("renewal write-back not recorded", contract_id=contract.id, problem=problem)

    task_email = email_message if email_message is not None else _latest_sent_reminder(session, contract)
    if task_email is not None:
        detail = _task_detail(renewal, quote, source, problem)
        conventions = mapping.write_back.tasks if mapping is not None else None
        outbox.append(
            record_email_activity(session, task_email, "renewed", at=now, detail=detail, conventions=conventions)
        )

    confirmation = _queue_confirmation(session, contract, email_message, quote, renewal)
    session.execute(
        update(models.Reminder)
        .where(models.Reminder.contract_id == contract.id, models.Reminder.status == PLANNED)
        .values(status=CANCELLED, reason=CANCEL_RENEWED)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    return RenewOutcome(
        "renewed",
        contract.id,
        renewed_at=now,
        renewal=renewal,
        quote=quote,
        total=quote.total,
        currency=currency,
        confirmation=confirmation,
        outbox=outbox,
        write_back_problem=problem,
    )


def _not_renewable(session: Session, contract: models.Contract) -> RenewOutcome:
    """Why the claim matched nothing: renewed already (which wins over a later cancellation), or cancelled."""
    renewal = session.scalar(select(models.Renewal).where(models.Renewal.contract_id == contract.id))
    if renewal is not None or contract.renewed_at is not None:
        when = renewal.renewed_at if renewal is not None else contract.renewed_at
        return RenewOutcome("already_renewed", contract.id, renewed_at=when, renewal=renewal)
    return RenewOutcome("cancelled", contract.id)


def _purchase_order(value: str | None) -> str | None:
    value = (value or "").strip()
    if len(value) > PURCHASE_ORDER_MAX:
        raise ValueError(f"a purchase order number has at most {PURCHASE_ORDER_MAX} characters")
    return value or None


def _latest_sent_reminder(session: Session, contract: models.Contract) -> models.EmailMessage | None:
    return session.scalar(
        select(models.EmailMessage)
        .where(
            models.EmailMessage.contract_id == contract.id,
            models.EmailMessage.kind == "reminder",
            models.EmailMessage.sent_at.is_not(None),
        )
        .order_by(models.EmailMessage.sent_at.desc(), models.EmailMessage.id.desc())
        .limit(1)
    )


def _task_detail(renewal: models.Renewal, quote: models.RenewalQuote, source: Source, problem: str | None) -> str:
    lines = [
        f"Renewed from the {'email' if source == 'email' else 'customer portal'}"
        + (f", quote {quote.number}" if quote.number else "")
        + f": {renewal.amount} {renewal.currency or ''}".rstrip(),
    ]
    if renewal.purchase_order:
        lines.append(f"Purchase order: {renewal.purchase_order}")
    if problem:
        lines.append(f"Not written back to Salesforce, set it by hand: {problem}")
    return "\n".join(lines)


def _queue_confirmation(
    session: Session,
    contract: models.Contract,
    email_message: models.EmailMessage | None,
    quote: models.RenewalQuote,
    renewal: models.Renewal,
) -> models.EmailMessage:
    """The customer's confirmation, queued in this transaction (one per contract: the renewal is unique)."""
    if email_message is not None and email_message.contact_id is not None:
        contact_id: int | None = email_message.contact_id
    else:
        contact_id = quote.contact_id or contract.contact_id
    data = {"purchase_order": renewal.purchase_order} if renewal.purchase_order else {}
    return queue_customer_email(
        session, contract, key=f"confirmation:{contract.id}", kind="confirmation", contact_id=contact_id, data=data
    )


def queue_customer_email(
    session: Session, contract: models.Contract, *, key: str, kind: str, contact_id: int | None, data: dict[str, Any]
) -> models.EmailMessage:
    """An email of `kind` about `contract` to the contact `contact_id`, queued in this transaction."""
    message = models.EmailMessage(
        key=key,
        kind=kind,
        contract_id=contract.id,
        contact_id=contact_id,
        rep_id=contract.rep_id,
        nonce=new_nonce(),
        status="queued",
        data=data,
    )
    session.add(message)
    return message
