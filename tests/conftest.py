"""Shared fixtures: settings, the Flask app and client, a real Redis server, moto's SES server, the store on
SQLite and PostgreSQL, and stand-in orgs. How those processes start and stop is `tests/processes.py` and
`tests/standin_org.py` (shared with the benchmarks).

PostgreSQL comes from ``pg_virtualenv`` (``make test`` runs pytest under it and it exports PGHOST, PGPORT,
PGUSER, PGPASSWORD and PGDATABASE). Without those variables the PostgreSQL-parametrized tests fail, telling
you to run ``make test``: they are never skipped.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings
from playwright.sync_api import sync_playwright
from redis import Redis
from sqlalchemy import URL, Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, load_settings
from email_actions.web.app import create_app
from sync_service.store import migrate
from sync_service.store.db import make_engine
from tests import processes
from tests.processes import RestartableRedis, pg_env_missing, pg_env_url
from tests.standin_org import RunningOrg, start_org, stop_org

# Two cores under CI: wall-clock deadlines would make property tests flaky, not stricter.
hypothesis_settings.register_profile("renewals", deadline=None)
hypothesis_settings.load_profile("renewals")

TEST_SECRET_KEY = "test-key-0123456789-abcdefghijklmnopqrstuvwxyz"


# --- Redis -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free port for the whole session; yields its URL."""
    with RestartableRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    Redis.from_url(redis_server).flushall()
    return redis_server


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


# --- Databases ---------------------------------------------------------------------------------------------


def postgresql_url(database: str | None = None) -> URL:
    missing = pg_env_missing()
    if missing:
        pytest.fail(
            f"PostgreSQL is not configured ({', '.join(missing)} unset). Run the tests via `make test`, "
            "which starts a throwaway cluster with pg_virtualenv."
        )
    return pg_env_url(database)


class Databases:
    """The databases one test session makes: empty ones, and migrated ones copied from a database migrated
    once. PostgreSQL ones are dropped once released (`release`, by the `store` fixture), the rest when the
    session ends.

    Why copies: migrating takes about 0.4 s on either backend and the suite makes hundreds of fresh stores.
    A migrated SQLite store is a copy of `sqlite_template`'s file; a migrated PostgreSQL store is
    ``CREATE DATABASE ... TEMPLATE`` of a database this session migrated on first use (about 0.1 s; the
    template takes no connections, which such a copy needs). A copy is the migrated database itself, so a
    test sees what `migrate.upgrade` on an empty database gives. Tests of the migrations themselves start
    from `empty_database`."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.sqlite_template = sqlite_template
        self.created: list[str] = []
        self.template: str | None = None
        # Databases released by their tests, dropped one at a time in the background (`release`).
        self.dropper = ThreadPoolExecutor(max_workers=1)
        self.dropping: list[Future[None]] = []

    def _sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.tmp_path_factory.mktemp('sqlite') / (name + '.db')}"

    def _create(self, name: str, template: str | None = None) -> str:
        admin = make_engine(postgresql_url().render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            copy_of = f' TEMPLATE "{template}"' if template else ""
            connection.execute(text(f'CREATE DATABASE "{name}"{copy_of}'))
        admin.dispose()
        self.created.append(name)
        return postgresql_url(name).render_as_string(hide_password=False)

    def empty(self, backend: str) -> str:
        name = f"renewals_test_{uuid.uuid4().hex[:12]}"
        return self._sqlite_url(name) if backend == "sqlite" else self._create(name)

    def migrated(self, backend: str) -> str:
        name = f"renewals_test_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            url = self._sqlite_url(name)
            shutil.copyfile(self.sqlite_template, url.removeprefix("sqlite:///"))
            return url
        if self.template is None:
            template = f"renewals_template_{uuid.uuid4().hex[:12]}"
            migrate.upgrade(self._create(template))
            admin = make_engine(postgresql_url().render_as_string(hide_password=False))
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text(f'ALTER DATABASE "{template}" ALLOW_CONNECTIONS false'))
            admin.dispose()
            self.template = template
        return self._create(name, template=self.template)

    def release(self, url: str) -> None:
        """The test that made the database at `url` is done with it: a PostgreSQL one is dropped in the
        background now, while the next tests run, instead of at the end of the session (where a worker's
        databases held up its last test by 5 to 19 s on a busy machine). Dropping waits on the server (a
        checkpoint and some 500 files), not on this process."""
        name = make_url(url).database
        if not url.startswith("postgresql") or name not in self.created:
            return
        self.created.remove(name)
        self.dropping.append(self.dropper.submit(self._drop, [name]))

    def _drop(self, names: list[str]) -> None:
        admin = make_engine(postgresql_url().render_as_string(hide_password=False))
        try:
            for name in names:
                with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()

    def drop_all(self) -> None:
        """Wait for the background drops, then drop every other PostgreSQL database made, four at a time. Each
        DROP DATABASE waits for a checkpoint and deletes some 500 files: one after the other, a worker's
        databases (about 150 in a full run) took 7 to 10 s at the end of the suite; four at a time took half as
        long when measured."""
        self.dropper.shutdown(wait=True)
        for future in self.dropping:
            future.result()  # a drop that failed fails the session's teardown, as it did at the end
        if not self.created:
            return
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda name: self._drop([name]), self.created))


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Databases]:
    made = Databases(tmp_path_factory, sqlite_template)
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def empty_database(databases: Databases) -> Callable[[str], str]:
    """Makes a new, empty database of a backend ("sqlite" or "postgresql"); returns its URL."""
    return databases.empty


@pytest.fixture(scope="session")
def migrated_database(databases: Databases) -> Callable[[str], str]:
    """Makes a new database of a backend ("sqlite" or "postgresql") migrated to head, a copy of one migrated
    once (see `Databases`); returns its URL. For fixtures that give each test a fresh store."""
    return databases.migrated


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, migrated_database: Callable[[str], str]) -> str:
    """A database of each backend, migrated to head, for the whole session."""
    return migrated_database(request.param)


@pytest.fixture(scope="session")
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session whose work, commits included, is rolled back after the test.

    The test's commits only release SAVEPOINTs inside an outer transaction that is never committed.
    """
    with db_engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each app test gets a copy of (copying is faster than migrating)."""
    path = tmp_path_factory.mktemp("template") / "renewals.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, databases: Databases) -> Iterator[sessionmaker[Session]]:
    """A freshly migrated store per test, on SQLite and PostgreSQL, for code that opens its own sessions
    (pulls, pushes, sends) and so cannot run inside a rolled-back transaction."""
    url = databases.migrated(request.param)
    engine = make_engine(url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()
    databases.release(url)


# --- SES and SNS: moto's server ----------------------------------------------------------------------------

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server (SES, SNS) in a thread for the session; yields its URL. Tests reset it (`ses_endpoint`)."""
    with processes.moto_server() as url:
        yield url


@pytest.fixture
def ses_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto's server emptied for this test, with dummy AWS credentials and the brands' senders verified."""
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    requests.post(f"{moto_server}/moto-api/reset", timeout=10).raise_for_status()
    processes.verify_brand_senders(moto_server)
    return moto_server


def sent_emails(endpoint: str) -> list[dict[str, Any]]:
    """Every raw email moto's SES accepted (SESv2 sends land in the v1 backend's RawMessage list)."""
    data = requests.get(f"{endpoint}/moto-api/data.json", timeout=10).json()
    return list(data.get("ses", {}).get("RawMessage", []))


# --- Settings, app, clients --------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, sqlite_template: Path) -> Settings:
    """Settings for one test: a migrated SQLite store of its own and the session's (emptied) Redis."""
    database = tmp_path / "renewals.db"
    shutil.copyfile(sqlite_template, database)
    return load_settings(
        {
            "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
            "RENEWALS_DATABASE_URL": f"sqlite:///{database}",
            "RENEWALS_REDIS_URL": redis_url,
            "RENEWALS_PUBLIC_BASE_URL": "http://renewals.test",
        }
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["renewals.database"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def cli_runner() -> CliRunner:
    return CliRunner()


# --- Stand-in orgs -----------------------------------------------------------------------------------------


@contextmanager
def orgs_by_flavour(
    tmp_path_factory: pytest.TempPathFactory, label: str, contracts: int
) -> Iterator[Callable[[str], RunningOrg]]:
    """A getter that starts (once per flavour) a seeded stand-in org, all stopped when the block ends."""
    orgs: dict[str, RunningOrg] = {}

    def get(flavour: str) -> RunningOrg:
        if flavour not in orgs:
            directory = tmp_path_factory.mktemp(f"{label}-{flavour}")
            orgs[flavour] = start_org(directory, "--seed-contracts", str(contracts), "--flavour", flavour)
        return orgs[flavour]

    try:
        yield get
    finally:
        for org in orgs.values():
            stop_org(org)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium (never a browser a tool downloads), headless, driven by Playwright; one per session
    (Playwright and the browser took about 2 s to start): each test opens a context of its own, which shares
    no cookies, storage or pages with another's."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


FLAVOUR_SEED_CONTRACTS = "30"


@pytest.fixture(scope="session")
def flavour_orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningOrg]]:
    """A seeded org of each flavour, started together once (each takes well under a second)."""
    orgs: dict[str, RunningOrg] = {}
    try:
        for flavour in ("salesforce_cpq", "conga_cpq", "standard"):
            data = tmp_path_factory.mktemp(f"org-{flavour}")
            orgs[flavour] = start_org(data, "--seed-contracts", FLAVOUR_SEED_CONTRACTS, "--flavour", flavour)
        yield orgs
    finally:
        for org in orgs.values():
            stop_org(org)


@pytest.fixture(scope="session")
def cpq_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    """A seeded Salesforce CPQ org the customer-action tests write to (their quotes, re-pricings, Tasks): its
    own, so the flavour orgs stay exactly as seeded for the tests that read them."""
    data = tmp_path_factory.mktemp("org-cpq-writes")
    org = start_org(data, "--seed-contracts", FLAVOUR_SEED_CONTRACTS, "--flavour", "salesforce_cpq")
    try:
        yield org
    finally:
        stop_org(org)
