"""`renewals plan`: plan today's reminders now (the scheduler does it daily at 06:00). Refused, saying why, while
the store's data is stale (:mod:`sync_service.freshness`): run `renewals sync` first."""

from __future__ import annotations

from datetime import UTC, date, datetime

import click

from config.commands.cli import settings_from_environment
from sync_service import console_settings
from sync_service.freshness import reminders_paused
from sync_service.planning.planner import plan_reminders
from sync_service.store.db import Database


@click.command("plan")
@click.option(
    "--date",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Plan as if today were this UTC date (default: today).",
)
def plan(on: datetime | None) -> None:
    """Bring the reminder rows up to date: plan the stages due today, cancel those no longer wanted."""

    settings = settings_from_environment()
    today: date = on.date() if on is not None else datetime.now(UTC).date()
    db = Database(settings.database_url)
    try:
        with db.session_scope() as session:
            paused = reminders_paused(session, settings)
            if paused is not None:
                raise click.ClickException(f"planning is {paused}; run `renewals sync` first")
            cadence = console_settings.cadence(session, settings)  # the admin console's, else the file
            summary = plan_reminders(session, today=today, cadence=cadence)
    finally:
        db.dispose()
    click.echo(
        f"{summary.today}: {summary.planned} planned, {summary.skipped} skipped, {summary.cancelled_total} cancelled"
    )
    for reason, count in sorted(summary.cancelled.items()):
        click.echo(f"  {count:>6}  cancelled: {reason}")
