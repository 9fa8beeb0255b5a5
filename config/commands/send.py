"""`renewals send --due [--dry-run] [--limit N]`: send the due reminders now, from this process. Refused, saying
why, while the store's data is stale (:mod:`sync_service.freshness`): run `renewals sync` first."""

from __future__ import annotations

from collections import Counter
from typing import Any

import click

from config.commands.cli import settings_from_environment
from email_actions.mail.sending import ratelimit
from email_actions.mail.sending.pipeline import EmailSender, dry_run_due, queue_due, queued_ids, sweep_stale_sending
from jobs.base import redis_connection
from sync_service.freshness import reminders_paused
from sync_service.store.db import Database
from sync_service.store.models import utcnow


@click.command("send")
@click.option("--due", is_flag=True, required=True, help="Send every reminder due today or earlier (required).")
@click.option("--dry-run", is_flag=True, help="Check and render what would go; send and record nothing.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many reminders.")
def send(due: bool, dry_run: bool, limit: int | None) -> None:
    """Queue the due reminders (the customer's email and the rep's notice) and send them through SES,
    at most once each, within the account's rate. Prints a summary; problems with one email are recorded
    on that email and the rest go on."""

    settings = settings_from_environment()
    db = Database(settings.database_url)
    redis = redis_connection(settings)
    today = utcnow().date()
    try:
        with db.session_scope() as session:
            stale_pause = reminders_paused(session, settings)
        if stale_pause is not None:
            raise click.ClickException(f"sending reminders is {stale_pause}; run `renewals sync` first")
        if dry_run:
            with db.session_scope() as session:
                outcomes = dry_run_due(session, settings, today=today, limit=limit)
            counts = Counter(outcome for _, outcome in outcomes)
            for line, outcome in outcomes:
                click.echo(f"{line}: {outcome}")
            click.echo(
                f"dry run: {counts.get('would send', 0)} would be sent, "
                f"{sum(counts.values()) - counts.get('would send', 0)} would be skipped; nothing was sent"
            )
            return
        reason = ratelimit.paused(redis)
        if reason is not None:
            raise click.ClickException(f"sending is paused: {reason}")
        with db.session_scope() as session:
            stale = sweep_stale_sending(session)
            reminders = queue_due(session, today=today, limit=limit)
        with db.session_scope() as session:
            ids = queued_ids(session, limit=2 * limit if limit else None)
        sender = EmailSender(db.sessionmaker, settings, redis)
        with click.progressbar(length=len(ids), label=f"Sending {len(ids)} email(s)") as bar:
            summary = sender.send(ids, progress=bar.update)
        _print_summary(reminders, stale, summary.as_dict())
        if summary.paused:
            raise click.ClickException(f"sending paused: {summary.paused}")
    finally:
        db.dispose()


def _print_summary(reminders: int, stale: int, summary: dict[str, Any]) -> None:
    click.echo(f"{reminders} reminder(s) queued")
    click.echo(f"sent: {summary['sent']}")
    click.echo(f"skipped: {summary['skipped']}")
    for reason, count in sorted(summary["skipped_reasons"].items()):
        click.echo(f"  {count:>6}  {reason}")
    click.echo(f"failed (SES rejected): {summary['failed']}")
    click.echo(f"outcome unknown (not resent): {summary['unknown'] + stale}")
    click.echo(f"back in the queue (throttled or unreachable): {summary['requeued']}")
