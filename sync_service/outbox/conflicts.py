"""Write conflicts: a field the service was to write that someone changed in Salesforce since the service last
saw it. Salesforce is the system of record, so its value stays; the conflict is kept (a
:class:`~sync_service.store.models.WriteConflict` row with the value last seen, ours and theirs, listed in the
console until someone marks it resolved) and the contract's rep gets a Task naming the field and both values.

The push (:mod:`sync_service.outbox.push`) decides what to write after Salesforce refused a conditional update:
:func:`split` compares each field's value now with the value the service last saw. A field Salesforce still
holds at that value is written; one already at our value needs no write; any other is a conflict. Values are
compared as Salesforce gives them (JSON): an empty text and null are the same, numbers compare as numbers
(`15` and `15.0`); nothing else is coerced.

Never here: a call to Salesforce. Everything is recorded in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mappings.model import TaskConventions
from sync_service.outbox.record import event_key, record_task
from sync_service.store import models

# Objects a Task names through WhoId rather than WhatId.
PEOPLE = frozenset({"contact", "lead"})


@dataclass(frozen=True)
class Conflict:
    field: str
    seen: Any  # the value the service last saw in Salesforce
    ours: Any  # the value it was to write
    theirs: Any  # the value Salesforce holds now, and keeps


@dataclass
class Split:
    """A write checked against what Salesforce holds now."""

    write: dict[str, Any] = field(default_factory=dict)  # still at the value seen (or never seen): written
    already: dict[str, Any] = field(default_factory=dict)  # Salesforce holds our value already
    conflicts: list[Conflict] = field(default_factory=list)  # changed by someone else: Salesforce's stays


def same(a: Any, b: Any) -> bool:
    """Whether two field values (as Salesforce gives them) are the same value."""
    if a in (None, "") and b in (None, ""):
        return True
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)), abs(float(b)))
    return bool(type(a) is type(b) and a == b)


def split(values: dict[str, Any], seen: dict[str, Any], current: dict[str, Any]) -> Split:
    """Sort the fields of `values` by what Salesforce holds now (`current`, read for every field of `seen`)."""
    result = Split()
    for name, ours in values.items():
        if name not in seen:
            result.write[name] = ours  # never seen: nothing to check it against
        elif same(current.get(name), ours):
            result.already[name] = ours
        elif same(current.get(name), seen[name]):
            result.write[name] = ours
        else:
            result.conflicts.append(Conflict(name, seen[name], ours, current.get(name)))
    return result


def contract_of(session: Session, sobject: str, sf_id: str) -> models.Contract | None:
    """The contract a record belongs to in the store: the contract itself, or the one its renewal quote is for."""
    contract = session.scalar(select(models.Contract).where(models.Contract.sf_id == sf_id))
    if contract is not None:
        return contract
    quote = session.scalar(select(models.RenewalQuote).where(models.RenewalQuote.sf_id == sf_id))
    return session.get(models.Contract, quote.contract_id) if quote is not None else None


def describe_value(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # Salesforce's JSON gives 3.0 for a percent of 3
    return repr(value) if isinstance(value, str) else str(value)


def record_conflicts(
    session: Session,
    *,
    outbox_item_id: int,
    sobject: str,
    sf_id: str,
    conflicts: list[Conflict],
    conventions: TaskConventions,
    at: datetime,
) -> list[models.OutboxItem]:
    """Keep each conflict and record the rep's Task for it (one per conflict); returns the Tasks' outbox rows."""
    contract = contract_of(session, sobject, sf_id)
    tasks = []
    for conflict in conflicts:
        row = models.WriteConflict(
            outbox_item_id=outbox_item_id,
            contract_id=contract.id if contract is not None else None,
            sobject=sobject,
            record_sf_id=sf_id,
            field=conflict.field,
            seen=conflict.seen,
            ours=conflict.ours,
            theirs=conflict.theirs,
            detected_at=at,
        )
        session.add(row)
        session.flush()  # the row's id is part of the Task's key
        tasks.append(_task(session, row, contract, conventions, at))
    return tasks


def _task(
    session: Session,
    conflict: models.WriteConflict,
    contract: models.Contract | None,
    conventions: TaskConventions,
    at: datetime,
) -> models.OutboxItem:
    what_id: str | None = conflict.record_sf_id
    who_id = None
    if contract is not None:
        what_id = contract.sf_id
    elif conflict.sobject.lower() in PEOPLE:
        what_id, who_id = None, conflict.record_sf_id
    rep = contract.rep if contract is not None else None
    number = f" {contract.number}" if contract is not None and contract.number else ""
    where = f"{conflict.sobject} {conflict.record_sf_id}"
    lines = [
        f"The renewal service was to set {conflict.field} on {where} to {describe_value(conflict.ours)}, but it was "
        f"changed in Salesforce since the service last saw it: it was {describe_value(conflict.seen)} and is now "
        f"{describe_value(conflict.theirs)}.",
        "Salesforce's value was kept; the service overwrote nothing. If the service's value is the right one, "
        "set it in Salesforce.",
        f"When: {at.isoformat(timespec='seconds')}",
        f"Conflict #{conflict.id}, listed in the admin console until it is marked resolved.",
    ]
    return record_task(
        session,
        # The row's id alone would repeat in another store writing to the same org (a re-created store, a
        # staging copy): the record, field and time make the key the conflict's own.
        key=event_key("write_conflict", conflict.id, conflict.record_sf_id, conflict.field, at.isoformat()),
        what_id=what_id,
        who_id=who_id,
        owner_id=rep.sf_id if rep is not None and rep.is_active else None,
        subject=f"Salesforce change kept: {conflict.field} on {conflict.sobject}{number} is "
        f"{describe_value(conflict.theirs)}, not {describe_value(conflict.ours)}",
        description="\n".join(lines),
        event_at=at,
        conventions=conventions,
    )


def remaining(payload: dict[str, Any], written: dict[str, Any], conflicted: dict[str, Any]) -> dict[str, Any]:
    """What is left of a pending write (`payload`, as the store holds it now) after a push wrote the fields of
    `written` and met a conflict on those of `conflicted` (field → the value sent or tried). A field recorded
    again with another value since the push claimed the row stays owed: where the push wrote it, Salesforce now
    holds the value written, which becomes its seen value; where it met a conflict, its seen value stays (so
    it meets the conflict again, with the newer value)."""
    values: dict[str, Any] = dict(payload.get("values", {}))
    seen: dict[str, Any] = dict(payload.get("seen", {}))
    for name, sent in {**written, **conflicted}.items():
        if name not in values:
            continue
        if same(values[name], sent):
            values.pop(name)
            seen.pop(name, None)
        elif name in written and name in seen:
            seen[name] = sent
    left: dict[str, Any] = {"values": values}
    kept = {name: value for name, value in seen.items() if name in values}
    if kept:
        left["seen"] = kept
    if payload.get("seen_at"):
        left["seen_at"] = payload["seen_at"]
    return left
