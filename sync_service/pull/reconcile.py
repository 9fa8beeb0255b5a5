"""The nightly reconcile: compare the ids in scope in the org with the store's, and mark what the org no
longer has (deleted, or moved out of the mapping's scope) so no reminder goes out for it.

Incremental pulls see changes but not records that left the scope through a change they cannot select;
this id-set comparison catches everything, at a cost of one id-only query per entity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simple_salesforce import Salesforce
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import Mapping
from sync_service.store import models

from . import fetch, plan
from .run import mark_removed

_TABLES: dict[str, Any] = {
    "contract": models.Contract,
    "renewal_quote": models.RenewalQuote,
    "quote_line": models.QuoteLine,
    "quote_document": models.QuoteDocument,
}


@dataclass
class ReconcileResult:
    removed: dict[str, int] = field(default_factory=dict)


def reconcile(sessions: sessionmaker[Session], sf: Salesforce, mapping: Mapping) -> ReconcileResult:
    result = ReconcileResult()
    for entity, table in _TABLES.items():
        org_ids: set[str] = set()
        for query in plan.queries(mapping, entity):
            where = query.soql().partition(" WHERE ")[2] or None
            use_bulk = fetch.count(sf, query.object_name, where) > mapping.bulk_threshold
            id_query = f"SELECT Id FROM {query.object_name}" + (f" WHERE {where}" if where else "")
            org_ids.update(str(r["Id"]) for r in fetch.rows(sf, query.object_name, id_query, use_bulk=use_bulk))
        with sessions() as session:
            live = select(table.sf_id)
            if hasattr(table, "is_deleted"):
                live = live.where(table.is_deleted.is_(False))
            local_ids = set(session.scalars(live).all())
        gone = sorted(local_ids - org_ids)
        if hasattr(table, "is_deleted"):
            result.removed[entity] = mark_removed(sessions, table, gone)
        else:
            with sessions.begin() as session:
                for start in range(0, len(gone), 500):
                    session.execute(delete(table).where(table.sf_id.in_(gone[start : start + 500])))
            result.removed[entity] = len(gone)
    return result
