"""How long the outbox's writes have waited: since when a pending write is owed to Salesforce, and the age of
the oldest one (the console's outbox page and ``/healthz`` show it; the push spaces out its tries by it while
Salesforce does not answer).

A write is owed since it was recorded when it never reached Salesforce (no Salesforce id yet), else since its
latest event (a written Task bumped again, a field update recorded again). It must never load rows to answer:
one aggregate over the pending rows, which the status index finds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from sync_service.store import models
from sync_service.store.models import utcnow

Item = models.OutboxItem

PENDING_SINCE = case(
    (Item.sf_id.is_(None), Item.created_at),
    else_=func.coalesce(Item.last_event_at, Item.created_at),
)


def pending_since(item: models.OutboxItem) -> datetime:
    """The Python twin of PENDING_SINCE, for one row."""
    if item.sf_id is None:
        return item.created_at
    return item.last_event_at or item.created_at


def oldest_pending_at(session: Session) -> datetime | None:
    """Since when the oldest pending write has been owed to Salesforce; None when nothing is pending."""
    return session.scalar(select(func.min(PENDING_SINCE)).where(Item.status == "pending"))


def oldest_pending_seconds(session: Session, now: datetime | None = None) -> int | None:
    """The age in whole seconds of the oldest pending write; None when nothing is pending."""
    since = oldest_pending_at(session)
    if since is None:
        return None
    return max(0, int(((now or utcnow()) - since).total_seconds()))
