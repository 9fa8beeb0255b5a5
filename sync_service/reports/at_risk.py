"""The at-risk list: the customers to call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from sync_service.reports import facts as f
from sync_service.reports.facts import Page
from sync_service.store.models import Account, Contact, Contract, Rep


@dataclass(frozen=True)
class AtRisk:
    contract_id: int
    number: str | None
    account: str | None
    end_date: date
    amount: Decimal | None
    currency: str
    rep: str | None
    rep_email: str | None
    contact: str | None
    contact_email: str | None
    opens: int
    clicks: int
    downloads: int
    contact_requests: int
    last_engaged_at: datetime | None

    def days_left(self, today: date) -> int:
        return (self.end_date - today).days


def at_risk(
    session: Session, today: date, days: int, *, currency: str | None = None, limit: int | None = None
) -> Page[AtRisk]:
    """The customers to call: contracts ending from `today` to `days` days later, not deleted, cancelled or
    renewed (through the service or in Salesforce), whose customer engaged (a human open, click or download of
    a reminder email, or a request to be contacted). Largest amount first; with no `currency`, by currency
    first (amounts in different currencies are not compared)."""

    window = and_(
        Contract.is_deleted.is_(False),
        Contract.is_cancelled.is_(False),
        Contract.end_date.between(today, today + timedelta(days=days)),
    )
    if currency is not None:
        window = and_(window, f.contract_currency() == currency)
    done = f.activity(window, columns=("opened", "opens", "clicks", "downloads", "last_event_at"))
    asked = f.contact_requests()
    contact_name = func.trim(func.coalesce(Contact.first_name, "") + " " + func.coalesce(Contact.last_name, ""))
    query = (
        select(
            Contract.id,
            Contract.number,
            Account.name,
            Contract.end_date,
            Contract.amount,
            f.contract_currency(),
            Rep.name,
            Rep.email,
            contact_name,
            Contact.email,
            done.c.opens,
            done.c.clicks,
            done.c.downloads,
            asked.c.requests,
            done.c.last_event_at,
            asked.c.last_request_at,
            func.count().over(),
        )
        .select_from(done)
        .join(Contract, Contract.id == done.c.contract_id)
        .outerjoin(asked, asked.c.contract_id == Contract.id)
        .outerjoin(Account, Account.id == Contract.account_id)
        .outerjoin(Rep, Rep.id == Contract.rep_id)
        .outerjoin(Contact, Contact.id == Contract.contact_id)
        .where(Contract.renewed_at.is_(None), or_(done.c.opened == 1, asked.c.requests > 0))
    )
    if currency is None:
        query = query.order_by(f.contract_currency())
    query = query.order_by(Contract.amount.is_(None), Contract.amount.desc(), Contract.end_date, Contract.id)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    result = []
    for row in rows:
        stamps = [stamp for stamp in (row[14], row[15]) if stamp is not None]
        opens, clicks, downloads, requested = (int(n or 0) for n in row[10:14])
        result.append(
            AtRisk(
                contract_id=row[0],
                number=row[1],
                account=row[2],
                end_date=row[3],
                amount=row[4],
                currency=row[5],
                rep=row[6],
                rep_email=row[7],
                contact=row[8] or None,
                contact_email=row[9],
                opens=opens,
                clicks=clicks,
                downloads=downloads,
                contact_requests=requested,
                last_engaged_at=max(stamps) if stamps else None,
            )
        )
    return Page(result, int(rows[0][16]) if rows else 0)
