"""The SOQL of a pull: per entity, the fields to select and the condition that keeps it to the contracts in
scope, their quotes and what they point at. Semi-joins (`Id IN (SELECT …)`) keep each entity to one query
(plus paging) instead of one query per batch of ids."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from mappings.model import CANONICAL, Mapping
from mappings.soql import select_for, soql_datetime

# A Salesforce record id: 15 or 18 letters and digits. Nothing else is ever quoted into a query.
SF_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
# Entity → (the entity it belongs to, its canonical field pointing there): a child is in scope through it.
PARENTS = {
    "renewal_quote": ("contract", "contract"),
    "quote_line": ("renewal_quote", "quote"),
    "quote_document": ("renewal_quote", "quote"),
}


@dataclass(frozen=True)
class EntityQuery:
    entity: str
    object_name: str
    fields: tuple[str, ...]
    where: str | None
    # Relationships the mapped fields read through (`SBQQ__RenewalOpportunity__r`): their SystemModstamp is
    # selected too, and an incremental read also takes a row whose parent changed (see `parents_of`).
    parents: tuple[str, ...] = ()

    def soql(self, since: datetime | None = None) -> str:
        conditions = [c for c in (self.where, _since(since, self.parents)) if c]
        text = f"SELECT {', '.join(self.fields)} FROM {self.object_name}"
        return text + (" WHERE " + " AND ".join(f"({c})" for c in conditions) if conditions else "")


def _since(since: datetime | None, parents: tuple[str, ...] = ()) -> str | None:
    # `>=` on a second-resolution literal: the overlap is re-read (and skipped as unchanged), nothing missed.
    if since is None:
        return None
    literal = soql_datetime(since)
    stamps = ("SystemModstamp", *(f"{p}.SystemModstamp" for p in parents))
    return " OR ".join(f"{stamp} >= {literal}" for stamp in stamps)


def parents_of(mapping: Mapping, entity: str) -> tuple[str, ...]:
    """The relationships `entity`'s mapped fields read through, e.g. `SBQQ__RenewalOpportunity__r` for a contract
    whose `renewed` is `SBQQ__RenewalOpportunity__r.IsWon` (and `Account`, `Account.Owner` for
    `Account.Owner.Email`). A change there does not move the row's own SystemModstamp, so the pull selects
    each one's SystemModstamp as well: the row's stamp is the newest of them (`convert.modstamp`), and an
    incremental read takes rows whose parent changed. It rides on the same query: no extra call."""
    seen: dict[str, None] = {}
    for fm in mapping.entities[entity].fields.values():
        if fm.field is None or "." not in fm.field:
            continue
        segments = fm.field.split(".")[:-1]
        for depth in range(1, len(segments) + 1):
            seen.setdefault(".".join(segments[:depth]), None)
    return tuple(seen)


def _and(*conditions: str | None) -> str | None:
    present = [c for c in conditions if c]
    if not present:
        return None
    return present[0] if len(present) == 1 else " AND ".join(f"({c})" for c in present)


def link_fields(mapping: Mapping, entity: str) -> list[str]:
    """Lookup fields of `entity` that the write-back targets through (e.g. the quote's opportunity)."""
    out = []
    actions = [*mapping.write_back.renew, *mapping.write_back.contact_rep]
    paths = [a.record for a in actions] + [mapping.write_back.tasks.what]
    for path in paths:
        head, _, lookup = path.partition(".")
        if head == entity and lookup:
            out.append(lookup)
    return out


def fields_for(mapping: Mapping, entity: str) -> tuple[str, ...]:
    fields = select_for(mapping, entity)
    known = {f.lower() for f in fields}
    stamps = [f"{p}.SystemModstamp" for p in parents_of(mapping, entity)]
    return (*fields, *(s for s in stamps if s.lower() not in known))


def _ref_field(mapping: Mapping, entity: str, canonical: str) -> str | None:
    """The plain lookup field an entity's reference is mapped from (None for a path or a constant)."""
    fm = mapping.entities[entity].fields.get(canonical)
    if fm is None or fm.field is None or "." in fm.field:
        return None
    return fm.field


def _semi_join(mapping: Mapping, entity: str, canonical: str) -> str | None:
    field = _ref_field(mapping, entity, canonical)
    if field is None:
        return None
    spec = mapping.entities[entity]
    inner = f"SELECT {field} FROM {spec.object}" + (f" WHERE {spec.scope}" if spec.scope else "")
    return f"Id IN ({inner})"


def queries(mapping: Mapping, entity: str) -> list[EntityQuery]:
    """The queries that pull one entity (accounts and contacts may need one per pointing lookup)."""
    spec = mapping.entities[entity]
    fields = fields_for(mapping, entity)

    parents = parents_of(mapping, entity)

    def q(where: str | None) -> EntityQuery:
        return EntityQuery(entity, spec.object, fields, _and(spec.scope, where), parents)

    if entity == "contract":
        return [q(None)]
    if entity in PARENTS:
        parent_entity, link = PARENTS[entity]
        parent = mapping.entities[parent_entity]
        link_field = _ref_field(mapping, entity, link)
        if link_field is None:
            return [q(None)]
        inner = f"SELECT Id FROM {parent.object}" + (f" WHERE {parent.scope}" if parent.scope else "")
        return [q(f"{link_field} IN ({inner})")]
    # Accounts, contacts and reps: those the contracts (and quotes) point at.
    pointers = [
        (owner, name)
        for owner in ("contract", "renewal_quote")
        for name, canonical in CANONICAL[owner].items()
        if canonical.ref == entity
    ]
    out = []
    for owner, name in pointers:
        condition = _semi_join(mapping, owner, name)
        if condition is not None and name in mapping.entities[owner].fields:
            out.append(q(condition))
    return out or [q(None)]


def children_of(mapping: Mapping, entity: str, parent_ids: list[str]) -> EntityQuery | None:
    """The records of `entity`, in its own scope, that belong to these parents whatever their SystemModstamp:
    what an incremental pull reads for parents that came into scope (a quote made primary keeps its lines
    unchanged). None when the link is not a plain lookup field."""
    link_field = _ref_field(mapping, entity, PARENTS[entity][1])
    ids = [i for i in parent_ids if SF_ID.fullmatch(i)]
    if link_field is None or not ids:
        return None
    spec = mapping.entities[entity]
    quoted = ", ".join(f"'{i}'" for i in ids)
    where = _and(spec.scope, f"{link_field} IN ({quoted})")
    return EntityQuery(entity, spec.object, fields_for(mapping, entity), where, parents_of(mapping, entity))


def by_ids(mapping: Mapping, entity: str, sf_ids: list[str]) -> EntityQuery:
    """The records of `entity` with these ids. Only Salesforce ids are ever quoted into the query: a lookup
    mapped through a transform or a constant can hold any text, which callers filter out with `SF_ID`."""
    wrong = [i for i in sf_ids if not SF_ID.fullmatch(i)]
    if wrong or not sf_ids:
        raise ValueError(f"not Salesforce ids: {wrong[:3]!r}" if wrong else "no ids to query")
    spec = mapping.entities[entity]
    quoted = ", ".join(f"'{i}'" for i in sf_ids)
    where = f"Id IN ({quoted})"
    return EntityQuery(entity, spec.object, fields_for(mapping, entity), where, parents_of(mapping, entity))
