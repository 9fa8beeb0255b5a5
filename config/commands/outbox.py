"""`renewals outbox list|retry|discard`: the dead letters of the push to Salesforce."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from config.commands.cli import settings_from_environment
from sync_service.outbox.dead import discard_dead, list_dead, retry_dead
from sync_service.store.db import Database

if TYPE_CHECKING:
    from sync_service.store.db import Database


def _database() -> Database:

    return Database(settings_from_environment().database_url)


@click.group("outbox")
def outbox() -> None:
    """Salesforce writes that could not be made: list, retry after fixing the cause, or discard."""


@outbox.command("list")
def list_command() -> None:
    """Show the dead letters: id, key, object, attempts and Salesforce's message."""
    db = _database()
    try:
        with db.session_scope() as session:
            rows = list_dead(session)
            for row in rows:
                click.echo(f"{row.id:>8}  {row.key}  {row.sobject:<20} {row.attempts:>3}  {row.last_error or ''}")
            click.echo(f"{len(rows)} dead letter(s)")
    finally:
        db.dispose()


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead letter.")
def retry_command(ids: tuple[int, ...], retry_all: bool) -> None:
    """Make dead letters pending again; the next push sends them."""
    if not ids and not retry_all:
        raise click.UsageError("name the ids to retry, or --all")
    db = _database()
    try:
        with db.session_scope() as session:
            count = retry_dead(session, ids=None if retry_all else list(ids))
    finally:
        db.dispose()
    click.echo(f"{count} dead letter(s) pending again")


@outbox.command("discard")
@click.argument("ids", nargs=-1, type=int, required=True)
def discard_command(ids: tuple[int, ...]) -> None:
    """Give up on dead letters for good (they stay in the store, marked discarded)."""
    db = _database()
    try:
        with db.session_scope() as session:
            count = discard_dead(session, ids=list(ids))
    finally:
        db.dispose()
    click.echo(f"{count} dead letter(s) discarded")
