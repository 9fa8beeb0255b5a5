"""The age of the oldest pending write (SQLite and PostgreSQL): since it was recorded when it never reached
Salesforce, since its latest event when a written Task is bumped or a written field update recorded again;
None when nothing is pending (done, dead and discarded rows do not count)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import TaskConventions
from sync_service.outbox.record import record_field_update, record_task
from sync_service.outbox.waiting import oldest_pending_at, oldest_pending_seconds
from sync_service.store import models
from sync_service.store.models import utcnow

CONTRACT = "8005e0000000001AAA"


def _task(session: Session, key: str, event_at_ago: timedelta) -> models.OutboxItem:
    return record_task(
        session,
        key=key,
        what_id=CONTRACT,
        who_id=None,
        owner_id=None,
        subject=f"Event {key}",
        description="",
        event_at=utcnow() - event_at_ago,
        conventions=TaskConventions(),
    )


def _set(store: sessionmaker[Session], key: str, **values: object) -> None:
    with store.begin() as session:
        session.execute(update(models.OutboxItem).where(models.OutboxItem.key == key).values(**values))


def test_nothing_pending_has_no_age(store: sessionmaker[Session]) -> None:
    """Bad input: only a done, a dead and a discarded write, recorded days ago."""
    with store.begin() as session:
        for key in ("done", "dead", "discarded"):
            _task(session, key, timedelta(days=3))
    for key in ("done", "dead", "discarded"):
        _set(store, key, status=key, created_at=utcnow() - timedelta(days=3))
    with store() as session:
        assert oldest_pending_at(session) is None
        assert oldest_pending_seconds(session) is None


def test_a_write_never_written_is_owed_since_it_was_recorded(store: sessionmaker[Session]) -> None:
    """Bad input: a Task recorded three hours ago that never reached Salesforce, beside a fresh one."""
    now = utcnow()
    with store.begin() as session:
        _task(session, "old", timedelta(hours=3))
        _task(session, "new", timedelta(0))
    _set(store, "old", created_at=now - timedelta(hours=3))
    with store() as session:
        assert oldest_pending_at(session) == now - timedelta(hours=3)
        assert oldest_pending_seconds(session, now) == 3 * 3600


def test_a_written_write_made_pending_again_is_owed_since_its_latest_event(store: sessionmaker[Session]) -> None:
    """Bad input: a Task and a field update written two days ago, then bumped / recorded again."""
    now = utcnow()
    with store.begin() as session:
        _task(session, "task", timedelta(days=2))
        record_field_update(session, key="update", sobject="Contract", sf_id=CONTRACT, values={"SpecialTerms": "a"})
    for key in ("task", "update"):
        _set(store, key, status="done", sf_id=CONTRACT, created_at=now - timedelta(days=2))
    with store.begin() as session:
        _task(session, "task", timedelta(minutes=10))  # the same event again: the written Task is bumped
        record_field_update(session, key="update", sobject="Contract", sf_id=CONTRACT, values={"SpecialTerms": "b"})
    with store() as session:
        age = oldest_pending_seconds(session, now)
    assert age is not None and 10 * 60 - 5 <= age <= 10 * 60 + 5
