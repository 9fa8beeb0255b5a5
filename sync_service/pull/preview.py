"""A preview of what a mapping pulls: the first records of one entity, read from the org with the pull's own
query (scope, semi-joins and all) and converted by the pull's own conversion into canonical records — then
shown, never written to the store.

A value that cannot be converted does not stop the preview: the record shows the problem in that field's
place, which is what an admin wants to see before activating (a full pull would fail on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from simple_salesforce import Salesforce

from mappings.model import CANONICAL, Mapping
from sync_service.pull import fetch, plan
from sync_service.pull.convert import ValueProblem, canonical_value

PREVIEW_LIMIT = 20


@dataclass
class PreviewRecord:
    sf_id: str
    values: dict[str, Any]
    problems: dict[str, str] = field(default_factory=dict)  # canonical field → why its value did not convert


@dataclass
class Preview:
    entity: str
    object_name: str
    soql: str
    columns: list[str]  # the canonical fields the mapping maps, in the model's order
    records: list[PreviewRecord]

    @property
    def problem_count(self) -> int:
        return sum(len(r.problems) for r in self.records)


def preview(sf: Salesforce, mapping: Mapping, entity: str, *, limit: int = PREVIEW_LIMIT) -> Preview:
    """Up to `limit` canonical records of `entity`. Raises the pull's errors (PullFailed, TransientError,
    BudgetPaused) with Salesforce's message when the org refuses the query."""
    if entity not in mapping.entities:
        raise KeyError(f"the mapping has no entity {entity!r}")
    spec = mapping.entities[entity]
    # The first of the entity's queries: for accounts and contacts, those the contracts point at.
    query = plan.queries(mapping, entity)[0]
    soql = f"{query.soql()} LIMIT {int(limit)}"
    columns = [name for name in CANONICAL[entity] if name in spec.fields]
    records = []
    for raw in islice(fetch.rest_rows(sf, soql), limit):
        record = PreviewRecord(str(raw.get("Id") or ""), {})
        for name in columns:
            try:
                record.values[name] = canonical_value(raw, spec.fields[name], CANONICAL[entity][name])
            except ValueProblem as exc:
                record.values[name] = None
                record.problems[name] = str(exc)
        records.append(record)
    return Preview(entity, spec.object, soql, columns, records)
