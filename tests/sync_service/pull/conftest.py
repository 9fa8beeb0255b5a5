"""Fixtures for pull tests: a stand-in org per flavour, a freshly migrated store per test on SQLite and
PostgreSQL, and a Puller wired to both with the real simple-salesforce client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import Mapping
from sync_service.pull.run import Puller
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.client import connect
from sync_service.salesforce.transport import meter_of
from tests.conftest import orgs_by_flavour
from tests.paths import PRESETS
from tests.standin_org import RunningOrg, start_org, stop_org

PRESETS = PRESETS


def load_preset(name: str) -> Mapping:
    return Mapping.model_validate(yaml.safe_load((PRESETS / f"{name}.yaml").read_text()))


@pytest.fixture(scope="session")
def flavour_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], RunningOrg]]:
    """Starts (once) a seeded stand-in org of a flavour."""
    with orgs_by_flavour(tmp_path_factory, "org", 60) as get:
        yield get


@pytest.fixture
def mutable_org(tmp_path: Path) -> Iterator[RunningOrg]:
    """A small org of its own, for tests that change or break it."""
    org = start_org(tmp_path / "org", "--seed-contracts", "40", "--flavour", "salesforce_cpq")
    yield org
    stop_org(org)


def make_puller(store: sessionmaker[Session], org: RunningOrg, mapping: Mapping, **options: object) -> Puller:
    sf = connect(org.connection("password"))
    defaults: dict[str, object] = {"max_wait": 0.2, "overlap": timedelta(0)}
    defaults.update(options)
    return Puller(store, sf, meter_of(sf.session), mapping, Budget(daily_budget=100_000, reserve=10), **defaults)  # type: ignore[arg-type]
