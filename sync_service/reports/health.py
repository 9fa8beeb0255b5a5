"""The account health score: one number from 0 to 100 per customer account, its formula in
:func:`account_health` (and on the console's page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal_column, or_, select
from sqlalchemy.orm import Session

from sync_service.reports import facts as f
from sync_service.store.models import Account, Contract

HEALTH_RENEWAL_POINTS = 60
HEALTH_ENGAGEMENT_POINTS = 40
HEALTH_OVERDUE_PENALTY = 10
HEALTH_OVERDUE_MAX = 30
HEALTH_HISTORY_DAYS = 730
HEALTH_RECENT_DAYS = 365
HEALTH_AHEAD_DAYS = 365
HEALTH_BANDS = ((0, 19), (20, 39), (40, 59), (60, 79), (80, 100))


@dataclass(frozen=True)
class Health:
    account_id: int
    account: str | None
    ended: int  # contracts that ended in the last two years
    renewed: int  # of those, renewed (through the service or in Salesforce)
    renewed_in_salesforce: int  # of those renewed, renewed in Salesforce
    emailed: int  # contracts with a reminder email sent in the last year
    engaged: int  # of those, with a human open/click/download or a contact request in the last year
    overdue: int  # contracts that ended in the last year, neither renewed nor cancelled
    score: int


@dataclass(frozen=True)
class HealthBand:
    low: int
    high: int
    accounts: int


def _health_scores(today: date) -> Any:
    """A subquery: one row per account with a contract ending from two years ago to a year ahead, with the
    inputs of its score and the score (the formula in :func:`account_health`)."""
    history_start = today - timedelta(days=HEALTH_HISTORY_DAYS)
    recent_start = today - timedelta(days=HEALTH_RECENT_DAYS)
    since = datetime(recent_start.year, recent_start.month, recent_start.day, tzinfo=UTC)
    ended = and_(Contract.end_date >= history_start, Contract.end_date < today)
    overdue = and_(
        Contract.end_date >= recent_start,
        Contract.end_date < today,
        Contract.is_cancelled.is_(False),
        Contract.renewed_at.is_(None),
    )
    done = f.activity(
        and_(
            Contract.is_deleted.is_(False),
            Contract.end_date.between(history_start, today + timedelta(days=HEALTH_AHEAD_DAYS)),
        ),
        since=since,
        columns=("emailed", "opened"),
    )
    asked = f.contact_requests(since)
    engaged = and_(done.c.emailed == 1, or_(done.c.opened == 1, asked.c.requests > 0))
    per_contract = (
        select(
            Contract.account_id.label("account_id"),
            case((ended, 1), else_=0).label("ended"),
            case((and_(ended, f.renewed()), 1), else_=0).label("renewed"),
            case((and_(ended, f.renewed_in_salesforce()), 1), else_=0).label("renewed_in_salesforce"),
            done.c.emailed.label("emailed"),
            case((engaged, 1), else_=0).label("engaged"),
            case((overdue, 1), else_=0).label("overdue"),
        )
        .select_from(done)
        .join(Contract, Contract.id == done.c.contract_id)
        .outerjoin(asked, asked.c.contract_id == Contract.id)
        .subquery()
    )
    sums = (
        select(
            per_contract.c.account_id,
            func.sum(per_contract.c.ended).label("ended"),
            func.sum(per_contract.c.renewed).label("renewed"),
            func.sum(per_contract.c.renewed_in_salesforce).label("renewed_in_salesforce"),
            func.sum(per_contract.c.emailed).label("emailed"),
            func.sum(per_contract.c.engaged).label("engaged"),
            func.sum(per_contract.c.overdue).label("overdue"),
        )
        .group_by(per_contract.c.account_id)
        .subquery()
    )
    # Integer arithmetic only (integer division truncates alike on both databases), so the score is exact.
    renewal_points = case(
        (sums.c.ended > 0, HEALTH_RENEWAL_POINTS * sums.c.renewed // sums.c.ended),
        else_=HEALTH_RENEWAL_POINTS // 2,
    )
    engagement_points = case(
        (sums.c.emailed > 0, HEALTH_ENGAGEMENT_POINTS * sums.c.engaged // sums.c.emailed),
        else_=HEALTH_ENGAGEMENT_POINTS // 2,
    )
    penalty = case(
        (sums.c.overdue * HEALTH_OVERDUE_PENALTY > HEALTH_OVERDUE_MAX, HEALTH_OVERDUE_MAX),
        else_=sums.c.overdue * HEALTH_OVERDUE_PENALTY,
    )
    raw = renewal_points + engagement_points - penalty
    score = case((raw < 0, 0), else_=raw)
    scored = select(sums, score.label("score")).subquery()
    band = case(
        *((scored.c.score <= high, literal_column(str(low))) for low, high in HEALTH_BANDS[:-1]),
        else_=literal_column(str(HEALTH_BANDS[-1][0])),
    )
    return select(scored, band.label("band")).subquery()


@dataclass(frozen=True)
class HealthReport:
    rows: list[Health]  # the least healthy first
    total: int  # accounts scored
    bands: list[HealthBand]  # how many accounts score in each band of HEALTH_BANDS


def account_health(session: Session, today: date, *, limit: int | None = None) -> HealthReport:
    """Accounts with a contract ending between two years ago and a year ahead, the least healthy first (at
    most `limit` of them), and how many score in each band, in one statement.

    score = renewal points + engagement points - overdue penalty, at least 0, at most 100:

    - renewal points: 60 * renewed / ended, over the account's contracts that ended in the last two years
      (cancelled ones count as not renewed; renewed in Salesforce counts as renewed); 30 when none ended;
    - engagement points: 40 * engaged / emailed, over its contracts with a reminder email sent in the last
      year, engaged meaning a human open, click or download of one of those emails or a contact request in
      that year; 20 when none was emailed;
    - overdue penalty: 10 for each contract that ended in the last year and is neither renewed nor
      cancelled, at most 30.

    Each part is rounded down to a whole number. Contracts deleted in Salesforce do not count.
    """
    scores = _health_scores(today)
    ranked = (
        select(
            scores,
            Account.name.label("account"),
            func.row_number().over(order_by=(scores.c.score, Account.name, scores.c.account_id)).label("position"),
            func.row_number()
            .over(partition_by=scores.c.band, order_by=(scores.c.score, scores.c.account_id))
            .label("band_position"),
            func.count().over(partition_by=scores.c.band).label("band_accounts"),
            func.count().over().label("total"),
        )
        .select_from(scores)
        .outerjoin(Account, Account.id == scores.c.account_id)
        .subquery()
    )
    query = select(ranked).order_by(ranked.c.position)
    if limit is not None:
        # The first `limit` accounts, and one of each band for the band's count.
        query = query.where(or_(ranked.c.position <= limit, ranked.c.band_position == 1))
    rows = session.execute(query).all()
    counts = {int(row.band): int(row.band_accounts) for row in rows}
    return HealthReport(
        rows=[
            Health(
                int(row.account_id),
                row.account,
                int(row.ended),
                int(row.renewed),
                int(row.renewed_in_salesforce),
                int(row.emailed),
                int(row.engaged),
                int(row.overdue),
                int(row.score),
            )
            for row in rows
            if limit is None or row.position <= limit
        ],
        total=int(rows[0].total) if rows else 0,
        bands=[HealthBand(low, high, counts.get(low, 0)) for low, high in HEALTH_BANDS],
    )


def health_bands(session: Session, today: date) -> list[HealthBand]:
    """How many accounts score in each band of :data:`HEALTH_BANDS`."""
    return account_health(session, today, limit=0).bands
