"""GROUP BY, aggregate functions and HAVING over the rows a WHERE clause kept.

Each group becomes a dict keyed by operand signature (grouped expressions and every aggregate the query
mentions), so HAVING and ORDER BY reuse the ordinary condition compiler and sorter on groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sync_service.devorg.soql import model
from sync_service.devorg.soql.getters import Getter, RunContext, operand_getter
from sync_service.devorg.soql.model import (
    Aggregate,
    AllOf,
    AnyOf,
    Cond,
    DateFn,
    FieldRef,
    Negate,
    Operand,
    Selection,
    SemiJoin,
    Test,
)
from sync_service.devorg.soql.ordering import SortKey, sort_rows

Signature = tuple[Any, ...]


def signature(operand: Operand | None) -> Signature:
    """Identity of an expression, so `GROUP BY Account.Name` matches `account.name` in SELECT or HAVING."""
    if operand is None:
        return ("ROWS",)
    if isinstance(operand, FieldRef):
        return ("F", operand.column.lower())
    if isinstance(operand, DateFn):
        return ("D", operand.fn, operand.arg.column.lower(), operand.local)
    return ("A", operand.fn, signature(operand.arg))


def mentioned_aggregates(sel: Selection) -> list[Aggregate]:
    found: dict[Signature, Aggregate] = {}
    for out in sel.aggregates:
        if isinstance(out.operand, Aggregate):
            found.setdefault(signature(out.operand), out.operand)
    for key in sel.order:
        if isinstance(key.operand, Aggregate):
            found.setdefault(signature(key.operand), key.operand)

    def walk(cond: Cond | None) -> None:
        if isinstance(cond, (AllOf, AnyOf)):
            for c in cond.items:
                walk(c)
        elif isinstance(cond, Negate):
            walk(cond.item)
        elif isinstance(cond, (Test, SemiJoin)) and isinstance(cond.operand, Aggregate):
            found.setdefault(signature(cond.operand), cond.operand)

    walk(sel.having)
    return list(found.values())


def group_rows(sel: Selection, rows: list[dict[str, Any]], ctx: RunContext) -> list[dict[Signature, Any]]:
    """One dict per group: grouped values under their signatures, then each aggregate's value."""
    getters = [operand_getter(g, ctx) for g in sel.group_by]
    text_keys = [model.category(g.type) == model.TEXT for g in sel.group_by]
    buckets: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    firsts: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        values = [g(row) for g in getters]
        # Text groups ignore case, like Salesforce; the first spelling seen is the one reported.
        key = tuple(
            v.lower() if is_text and isinstance(v, str) else v for v, is_text in zip(values, text_keys, strict=True)
        )
        bucket = buckets.get(key)
        if bucket is None:
            buckets[key] = bucket = []
            firsts[key] = values
        bucket.append(row)
    if not sel.group_by and not buckets:
        buckets[()] = []  # an aggregate without GROUP BY answers one row even over no records
        firsts[()] = []
    aggregates = [(signature(a), _aggregator(a, ctx)) for a in mentioned_aggregates(sel)]
    groups = []
    for key, members in buckets.items():
        group: dict[Signature, Any] = {signature(g): v for g, v in zip(sel.group_by, firsts[key], strict=True)}
        for sig, compute in aggregates:
            group[sig] = compute(members)
        groups.append(group)
    return groups


def _aggregator(agg: Aggregate, ctx: RunContext) -> Callable[[list[dict[str, Any]]], Any]:
    if agg.arg is None:
        return len
    getter: Getter = operand_getter(agg.arg, ctx)
    fn = agg.fn
    is_text = model.category(agg.arg.type) == model.TEXT
    integral = agg.arg.type == "int" or (isinstance(agg.arg, DateFn) and agg.arg.type == "int")

    def compute(rows: list[dict[str, Any]]) -> Any:
        values = [v for v in map(getter, rows) if v is not None]
        if fn == "COUNT":
            return len(values)
        if fn == "COUNT_DISTINCT":
            return len({v.lower() if is_text and isinstance(v, str) else v for v in values})
        if not values:
            return None
        if fn == "SUM":
            total = sum(values)
            return int(total) if integral else float(total)
        if fn == "AVG":
            return float(sum(values)) / len(values)
        pick = min if fn == "MIN" else max
        try:
            return pick(values, key=lambda v: v.lower()) if is_text else pick(values)
        except TypeError:
            return pick(values, key=str)

    return compute


def group_getter(operand: Operand) -> Callable[[dict[Signature, Any]], Any]:
    sig = signature(operand)
    return lambda group: group.get(sig)


def order_groups(sel: Selection, groups: list[dict[Signature, Any]]) -> list[dict[Signature, Any]]:
    keys = [
        SortKey(
            group_getter(k.operand),
            k.descending,
            k.nulls_first,
            k.operand.type,
            k.operand.picklist if isinstance(k.operand, FieldRef) else (),
        )
        for k in sel.order
    ]
    return sort_rows(groups, keys)


def render_groups(sel: Selection, groups: list[dict[Signature, Any]]) -> list[dict[str, Any]]:
    plan = [(out.key, signature(out.operand)) for out in sel.aggregates]
    return [{"attributes": {"type": "AggregateResult"}, **{key: g.get(sig) for key, sig in plan}} for g in groups]
