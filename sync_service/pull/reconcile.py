"""The nightly reconcile: compare the ids in scope in the org with the store's, and mark what the org no
longer has (deleted, or moved out of the mapping's scope) so no reminder goes out for it.

Incremental pulls see changes but not records that left the scope through a change they cannot select;
this id-set comparison catches everything, at a cost of one id-only query per entity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simple_salesforce import Salesforce
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import Mapping
from sync_service.pull import fetch, plan
from sync_service.pull.run import mark_removed
from sync_service.salesforce.errors import BudgetPaused, PullFailed, TransientError
from sync_service.store import models

# A reconcile that would remove more than this share of an entity's live rows (and more than a handful) is
# refused: that is what a renamed picklist value in the scope filter looks like, not a wave of deletions.
MAX_REMOVED_SHARE = 0.2
MIN_ROWS_FOR_GUARD = 20

_TABLES: dict[str, Any] = {
    "contract": models.Contract,
    "renewal_quote": models.RenewalQuote,
    "quote_line": models.QuoteLine,
    "quote_document": models.QuoteDocument,
}


@dataclass
class ReconcileResult:
    removed: dict[str, int] = field(default_factory=dict)
    status: str = "succeeded"  # or "paused" or "failed", with `error` saying why
    error: str | None = None


def reconcile(
    sessions: sessionmaker[Session],
    sf: Salesforce,
    mapping: Mapping,
    *,
    check_budget: Callable[[], None] | None = None,
    retrying: Callable[..., int] | None = None,
    allow_mass_removal: bool = False,
) -> ReconcileResult:
    """Entity by entity; `check_budget` (raising BudgetPaused) runs before each, `retrying` (e.g. a tenacity
    Retrying) runs each. A pause or failure keeps what the entities before it removed, and says why."""
    result = ReconcileResult()
    for entity, table in _TABLES.items():
        try:
            if check_budget is not None:
                check_budget()
            if retrying is not None:
                result.removed[entity] = retrying(
                    _reconcile_entity, sessions, sf, mapping, entity, table, allow_mass_removal
                )
            else:
                result.removed[entity] = _reconcile_entity(sessions, sf, mapping, entity, table, allow_mass_removal)
        except BudgetPaused as exc:
            result.status, result.error = "paused", str(exc)
            break
        except (PullFailed, TransientError) as exc:
            result.status, result.error = "failed", str(exc)
            break
    return result


def _reconcile_entity(
    sessions: sessionmaker[Session],
    sf: Salesforce,
    mapping: Mapping,
    entity: str,
    table: Any,
    allow_mass_removal: bool = False,
) -> int:
    """Mark (or, for lines and documents, delete) the local rows of `entity` the org no longer has in scope."""
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
    if not allow_mass_removal and len(gone) > MIN_ROWS_FOR_GUARD and len(gone) > MAX_REMOVED_SHARE * len(local_ids):
        raise PullFailed(
            f"the reconcile would remove {len(gone)} of {len(local_ids)} {entity} rows; that looks like a scope "
            "filter that no longer matches (a renamed picklist value?) rather than deletions, so nothing was "
            "removed. Check the mapping, or run `renewals sync --reconcile --allow-mass-removal` if it is right."
        )
    if hasattr(table, "is_deleted"):
        return mark_removed(sessions, table, gone)
    with sessions.begin() as session:
        for start in range(0, len(gone), 500):
            session.execute(delete(table).where(table.sf_id.in_(gone[start : start + 500])))
    return len(gone)
