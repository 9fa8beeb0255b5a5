"""What a contract did, as SQL expressions over ``contracts`` (correlated ``EXISTS`` subqueries, or columns of
its outer-joined renewal): the building blocks of every report, so each definition is written once.

Renewed means the contract's own mark (``contracts.renewed_at``), not a ``renewals`` row: the service sets it
when the customer renews from an email or the portal (with a row), and the pull sets it when Salesforce says
the contract is renewed (``renewed_via = 'salesforce'``, no row; cleared again if the org takes it back).
Reading the mark costs no join: it is a column of the contract row every report already reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from sync_service.pull.renewal_state import SALESFORCE
from sync_service.reports.periods import Period
from sync_service.store.models import ContactRequest, Contract, EmailEvent, EmailMessage, Renewal

# A reminder email that left the service (whatever happened to it afterwards).
SENT_STATUSES = ("sent", "delivered", "bounced", "complained")
# ISO 4217's code for "no currency": the currency of a contract the org left without one.
NO_CURRENCY = "XXX"
ZERO = Decimal("0.00")
T = TypeVar("T")


def due(period: Period) -> ColumnElement[bool]:
    return and_(Contract.is_deleted.is_(False), Contract.end_date.between(period.start, period.end))


def contract_currency() -> ColumnElement[str]:
    return func.coalesce(Contract.currency, NO_CURRENCY)


def renewal_currency() -> ColumnElement[str]:
    return func.coalesce(Renewal.currency, Contract.currency, NO_CURRENCY)


def renewed() -> ColumnElement[bool]:
    """True on a renewed contract, whoever renewed it: its customer through this service or a rep in
    Salesforce."""
    return Contract.renewed_at.is_not(None)


def renewed_in_salesforce() -> ColumnElement[bool]:
    """True on a contract renewed in Salesforce (the pull saw the org say so); the other renewed contracts
    were renewed from the email, on the confirm page its Renew link opens or in the portal its Review link
    opens (one channel: the portal is reached from the email)."""
    return and_(renewed(), Contract.renewed_via == SALESFORCE)


def renewed_amount() -> ColumnElement[Decimal]:
    """What a renewed contract outer-joined to its renewal (``renewals.contract_id`` is unique) brought in: the
    renewal's amount, in :func:`renewal_currency`. A contract renewed in Salesforce has no renewal row and the
    store does not know what was booked there, so it counts its own amount (what was due is what was kept)."""
    return case((Renewal.id.is_not(None), Renewal.amount), else_=Contract.amount)


ACTIVITY_COLUMNS = ("emailed", "opened", "clicked", "opens", "clicks", "downloads", "last_event_at")


def activity(
    scope: ColumnElement[bool], *, since: datetime | None = None, columns: Sequence[str] = ACTIVITY_COLUMNS
) -> Subquery:
    """What the customers of the contracts in `scope` did with their reminder emails: one row per contract
    (``contract_id``) with

    - ``emailed``: 1 if a reminder email left the service (its status is one of :data:`SENT_STATUSES`);
    - ``opened``: 1 if a reminder email has a ``human`` event of any kind (open, click or download);
    - ``clicked``: 1 if a reminder email has a ``human`` click or download, other than on its unsubscribe
      link;
    - ``opens``, ``clicks``, ``downloads``: the ``human`` events of each kind, and ``last_event_at``;

    counting, with `since`, only the reminder emails sent since then. Events labelled ``machine`` never count.

    It is one join and ``GROUP BY`` (not a subquery per contract), so the databases can join it in bulk.
    Only the `columns` named are computed (and ``contract_id``): every aggregate is evaluated on each joined
    event row, and a database does not leave out the unused ones of a grouped subquery by itself, so a
    report asks for those it reads (the funnel's three flags cost half of all seven on SQLite).
    """
    unknown = set(columns) - set(ACTIVITY_COLUMNS)
    if unknown:
        raise ValueError(f"unknown activity columns {sorted(unknown)!r}")
    reminders = and_(EmailMessage.contract_id == Contract.id, EmailMessage.kind == "reminder")
    if since is not None:
        reminders = and_(reminders, EmailMessage.status.in_(SENT_STATUSES), EmailMessage.sent_at >= since)
    human = and_(EmailEvent.email_message_id == EmailMessage.id, EmailEvent.label == "human")
    click = and_(EmailEvent.kind.in_(("click", "download")), EmailEvent.purpose != "unsubscribe")
    aggregates: dict[str, ColumnElement[Any]] = {
        "emailed": func.max(case((EmailMessage.status.in_(SENT_STATUSES), 1), else_=0)),
        "opened": func.max(case((EmailEvent.id.is_not(None), 1), else_=0)),
        "clicked": func.max(case((click, 1), else_=0)),
        "opens": func.sum(case((EmailEvent.kind == "open", 1), else_=0)),
        "clicks": func.sum(case((EmailEvent.kind == "click", 1), else_=0)),
        "downloads": func.sum(case((EmailEvent.kind == "download", 1), else_=0)),
        "last_event_at": func.max(EmailEvent.occurred_at),
    }
    query = select(
        Contract.id.label("contract_id"),
        *(aggregates[name].label(name) for name in ACTIVITY_COLUMNS if name in columns),
    ).select_from(Contract)
    query = query.outerjoin(EmailMessage, reminders)
    if set(columns) - {"emailed"}:
        query = query.outerjoin(EmailEvent, human)
    return query.where(scope).group_by(Contract.id).subquery()


def contact_requests(since: datetime | None = None) -> Subquery:
    """Contact requests per contract (``contract_id``, ``requests``, ``last_request_at``), with `since` only
    those made since then."""
    query = select(
        ContactRequest.contract_id.label("contract_id"),
        func.count(ContactRequest.id).label("requests"),
        func.max(ContactRequest.created_at).label("last_request_at"),
    )
    if since is not None:
        query = query.where(ContactRequest.created_at >= since)
    return query.group_by(ContactRequest.contract_id).subquery()


def latest_reminder(scope: ColumnElement[bool]) -> Subquery:
    """The latest reminder email that left the service, per contract in `scope` (``contract_id``,
    ``email_message_id``; none when no reminder left)."""
    sent = EmailMessage.status.in_(SENT_STATUSES)
    return (
        select(
            Contract.id.label("contract_id"),
            func.max(case((sent, EmailMessage.id))).label("email_message_id"),
        )
        .select_from(Contract)
        .join(EmailMessage, and_(EmailMessage.contract_id == Contract.id, EmailMessage.kind == "reminder"))
        .where(scope)
        .group_by(Contract.id)
        .subquery()
    )


def count_of(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def money(value: Decimal | None) -> Decimal:
    return value if value is not None else ZERO


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int  # rows there are without the limit
