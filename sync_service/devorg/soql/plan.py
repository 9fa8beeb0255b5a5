"""From a parsed `SelectQuery` to a resolved `Selection`: names bound, clauses checked against Salesforce's
rules (grouping, aliases, sortable and groupable fields, offsets, the ContentDocumentLink restriction).
"""

from __future__ import annotations

from collections.abc import Callable

from sync_service.devorg.errors import ApiError, invalid_field, malformed_query
from sync_service.devorg.schema import ObjectDef, Schema
from sync_service.devorg.soql import aggregate
from sync_service.devorg.soql.conditions import ConditionResolver
from sync_service.devorg.soql.model import (
    AggregateOutput,
    AllOf,
    ChildQuery,
    Cond,
    DateFn,
    FieldRef,
    Operand,
    OrderKey,
    OutputField,
    Selection,
    SemiJoin,
    Test,
)
from sync_service.devorg.soql.resolve import (
    AGGREGATE_FUNCTIONS,
    Scope,
    bad_child_relationship,
    malformed_at,
    positioned,
    resolve_object,
)
from sync_service.devorg.soql.syntax import Call, SelectItem, SelectQuery, SubSelect

MAIN, CHILD, SEMI = "main", "child", "semi"
_MAX_OFFSET = 2000
_MAX_INT = 2**31 - 1
_UNSORTABLE = frozenset({"textarea", "base64", "multipicklist"})
_UNGROUPABLE = frozenset({"textarea", "base64", "multipicklist", "double", "currency", "percent", "datetime"})
_CDL_FILTER_FIELDS = ("ContentDocumentId", "LinkedEntityId")
_CDL_MESSAGE = (
    "Implementation restriction: ContentDocumentLink requires a filter by a single Id on ContentDocumentId or "
    "LinkedEntityId using the equals operator or multiple Id's using the IN operator."
)


class Planner:
    def __init__(self, schema: Schema, soql: str):
        self.schema = schema
        self.soql = soql

    def main(self, query: SelectQuery) -> Selection:
        return self.selection(query, resolve_object(self.schema, query.sobject, self.soql), MAIN)

    def selection(self, query: SelectQuery, obj: ObjectDef, kind: str) -> Selection:
        scope = Scope(self.schema, obj, query.alias, self.soql)
        sel = Selection(obj.name)
        sel.count_only = any(_is_count_rows(item) for item in query.items)
        sel.aggregate = bool(query.group_by) or any(
            isinstance(item, SelectItem) and isinstance(item.expr, Call) and item.expr.name in AGGREGATE_FUNCTIONS
            for item in query.items
        )
        if sel.count_only:
            if kind != MAIN or len(query.items) != 1 or query.group_by:
                raise malformed_at(self.soql, query.pos, "COUNT() must be the only item of a top-level SELECT")
            sel.aggregate = False
        elif sel.aggregate:
            if kind != MAIN:
                raise malformed_at(self.soql, query.pos, "Aggregate queries are not supported in subqueries")
            self._group_by(query, scope, sel)
            self._aggregate_outputs(query, scope, sel)
        else:
            self._outputs(query, scope, sel, kind)
        resolver = ConditionResolver(scope, aggregates=False, build_semi_join=self._semi_join)
        if query.where is not None:
            sel.where = resolver.resolve(query.where)
        if query.having is not None:
            if not query.group_by:
                raise malformed_at(self.soql, query.pos, "HAVING requires GROUP BY")
            having = ConditionResolver(
                scope, aggregates=True, build_semi_join=self._semi_join, check_operand=self._grouped_check(sel)
            )
            sel.having = having.resolve(query.having)
        self._order_by(query, scope, sel)
        sel.limit, sel.offset = query.limit, query.offset
        if sel.limit is not None and sel.limit > _MAX_INT:
            raise malformed_query(f"numeric value out of range: {sel.limit}")
        if sel.offset is not None and sel.offset > _MAX_OFFSET:
            raise ApiError(400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {_MAX_OFFSET}")
        if obj.name == "ContentDocumentLink" and kind != CHILD and not _has_cdl_filter(sel.where):
            raise malformed_query(_CDL_MESSAGE)
        return sel

    # --- SELECT list ---

    def _outputs(self, query: SelectQuery, scope: Scope, sel: Selection, kind: str) -> None:
        seen: set[str] = set()
        for item in query.items:
            if isinstance(item, SubSelect):
                if kind == SEMI:
                    raise malformed_at(self.soql, item.pos, "Semi join sub-selects cannot have subqueries")
                sel.outputs.append(OutputField(child=self._child(item, scope)))
                continue
            if item.alias is not None:
                raise malformed_at(self.soql, item.expr.pos, "Only aggregate expressions use field aliasing")
            operand = scope.operand(item.expr, aggregates=False)
            if not isinstance(operand, FieldRef):
                raise malformed_at(self.soql, item.expr.pos, f"Field must be grouped or aggregated: {operand.name}")
            column = operand.column.lower()
            if column in seen:
                raise invalid_field(positioned(self.soql, operand.pos, f"duplicate field selected: {operand.name}"))
            seen.add(column)
            sel.outputs.append(OutputField(ref=operand))

    def _child(self, item: SubSelect, scope: Scope) -> ChildQuery:
        name = item.query.sobject
        parts = name.parts
        if len(parts) == 2 and parts[0].lower() in {scope.obj.name.lower(), (scope.alias or "").lower()}:
            parts = parts[1:]
        relation = scope.obj.child_relationship(parts[0]) if len(parts) == 1 else None
        child_obj = self.schema.get(relation.child_sobject) if relation is not None else None
        if relation is None or child_obj is None:
            raise bad_child_relationship(self.soql, name.pos, name.text)
        return ChildQuery(relation.relationship_name, relation.field, self.selection(item.query, child_obj, CHILD))

    def _semi_join(self, query: SelectQuery) -> Selection:
        return self.selection(query, resolve_object(self.schema, query.sobject, self.soql), SEMI)

    def _group_by(self, query: SelectQuery, scope: Scope, sel: Selection) -> None:
        for expr in query.group_by:
            operand = scope.operand(expr, aggregates=False)
            if isinstance(operand, FieldRef) and operand.type in _UNGROUPABLE:
                raise invalid_field(
                    positioned(self.soql, operand.pos, f"field '{operand.name}' can not be grouped in a query call")
                )
            assert isinstance(operand, (FieldRef, DateFn))
            sel.group_by.append(operand)

    def _aggregate_outputs(self, query: SelectQuery, scope: Scope, sel: Selection) -> None:
        groups = [aggregate.signature(g) for g in sel.group_by]
        keys: set[str] = set()
        expr_count = 0
        for item in query.items:
            if isinstance(item, SubSelect):
                raise malformed_at(self.soql, item.pos, "Aggregate queries cannot have subqueries")
            operand = scope.operand(item.expr, aggregates=True)
            group_index = None
            if aggregate.signature(operand) in groups:
                group_index = groups.index(aggregate.signature(operand))
            elif not _is_aggregate(operand):
                raise malformed_at(self.soql, item.expr.pos, f"Field must be grouped or aggregated: {operand.name}")
            key = item.alias
            if key is None and isinstance(operand, FieldRef):
                key = operand.name
            if key is None:
                key = f"expr{expr_count}"
                expr_count += 1
            if key.lower() in keys:
                raise malformed_at(self.soql, item.expr.pos, f"duplicate alias: {key}")
            keys.add(key.lower())
            sel.aggregates.append(AggregateOutput(key, operand, group_index))

    def _grouped_check(self, sel: Selection) -> Callable[[Operand], None]:
        groups = {aggregate.signature(g) for g in sel.group_by}

        def check(operand: Operand) -> None:
            if not _is_aggregate(operand) and aggregate.signature(operand) not in groups:
                raise malformed_at(self.soql, operand.pos, f"Field must be grouped or aggregated: {operand.name}")

        return check

    # --- ORDER BY ---

    def _order_by(self, query: SelectQuery, scope: Scope, sel: Selection) -> None:
        check = self._grouped_check(sel) if sel.aggregate else None
        for item in query.order_by:
            operand = scope.operand(item.expr, aggregates=sel.aggregate)
            if isinstance(operand, FieldRef) and operand.type in _UNSORTABLE:
                raise invalid_field(
                    positioned(self.soql, operand.pos, f"field '{operand.name}' can not be sorted in a query call")
                )
            if check is not None:
                check(operand)
            nulls_first = (not item.descending) if item.nulls_first is None else item.nulls_first
            sel.order.append(OrderKey(operand, item.descending, nulls_first))


def _is_count_rows(item: SelectItem | SubSelect) -> bool:
    return (
        isinstance(item, SelectItem)
        and isinstance(item.expr, Call)
        and item.expr.name == "COUNT"
        and (item.expr.arg is None)
    )


def _is_aggregate(operand: Operand) -> bool:
    return not isinstance(operand, (FieldRef, DateFn))


def _has_cdl_filter(cond: Cond | None) -> bool:
    """A top-level (AND-ed) = or IN filter on ContentDocumentId or LinkedEntityId."""
    if isinstance(cond, AllOf):
        return any(_has_cdl_filter(c) for c in cond.items)
    if isinstance(cond, (Test, SemiJoin)):
        operand = cond.operand
        on_id = isinstance(operand, FieldRef) and not operand.hops and operand.name in _CDL_FILTER_FIELDS
        if isinstance(cond, SemiJoin):
            return on_id and not cond.negate
        return on_id and cond.op in ("=", "IN") and cond.value is not None
    return False
