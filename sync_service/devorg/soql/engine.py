"""The public face of the engine: prepare a query once, run it against a `RecordSource` many times.

A run compiles the resolved clauses into closures (the clock and time zone fix the date literals), filters
in one pass, sorts on precomputed keys, slices, and renders with a precomputed per-field plan.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sync_service.devorg.schema import Schema
from sync_service.devorg.soql import aggregate
from sync_service.devorg.soql.compile import Pred, compile_condition
from sync_service.devorg.soql.dates import local_today
from sync_service.devorg.soql.getters import RecordSource, RunContext, field_getter, operand_getter
from sync_service.devorg.soql.model import ChildQuery, FieldRef, Operand, Selection
from sync_service.devorg.soql.ordering import SortKey, sort_rows
from sync_service.devorg.soql.parser import parse
from sync_service.devorg.soql.plan import Planner
from sync_service.devorg.soql.render import build_shape, compile_flat, compile_shape, flattener
from sync_service.devorg.soql.syntax import SelectQuery


@dataclass
class QueryResult:
    total_size: int
    records: list[dict[str, Any]]


class PreparedQuery:
    """A query bound to a schema. Holds no records; `run` may be called repeatedly."""

    def __init__(self, selection: Selection, schema: Schema):
        self._sel = selection
        self._schema = schema
        self.sobject: str = selection.sobject
        self.is_count: bool = selection.count_only
        self.is_aggregate: bool = selection.aggregate
        self.has_subqueries: bool = any(out.child is not None for out in selection.outputs)
        paths: list[tuple[str, ...]]
        if selection.aggregate:
            paths = [(out.key,) for out in selection.aggregates]
        else:
            paths = [out.ref.keys for out in selection.outputs if out.ref is not None]
        self._paths = paths
        self.columns: list[str] = [".".join(p) for p in paths]
        self.flatten: Callable[[dict[str, Any]], list[Any]] = flattener(paths)
        """A rendered record's values in `columns` order (Bulk CSV); None where a parent is null."""

    def run(
        self,
        source: RecordSource,
        *,
        now: datetime,
        tz: tzinfo,
        include_deleted: bool = False,
        api_version: str = "59.0",
    ) -> QueryResult:
        ctx = self._context(source, now, tz, include_deleted, api_version)
        sel = self._sel
        rows = _filtered(sel, ctx)
        if sel.count_only:
            return QueryResult(len(_slice(sel, rows)), [])
        if sel.aggregate:
            return _run_aggregate(sel, rows, ctx)
        rows = _slice(sel, _sorted(sel, rows, ctx))
        return QueryResult(len(rows), _materialize(sel, rows, ctx))

    def run_flat(
        self,
        source: RecordSource,
        *,
        now: datetime,
        tz: tzinfo,
        include_deleted: bool = False,
        api_version: str = "59.0",
    ) -> list[list[Any]]:
        """The rows of a query without subqueries or aggregates, each as `flatten(record)` of its rendered
        record would give it (in `columns` order), read without rendering (Bulk query results)."""
        ctx = self._context(source, now, tz, include_deleted, api_version)
        sel = self._sel
        assert not (sel.count_only or sel.aggregate or self.has_subqueries)
        rows = _slice(sel, _sorted(sel, _filtered(sel, ctx), ctx))
        flat = compile_flat(sel.outputs, sel.sobject, ctx)
        with _collector_paused():
            return list(map(flat, rows))

    def _context(
        self, source: RecordSource, now: datetime, tz: tzinfo, include_deleted: bool, api_version: str
    ) -> RunContext:
        return RunContext(self._schema, source, local_today(now, tz), tz, include_deleted, api_version)


def prepare(query: SelectQuery, schema: Schema, soql: str) -> PreparedQuery:
    return PreparedQuery(Planner(schema, soql).main(query), schema)


def execute(
    soql: str,
    schema: Schema,
    source: RecordSource,
    *,
    now: datetime,
    tz: tzinfo,
    include_deleted: bool = False,
    api_version: str = "59.0",
) -> QueryResult:
    prepared = prepare(parse(soql), schema, soql)
    return prepared.run(source, now=now, tz=tz, include_deleted=include_deleted, api_version=api_version)


# --- run steps ---


def _where(sel: Selection, ctx: RunContext) -> Pred | None:
    if sel.where is None:
        return None

    def getter_for(operand: Operand) -> Callable[[Any], Any]:
        assert not isinstance(operand, aggregate.Aggregate)
        return operand_getter(operand, ctx)

    return compile_condition(sel.where, getter_for, ctx, lambda semi: _semi_join_values(semi, ctx))


def _filtered(sel: Selection, ctx: RunContext) -> list[dict[str, Any]]:
    rows = ctx.visible(ctx.source.rows(sel.sobject))
    pred = _where(sel, ctx)
    if pred is None:
        return list(rows)
    return [r for r in rows if pred(r)]


def _semi_join_values(sel: Selection, ctx: RunContext) -> set[str]:
    ref = sel.outputs[0].ref
    assert ref is not None
    getter = field_getter(ref, ctx)
    return {v for v in map(getter, _filtered(sel, ctx)) if v is not None}


def _sorted(sel: Selection, rows: list[dict[str, Any]], ctx: RunContext) -> list[dict[str, Any]]:
    keys = [
        SortKey(
            operand_getter(k.operand, ctx),  # type: ignore[arg-type]  # aggregates only order aggregate queries
            k.descending,
            k.nulls_first,
            k.operand.type,
            k.operand.picklist if isinstance(k.operand, FieldRef) else (),
        )
        for k in sel.order
    ]
    return sort_rows(rows, keys)


def _slice(sel: Selection, rows: list[Any]) -> list[Any]:
    start = sel.offset or 0
    if sel.limit is None:
        return rows[start:] if start else rows
    return rows[start : start + sel.limit]


def _materialize(sel: Selection, rows: list[dict[str, Any]], ctx: RunContext) -> list[dict[str, Any]]:
    render = _renderer(sel, rows, ctx)
    with _collector_paused():
        return [render(r) for r in rows]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Rendering allocates tens of thousands of dicts that all stay alive; letting the cyclic collector
    rescan them every few hundred allocations costs more than rendering itself. Only re-enables what it
    disabled, so concurrent runs never leave the collector off."""
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _renderer(sel: Selection, rows: list[dict[str, Any]], ctx: RunContext) -> Callable[[dict[str, Any]], Any]:
    """The render function for `rows`, with their subqueries already evaluated."""
    children = {out.child.key: _child_results(out.child, rows, ctx) for out in sel.outputs if out.child is not None}
    return compile_shape(build_shape(sel.outputs), sel.sobject, ctx, children)


def _child_results(child: ChildQuery, parents: list[dict[str, Any]], ctx: RunContext) -> Callable[[Any], Any]:
    """Each parent's nested QueryResult for one subquery, computed in one pass over the child object."""
    parent_ids = {p.get("Id") for p in parents}
    link = child.link_field
    pred = _where(child.query, ctx)
    groups: dict[str, list[dict[str, Any]]] = {}
    if parent_ids:
        for row in ctx.visible(ctx.source.rows(child.query.sobject)):
            parent_id: str | None = row.get(link)
            if parent_id is not None and parent_id in parent_ids and (pred is None or pred(row)):
                groups.setdefault(parent_id, []).append(row)
    kept = {pid: _slice(child.query, _sorted(child.query, members, ctx)) for pid, members in groups.items()}
    render = _renderer(child.query, [row for rows in kept.values() for row in rows], ctx)
    results = {
        pid: {"totalSize": len(rows), "done": True, "records": [render(r) for r in rows]}
        for pid, rows in kept.items()
        if rows
    }
    return lambda record: results.get(record.get("Id"))


def _run_aggregate(sel: Selection, rows: list[dict[str, Any]], ctx: RunContext) -> QueryResult:
    groups = aggregate.group_rows(sel, rows, ctx)
    if sel.having is not None:
        having = compile_condition(sel.having, aggregate.group_getter, ctx, lambda semi: set())
        groups = [g for g in groups if having(g)]
    groups = _slice(sel, aggregate.order_groups(sel, groups))
    records = aggregate.render_groups(sel, groups)
    return QueryResult(len(records), records)
