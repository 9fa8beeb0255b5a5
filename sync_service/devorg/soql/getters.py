"""Per-run access to records: field-path getters built once per query, then called per row.

A getter takes a record of the query's object and follows the path's lookups through `RecordSource.get`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any, Protocol

from sync_service.devorg.schema import Schema
from sync_service.devorg.soql.dates import date_function
from sync_service.devorg.soql.model import DateFn, FieldRef

Getter = Callable[[dict[str, Any]], Any]


class RecordSource(Protocol):
    def rows(self, sobject: str) -> Iterable[dict[str, Any]]:
        """Every record of `sobject` (canonical name), soft-deleted ones included."""
        ...

    def get(self, record_id: str) -> dict[str, Any] | None:
        """Any record, of any object, by its 18-character id."""
        ...


@dataclass
class RunContext:
    schema: Schema
    source: RecordSource
    today: date
    tz: tzinfo
    include_deleted: bool
    api_version: str

    def object_of(self, record: dict[str, Any]) -> str | None:
        obj = self.schema.object_for_id(str(record.get("Id", "")))
        return obj.name if obj is not None else None

    def visible(self, rows: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        if self.include_deleted:
            return rows
        return (r for r in rows if not r.get("IsDeleted"))


def parent_getter(hops: tuple[str, ...], ctx: RunContext) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """Follow reference fields `hops` from a record to the parent record (None when a lookup is empty)."""
    get = ctx.source.get
    if len(hops) == 1:
        only = hops[0]

        def one(record: dict[str, Any]) -> dict[str, Any] | None:
            parent_id = record.get(only)
            return get(parent_id) if parent_id is not None else None

        return one

    def many(record: dict[str, Any]) -> dict[str, Any] | None:
        current: dict[str, Any] | None = record
        for hop in hops:
            parent_id = current.get(hop)  # type: ignore[union-attr]
            if parent_id is None:
                return None
            current = get(parent_id)
            if current is None:
                return None
        return current

    return many


def leaf_reader(ref: FieldRef, ctx: RunContext) -> Getter:
    """Read the path's last field from the record that holds it, in its comparison form."""
    name = ref.name
    if ref.polymorphic and name == "Type":
        object_of = ctx.object_of
        return lambda record: object_of(record)
    if ref.polymorphic and name == "Name":
        return _polymorphic_name(ctx)
    if ref.type == "boolean":
        # Checkboxes are never null in Salesforce; a missing value reads as false.
        return lambda record: bool(record.get(name))
    return lambda record: record.get(name)


def _polymorphic_name(ctx: RunContext) -> Getter:
    # Records without a Name show their auto-number (Order: OrderNumber, Contract: ContractNumber) instead.
    def read(record: dict[str, Any]) -> Any:
        value = record.get("Name")
        if value is not None:
            return value
        obj = ctx.schema.object_for_id(str(record.get("Id", "")))
        if obj is None:
            return None
        for f in obj.fields.values():
            if f.auto_number:
                return record.get(f.name)
        return None

    return read


def field_getter(ref: FieldRef, ctx: RunContext) -> Getter:
    leaf = leaf_reader(ref, ctx)
    if not ref.hops:
        if ref.type == "boolean" or ref.polymorphic:
            return leaf
        name = ref.name
        return lambda record: record.get(name)
    parent = parent_getter(tuple(h.field for h in ref.hops), ctx)

    def through_parents(record: dict[str, Any]) -> Any:
        holder = parent(record)
        return leaf(holder) if holder is not None else None

    return through_parents


def date_fn_getter(fn: DateFn, ctx: RunContext) -> Getter:
    inner = field_getter(fn.arg, ctx)
    name, is_datetime = fn.fn, fn.arg.type == "datetime"
    tz = ctx.tz if fn.local else None
    return lambda record: date_function(name, inner(record), is_datetime, tz)


def operand_getter(operand: FieldRef | DateFn, ctx: RunContext) -> Getter:
    return field_getter(operand, ctx) if isinstance(operand, FieldRef) else date_fn_getter(operand, ctx)
