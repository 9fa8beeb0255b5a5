"""Writing canonical rows into the store in chunks: one INSERT … ON CONFLICT (sf_id) DO UPDATE per chunk,
references resolved from Salesforce ids to local ids with one SELECT per chunk and referenced table.

A row whose required parent is missing locally asks `fetch_parents` for it (an account first seen on an
incrementally pulled contract, say); if the parent is out of the mapping's scope the row is skipped and
counted, never half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mappings.model import CANONICAL
from sync_service.store import models

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


@dataclass
class CanonicalRow:
    sf_id: str
    modstamp: datetime | None
    values: dict[str, Any]  # canonical field -> canonical value (refs as Salesforce ids)
    links: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChunkResult:
    written: int = 0
    skipped: list[Problem] = field(default_factory=list)
    # Written rows that had no live copy in the store (new, or back in scope); known only when not rewriting.
    arrived_ids: list[str] = field(default_factory=list)


def flags(value: str | None) -> list[str]:
    """A rep's flags as the org holds them (a multi-select picklist or text, `;`-separated) as a list."""
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def _ids(session: Session, entity: str, sf_ids: Iterable[str]) -> dict[str, int]:
    table = TABLES[entity][0]
    wanted = list(set(sf_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        batch = wanted[start : start + 500]
        rows = session.execute(select(table.id, table.sf_id).where(table.sf_id.in_(batch)))  # type: ignore[attr-defined]
        found.update({sf_id: local for local, sf_id in rows})
    return found


def _live_stamps(session: Session, table: Any, rows: list[CanonicalRow]) -> dict[str, datetime | None]:
    """The stored SystemModstamp of each row's live copy. Rows whose stamp matches are left alone: an
    incremental pull re-reads its overlap window, and rewriting records that have not changed since would
    only cost time. A copy marked deleted (by a reconcile, say) is not live, so it is rewritten all the same:
    the org has just returned the record in scope."""
    stamps: dict[str, datetime | None] = {}
    ids = [r.sf_id for r in rows]
    live = [table.is_deleted.is_(False)] if hasattr(table, "is_deleted") else []
    for start in range(0, len(ids), 500):
        found = session.execute(
            select(table.sf_id, table.sf_system_modstamp).where(table.sf_id.in_(ids[start : start + 500]), *live)
        )
        stamps.update({sf_id: stamp for sf_id, stamp in found})
    return stamps


def write_chunk(
    session: Session,
    entity: str,
    rows: list[CanonicalRow],
    *,
    source_object: str | None = None,
    fetch_parents: Callable[[str, list[str]], None] | None = None,
    rewrite: bool = False,
) -> ChunkResult:
    """Upsert `rows`. Unless `rewrite` (a full pull, which must also apply a changed mapping to records the
    org has not changed), rows whose SystemModstamp matches the stored copy's are left as they are."""
    table, refs = TABLES[entity]
    result = ChunkResult()
    stamps: dict[str, datetime | None] | None = None
    if not rewrite:
        stamps = _live_stamps(session, table, rows)
        rows = [r for r in rows if r.sf_id not in stamps or r.modstamp is None or stamps[r.sf_id] != r.modstamp]
    resolved: dict[str, dict[str, int]] = {}
    for ref_field, (_, target) in refs.items():
        wanted = {r.values[ref_field] for r in rows if r.values.get(ref_field)}
        known = _ids(session, target, wanted)
        missing = sorted(wanted - set(known))
        if missing and fetch_parents is not None and target in FETCHABLE:
            fetch_parents(target, missing)
            known.update(_ids(session, target, missing))
        resolved[ref_field] = known
    now = datetime.now(UTC)
    payload = []
    for row in rows:
        values: dict[str, Any] = {"sf_id": row.sf_id, "sf_system_modstamp": row.modstamp, "pulled_at": now}
        problem = None
        for name, canonical in CANONICAL[entity].items():
            value = row.values.get(name)
            if name in refs:
                column, _ = refs[name]
                local = resolved[name].get(value) if value else None
                if local is None and canonical.required:
                    problem = f"its {name} {value or '(empty)'} is not in the pulled data"
                    break
                values[column] = local
            elif name in row.values or canonical.required:
                column = _COLUMN.get((entity, name), name)
                if (entity, name) == ("contract", "status_flags"):
                    value = flags(value)
                elif value is None:
                    value = False if canonical.type == "bool" else _NOT_NULL_DEFAULTS.get(column)
                values[column] = value
        if problem is not None:
            result.skipped.append((row.sf_id, problem))
            continue
        if entity == "quote_document":
            values["source_object"] = source_object or "Document"
            if values.get("size") is not None:
                values["size"] = int(values["size"])
        if hasattr(table, "sf_links"):
            values["sf_links"] = row.links
        if hasattr(table, "is_deleted"):
            values["is_deleted"] = False
        payload.append(values)
    if payload:
        _upsert(session, table, payload)
        result.written = len(payload)
        if stamps is not None:
            result.arrived_ids = [values["sf_id"] for values in payload if values["sf_id"] not in stamps]
    return result


def _upsert(session: Session, table: type[models.Base], payload: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT (sf_id) DO UPDATE, executed for many rows: one compiled (and cached) statement
    with a parameter list, not one giant VALUES clause compiled anew for every chunk."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = sorted({key for row in payload for key in row})
    core = cast(Table, table.__table__)
    statement = insert(core)
    statement = statement.on_conflict_do_update(
        index_elements=["sf_id"],
        set_={c: statement.excluded[c] for c in columns if c != "sf_id"},
    )
    session.execute(statement, [{c: row.get(c) for c in columns} for row in payload])
