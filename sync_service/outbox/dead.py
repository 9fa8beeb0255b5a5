"""The dead letters: writes Salesforce refused for a reason retrying cannot fix (or gave up on), kept with
Salesforce's message until an admin retries them after fixing the cause, or discards them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync_service.store import models
from sync_service.store.models import utcnow


def list_dead(session: Session) -> list[models.OutboxItem]:
    query = select(models.OutboxItem).where(models.OutboxItem.status == "dead").order_by(models.OutboxItem.id)
    return list(session.scalars(query).all())


def _dead(session: Session, ids: list[int] | None) -> list[models.OutboxItem]:
    query = select(models.OutboxItem).where(models.OutboxItem.status == "dead")
    if ids is not None:
        query = query.where(models.OutboxItem.id.in_(ids))
    return list(session.scalars(query).all())


def retry_dead(session: Session, *, ids: list[int] | None) -> int:
    """Make dead rows (these, or all with None) pending again, with a fresh attempt count."""
    rows = _dead(session, ids)
    for row in rows:
        row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
    return len(rows)


def discard_dead(session: Session, *, ids: list[int]) -> int:
    """Give up on dead rows for good; they stay in the table, marked discarded, for the record."""
    rows = _dead(session, ids)
    for row in rows:
        row.status = "discarded"
    return len(rows)
