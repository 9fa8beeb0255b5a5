"""Recording Salesforce writes in the outbox, inside the caller's transaction (committed with the event).

Every write carries a deterministic key, so recording the same event twice, or pushing it twice, has one
effect in the org. A Task is bounded: one per email per kind of event; a repeat bumps its count and last
time and makes it pending again, and the push updates the same Task.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mappings.model import TaskConventions
from sync_service.store import models
from sync_service.store.models import utcnow

# Keys travel in external-id URL paths and SOQL literals; this alphabet encodes the same way everywhere
# (reference 1.9). 80 characters is the Task external-id field's length.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,80}$")


def event_key(*parts: object) -> str:
    """A deterministic key for a write, e.g. `event_key("opened", email_message_id)`."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return f"rnw-{digest[:40]}"


def _check_key(key: str) -> None:
    if not KEY_PATTERN.match(key):
        raise ValueError(f"outbox key {key!r} must be 1-80 characters of A-Z a-z 0-9 . _ -")


def task_subject(conventions: TaskConventions, subject: str, key: str) -> str:
    """The Task's Subject: the mapping's marker, what happened, and the key — exact and unique, so a write
    whose outcome is unknown can be found again by `Subject = '<this>'` (Subject is 255 characters)."""
    marker = f" [{key}]"
    head = f"{conventions.subject_prefix}: "
    room = 255 - len(head) - len(marker)
    return head + subject[:room] + marker


def record_task(
    session: Session,
    *,
    key: str,
    what_id: str | None,
    who_id: str | None,
    owner_id: str | None,
    subject: str,
    description: str,
    event_at: datetime,
    conventions: TaskConventions,
    contact_request: bool = False,
) -> models.OutboxItem:
    """Add the Task for this key, or bump the existing one (count, last time, pending again)."""
    _check_key(key)
    item = _locked(session, key)
    if item is not None:
        return _bump(item, key, event_at)
    fields: dict[str, Any] = {"WhatId": what_id, "WhoId": who_id, "OwnerId": owner_id}
    due: date = event_at.date()
    if contact_request:
        fields["Status"] = conventions.contact_request_status
        fields["Priority"] = conventions.contact_request_priority
        due += timedelta(days=conventions.contact_request_due_days)
    else:
        fields["Status"] = conventions.status
        fields["Priority"] = conventions.priority
    fields["ActivityDate"] = due.isoformat()
    if conventions.type is not None:
        fields["Type"] = conventions.type
    payload = {
        "fields": {k: v for k, v in fields.items() if v is not None},
        "subject": task_subject(conventions, subject, key),
        "description": description,
        "subtype": conventions.subtype,  # TaskSubtype: sent on create only, never on update
        "first_event_at": event_at.isoformat(),
    }
    item = models.OutboxItem(key=key, kind="task", sobject="Task", payload=payload, last_event_at=event_at)
    if not _insert(session, item):
        # Another transaction recorded the same key first (two opens of one email at once): bump theirs.
        existing = _locked(session, key)
        assert existing is not None
        return _bump(existing, key, event_at)
    return item


def _locked(session: Session, key: str) -> models.OutboxItem | None:
    return session.scalar(select(models.OutboxItem).where(models.OutboxItem.key == key).with_for_update())


def _bump(item: models.OutboxItem, key: str, event_at: datetime) -> models.OutboxItem:
    if item.kind != "task":
        raise ValueError(f"outbox key {key!r} already names a {item.kind}")
    item.count += 1
    if item.last_event_at is None or event_at > item.last_event_at:
        item.last_event_at = event_at
    _make_pending(item)
    return item


def _insert(session: Session, item: models.OutboxItem) -> bool:
    """Insert `item` inside a savepoint; False (and nothing inserted) when its key exists already."""
    try:
        with session.begin_nested():
            session.add(item)
    except IntegrityError:
        return False
    return True


def record_field_update(
    session: Session,
    *,
    key: str,
    sobject: str,
    sf_id: str,
    values: dict[str, Any],
    seen: dict[str, Any] | None = None,
    seen_at: datetime | None = None,
) -> models.OutboxItem:
    """Set `values` on one record.

    `seen` holds, for fields of `values`, the value the service last saw in Salesforce (what a pull or a live
    read brought back), and `seen_at` the org's stamp of the record then (its SystemModstamp or
    LastModifiedDate): the push writes such a field only while Salesforce still holds that value, and makes a
    conflict of it otherwise. A field without a seen value is written as it is (the service never saw one).

    Recording the same key again while the write is still pending adds to it: the new values win, and a
    field's seen value stays the first one recorded (the org's value before any of these changes), as does
    `seen_at`. Once the write is done (or dead), recording again starts a new write with these values only.
    """
    _check_key(key)
    payload: dict[str, Any] = {"values": dict(values)}
    if seen:
        payload["seen"] = {name: value for name, value in seen.items() if name in values}
    if seen_at is not None:
        payload["seen_at"] = seen_at.isoformat()
    item = _locked(session, key)
    if item is None:
        item = models.OutboxItem(
            key=key,
            kind="field_update",
            sobject=sobject,
            target_sf_id=sf_id,
            payload=payload,
            last_event_at=utcnow(),
        )
        if _insert(session, item):
            return item
        item = _locked(session, key)
        assert item is not None
    if item.kind != "field_update" or item.target_sf_id != sf_id:
        raise ValueError(f"outbox key {key!r} already names another write")
    if item.status == "pending":
        payload = _merged(dict(item.payload), payload)
    else:
        item.last_event_at = utcnow()  # owed again from now (see sync_service.outbox.waiting)
    item.payload = payload
    _make_pending(item)
    return item


def _merged(pending: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A pending write with more changes recorded on top: values merged (the newer win), seen values and the
    stamp kept from the first recording, where it had them."""
    merged: dict[str, Any] = {"values": {**pending.get("values", {}), **new["values"]}}
    seen = {**new.get("seen", {}), **pending.get("seen", {})}
    if seen:
        merged["seen"] = seen
    seen_at = pending.get("seen_at") or new.get("seen_at")
    if seen_at:
        merged["seen_at"] = seen_at
    return merged


def _make_pending(item: models.OutboxItem) -> None:
    item.revision += 1
    if item.status == "pending":
        # Already owed: keep its schedule (a push may hold its lease, or it waits out Salesforce's outage)
        # and what its tries left behind (a try whose outcome is unknown makes the next push look first).
        return
    item.status = "pending"
    item.attempts = 0
    item.last_error = None
    item.next_attempt_at = utcnow()
    item.done_at = None
