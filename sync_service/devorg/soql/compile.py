"""Resolved conditions → Python closures, built once per run (date literals depend on the run's clock).

Semantics follow Salesforce, which uses two-valued logic with null as an ordinary value: ``= null`` and
``!= null`` test presence, ``!=`` and ``NOT IN`` match null values, ordering comparisons and LIKE never do.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sync_service.devorg.soql import model
from sync_service.devorg.soql.dates import datetime_bounds, literal_days
from sync_service.devorg.soql.getters import Getter, RunContext
from sync_service.devorg.soql.model import AllOf, AnyOf, Cond, Negate, Operand, Selection, SemiJoin, Test
from sync_service.devorg.soql.syntax import DateLiteral

Pred = Callable[[Any], bool]
_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def compile_condition(
    cond: Cond,
    getter_for: Callable[[Operand], Callable[[Any], Any]],
    ctx: RunContext,
    semi_join_values: Callable[[Selection], set[str]],
) -> Pred:
    def build(node: Cond) -> Pred:
        if isinstance(node, AllOf):
            return _all([build(c) for c in node.items])
        if isinstance(node, AnyOf):
            return _any([build(c) for c in node.items])
        if isinstance(node, Negate):
            inner = build(node.item)
            return lambda r: not inner(r)
        if isinstance(node, SemiJoin):
            values = semi_join_values(node.query)
            g = getter_for(node.operand)
            if node.negate:
                return lambda r: g(r) not in values
            return lambda r: g(r) in values
        return _test(node, getter_for(node.operand), ctx)

    return build(cond)


# AND/OR chains are unrolled up to four terms (a generator per row costs more than the tests themselves);
# longer chains nest groups of four.
def _all(preds: list[Pred]) -> Pred:
    if len(preds) > 4:
        return _all([_all(preds[i : i + 4]) for i in range(0, len(preds), 4)])
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda r: a(r) and b(r)
    if len(preds) == 3:
        a, b, c = preds
        return lambda r: a(r) and b(r) and c(r)
    a, b, c, d = preds
    return lambda r: a(r) and b(r) and c(r) and d(r)


def _any(preds: list[Pred]) -> Pred:
    if len(preds) > 4:
        return _any([_any(preds[i : i + 4]) for i in range(0, len(preds), 4)])
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda r: a(r) or b(r)
    if len(preds) == 3:
        a, b, c = preds
        return lambda r: a(r) or b(r) or c(r)
    a, b, c, d = preds
    return lambda r: a(r) or b(r) or c(r) or d(r)


def _test(test: Test, g: Getter, ctx: RunContext) -> Pred:
    op, value = test.op, test.value
    cat = model.category(test.operand.type)
    if op in ("IN", "NOT IN"):
        member = _in(g, cat, value, ctx)
        return member if op == "IN" else (lambda r: not member(r))
    if op == "LIKE":
        match = value.fullmatch
        return lambda r: (v := g(r)) is not None and match(str(v)) is not None
    if op in ("INCLUDES", "EXCLUDES"):
        specs = tuple(value)

        def includes(r: Any) -> bool:
            v = g(r)
            if v is None:
                return False
            have = _multi(v)
            return any(spec <= have for spec in specs)

        return includes if op == "INCLUDES" else (lambda r: not includes(r))
    if isinstance(value, DateLiteral):
        return _range(g, cat, op, value, ctx)
    if op == "=":
        return _equals(g, cat, value)
    if op == "!=":
        equal = _equals(g, cat, value)
        return lambda r: not equal(r)
    return _ordering(g, cat, _ORDERING[op], value)


def _multi(value: str) -> frozenset[str]:
    return frozenset(p.strip().lower() for p in str(value).split(";") if p.strip())


def _equals(g: Getter, cat: str, value: Any) -> Pred:
    if value is None:
        return lambda r: g(r) is None
    if cat == model.TEXT:
        return lambda r: (v := g(r)) is not None and str(v).lower() == value
    if cat == model.MULTI:
        return lambda r: (v := g(r)) is not None and _multi(v) == value
    return lambda r: g(r) == value


def _ordering(g: Getter, cat: str, compare: Callable[[Any, Any], bool], value: Any) -> Pred:
    if value is None:
        return lambda r: False
    if cat == model.TEXT:
        return lambda r: (v := g(r)) is not None and compare(str(v).lower(), value)

    def ordered(r: Any) -> bool:
        v = g(r)
        if v is None:
            return False
        try:
            return compare(v, value)
        except TypeError:  # a stored value of the wrong type never matches
            return False

    return ordered


def _in(g: Getter, cat: str, values: tuple[Any, ...], ctx: RunContext) -> Pred:
    ranges = [_range(g, cat, "=", v, ctx) for v in values if isinstance(v, DateLiteral)]
    scalars = {v for v in values if v is not None and not isinstance(v, DateLiteral)}
    has_null = any(v is None for v in values)
    if cat == model.TEXT:

        def member(r: Any) -> bool:
            v = g(r)
            return has_null if v is None else str(v).lower() in scalars

    elif cat == model.MULTI:

        def member(r: Any) -> bool:
            v = g(r)
            return has_null if v is None else _multi(v) in scalars

    else:

        def member(r: Any) -> bool:
            v = g(r)
            return has_null if v is None else v in scalars

    if not ranges:
        return member
    return _any([member, *ranges])


def _range(g: Getter, cat: str, op: str, literal: DateLiteral, ctx: RunContext) -> Pred:
    """A comparison with a date literal: = inside the range, < before its start, > after its end."""
    first, last = literal_days(literal.name, literal.n, ctx.today)
    if cat == model.DATE:
        lo, hi = first.isoformat(), last.isoformat()
        inside: Pred = lambda r: (v := g(r)) is not None and lo <= v <= hi  # noqa: E731
        tests: dict[str, Pred] = {
            "<": lambda r: (v := g(r)) is not None and v < lo,
            "<=": lambda r: (v := g(r)) is not None and v <= hi,
            ">": lambda r: (v := g(r)) is not None and v > hi,
            ">=": lambda r: (v := g(r)) is not None and v >= lo,
        }
    else:
        start, end = datetime_bounds(first, last, ctx.tz)  # [start, end) in UTC wire form
        inside = lambda r: (v := g(r)) is not None and start <= v < end  # noqa: E731
        tests = {
            "<": lambda r: (v := g(r)) is not None and v < start,
            "<=": lambda r: (v := g(r)) is not None and v < end,
            ">": lambda r: (v := g(r)) is not None and v >= end,
            ">=": lambda r: (v := g(r)) is not None and v >= start,
        }
    if op == "=":
        return inside
    if op == "!=":
        return lambda r: not inside(r)
    return tests[op]
