"""Store rows for tests and benchmarks, one factory per kind of row, each flushed so it has its id:

- `make_contract`: a contract with its account, contact, rep, reseller and a renewal quote with lines and a
  document, as a pull would have written them (`make_rep` for a rep several contracts share);
- `make_reminder`: a contract at one stage of the cadence;
- `make_email`: an email row of any kind and status for a contract, addressed as the sender would have;
- `make_sent_reminder_email`: the row most tests of the act step start from, a reminder sent to the
  contract's contact with its `sent` Reminder;
- `make_email_event`: an open, click or download of an email;
- `make_outbox_item`: a Salesforce write waiting in the outbox.

Defaults are what the service writes; every column can be given instead. Factories never commit: the caller's
session or transaction decides.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.orm import Session

from sync_service.store import models
from sync_service.store.models import new_nonce, utcnow

_ids = itertools.count(1)
# The statuses of an email that left (SES took it): such a row has a `sent_at`.
LEFT_STATUSES = frozenset({"sent", "delivered", "bounced", "complained"})
# An event's link purpose when none is given: the pixel is "open", the download is the quote's.
_PURPOSE_OF_KIND = {"open": "open", "click": "review", "download": "quote"}


def sf_id(prefix: str) -> str:
    """A unique 18-character Salesforce-shaped id with the object's key prefix."""
    return f"{prefix}{next(_ids):012d}AAA"


def make_rep(
    session: Session, *, name: str = "Riley Rep", email: str = "riley.rep@vendor.example", is_active: bool = True
) -> models.Rep:
    rep = models.Rep(sf_id=sf_id("005"), name=name, email=email, is_active=is_active)
    session.add(rep)
    session.flush()
    return rep


def make_contract(
    session: Session,
    *,
    end_date: date,
    email: str | None = "buyer@customer.example",
    locale: str | None = "en_US",
    currency: str = "USD",
    amount: Decimal | None = Decimal("12500.00"),
    reseller: str | None = None,
    rep: models.Rep | None = None,
    rep_active: bool = True,
    account_name: str = "Acme Manufacturing GmbH",
    lines: list[tuple[str, str, Decimal, Decimal]] | None = None,
    number: str | None = None,
    quote_status: str = "Presented",
    quote_approval: str | None = "Approved",
    valid_until: date | Literal["auto"] | None = "auto",
    **contract_fields: Any,
) -> models.Contract:
    """A contract as a pull writes it; `lines` are (product, product line, quantity, unit price). Its rep is
    new (active unless `rep_active` is false) unless `rep` is given.

    Its renewal quote may be renewed from the email under every preset's renewal rules unless told otherwise:
    status Presented, approval Approved, valid until 30 days past the end date or today, whichever is later
    (`valid_until` "auto"; give a date, or None for no expiration)."""
    account = models.Account(sf_id=sf_id("001"), name=account_name, currency=currency)
    contact = models.Contact(
        sf_id=sf_id("003"), account=account, email=email, first_name="Dana", last_name="Scully", locale=locale
    )
    if rep is None:
        rep = models.Rep(sf_id=sf_id("005"), name="Riley Rep", email="riley.rep@vendor.example", is_active=rep_active)
    reseller_account = None
    if reseller is not None:
        reseller_account = models.Account(sf_id=sf_id("001"), name=reseller, is_reseller=True, currency=currency)
    contract = models.Contract(
        sf_id=sf_id("800"),
        number=number or f"{next(_ids):08d}",
        account=account,
        contact=contact,
        rep=rep,
        reseller_account=reseller_account,
        start_date=date(end_date.year - 1, end_date.month, min(end_date.day, 28)),
        end_date=end_date,
        status="Activated",
        amount=amount,
        currency=currency,
        **contract_fields,
    )
    session.add(contract)
    quote = models.RenewalQuote(
        sf_id=sf_id("a0Q"),
        contract=contract,
        number=f"Q-{next(_ids):05d}",
        status=quote_status,
        approval=quote_approval,
        total=amount,
        currency=currency,
        valid_until=max(end_date, utcnow().date()) + timedelta(days=30) if valid_until == "auto" else valid_until,
    )
    session.add(quote)
    for product, product_line, quantity, unit_price in lines or [
        ("Analytics Platform - Enterprise", "Platform", Decimal(10), Decimal("1000.00")),
        ("Premium Support", "Services", Decimal(1), Decimal("2500.00")),
    ]:
        quote.lines.append(
            models.QuoteLine(
                sf_id=sf_id("a0R"),
                product=product,
                product_line=product_line,
                quantity=quantity,
                unit_price=unit_price,
                net=quantity * unit_price,
            )
        )
    quote.documents.append(
        models.QuoteDocument(
            sf_id=sf_id("068"), source_object="ContentVersion", title=f"{quote.number}.pdf", blob_sf_id=sf_id("068")
        )
    )
    session.flush()
    return contract


def make_reminder(
    session: Session,
    contract: models.Contract,
    *,
    offset_days: int = -30,
    due_on: date | None = None,
    status: str = "planned",
    segment: str = "default",
    **fields: Any,
) -> models.Reminder:
    """The contract at the cadence stage `offset_days` from its end date, due that day unless `due_on` says."""
    if due_on is None:
        due_on = utcnow().date() if contract.end_date is None else contract.end_date + timedelta(days=offset_days)
    reminder = models.Reminder(
        contract=contract, offset_days=offset_days, due_on=due_on, status=status, segment=segment, **fields
    )
    session.add(reminder)
    session.flush()
    return reminder


def make_email(
    session: Session,
    contract: models.Contract,
    *,
    kind: str = "reminder",
    status: str = "sent",
    reminder: models.Reminder | None = None,
    stage: int | None = None,
    sent_at: datetime | Literal["auto"] | None = "auto",
    **fields: Any,
) -> models.EmailMessage:
    """An email row of `kind` for the contract with its contact and rep, addressed to the contact (a rep
    notice to the rep), with a fresh nonce and a unique key (`<kind>:<reminder id>` when it has a Reminder, as
    the sender names them). A reminder's `stage` defaults to its Reminder's offset (-30 without one); other
    kinds have none unless given. `sent_at` is now if the status says the email left, else none, unless
    given (None included). Any other column can be given in `fields` (`contact=None`, `to_address=...`,
    `nonce=...`, `data=...`)."""
    if kind == "reminder" and stage is None:
        stage = reminder.offset_days if reminder is not None else -30
    if sent_at == "auto":
        sent_at = utcnow() if status in LEFT_STATUSES else None
    addressee = contract.rep if kind == "rep_notice" else contract.contact
    values: dict[str, Any] = {
        "key": f"{kind}:{reminder.id}" if reminder is not None else f"{kind}:test:{next(_ids)}",
        "contact": contract.contact,
        "rep": contract.rep,
        "to_address": addressee.email if addressee is not None else None,
        "nonce": new_nonce(),
    }
    values.update(fields)
    message = models.EmailMessage(
        kind=kind, contract=contract, reminder=reminder, stage=stage, status=status, sent_at=sent_at, **values
    )
    session.add(message)
    session.flush()
    return message


def make_sent_reminder_email(
    session: Session,
    contract: models.Contract,
    *,
    offset_days: int = -30,
    due_on: date | None = None,
    sent_at: datetime | Literal["auto"] | None = "auto",
    **email_fields: Any,
) -> models.EmailMessage:
    """The reminder at stage `offset_days`, sent: its Reminder row `sent`, its email `sent` (now, unless
    `sent_at` says when). The email's other columns, its status included, can be given in `email_fields`."""
    reminder = make_reminder(session, contract, offset_days=offset_days, due_on=due_on, status="sent")
    return make_email(session, contract, reminder=reminder, sent_at=sent_at, **email_fields)


def make_email_event(
    session: Session,
    message: models.EmailMessage,
    *,
    kind: str = "open",
    label: str = "human",
    purpose: str | None = None,
    method: str = "GET",
    occurred_at: datetime | None = None,
    **fields: Any,
) -> models.EmailEvent:
    """A hit on the email: `kind` open, click or download, labelled human or machine; the purpose defaults
    to the pixel's for an open, the quote's for a download, Review's for a click."""
    event = models.EmailEvent(
        email_message_id=message.id,
        kind=kind,
        label=label,
        purpose=purpose or _PURPOSE_OF_KIND[kind],
        method=method,
        occurred_at=occurred_at or utcnow(),
        **fields,
    )
    session.add(event)
    session.flush()
    return event


def make_outbox_item(
    session: Session, *, key: str | None = None, kind: str = "task", status: str = "pending", **fields: Any
) -> models.OutboxItem:
    """A Salesforce write in the outbox: a Task unless `kind` and `sobject` say otherwise."""
    fields.setdefault("sobject", "Task")
    item = models.OutboxItem(key=key or f"rnw-test-{next(_ids)}", kind=kind, status=status, **fields)
    session.add(item)
    session.flush()
    return item
