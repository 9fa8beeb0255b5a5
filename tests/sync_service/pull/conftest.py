"""Fixtures for pull tests: a stand-in org per flavour, a freshly migrated store per test on SQLite and
PostgreSQL (as a sessionmaker, or as the Database `pull_all` takes), a Puller wired to both with the real
simple-salesforce client, and the settings and active mapping the scheduled pull needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, load_settings
from mappings.model import Mapping
from sync_service.pull.run import Puller
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.client import connect
from sync_service.salesforce.transport import meter_of
from sync_service.store import mapping_versions
from sync_service.store.db import Database
from tests.conftest import TEST_SECRET_KEY, Databases, orgs_by_flavour
from tests.paths import PRESETS
from tests.standin_org import RunningOrg, start_seeded_copy, stop_org

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
    org = start_seeded_copy(tmp_path / "org", "--seed-contracts", "40", "--flavour", "salesforce_cpq")
    yield org
    stop_org(org)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, databases: Databases) -> Iterator[Database]:
    """A freshly migrated store per test, on SQLite and PostgreSQL, as the Database the scheduled pull takes."""
    url = databases.migrated(request.param)
    db = Database(url)
    yield db
    db.dispose()
    databases.release(url)


def org_environment(org: RunningOrg, database_url: str) -> dict[str, str]:
    return {
        "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
        "RENEWALS_DATABASE_URL": database_url,
        "RENEWALS_SALESFORCE_AUTH": "password",
        "RENEWALS_SALESFORCE_LOGIN_URL": org.url,
        "RENEWALS_SALESFORCE_CA_BUNDLE": str(org.ca),
        "RENEWALS_SALESFORCE_USERNAME": org.info["username"],
        "RENEWALS_SALESFORCE_PASSWORD": org.info["password"],
        "RENEWALS_SALESFORCE_SECURITY_TOKEN": org.info["security_token"],
    }


def org_settings(org: RunningOrg, database_url: str) -> Settings:
    return load_settings(org_environment(org, database_url))


def activate_preset(database_url: str, preset: str = "salesforce_cpq") -> None:
    db = Database(database_url)
    with db.session_scope() as session:
        version = mapping_versions.import_preset(session, preset, author="test")
        mapping_versions.activate(session, version.name, version.version, [])
    db.dispose()


def make_puller(store: sessionmaker[Session], org: RunningOrg, mapping: Mapping, **options: object) -> Puller:
    sf = connect(org.connection("password"))
    defaults: dict[str, object] = {"max_wait": 0.2, "overlap": timedelta(0)}
    defaults.update(options)
    return Puller(store, sf, meter_of(sf.session), mapping, Budget(daily_budget=100_000, reserve=10), **defaults)  # type: ignore[arg-type]
