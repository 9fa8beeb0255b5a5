"""Statements over a batch of outbox rows at once, for the push's claim and settle: one UPDATE (or one
condition) for up to 200 rows, with each row's own values.

On PostgreSQL the rows travel as one array per column (`unnest(...) AS v(id, ...)` joined to the table, and
`id = ANY(:ids)` instead of 200 placeholders): one statement with a few parameters. psycopg's executemany sends
one statement per row in pipeline mode, adapting each row's parameters and polling the socket in between, which
cost a push more CPU per batch than building and sending the batch to Salesforce. SQLite's executemany is a loop
in C over one prepared statement in the same process, so there the rows go as an executemany, and IN keeps its
placeholders (SQLite has no arrays).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, Update, any_, bindparam, column, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeEngine

# A statement built around each row's value of a name: `value("id")` is a column of the unnested arrays on
# PostgreSQL, a bound parameter of the executemany elsewhere.
Build = Callable[[Callable[[str], ColumnElement[Any]]], Update]


def in_ids(connection: Connection, id_column: InstrumentedAttribute[int], ids: Sequence[int]) -> ColumnElement[bool]:
    """`id_column IN ids`, as one array parameter on PostgreSQL."""
    if connection.dialect.name == "postgresql":
        return id_column == any_(bindparam("batch_ids", list(ids), type_=ARRAY(Integer)))
    return id_column.in_(list(ids))


def update_each(
    connection: Connection, build: Build, types: dict[str, TypeEngine[Any]], rows: Sequence[dict[str, Any]]
) -> None:
    """Run the UPDATE `build` makes once for each of `rows` (dicts holding every name of `types`), in one
    statement on PostgreSQL."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        arrays = [
            bindparam(f"each_{name}", [row[name] for row in rows], type_=ARRAY(kind)) for name, kind in types.items()
        ]
        each = (
            func.unnest(*arrays)
            .table_valued(*[column(name, kind) for name, kind in types.items()], name="each_row")
            .render_derived()
        )
        connection.execute(build(lambda name: each.c[name]))
        return
    parameters = {name: bindparam(f"each_{name}", type_=kind) for name, kind in types.items()}
    connection.execute(
        build(lambda name: parameters[name]), [{f"each_{name}": row[name] for name in types} for row in rows]
    )
