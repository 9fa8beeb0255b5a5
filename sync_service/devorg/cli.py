"""`renewals devorg ...`: run and seed the stand-in Salesforce org."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

FLAVOURS = ("salesforce_cpq", "conga_cpq", "standard")


@click.group()
def devorg() -> None:
    """The local stand-in Salesforce org (REST, SOAP/OAuth login, Bulk 2.0) for the demo and the tests."""


def _absolute_urls(urls: tuple[str, ...]) -> tuple[str, ...]:
    for url in urls:
        if not url.startswith(("https://", "http://")):
            raise click.BadParameter(f"{url!r} is not an absolute http(s) URL")
    return urls


@devorg.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8443,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--data",
    "data",
    default="var/devorg",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory holding the org's data and keys.",
)
@click.option(
    "--seed-contracts",
    default=0,
    show_default=True,
    type=click.IntRange(0, 1_000_000),
    help="Seed this many contracts when the data directory is empty.",
)
@click.option(
    "--flavour",
    default="salesforce_cpq",
    show_default=True,
    type=click.Choice(FLAVOURS),
    help="Which packages' data to seed.",
)
@click.option("--seed", "seed", default=1, show_default=True, help="Random seed of the seeded data.")
@click.option(
    "--task-external-id/--no-task-external-id",
    default=True,
    show_default=True,
    help="Whether Task has the Renewals_Event_Key__c external-id field.",
)
@click.option(
    "--session-seconds",
    default=7200.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Session inactivity timeout.",
)
@click.option("--daily-api-limit", default=None, type=click.IntRange(min=0), help="Daily API request limit.")
@click.option(
    "--error-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of API requests answered with --error-kind.",
)
@click.option(
    "--error-kind",
    default="503",
    show_default=True,
    type=click.Choice(["500", "503", "UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED"]),
)
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Latency added to every API request.",
)
@click.option(
    "--jwt-cert",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Certificate that verifies JWT bearer assertions (default: the generated key pair's).",
)
@click.option(
    "--callback-url",
    "callback_urls",
    multiple=True,
    callback=lambda ctx, param, value: _absolute_urls(value),
    help="A callback URL of the connected app's web server flow (repeat for several); replaces the stored ones.",
)
@click.option(
    "--org-number",
    default=None,
    type=click.IntRange(min=1),
    help="Which org this is: its id is the N-th 00D id (default 1, kept with the data); start two stand-ins with "
    "different numbers to have two orgs.",
)
def serve(
    host: str,
    port: int,
    data: Path,
    seed_contracts: int,
    flavour: str,
    seed: int,
    task_external_id: bool,
    session_seconds: float,
    daily_api_limit: int | None,
    error_rate: float,
    error_kind: str,
    latency_ms: float,
    jwt_cert: Path | None,
    callback_urls: tuple[str, ...],
    org_number: int | None,
) -> None:
    """Serve the org over HTTPS; the first stdout line is a JSON object with how to connect."""
    from sync_service.devorg.serve import ServeOptions
    from sync_service.devorg.serve import serve as run

    faults = {"latency_ms": latency_ms, "rules": [{"route": "*", "error": error_kind, "rate": error_rate}]}
    run(
        ServeOptions(
            host=host,
            port=port,
            data=data,
            seed_contracts=seed_contracts,
            flavour=flavour,
            seed=seed,
            task_external_id=task_external_id,
            session_seconds=session_seconds,
            callback_urls=list(callback_urls),
            org_number=org_number,
            daily_api_limit=daily_api_limit,
            faults=faults if error_rate or latency_ms else None,
            jwt_certificate=jwt_cert,
        )
    )


@devorg.command("seed")
@click.option("--contracts", required=True, type=click.IntRange(1, 1_000_000), help="How many contracts.")
@click.option("--flavour", required=True, type=click.Choice(FLAVOURS), help="Which packages' data to seed.")
@click.option("--seed", "seed", default=1, show_default=True, help="Random seed (same seed, same org).")
@click.option(
    "--data",
    "data",
    default="var/devorg",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory holding the org's data.",
)
def seed_command(contracts: int, flavour: str, seed: int, data: Path) -> None:
    """Fill an empty org with a realistic, deterministic data set."""
    from sync_service.devorg.org import Org
    from sync_service.devorg.seed import seed_org

    org = Org(data)
    if org.store.get_meta("seeded") is not None:
        raise click.ClickException(f"{data} is already seeded; use an empty --data directory")
    started = time.monotonic()
    with click.progressbar(length=contracts, label="Seeding contracts") as bar:
        last = [0]

        def progress(done: int) -> None:
            bar.update(done - last[0])
            last[0] = done

        summary = seed_org(
            org.store,
            contracts=contracts,
            flavour=flavour,
            seed=seed,
            api_username=org.credentials.username,
            progress=progress,
        )
    org.store.set_meta("seeded", json.dumps({"contracts": contracts, "flavour": flavour}))
    org.store.close()
    click.echo(f"Seeded {contracts} contracts ({flavour}) in {time.monotonic() - started:.1f}s into {data}")
    click.echo(json.dumps(summary.__dict__ if hasattr(summary, "__dict__") else summary, default=str))
