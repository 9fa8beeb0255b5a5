"""Cancelled contracts: by month, and the list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from sync_service.reports import facts as f
from sync_service.reports.facts import ZERO, Page
from sync_service.reports.periods import Period, month_of
from sync_service.store.models import Account, Contract, Rep


@dataclass(frozen=True)
class CancellationMonth:
    month: date
    due: int
    cancelled: int
    cancelled_amount: Decimal

    @property
    def cancellation_rate(self) -> float | None:
        return f.rate(self.cancelled, self.due)


def cancellations_by_month(session: Session, period: Period, currency: str) -> list[CancellationMonth]:
    """Contracts in `currency` due in each month of `period` (by end date: the store keeps no cancellation
    date), how many of them are cancelled and their amount."""
    month = month_of(Contract.end_date)
    rows = session.execute(
        select(
            month,
            func.count(Contract.id),
            f.count_of(Contract.is_cancelled.is_(True)),
            func.sum(case((Contract.is_cancelled, Contract.amount))),
        )
        .where(f.due(period), f.contract_currency() == currency)
        .group_by(month)
    ).all()
    found = {row[0]: row for row in rows}
    result = []
    for first in period.months():
        row = found.get(first)
        result.append(
            CancellationMonth(first, int(row[1]), int(row[2]), f.money(row[3]))
            if row is not None
            else CancellationMonth(first, 0, 0, ZERO)
        )
    return result


@dataclass(frozen=True)
class ContractRow:
    contract_id: int
    number: str | None
    account: str | None
    end_date: date | None
    amount: Decimal | None
    currency: str
    rep: str | None
    reseller: str | None


def cancelled_contracts(
    session: Session, period: Period, currency: str, *, limit: int | None = None
) -> Page[ContractRow]:
    """The cancelled contracts in `currency` due in `period`, the latest end date first."""
    reseller = aliased(Account)
    query = (
        select(
            Contract.id,
            Contract.number,
            Account.name,
            Contract.end_date,
            Contract.amount,
            f.contract_currency(),
            Rep.name,
            reseller.name,
            func.count().over(),
        )
        .select_from(Contract)
        .outerjoin(Account, Account.id == Contract.account_id)
        .outerjoin(Rep, Rep.id == Contract.rep_id)
        .outerjoin(reseller, reseller.id == Contract.reseller_account_id)
        .where(f.due(period), Contract.is_cancelled.is_(True), f.contract_currency() == currency)
        .order_by(Contract.end_date.desc(), Contract.id)
    )
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    return Page([ContractRow(*row[:8]) for row in rows], int(rows[0][8]) if rows else 0)
