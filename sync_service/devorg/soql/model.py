"""The resolved form of a query: field paths bound to the schema, literals coerced to the field's value form.

Nothing here touches records; `compile` turns these into closures once per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from re import Pattern
from typing import Any

from sync_service.devorg.schema import NUMBER_TYPES

# How values of a field type are compared: text case-insensitively, ids on their 18-character form, the rest
# natively (dates and datetimes as their fixed-width wire strings).
TEXT = "text"
ID = "id"
NUMBER = "number"
BOOLEAN = "boolean"
DATE = "date"
DATETIME = "datetime"
MULTI = "multi"
BLOB = "blob"


def category(field_type: str) -> str:
    if field_type in ("id", "reference"):
        return ID
    if field_type in NUMBER_TYPES:
        return NUMBER
    if field_type in (BOOLEAN, DATE, DATETIME):
        return field_type
    if field_type == "multipicklist":
        return MULTI
    if field_type == "base64":
        return BLOB
    return TEXT


@dataclass(frozen=True)
class Hop:
    """One child-to-parent step: the reference field and the relationship it is known by."""

    field: str  # AccountId
    relationship: str  # Account
    target: str | None  # the parent object; None for a polymorphic lookup (What, Who...)


@dataclass(frozen=True)
class FieldRef:
    hops: tuple[Hop, ...]
    name: str  # canonical field name on the last object
    type: str  # schema field type
    owner: str | None  # object holding the field; None behind a polymorphic hop
    pos: int
    picklist: tuple[str, ...] = ()
    filterable: bool = True

    @property
    def column(self) -> str:
        return ".".join([*(h.relationship for h in self.hops), self.name])

    @property
    def keys(self) -> tuple[str, ...]:
        return (*(h.relationship for h in self.hops), self.name)

    @property
    def polymorphic(self) -> bool:
        return bool(self.hops) and self.hops[-1].target is None


@dataclass(frozen=True)
class DateFn:
    """DAY_ONLY(CreatedDate), CALENDAR_YEAR(convertTimezone(CreatedDate)) ..."""

    fn: str
    arg: FieldRef
    local: bool  # wrapped in convertTimezone(): evaluated in the user's time zone instead of UTC
    pos: int
    text: str

    @property
    def type(self) -> str:
        return "date" if self.fn == "DAY_ONLY" else "int"

    @property
    def name(self) -> str:
        return self.text


@dataclass(frozen=True)
class Aggregate:
    fn: str  # COUNT COUNT_DISTINCT SUM AVG MIN MAX
    arg: FieldRef | DateFn | None  # None: COUNT()
    pos: int
    text: str

    @property
    def type(self) -> str:
        if self.fn in ("COUNT", "COUNT_DISTINCT"):
            return "int"
        if self.fn in ("SUM", "AVG"):
            return "double"
        assert self.arg is not None
        return self.arg.type

    @property
    def name(self) -> str:
        return self.text


Operand = FieldRef | DateFn | Aggregate


@dataclass(frozen=True)
class Test:
    """operand <op> value, with the value already in the operand's comparison form.

    value: None (null); a scalar (text lower-cased, ids 18-character, dates/datetimes as wire strings,
    multi-select as frozenset); a syntax.DateLiteral; a compiled LIKE pattern; or for IN/INCLUDES a tuple of those.
    """

    operand: Operand
    op: str
    value: Any


@dataclass(frozen=True)
class SemiJoin:
    operand: Operand
    negate: bool
    query: Selection


@dataclass(frozen=True)
class AllOf:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Cond, ...]


@dataclass(frozen=True)
class Negate:
    item: Cond


Cond = Test | SemiJoin | AllOf | AnyOf | Negate
LikePattern = Pattern[str]


@dataclass(frozen=True)
class OrderKey:
    operand: Operand
    descending: bool
    nulls_first: bool


@dataclass
class ChildQuery:
    """A parent-to-child subquery: rows of `query.sobject` whose `link_field` points at the parent."""

    key: str  # canonical relationship name, the key in the parent's rendered record
    link_field: str
    query: Selection


@dataclass
class OutputField:
    """One non-aggregate item of the SELECT list (or a subquery), in SELECT order."""

    ref: FieldRef | None = None
    child: ChildQuery | None = None


@dataclass
class AggregateOutput:
    """One item of an aggregate query's SELECT list: a grouped expression or an aggregate function."""

    key: str  # alias, field name, or exprN
    operand: Operand
    group_index: int | None  # index into Selection.group_by for grouped expressions


@dataclass
class Selection:
    """One SELECT, resolved: the main query, a child subquery, or a semi-join."""

    sobject: str
    outputs: list[OutputField] = field(default_factory=list)
    where: Cond | None = None
    order: list[OrderKey] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    count_only: bool = False
    group_by: list[FieldRef | DateFn] = field(default_factory=list)
    aggregates: list[AggregateOutput] = field(default_factory=list)
    having: Cond | None = None
    aggregate: bool = False
