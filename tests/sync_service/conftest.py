"""Fixtures shared by the sync_service tests: a freshly migrated store per test, on SQLite and PostgreSQL,
for code that opens its own sessions (pulls, pushes) and so cannot run inside a rolled-back transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sync_service.store import migrate
from sync_service.store.db import make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, empty_database: Callable[[str], str]) -> Iterator[sessionmaker[Session]]:
    url = empty_database(request.param)
    migrate.upgrade(url)
    engine = make_engine(url)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()
