"""Stand-in orgs for the mapping tests: one per seed flavour, for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce

from sync_service.salesforce.client import connect
from tests.conftest import RunningOrg, start_org, stop_org
from tests.mappings.helpers import FLAVOURS

SEED_CONTRACTS = "30"


@pytest.fixture(scope="session")
def flavour_orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningOrg]]:
    """A seeded org of each flavour, started together once (each takes well under a second)."""
    orgs: dict[str, RunningOrg] = {}
    try:
        for flavour in FLAVOURS:
            data = tmp_path_factory.mktemp(f"org-{flavour}")
            orgs[flavour] = start_org(data, "--seed-contracts", SEED_CONTRACTS, "--flavour", flavour)
        yield orgs
    finally:
        for org in orgs.values():
            stop_org(org)


@pytest.fixture(scope="session")
def cpq_org(flavour_orgs: dict[str, RunningOrg]) -> RunningOrg:
    return flavour_orgs["salesforce_cpq"]


@pytest.fixture(scope="session")
def cpq_sf(cpq_org: RunningOrg) -> Salesforce:
    """A signed-in client of the Salesforce CPQ org; tests must not change that org's schema."""
    return connect(cpq_org.connection())
