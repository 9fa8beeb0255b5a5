"""The parsed form of a SOQL statement, before any name is checked against the schema.

Every node keeps the offset of its first character so later stages can point Salesforce's caret at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Name:
    """A field path as written: ``Account.Owner.Name``, ``u.IsActive``, ``Id``."""

    text: str
    pos: int

    @property
    def parts(self) -> list[str]:
        return self.text.split(".")


@dataclass(frozen=True)
class Call:
    """A function: ``COUNT()``, ``COUNT(Id)``, ``MAX(Amount)``, ``DAY_ONLY(CreatedDate)``, ``toLabel(Status)``."""

    name: str  # upper case
    arg: Name | Call | None
    pos: int
    text: str  # as written, for messages


Expr = Name | Call


@dataclass(frozen=True)
class DateLiteral:
    """A relative date range such as ``TODAY`` or ``LAST_N_DAYS:30`` (n is None for the fixed ones)."""

    name: str  # upper case
    n: int | None


@dataclass(frozen=True)
class Literal:
    """A value on the right of a comparison.

    kind: string, number, boolean, null, date, datetime, range. value: str, int|float, bool, None, date,
    datetime (timezone-aware), DateLiteral.
    """

    kind: str
    value: str | int | float | bool | date | datetime | DateLiteral | None
    pos: int
    text: str
    escaped: frozenset[int] = frozenset()  # string literals: positions of \% and \_ (literal in LIKE)


@dataclass
class SelectItem:
    expr: Expr
    alias: str | None = None


@dataclass
class SubSelect:
    """A parent-to-child subquery in the SELECT list: ``(SELECT Id FROM Contacts)``."""

    query: SelectQuery
    pos: int


@dataclass
class Comparison:
    lhs: Expr
    op: str  # = != < <= > >= LIKE IN NOT IN INCLUDES EXCLUDES
    rhs: Literal | list[Literal] | SelectQuery
    pos: int  # of the operator


@dataclass
class And:
    items: list[Condition]


@dataclass
class Or:
    items: list[Condition]


@dataclass
class Not:
    item: Condition


Condition = Comparison | And | Or | Not


@dataclass
class OrderItem:
    expr: Expr
    descending: bool = False
    nulls_first: bool | None = None  # None: the default for the direction


@dataclass
class SelectQuery:
    items: list[SelectItem | SubSelect]
    sobject: Name
    alias: str | None = None
    where: Condition | None = None
    group_by: list[Expr] = field(default_factory=list)
    having: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    pos: int = 0
