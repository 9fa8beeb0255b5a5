"""A signed-in client of the Salesforce CPQ stand-in org for the mapping tests (the orgs themselves, one per
seed flavour, are session fixtures of tests/conftest.py: the `renewals mappings` command tests use them too)."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce

from sync_service.salesforce.client import connect
from tests.standin_org import RunningOrg


@pytest.fixture(scope="session")
def cpq_sf(cpq_org: RunningOrg) -> Salesforce:
    """A signed-in client of the Salesforce CPQ org; tests must not change that org's schema."""
    return connect(cpq_org.connection())
