"""What Salesforce says about a contract's renewal, settled into the store after each pull.

A contract is renewed in Salesforce when its own renewed mark says so (the mapping's contract `renewed`, e.g.
the renewal opportunity's IsWon, pulled into `contracts.renewed_in_org`) or when its live renewal quote is in
one of the mapping's `renewal.renewed_statuses` (accepted, ordered, closed won). Such a contract is marked
renewed (`renewed_at`, `renewed_via = 'salesforce'`) the first time a pull sees it, so the cadence stops, the
portal shows it renewed and every report counts it; its planned reminders are cancelled at once, so no send
that runs before the next planning picks them up. A contract the service renewed keeps its own mark and
channel. When the org takes a renewal back (the opportunity reopened), a mark that came from Salesforce is
cleared: the org decides. Set-based: two UPDATEs over the store, no call to Salesforce.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, false, not_, or_, select, update
from sqlalchemy.orm import Session

from mappings.model import Mapping
from sync_service.planning.planner import CANCEL_RENEWED, CANCELLED, PLANNED
from sync_service.store import models
from sync_service.store.models import utcnow

SALESFORCE = "salesforce"


@dataclass(frozen=True)
class Settled:
    marked: int  # contracts the org says are renewed, seen so for the first time
    unmarked: int  # contracts marked renewed from Salesforce that the org no longer says are


def org_says_renewed(mapping: Mapping) -> ColumnElement[bool]:
    """SQL: the contract (`models.Contract`) is renewed according to what was pulled from the org."""
    statuses = mapping.renewal.renewed_statuses
    quote_says: ColumnElement[bool] = false()
    if statuses:
        quote_says = exists(
            select(models.RenewalQuote.id).where(
                models.RenewalQuote.contract_id == models.Contract.id,
                models.RenewalQuote.is_deleted.is_(False),
                models.RenewalQuote.status.in_(statuses),
            )
        )
    return or_(models.Contract.renewed_in_org.is_(True), quote_says)


def settle_renewal_state(session: Session, mapping: Mapping, *, now: datetime | None = None) -> Settled:
    now = now or utcnow()
    says = org_says_renewed(mapping)
    marked = session.execute(
        update(models.Contract)
        .where(models.Contract.renewed_at.is_(None), models.Contract.is_deleted.is_(False), says)
        .values(renewed_at=now, renewed_via=SALESFORCE)
        .execution_options(synchronize_session=False)
    )
    unmarked = session.execute(
        update(models.Contract)
        .where(models.Contract.renewed_via == SALESFORCE, not_(says))
        .values(renewed_at=None, renewed_via=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(models.Reminder)
        .where(
            models.Reminder.status == PLANNED,
            models.Reminder.contract_id.in_(
                select(models.Contract.id).where(models.Contract.renewed_via == SALESFORCE)
            ),
        )
        .values(status=CANCELLED, reason=CANCEL_RENEWED)
        .execution_options(synchronize_session=False)
    )
    return Settled(getattr(marked, "rowcount", 0) or 0, getattr(unmarked, "rowcount", 0) or 0)
