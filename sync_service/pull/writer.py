"""Writing canonical records into the store a batch at a time: one INSERT for the batch's new records and one
INSERT … ON CONFLICT (sf_id) DO UPDATE for those the store has, each executed for many rows; references
resolved from Salesforce ids to local ids with a few SELECTs per batch and referenced table.

A batch is columnar (`Batch`: a list per field), and so is the work on it: each column is turned into what the
database driver takes with the column type's own bind processor (SQLAlchemy's, looked up once per column),
and the rows go to the driver's executemany as tuples. Going through the ORM or a Core `insert()` executed
with a list of dicts would do the same per value and per row in Python, which on a full pull cost more than
reading the org. Timestamps, dates and amounts are converted once per distinct value of the batch: records
written in one Salesforce transaction (a data load's batch of 200, a mass update) share their SystemModstamp
to the millisecond, and end dates and prices repeat across contracts.

A record whose required parent is missing locally is looked for first (`resolve`): the caller fetches
those parents from Salesforce before it opens the write transaction (an account first seen on an
incrementally pulled contract, say); if the parent is out of the mapping's scope the record is skipped and
counted, never half-written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import JSON, Column, ColumnElement, Connection, Date, Dialect, String, Table, any_, bindparam, select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from mappings.model import CANONICAL
from sync_service.store import models
from sync_service.store.types import ExactDecimal, UTCDateTime

_SQLITE = sqlite_dialect.dialect()
# Column types whose values repeat across a batch's records, and are hashable: converted once per value.
_REPEATING_TYPES = (UTCDateTime, ExactDecimal, Date)

# entity -> (table, {canonical ref field: (column, referenced entity)})
TABLES: dict[str, tuple[type[models.Base], dict[str, tuple[str, str]]]] = {
    "account": (models.Account, {}),
    "contact": (models.Contact, {"account": ("account_id", "account")}),
    "rep": (models.Rep, {"reseller": ("reseller_account_id", "account")}),
    "contract": (
        models.Contract,
        {
            "account": ("account_id", "account"),
            "contact": ("contact_id", "contact"),
            "rep": ("rep_id", "rep"),
            "reseller": ("reseller_account_id", "account"),
        },
    ),
    "renewal_quote": (
        models.RenewalQuote,
        {"contract": ("contract_id", "contract"), "contact": ("contact_id", "contact")},
    ),
    "quote_line": (models.QuoteLine, {"quote": ("quote_id", "renewal_quote")}),
    "quote_document": (models.QuoteDocument, {"quote": ("quote_id", "renewal_quote")}),
}
# Parents that can be fetched by id when a child points at one not pulled yet; the others define the scope.
FETCHABLE = frozenset({"account", "contact", "rep"})
# Columns that cannot be null in the store, with the value used when Salesforce has none.
_NOT_NULL_DEFAULTS = {"status": "", "name": "", "product": "", "title": "", "quantity": 0}
# Canonical fields stored under another column name.
_COLUMN = {
    ("quote_document", "document_id"): "blob_sf_id",
    ("contact", "email_opt_out"): "email_opted_out",
    ("contract", "renewed"): "renewed_in_org",
    ("contract", "hold"): "is_held",
    ("contract", "adjustment_pct"): "price_adjustment_pct",
    ("contract", "override_amount"): "price_override",
    ("contract", "override_reason"): "price_override_reason",
}
# A row left out: (its Salesforce id, why).
Problem = tuple[str, str]
# Salesforce ids per SELECT … WHERE sf_id IN (…): well under SQLite's and PostgreSQL's bound-parameter limits.
IDS_PER_SELECT = 2000


@dataclass
class Batch:
    """Canonical records of one entity as columns, one position per record."""

    sf_ids: list[str]
    modstamps: list[datetime | None]
    values: dict[str, list[Any]]  # canonical field -> values (references as Salesforce ids)
    links: dict[str, list[Any]] = field(default_factory=dict)  # lookup field -> values, kept in `sf_links`

    def __len__(self) -> int:
        return len(self.sf_ids)

    def take(self, keep: list[int]) -> Batch:
        """The records at positions `keep`, in that order."""
        return Batch(
            [self.sf_ids[i] for i in keep],
            [self.modstamps[i] for i in keep],
            {name: [column[i] for i in keep] for name, column in self.values.items()},
            {name: [column[i] for i in keep] for name, column in self.links.items()},
        )


@dataclass
class ChunkResult:
    written: int = 0
    skipped: list[Problem] = field(default_factory=list)
    # Written rows that had no live copy in the store (new, or back in scope); known only when not rewriting.
    arrived_ids: list[str] = field(default_factory=list)


def flags(value: str | None) -> list[str]:
    """A rep's flags as the org holds them (a multi-select picklist or text, `;`-separated) as a list."""
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def local_ids(session: Session, entity: str, sf_ids: Iterable[str]) -> dict[str, int]:
    """Local ids of the rows of `entity` with these Salesforce ids (those the store has)."""
    table = TABLES[entity][0]
    wanted = list(set(sf_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), IDS_PER_SELECT):
        batch = wanted[start : start + IDS_PER_SELECT]
        found.update(dict(_driver_select(session, table, "sf_id, id", batch)))
    return found


def _driver_select(session: Session, table: Any, columns: str, sf_ids: list[str]) -> list[Any]:
    """`SELECT columns FROM table WHERE sf_id IN sf_ids` as driver SQL, for plain columns (text, integers): a
    Core select would coerce and render every id on its way to the same statement."""
    connection = session.connection()
    name = connection.dialect.identifier_preparer.quote(table.__tablename__)
    parameters: Any
    if connection.dialect.name == "postgresql":
        statement, parameters = f"SELECT {columns} FROM {name} WHERE sf_id = ANY(%s)", (sf_ids,)
    else:
        statement, parameters = f"SELECT {columns} FROM {name} WHERE sf_id IN ({', '.join('?' * len(sf_ids))})", sf_ids
    # The driver's own cursor and fetchall: SQLAlchemy's result would fetch and wrap the rows one at a time.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement, parameters)
        return cast(list[Any], cursor.fetchall())
    finally:
        cursor.close()


def _sf_id_among(session: Session, table: Any, sf_ids: list[str]) -> ColumnElement[bool]:
    """`sf_id IN (…)`; on PostgreSQL `sf_id = ANY(:array)`, one parameter: thousands of them would cost more
    to render, parse and plan than the look-up itself."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(ColumnElement[bool], table.sf_id == any_(bindparam("sf_ids", sf_ids, type_=ARRAY(String))))
    return cast(ColumnElement[bool], table.sf_id.in_(sf_ids))


def live_stamps(session: Session, entity: str, sf_ids: list[str]) -> dict[str, datetime | None]:
    """The stored SystemModstamp of each record's live copy. Records whose stamp matches are left alone: an
    incremental pull re-reads its overlap window, and rewriting records that have not changed since would
    only cost time. A copy marked deleted (by a reconcile, say) is not live, so it is rewritten all the same:
    the org has just returned the record in scope."""
    table: Any = TABLES[entity][0]
    stamps: dict[str, datetime | None] = {}
    live = [table.is_deleted.is_(False)] if hasattr(table, "is_deleted") else []
    for start in range(0, len(sf_ids), IDS_PER_SELECT):
        query = select(table.sf_id, table.sf_system_modstamp).where(
            _sf_id_among(session, table, sf_ids[start : start + IDS_PER_SELECT]), *live
        )
        stamps.update(dict(session.connection().execute(query).all()))
    return stamps


Resolved = dict[str, dict[str, int]]  # canonical reference field -> {Salesforce id: local id}


def resolve(session: Session, entity: str, batch: Batch) -> tuple[Resolved, dict[str, set[str]]]:
    """The local ids of the batch's references, and the Salesforce ids the store lacks per fetchable entity."""
    resolved: Resolved = {}
    missing: dict[str, set[str]] = {}
    for ref_field, (_, target) in TABLES[entity][1].items():
        wanted = {v for v in batch.values.get(ref_field, ()) if v}
        known = local_ids(session, target, wanted)
        resolved[ref_field] = known
        if target in FETCHABLE and len(known) < len(wanted):
            missing.setdefault(target, set()).update(wanted.difference(known))
    return resolved, missing


def write_batch(
    session: Session,
    entity: str,
    batch: Batch,
    *,
    source_object: str | None = None,
    rewrite: bool = False,
    resolved: Resolved | None = None,
    fresh: bool = False,
) -> ChunkResult:
    """Upsert the batch. Unless `rewrite` (a full pull, which must also apply a changed mapping to records the
    org has not changed), records whose SystemModstamp matches the stored copy's are left as they are.
    `resolved` are references already looked up (`resolve`); the others are looked up here. `fresh`: the
    caller knows none of the records is stored (every one is inserted, none looked up first)."""
    table, refs = TABLES[entity]
    result = ChunkResult()
    stamps: dict[str, datetime | None] | None = None
    if not rewrite:
        stamps = live_stamps(session, entity, batch.sf_ids)
        if stamps:
            keep = [
                i
                for i, (sf_id, stamp) in enumerate(zip(batch.sf_ids, batch.modstamps, strict=True))
                if sf_id not in stamps or stamp is None or stamps[sf_id] != stamp
            ]
            if len(keep) < len(batch):
                batch = batch.take(keep)
    if not len(batch):
        return result
    resolved = dict(resolved or {})
    for ref_field, (_, target) in refs.items():
        if ref_field not in resolved:
            resolved[ref_field] = local_ids(session, target, {v for v in batch.values.get(ref_field, ()) if v})
    size = len(batch)
    columns: dict[str, list[Any]] = {"sf_id": batch.sf_ids, "sf_system_modstamp": batch.modstamps}
    refused: dict[int, str] = {}
    for name, canonical in CANONICAL[entity].items():
        values = batch.values.get(name)
        if name in refs:
            column, _ = refs[name]
            known = resolved[name]
            locals_ = [known.get(v) if v else None for v in values] if values is not None else [None] * size
            if canonical.required:
                for i, local in enumerate(locals_):
                    if local is None and i not in refused:
                        value = values[i] if values is not None else None
                        refused[i] = f"its {name} {value or '(empty)'} is not in the pulled data"
            columns[column] = locals_
        elif values is not None or canonical.required:
            column = _COLUMN.get((entity, name), name)
            if values is None:
                values = [None] * size
            if (entity, name) == ("contract", "status_flags"):
                values = [flags(v) for v in values]
            else:
                default = False if canonical.type == "bool" else _NOT_NULL_DEFAULTS.get(column)
                if default is not None:
                    values = [default if v is None else v for v in values]
            columns[column] = values
    same: set[str] = set()  # columns with one value for every record: converted once
    if entity == "quote_document":
        columns["source_object"] = [source_object or "Document"] * size
        same.add("source_object")
        if "size" in columns:
            columns["size"] = [int(v) if v is not None else None for v in columns["size"]]
    if hasattr(table, "sf_links"):
        links = list(batch.links)
        columns["sf_links"] = [dict(zip(links, row, strict=True)) for row in zip(*batch.links.values(), strict=True)]
        if not links:
            columns["sf_links"] = [{}] * size
            same.add("sf_links")
    if hasattr(table, "is_deleted"):
        columns["is_deleted"] = [False] * size
        same.add("is_deleted")
    columns["pulled_at"] = [datetime.now(UTC)] * size
    same.add("pulled_at")
    core = cast(Table, table.__table__)
    updated = tuple(columns)
    # Columns the record does not set get their model default on insert (as a Core insert would add them)
    # and keep their value on update.
    for table_column in core.c:
        model_default: Any = table_column.default
        if table_column.name in columns or model_default is None:
            continue
        if model_default.is_scalar or model_default.is_callable:
            value = model_default.arg if model_default.is_scalar else model_default.arg(None)
            columns[table_column.name] = [value] * size
            same.add(table_column.name)
    dialect = session.get_bind().dialect
    bound = _bind(dialect, core, columns, same, refused)
    keep = [i for i in range(size) if i not in refused]
    result.skipped = [(batch.sf_ids[i], why) for i, why in sorted(refused.items())]
    if not keep:
        return result
    rows = list(zip(*bound.values(), strict=True))
    if len(keep) < size:
        rows = [rows[i] for i in keep]
    # Records the store has not got yet go in with a plain INSERT (COPY on PostgreSQL): SQLite takes an upsert
    # at well under half the speed even when nothing conflicts. The others are upserted; one inserted meanwhile
    # by someone else fails the statement, and the batch is written again record by record.
    stored = {} if fresh else local_ids(session, entity, [batch.sf_ids[i] for i in keep])
    new_rows = [row for row in rows if row[0] not in stored] if stored else rows
    known_rows = [row for row in rows if row[0] in stored] if stored else []
    names = tuple(bound)
    assert names[0] == "sf_id"
    connection = session.connection()
    if new_rows and dialect.name == "postgresql":
        _copy(connection, core.name, names, new_rows)
    elif new_rows:
        connection.exec_driver_sql(_insert_sql(dialect, core.name, names), new_rows)
    if known_rows:
        connection.exec_driver_sql(_upsert_sql(dialect, core.name, names, updated), known_rows)
    result.written = len(rows)
    if stamps is not None:
        result.arrived_ids = [batch.sf_ids[i] for i in keep if batch.sf_ids[i] not in stamps]
    return result


def _bind(
    dialect: Dialect, table: Table, columns: dict[str, list[Any]], same: set[str], refused: dict[int, str]
) -> dict[str, list[Any]]:
    """Each column as the driver takes it, through the column type's bind processor (the same conversion a
    Core statement would make, looked up once per column; the `same` columns, one value throughout, converted
    once). A value its type refuses (an amount with more decimals than the column keeps, say) refuses its
    record, noted in `refused`."""
    out: dict[str, list[Any]] = {}
    for name, values in columns.items():
        process = _processor(dialect, table.c[name])
        if process is None:
            out[name] = values
            continue
        if name in same and values:
            out[name] = [process(values[0])] * len(values)
            continue
        try:
            repeats = isinstance(table.c[name].type, _REPEATING_TYPES)
            out[name] = _each_distinct(process, values) if repeats else [process(v) for v in values]
        except (ValueError, TypeError, ArithmeticError):
            converted = []
            for i, value in enumerate(values):
                try:
                    converted.append(process(value))
                except (ValueError, TypeError, ArithmeticError) as exc:
                    converted.append(None)
                    refused.setdefault(i, f"the store refused it: {name}: {exc}")
            out[name] = converted
    return out


def _each_distinct(process: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """`process` of each value, called once per distinct value when values repeat (see the module docstring);
    mostly distinct values cost one hashing pass more than converting each."""
    distinct = dict.fromkeys(values)
    if 2 * len(distinct) > len(values):
        return [process(v) for v in values]
    converted = {value: process(value) for value in distinct}
    return list(map(converted.__getitem__, values))


def _processor(dialect: Dialect, column: Column[Any]) -> Callable[[Any], Any] | None:
    """The column type's bind processor; for the types a pull writes most (JSON, UTC timestamps and money on
    SQLite) a function that gives the same driver value in one call instead of SQLAlchemy's chain of
    per-value wrappers (the type decorator's, then the dialect type's)."""
    sqlite = dialect.name == "sqlite"
    if isinstance(column.type, JSON) and sqlite:
        return _json_text  # what SQLAlchemy's JSON type would store, without its per-value indirections
    if isinstance(column.type, UTCDateTime) and sqlite:
        return _sqlite_utc_text
    if isinstance(column.type, ExactDecimal) and sqlite:
        return _sqlite_minor_units(column.type)
    return column.type._cached_bind_processor(dialect)


def _json_text(value: Any) -> str:
    return json.dumps(value)


def _sqlite_utc_text(value: Any) -> str | None:
    """What UTCDateTime and then SQLite's DATETIME make of `value`: UTC, no offset, microseconds always."""
    if value is None:
        return None
    if value.__class__ is not datetime or value.tzinfo is None:
        return cast(str | None, UTCDateTime().process_bind_param(value, _SQLITE))  # raises as the type does
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _sqlite_minor_units(column_type: ExactDecimal) -> Callable[[Any], Any]:
    """What ExactDecimal stores on SQLite (the amount in minor units as an integer), refusing as it does."""
    unit, scale, exact = column_type._unit, column_type.scale, column_type.process_bind_param

    def process(value: Any) -> Any:
        if value.__class__ is Decimal:
            quantized = value.quantize(unit)
            if quantized == value:
                return int(quantized.scaleb(scale))
        return exact(value, _SQLITE)  # None, an int, or a value the type refuses (it raises)

    return process


def _copy(connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """New rows into PostgreSQL with COPY … FROM STDIN: one statement for the batch, each value adapted by
    psycopg's own dumpers (an executemany of INSERTs is a statement per row). A row the database refuses
    fails the COPY as it would fail the INSERT: raised as SQLAlchemy's IntegrityError or DataError."""
    quote = connection.dialect.identifier_preparer.quote
    statement = f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    raw: Any = connection.connection.dbapi_connection
    dbapi: Any = connection.dialect.loaded_dbapi
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.IntegrityError as exc:
        raise IntegrityError(statement, None, exc) from exc
    except dbapi.DataError as exc:
        raise DataError(statement, None, exc) from exc


@lru_cache(maxsize=256)
def _insert_sql(dialect: Dialect, table: str, columns: tuple[str, ...]) -> str:
    """INSERT in the driver's own parameter style, for executemany."""
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(quote(c) for c in columns)
    return f"INSERT INTO {quote(table)} ({names}) VALUES ({', '.join([marker] * len(columns))})"


@lru_cache(maxsize=256)
def _upsert_sql(dialect: Dialect, table: str, columns: tuple[str, ...], updated: tuple[str, ...]) -> str:
    """INSERT … ON CONFLICT (sf_id) DO UPDATE of the `updated` columns, for executemany."""
    quote = dialect.identifier_preparer.quote
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in updated if c != "sf_id")
    return f"{_insert_sql(dialect, table, columns)} ON CONFLICT (sf_id) DO UPDATE SET {updates}"
