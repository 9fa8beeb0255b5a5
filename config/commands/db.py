"""``renewals db``: schema migrations of the store."""

from __future__ import annotations

import click

from config.commands.cli import settings_from_environment
from sync_service.store import migrate


@click.group()
def db() -> None:
    """Database migrations of the store (RENEWALS_DATABASE_URL)."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def upgrade(revision: str) -> None:
    """Apply migrations up to a revision (the Procfile's release step)."""

    migrate.upgrade(settings_from_environment().database_url, revision)


@db.command()
@click.option("-m", "--message", required=True, help="What the migration changes.")
def revision(message: str) -> None:
    """Write a new migration from the difference between the models and the (upgraded) database."""

    migrate.revision(settings_from_environment().database_url, message)
