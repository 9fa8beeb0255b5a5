"""The initial migration creates exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from sync_service.store import migrate
from sync_service.store.db import make_engine
from sync_service.store.models import Base


def differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_head_matches_the_models(db_engine: Engine) -> None:
    assert differences(db_engine) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_downgrade_to_base_and_back(backend: str, empty_database: Callable[[str], str]) -> None:
    url = empty_database(backend)
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(url)
        assert differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrading_a_store_that_holds_data_keeps_it(backend: str, empty_database: Callable[[str], str]) -> None:
    """A store in use (contracts referenced by reminders and emails) upgrades from the issue-4 schema to head:
    on SQLite, batch mode's table rebuilds must not trip over the references to the rebuilt tables."""
    from sqlalchemy import text

    url = empty_database(backend)
    migrate.upgrade(url, "0006")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, sf_id, name, is_reseller, is_deleted, pulled_at) "
                "VALUES (1, '001000000000001AAA', 'Acme', false, false, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO contracts (id, sf_id, account_id, status, auto_renew, is_cancelled, is_deleted, "
                "is_held, sf_links, pulled_at) VALUES (1, '800000000000001AAA', 1, 'Activated', false, false, "
                "false, false, '{}', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO reminders (id, contract_id, offset_days, due_on, segment, status, created_at) "
                "VALUES (1, 1, -30, '2026-11-01', 'default', 'sent', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM contracts")).scalar() == 1
        assert connection.execute(text("SELECT contract_id FROM reminders")).scalar() == 1
        assert connection.execute(text("SELECT status_flags FROM contracts")).scalar() in ([], "[]")
        if backend == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
