"""WHERE and HAVING: resolve the operands, check operators against field types, and coerce each literal to
the form its field is compared in (so evaluation never converts per row).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sync_service.devorg import ids
from sync_service.devorg.errors import ApiError, invalid_field
from sync_service.devorg.soql import model
from sync_service.devorg.soql.dates import format_datetime
from sync_service.devorg.soql.model import AllOf, AnyOf, Cond, FieldRef, Negate, Operand, Selection, SemiJoin, Test
from sync_service.devorg.soql.resolve import Scope, malformed_at, positioned
from sync_service.devorg.soql.syntax import And, Comparison, Condition, Literal, Name, Not, Or, SelectQuery

_RANGE_OPS = frozenset({"<", "<=", ">", ">="})
# How Salesforce names a field's type in "must be of type ..." messages.
_TYPE_WORDS = {
    model.DATE: "date",
    model.DATETIME: "dateTime",
    model.BOOLEAN: "boolean",
    model.NUMBER: "double",
    model.ID: "id",
    model.TEXT: "string",
    model.MULTI: "string",
}


def filter_operator_error(soql: str, pos: int, text: str) -> ApiError:
    return ApiError(400, "INVALID_QUERY_FILTER_OPERATOR", positioned(soql, pos, text))


class ConditionResolver:
    """Resolves one WHERE or HAVING clause within `scope`.

    `build_semi_join` prepares an ``IN (SELECT ...)`` subquery; `check_operand` vets each operand (for HAVING:
    it must be grouped or aggregated).
    """

    def __init__(
        self,
        scope: Scope,
        *,
        aggregates: bool,
        build_semi_join: Callable[[SelectQuery], Selection],
        check_operand: Callable[[Operand], None] | None = None,
    ):
        self.scope = scope
        self.soql = scope.soql
        self.aggregates = aggregates
        self.build_semi_join = build_semi_join
        self.check_operand = check_operand

    def resolve(self, cond: Condition) -> Cond:
        if isinstance(cond, And):
            return AllOf(tuple(self.resolve(c) for c in cond.items))
        if isinstance(cond, Or):
            return AnyOf(tuple(self.resolve(c) for c in cond.items))
        if isinstance(cond, Not):
            return Negate(self.resolve(cond.item))
        return self.comparison(cond)

    def comparison(self, comp: Comparison) -> Cond:
        operand = self.scope.operand(comp.lhs, aggregates=self.aggregates)
        self._check_filterable(operand, comp)
        if self.check_operand is not None:
            self.check_operand(operand)
        rhs = comp.rhs
        if isinstance(rhs, SelectQuery):
            return self.semi_join(operand, comp, rhs)
        cat = model.category(operand.type)
        op = comp.op
        if op == "LIKE" and cat != model.TEXT:
            raise filter_operator_error(self.soql, comp.pos, f"invalid operator on {_TYPE_WORDS.get(cat, cat)} field")
        if op in ("INCLUDES", "EXCLUDES") and cat != model.MULTI:
            raise filter_operator_error(
                self.soql, comp.pos, "includes or excludes operator only valid on multipicklist field"
            )
        if op in _RANGE_OPS and cat in (model.BOOLEAN, model.MULTI):
            raise filter_operator_error(self.soql, comp.pos, f"invalid operator on {operand.type} field")
        if isinstance(rhs, list):
            return Test(operand, op, tuple(self.coerce(operand, cat, lit, op) for lit in rhs))
        return Test(operand, op, self.coerce(operand, cat, rhs, op))

    def _check_filterable(self, operand: Operand, comp: Comparison) -> None:
        ref = operand if isinstance(operand, FieldRef) else operand.arg
        if isinstance(ref, FieldRef) and not ref.filterable:
            raise invalid_field(
                positioned(self.soql, ref.pos, f"field '{ref.name}' can not be filtered in a query call")
            )

    def semi_join(self, operand: Operand, comp: Comparison, sub: SelectQuery) -> SemiJoin:
        if comp.op not in ("IN", "NOT IN") or not (
            isinstance(operand, FieldRef) and model.category(operand.type) == model.ID
        ):
            raise malformed_at(self.soql, comp.pos, "Semi join sub-selects are only allowed for ID fields with IN")
        if len(sub.items) != 1 or not isinstance(getattr(sub.items[0], "expr", None), Name):
            raise malformed_at(self.soql, sub.pos, "Semi join sub-selects must select exactly one ID field")
        selection = self.build_semi_join(sub)
        column = selection.outputs[0].ref
        if column is None or model.category(column.type) != model.ID:
            pos = column.pos if column is not None else sub.pos
            raise malformed_at(self.soql, pos, "Semi join sub-selects must select exactly one ID field")
        return SemiJoin(operand, comp.op == "NOT IN", selection)

    def coerce(self, operand: Operand, cat: str, lit: Literal, op: str) -> Any:
        kind = lit.kind
        if kind == "null":
            if op in ("LIKE", "INCLUDES", "EXCLUDES"):
                raise self.type_error(operand, cat, lit)
            # Booleans are never null in Salesforce: "= null" on a checkbox means "= false".
            return False if cat == model.BOOLEAN else None
        if cat == model.TEXT and kind == "string":
            text = str(lit.value)
            if op == "LIKE":
                return like_pattern(text, lit.escaped)
            return text.lower() if text else None  # Salesforce stores '' as null
        if cat == model.ID and kind == "string":
            text = str(lit.value)
            if not text:
                return None
            normal = ids.normalize(text)
            if normal is None:
                raise filter_operator_error(self.soql, lit.pos, f"invalid ID field: {text}")
            return normal
        if cat == model.MULTI and kind == "string":
            return frozenset(p.strip().lower() for p in str(lit.value).split(";") if p.strip())
        if cat == model.NUMBER and kind == "number":
            return lit.value
        if cat == model.BOOLEAN and kind == "boolean":
            return lit.value
        if cat == model.DATE and kind in ("date", "range"):
            return lit.value.isoformat() if kind == "date" else lit.value  # type: ignore[union-attr]
        if cat == model.DATETIME and kind in ("datetime", "range"):
            return format_datetime(lit.value) if kind == "datetime" else lit.value  # type: ignore[arg-type]
        raise self.type_error(operand, cat, lit)

    def type_error(self, operand: Operand, cat: str, lit: Literal) -> ApiError:
        quoted = cat in (model.TEXT, model.ID, model.MULTI)
        word = _TYPE_WORDS.get(cat, cat)
        if isinstance(operand, FieldRef) and operand.type == "int":
            word = "integer"
        should = "should be" if quoted else "should not be"
        return invalid_field(
            positioned(
                self.soql,
                lit.pos,
                f"value of filter criterion for field '{operand.name}' must be of type {word} and {should} "
                "enclosed in quotes",
            )
        )


def like_pattern(text: str, escaped: frozenset[int]) -> re.Pattern[str]:
    """LIKE → a case-insensitive regex: % any run, _ one character, escaped \\% and \\_ themselves."""
    parts = []
    for i, ch in enumerate(text):
        if ch == "%" and i not in escaped:
            parts.append(".*")
        elif ch == "_" and i not in escaped:
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
