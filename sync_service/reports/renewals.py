"""The funnel, revenue due against renewed by month, and the breakdowns and rankings of contracts due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Float, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from sync_service.reports import facts as f
from sync_service.reports.facts import NO_CURRENCY, ZERO
from sync_service.reports.periods import Period, month_of
from sync_service.store.models import Account, Contract, EmailMessage, QuoteLine, Renewal, RenewalQuote, Rep

# A ranking by renewal rate leaves out groups with fewer contracts due: one of one is not a 100 % rate.
MIN_DUE_FOR_RATE = 3


@dataclass(frozen=True)
class Funnel:
    due: int
    emailed: int
    opened: int
    clicked: int
    renewed: int  # from the email and in Salesforce
    cancelled: int
    renewed_in_salesforce: int

    @property
    def renewed_from_email(self) -> int:
        return self.renewed - self.renewed_in_salesforce

    @property
    def channels(self) -> list[tuple[str, int]]:
        """The renewed step by channel: from the email (its confirm page or the portal) and in Salesforce."""
        return [
            ("Renewed from the email", self.renewed_from_email),
            ("Renewed in Salesforce", self.renewed_in_salesforce),
        ]

    @property
    def steps(self) -> list[tuple[str, int]]:
        return [
            ("Due", self.due),
            ("Emailed", self.emailed),
            ("Opened by a human", self.opened),
            ("Clicked", self.clicked),
            ("Renewed", self.renewed),
        ]

    @property
    def renewal_rate(self) -> float | None:
        return f.rate(self.renewed, self.due)


def funnel(session: Session, period: Period) -> Funnel:
    """Contracts due in `period` at each step, all currencies together (these are counts)."""
    done = f.activity(f.due(period), columns=("emailed", "opened", "clicked"))
    row = session.execute(
        select(
            func.count(done.c.contract_id),
            f.count_of(done.c.emailed == 1),
            f.count_of(done.c.opened == 1),
            f.count_of(done.c.clicked == 1),
            f.count_of(f.renewed()),
            f.count_of(Contract.is_cancelled.is_(True)),
            f.count_of(f.renewed_in_salesforce()),
        )
        .select_from(done)
        .join(Contract, Contract.id == done.c.contract_id)
    ).one()
    return Funnel(*(int(value) for value in row))


@dataclass(frozen=True)
class CurrencyCount:
    currency: str
    contracts: int


def currencies(session: Session, period: Period) -> list[CurrencyCount]:
    """The currencies of the contracts due in `period`, the most common first."""
    currency = f.contract_currency()
    rows = session.execute(
        select(currency, func.count(Contract.id))
        .where(f.due(period))
        .group_by(currency)
        .order_by(func.count(Contract.id).desc(), currency)
    ).all()
    return [CurrencyCount(str(name), int(count)) for name, count in rows]


@dataclass(frozen=True)
class Figures:
    """Contracts due and renewed (of which in Salesforce), and their amounts in one currency."""

    due: int
    renewed: int
    renewed_in_salesforce: int
    due_amount: Decimal
    renewed_amount: Decimal

    @property
    def renewed_from_email(self) -> int:
        return self.renewed - self.renewed_in_salesforce

    @property
    def renewal_rate(self) -> float | None:
        return f.rate(self.renewed, self.due)

    @property
    def revenue_rate(self) -> float | None:
        return float(self.renewed_amount / self.due_amount) if self.due_amount else None


@dataclass(frozen=True)
class MonthFigures(Figures):
    month: date


def _figure_columns(currency: str) -> tuple[ColumnElement[Any], ...]:
    """due, renewed, renewed_in_salesforce, due_amount, renewed_amount of the contracts in `currency` (see the
    module docstring), over contracts outer-joined to their renewal."""
    in_currency = f.contract_currency() == currency
    renewal_in_currency = and_(f.renewed(), f.renewal_currency() == currency)
    return (
        f.count_of(in_currency),
        f.count_of(and_(in_currency, f.renewed())),
        f.count_of(and_(in_currency, f.renewed_in_salesforce())),
        func.sum(case((in_currency, Contract.amount))),
        func.sum(case((renewal_in_currency, f.renewed_amount()))),
    )


def _in_scope(currency: str) -> ColumnElement[bool]:
    return or_(f.contract_currency() == currency, and_(f.renewed(), f.renewal_currency() == currency))


def revenue_by_month(session: Session, period: Period, currency: str) -> list[MonthFigures]:
    """Every month of `period` (by the contracts' end dates): contracts due and renewed in `currency`, and the
    amounts due and renewed. Months without contracts are there, with zeros."""
    month = month_of(Contract.end_date)
    rows = session.execute(
        select(month, *_figure_columns(currency))
        .select_from(Contract)
        .outerjoin(Renewal, Renewal.contract_id == Contract.id)
        .where(f.due(period), _in_scope(currency))
        .group_by(month)
    ).all()
    found = {row[0]: row for row in rows}
    result = []
    for first in period.months():
        row = found.get(first)
        if row is None:
            result.append(MonthFigures(0, 0, 0, ZERO, ZERO, first))
        else:
            counts = (int(row[1]), int(row[2]), int(row[3]))
            result.append(MonthFigures(*counts, f.money(row[4]), f.money(row[5]), first))
    return result


# --- Breakdowns and rankings -------------------------------------------------------------------------------

Dimension = Literal["product_line", "rep", "reseller", "brand", "customer"]
DIMENSIONS: dict[str, str] = {
    "product_line": "Product line",
    "rep": "Rep",
    "reseller": "Reseller",
    "brand": "Brand",
    "customer": "Customer",
}
NOT_SET = {
    "product_line": "(no product line)",
    "rep": "(no rep)",
    "reseller": "(direct)",
    "brand": "(not emailed)",
    "customer": "(no account)",
}


@dataclass(frozen=True)
class GroupFigures(Figures):
    key: str  # the group's id (rep, reseller, customer) or name (product line, brand); "" when not set
    label: str


def breakdown(
    session: Session,
    period: Period,
    currency: str,
    dimension: str,
    *,
    order: str = "due",
    limit: int | None = None,
) -> list[GroupFigures]:
    """Contracts due in `period` in `currency`, grouped by `dimension`:

    - ``rep``, ``reseller``, ``customer``: the contract's rep, reseller (none: sold direct) and account;
    - ``brand``: the brand of the contract's latest reminder email that left (none: never emailed);
    - ``product_line``: the product lines of the contract's live renewal quote (the newest not deleted). A
      contract counts once in each of its lines' product lines, and the amounts are the lines' net amounts,
      in the quote's currency.

    `order`: ``due`` (amount due, largest first), ``revenue`` (renewed amount, then renewal rate) or ``rate``
    (renewal rate, then renewed amount; only groups with at least :data:`MIN_DUE_FOR_RATE` contracts due).
    """
    if dimension == "product_line":
        query = _product_line_query(period, currency)
    elif dimension in ("rep", "reseller", "customer", "brand"):
        query = _contract_group_query(period, currency, dimension)
    else:
        raise ValueError(f"unknown dimension {dimension!r}")
    if order not in ("due", "revenue", "rate"):
        raise ValueError(f"unknown order {order!r}")
    groups = query.subquery()
    renewal_rate = cast(groups.c.renewed, Float) / func.nullif(groups.c.due, 0)
    ordered = select(groups)
    if order == "rate":
        ordered = ordered.where(groups.c.due >= MIN_DUE_FOR_RATE).order_by(
            renewal_rate.desc(), func.coalesce(groups.c.renewed_amount, 0).desc()
        )
    elif order == "revenue":
        ordered = ordered.order_by(
            func.coalesce(groups.c.renewed_amount, 0).desc(), func.coalesce(renewal_rate, 0).desc()
        )
    else:
        ordered = ordered.order_by(func.coalesce(groups.c.due_amount, 0).desc(), groups.c.due.desc())
    ordered = ordered.order_by(groups.c.label, groups.c.key)
    if limit is not None:
        ordered = ordered.limit(limit)
    return [
        GroupFigures(
            int(row.due),
            int(row.renewed),
            int(row.renewed_in_salesforce),
            f.money(row.due_amount),
            f.money(row.renewed_amount),
            "" if row.key is None else str(row.key),
            row.label if row.label is not None else NOT_SET[dimension],
        )
        for row in session.execute(ordered)
    ]


def _contract_group_query(period: Period, currency: str, dimension: str) -> Any:
    key: Any
    label: Any
    query = select().select_from(Contract).outerjoin(Renewal, Renewal.contract_id == Contract.id)
    if dimension == "rep":
        key, label = Contract.rep_id, Rep.name
        query = query.outerjoin(Rep, Rep.id == Contract.rep_id)
    elif dimension == "reseller":
        reseller = aliased(Account)
        key, label = Contract.reseller_account_id, reseller.name
        query = query.outerjoin(reseller, reseller.id == Contract.reseller_account_id)
    elif dimension == "customer":
        key, label = Contract.account_id, Account.name
        query = query.outerjoin(Account, Account.id == Contract.account_id)
    else:
        latest = f.latest_reminder(f.due(period))
        brand = aliased(EmailMessage)
        key = label = brand.brand
        query = query.outerjoin(latest, latest.c.contract_id == Contract.id).outerjoin(
            brand, brand.id == latest.c.email_message_id
        )
    due, renewed, in_salesforce, due_amount, renewed_amount = _figure_columns(currency)
    return (
        query.add_columns(
            key.label("key"),
            label.label("label"),
            due.label("due"),
            renewed.label("renewed"),
            in_salesforce.label("renewed_in_salesforce"),
            due_amount.label("due_amount"),
            renewed_amount.label("renewed_amount"),
        )
        .where(f.due(period), _in_scope(currency))
        .group_by(key, label)
    )


def _product_line_query(period: Period, currency: str) -> Any:
    newer = aliased(RenewalQuote)
    newer_live = select(newer.id).where(
        newer.contract_id == RenewalQuote.contract_id, newer.is_deleted.is_(False), newer.id > RenewalQuote.id
    )
    line_currency = func.coalesce(RenewalQuote.currency, Contract.currency, NO_CURRENCY)
    product_line = QuoteLine.product_line
    return (
        select(
            product_line.label("key"),
            product_line.label("label"),
            func.count(func.distinct(Contract.id)).label("due"),
            func.count(func.distinct(case((f.renewed(), Contract.id)))).label("renewed"),
            func.count(func.distinct(case((f.renewed_in_salesforce(), Contract.id)))).label("renewed_in_salesforce"),
            func.sum(QuoteLine.net).label("due_amount"),
            func.sum(case((f.renewed(), QuoteLine.net))).label("renewed_amount"),
        )
        .select_from(Contract)
        .join(
            RenewalQuote,
            and_(
                RenewalQuote.contract_id == Contract.id,
                RenewalQuote.is_deleted.is_(False),
                ~newer_live.exists(),
            ),
        )
        .join(QuoteLine, QuoteLine.quote_id == RenewalQuote.id)
        .where(f.due(period), line_currency == currency)
        .group_by(product_line)
    )
