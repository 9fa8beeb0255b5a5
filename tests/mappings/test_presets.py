"""Each preset works out of the box against the stand-in org seeded with its flavour: every mapped field holds
data there, and the references between entities join up."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce

from mappings.loader import preset
from mappings.model import CANONICAL, PULL_ORDER, Mapping
from mappings.soql import compile_query, field_value
from sync_service.salesforce.client import connect
from tests.mappings.helpers import FLAVOURS
from tests.standin_org import RunningOrg

# The Id prefix of the object that holds each preset's quote PDFs (reference 2.13).
DOCUMENT_PREFIX = {"salesforce_cpq": "015", "conga_cpq": "068", "standard": "068"}
# Rep controls the pull reads back that stay empty until a rep sets them (a fresh org has none).
SET_BY_REPS = {("contract", name) for name in ("status_flags", "adjustment_pct", "override_amount", "override_reason")}


def pull(sf: Salesforce, mapping: Mapping) -> dict[str, list[dict[str, Any]]]:
    return {entity: sf.query_all(compile_query(mapping, entity))["records"] for entity in PULL_ORDER}


@pytest.fixture(scope="module", params=FLAVOURS)
def pulled(request: pytest.FixtureRequest, flavour_orgs: dict[str, RunningOrg]) -> tuple[str, Mapping, dict[str, Any]]:
    flavour = str(request.param)
    mapping = preset(flavour)
    return flavour, mapping, pull(connect(flavour_orgs[flavour].connection()), mapping)


def test_every_mapped_field_holds_data_in_the_seeded_org(pulled: tuple[str, Mapping, dict[str, Any]]) -> None:
    flavour, mapping, rows = pulled
    empty = [
        f"{entity}.{name} ({spec.field})"
        for entity, entity_map in mapping.entities.items()
        for name, spec in entity_map.fields.items()
        if spec.field is not None
        and (entity, name) not in SET_BY_REPS
        and all(field_value(row, spec.field) is None for row in rows[entity])
    ]
    assert empty == [], f"{flavour}: mapped fields with no data"
    assert len(rows["contract"]) == 30
    assert len(rows["renewal_quote"]) == 30
    assert len(rows["quote_document"]) == 30
    assert len(rows["quote_line"]) >= 30


def test_references_between_entities_join_up(pulled: tuple[str, Mapping, dict[str, Any]]) -> None:
    flavour, mapping, rows = pulled
    ids = {entity: {row["Id"] for row in rows[entity]} for entity in rows}
    for entity, entity_map in mapping.entities.items():
        for name, spec in entity_map.fields.items():
            target = CANONICAL[entity][name].ref
            if target is None or spec.field is None:
                continue
            values = {field_value(row, spec.field) for row in rows[entity]} - {None}
            if entity in ("contract", "renewal_quote", "quote_line", "quote_document"):
                assert values <= ids[target], f"{flavour}: {entity}.{name} points outside the pulled {target} rows"


def test_documents_point_at_their_source_object(pulled: tuple[str, Mapping, dict[str, Any]]) -> None:
    flavour, mapping, rows = pulled
    path = mapping.entities["quote_document"].fields["document_id"].field
    assert path is not None
    assert {str(field_value(row, path))[:3] for row in rows["quote_document"]} == {DOCUMENT_PREFIX[flavour]}
