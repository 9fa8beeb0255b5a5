"""SOQL for pulling one entity of a mapping: which field paths to select, and the query itself.

The scope filter is embedded in parentheses exactly as `validate.py` had the org check it, so a filter that
validated compiles into a query the org accepts.
"""

from __future__ import annotations

from collections.abc import Mapping as Record
from datetime import UTC, datetime
from typing import Any

from mappings.model import ENTITIES, Mapping
from mappings.writeback import RECORD_ENTITIES

# Every pulled row carries its id and the timestamp the incremental pull's watermark follows.
ALWAYS = ("Id", "SystemModstamp")


def select_for(mapping: Mapping, entity: str) -> list[str]:
    """The distinct field paths to select for `entity`: Id and SystemModstamp, every mapped field path, and
    for contract and renewal_quote the lookups the write-back names (`renewal_quote.SBQQ__Opportunity2__c`),
    so the push knows which record to write without asking the org again."""
    if entity not in ENTITIES:
        raise KeyError(f"unknown entity {entity!r}; the entities are {', '.join(ENTITIES)}")
    spec = mapping.entities[entity]
    paths = list(ALWAYS)
    paths += [fm.field for fm in spec.fields.values() if fm.field is not None]
    if entity in RECORD_ENTITIES:
        write_back = mapping.write_back
        records = [a.record for a in (*write_back.renew, *write_back.contact_rep)] + [write_back.tasks.what]
        paths += [lookup for owner, _, lookup in (r.partition(".") for r in records) if owner == entity and lookup]
    seen: set[str] = set()
    distinct = []
    for path in paths:
        # SOQL names are case-insensitive: selecting `Name` and `name` would be one column twice.
        if path.lower() not in seen:
            seen.add(path.lower())
            distinct.append(path)
    return distinct


def compile_query(
    mapping: Mapping, entity: str, *, since: datetime | None = None, extra_where: str | None = None
) -> str:
    """`SELECT <select_for> FROM <object> [WHERE (scope) AND SystemModstamp >= since AND (extra_where)]`."""
    spec = mapping.entities[entity]
    conditions = []
    if spec.scope is not None:
        conditions.append(f"({spec.scope})")
    if since is not None:
        conditions.append(f"SystemModstamp >= {soql_datetime(since)}")
    if extra_where:
        conditions.append(f"({extra_where})")
    query = f"SELECT {', '.join(select_for(mapping, entity))} FROM {spec.object}"
    return f"{query} WHERE {' AND '.join(conditions)}" if conditions else query


def soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal in UTC, e.g. `2026-11-22T10:00:00Z`. Sub-second parts are dropped, which with
    `>=` can only re-read a row, never miss one."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a naive datetime has no place in time; pass an aware one (UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def field_value(record: Record[str, Any], path: str) -> Any:
    """The value at a selected field path of a query result row: `Account.Owner.Email` reads the nested
    parent records; a null lookup anywhere along the path gives None."""
    value: Any = record
    for segment in path.split("."):
        if value is None:
            return None
        value = value.get(segment)
    return value
