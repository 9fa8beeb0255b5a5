"""Fixtures for the stand-in org: a real `renewals devorg serve` process over TLS, and the real
simple-salesforce client connected to it through the service's own transport.

`RunningOrg`, `start_org` and `stop_org` live in tests/standin_org.py, shared with the other tests and the
benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce

from sync_service.salesforce.client import connect
from tests.standin_org import RunningOrg, start_org, stop_org


@pytest.fixture(scope="session")
def devorg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    """One seeded Salesforce CPQ org for the whole session. Tests that change faults reset them."""
    org = start_org(tmp_path_factory.mktemp("devorg"), "--seed-contracts", "120", "--flavour", "salesforce_cpq")
    yield org
    stop_org(org)


@pytest.fixture
def org(devorg: RunningOrg) -> Iterator[RunningOrg]:
    """The session org with faults and settings put back after the test."""
    yield devorg
    devorg.faults()
    devorg.admin(
        "PUT",
        "settings",
        {"session_seconds": 7200, "upsert_update_status": 204, "daily_api_limit": 100000, "bulk_delay_seconds": 0.2},
    )


@pytest.fixture
def sf(org: RunningOrg) -> Salesforce:
    return connect(org.connection("password"))
