"""`renewals outbox list|retry|discard` on a store with dead letters."""

from __future__ import annotations

from collections.abc import Callable

from click.testing import CliRunner
from sqlalchemy.orm import Session

from config.commands.cli import main
from sync_service.store import models
from sync_service.store.db import make_engine
from tests.conftest import TEST_SECRET_KEY


def _dead(session: Session, key: str) -> models.OutboxItem:
    item = models.OutboxItem(
        key=key,
        kind="field_update",
        sobject="Contract",
        target_sf_id="800000000000001AAA",
        payload={"values": {"Status": "Renewed"}},
        status="dead",
        attempts=1,
        last_error="FIELD_CUSTOM_VALIDATION_EXCEPTION: Not now",
    )
    session.add(item)
    return item


def test_list_retry_and_discard(cli_runner: CliRunner, migrated_database: Callable[[str], str]) -> None:
    """On a freshly migrated store (a copy of one migrated once, see tests/conftest.py) with three dead letters:
    `list` shows them with their errors, `retry <id>` and `discard <id>` act on that one, `retry` without ids
    or --all is refused, `retry --all` takes the rest."""
    url = migrated_database("sqlite")
    engine = make_engine(url)
    with Session(engine) as session:
        first, second, third = (_dead(session, f"rnw-{n}") for n in range(3))
        session.commit()
        ids = [first.id, second.id, third.id]
    env = {"RENEWALS_SECRET_KEYS": TEST_SECRET_KEY, "RENEWALS_DATABASE_URL": url}

    listed = cli_runner.invoke(main, ["outbox", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "rnw-1" in listed.output and "FIELD_CUSTOM_VALIDATION_EXCEPTION: Not now" in listed.output
    assert "3 dead letter(s)" in listed.output

    assert (
        cli_runner.invoke(main, ["outbox", "retry", str(ids[0])], env=env).output == "1 dead letter(s) pending again\n"
    )
    assert cli_runner.invoke(main, ["outbox", "discard", str(ids[1])], env=env).output == "1 dead letter(s) discarded\n"
    assert cli_runner.invoke(main, ["outbox", "retry"], env=env).exit_code != 0  # neither ids nor --all
    assert "1 dead letter(s) pending again" in cli_runner.invoke(main, ["outbox", "retry", "--all"], env=env).output
    with Session(engine) as session:
        statuses = [session.get(models.OutboxItem, i).status for i in ids]  # type: ignore[union-attr]
    assert statuses == ["pending", "discarded", "pending"]
    engine.dispose()
