"""`renewals sync`: pull by hand, with progress and a closing summary."""

from __future__ import annotations

import sys
from typing import Any

import click

from config.commands.cli import settings_from_environment
from mappings.model import PULL_ORDER
from sync_service.pull.run import Progress, PullResult
from sync_service.pull.service import NothingToPull, Skipped, pull_all, reconcile_all
from sync_service.salesforce.client import SalesforceNotConfigured
from sync_service.store.db import Database


@click.command("sync")
@click.option("--full", is_flag=True, help="Read everything in scope, not only what changed since the last pull.")
@click.option("--mapping", "mapping_name", default=None, help="Pull only this mapping (default: every active one).")
@click.option("--reconcile", "do_reconcile", is_flag=True, help="Also mark what the org no longer has.")
@click.option(
    "--allow-mass-removal",
    is_flag=True,
    help="Let the reconcile remove more than a fifth of the contracts (refused otherwise, as a likely mistake).",
)
def sync(full: bool, mapping_name: str | None, do_reconcile: bool, allow_mass_removal: bool) -> None:
    """Pull contracts, quotes, lines and documents from Salesforce into the store now."""

    settings = settings_from_environment()
    db = Database(settings.database_url)
    bars: list[Any] = []

    def progress(mapping: str) -> Progress:
        # One bar per mapping over its entities, labelled with the entity being read and its rows so far.
        bar = click.progressbar(length=len(PULL_ORDER), label=f"{mapping:<16}", show_pos=True, file=sys.stderr)
        bar.__enter__()
        bars.append(bar)
        done: dict[str, int] = {}

        def report(entity: str, rows: int) -> None:
            first_time = entity not in done
            done[entity] = rows
            bar.label = f"{mapping:<16} {entity:<15} {rows:>9,} rows"
            bar.update(1 if first_time and len(done) > 1 else 0)
            bar.render_progress()

        return report

    try:
        outcomes = pull_all(db, settings, mapping_name=mapping_name, full=full, force=True, progress=progress)
        reconciled = (
            reconcile_all(db, settings, mapping_name=mapping_name, allow_mass_removal=allow_mass_removal)
            if do_reconcile
            else {}
        )
    except (NothingToPull, SalesforceNotConfigured) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        for bar in bars:
            bar.update(len(PULL_ORDER))
            bar.__exit__(None, None, None)
        db.dispose()
    failed = False
    for outcome in outcomes:
        if isinstance(outcome, Skipped):
            click.echo(f"{outcome.mapping_name}: skipped — {outcome.reason}")
            continue
        _summary(outcome)
        failed = failed or outcome.status != "succeeded"
    for name, result in reconciled.items():
        removed = ", ".join(f"{entity} {count}" for entity, count in result.removed.items()) or "nothing"
        click.echo(f"{name}: reconcile {result.status}, marked as gone: {removed}")
        if result.error:
            click.echo(f"  error: {result.error}")
        failed = failed or result.status != "succeeded"
    if failed:
        sys.exit(1)


def _summary(result: PullResult) -> None:
    click.echo(f"{result.kind} pull {result.status} in {result.seconds:.1f}s, {result.api_calls} API calls")
    for entity, rows in result.rows.items():
        click.echo(f"  {entity:<22} {rows:>9,}")
    for entity, problems in result.skipped.items():
        if problems:
            count = result.skipped_count.get(entity, len(problems))
            click.echo(f"  {entity}: {count} skipped, e.g. {problems[0]}")
    if result.error:
        click.echo(f"  error: {result.error}")
