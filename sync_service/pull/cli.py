"""`renewals sync`: pull by hand, with progress and a closing summary."""

from __future__ import annotations

import sys

import click

from sync_service.salesforce.client import SalesforceNotConfigured

from .run import Progress, PullResult
from .service import NothingToPull, Skipped, pull_all, reconcile_all


@click.command("sync")
@click.option("--full", is_flag=True, help="Read everything in scope, not only what changed since the last pull.")
@click.option("--mapping", "mapping_name", default=None, help="Pull only this mapping (default: every active one).")
@click.option("--reconcile", "do_reconcile", is_flag=True, help="Also mark what the org no longer has.")
def sync(full: bool, mapping_name: str | None, do_reconcile: bool) -> None:
    """Pull contracts, quotes, lines and documents from Salesforce into the store now."""
    from config.cli import settings_from_environment
    from sync_service.store.db import Database

    settings = settings_from_environment()
    db = Database(settings.database_url)
    interactive = sys.stdout.isatty()

    def progress(mapping: str) -> Progress:
        def report(entity: str, rows: int) -> None:
            if interactive:
                click.echo(f"\r  {mapping}: {entity:<15} {rows:>9,} rows", nl=False)

        return report

    try:
        outcomes = pull_all(db, settings, mapping_name=mapping_name, full=full, force=True, progress=progress)
        reconciled = reconcile_all(db, settings, mapping_name=mapping_name) if do_reconcile else {}
    except (NothingToPull, SalesforceNotConfigured) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
    if interactive:
        click.echo("\r" + " " * 60 + "\r", nl=False)
    failed = False
    for outcome in outcomes:
        if isinstance(outcome, Skipped):
            click.echo(f"{outcome.mapping_name}: skipped — {outcome.reason}")
            continue
        _summary(outcome)
        failed = failed or outcome.status != "succeeded"
    for name, result in reconciled.items():
        removed = ", ".join(f"{entity} {count}" for entity, count in result.removed.items())
        click.echo(f"{name}: reconcile marked as gone: {removed}")
    if failed:
        sys.exit(1)


def _summary(result: PullResult) -> None:
    click.echo(f"{result.kind} pull {result.status} in {result.seconds:.1f}s, {result.api_calls} API calls")
    for entity, rows in result.rows.items():
        click.echo(f"  {entity:<22} {rows:>9,}")
    for entity, problems in result.skipped.items():
        if problems:
            click.echo(f"  {entity}: {len(problems)} skipped, e.g. {problems[0]}")
    if result.error:
        click.echo(f"  error: {result.error}")
