"""``renewals bench``: benchmark scripts. They print figures; tests assert behaviour, never speed.

Each command imports its benchmark when it runs: the benchmarks pull in most of the product, moto and the
stand-in org, which `renewals bench --help` (and every other `renewals` command) should not wait for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import click

DEFAULT_ORG_DATA = Path("var/bench/devorg-query")


@click.group()
def bench() -> None:
    """Benchmarks that print figures (add --json for machine-readable output)."""


def _emit(figures: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(figures))
    else:
        for key, value in figures.items():
            click.echo(f"{key}: {value}")


def _benchmark_org(command: Callable[..., None]) -> Callable[..., None]:
    """The options of benchmarks that run against a large seeded org (shared, seeded on first use)."""
    for option in reversed(
        [
            click.option("--contracts", default=60_000, show_default=True, help="Contracts in the benchmark org."),
            click.option(
                "--data",
                default=str(DEFAULT_ORG_DATA),
                show_default=True,
                type=click.Path(file_okay=False, path_type=Path),
                help="Org data directory (seeded once, reused).",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
        ]
    ):
        command = option(command)
    return command


@bench.command("devorg-query")
@_benchmark_org
def devorg_query(contracts: int, data: Path, as_json: bool) -> None:
    """A query of every contract through query_all_iter, against the same pages served statically."""
    from tests.bench.devorg import query_figures

    _emit(query_figures(data, contracts), as_json)


@bench.command("devorg-seed")
@click.option("--contracts", default=60_000, show_default=True, help="Contracts to seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def devorg_seed(contracts: int, as_json: bool) -> None:
    """Seconds to seed a Salesforce CPQ org with this many contracts (into a temporary directory)."""
    from tests.bench.devorg import seed_seconds

    _emit({"contracts": contracts, "seconds": round(seed_seconds(contracts), 2)}, as_json)


@bench.command("pull")
@_benchmark_org
@click.option(
    "--database",
    type=click.Choice(["sqlite", "postgresql"]),
    default="sqlite",
    show_default=True,
    help="The store pulled into, made fresh for the run (PostgreSQL: on --database-url's server).",
)
@click.option(
    "--database-url",
    default=None,
    help="A PostgreSQL server to make the store on (default: pg_virtualenv's PG* variables).",
)
def pull(contracts: int, data: Path, as_json: bool, database: str, database_url: str | None) -> None:
    """A full pull of every contract with quotes and lines, then an incremental one after 1% changed."""
    from tests.bench.pull import pull_figures

    _emit(pull_figures(data, contracts, database=database, database_url=database_url), as_json)


@bench.command("state-fields")
@_benchmark_org
def state_fields(contracts: int, data: Path, as_json: bool) -> None:
    """API calls of a full and an incremental pull reading the renewal state back (renewed, holds, rep controls,
    approval, opt-outs), beside the same pulls with a mapping that reads none of it (target: 0 extra)."""
    from tests.bench.state_fields import state_field_figures

    # Each run changes a copy of the org, so the seeded data stays as seeded; the other benchmarks change the
    # shared default org in place, so this one keeps its own.
    if data == DEFAULT_ORG_DATA:
        data = data.with_name("devorg-state-fields")
    _emit(state_field_figures(data, contracts), as_json)


@bench.command("push")
@click.option("--events", default=10_000, show_default=True, help="Events recorded and pushed.")
@click.option("--renewals", default=20, show_default=True, help="Renew POSTs timed until their Task is in the org.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def push(events: int, renewals: int, as_json: bool) -> None:
    """Events through the outbox to the stand-in org, on a healthy org and under injected faults."""
    from tests.bench.push import push_figures
    from tests.bench.renew import renew_to_task_figures

    figures = push_figures(events)
    figures.update(renew_to_task_figures(renewals))
    _emit(figures, as_json)


@bench.command("conflicts")
@click.option("--writes", default=100, show_default=True, help="Contracts whose rep controls a rep changes.")
@click.option("--edited", default=0.3, show_default=True, help="Share of them edited in Salesforce before the push.")
@click.option("--seed", default=13, show_default=True, help="Random seed (which contracts, which fields).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def conflicts(writes: int, edited: float, seed: int, as_json: bool) -> None:
    """Rep-control writes against the stand-in org while some records are edited in Salesforce between pull and
    push and transient faults fire: conflicts injected vs detected, fields overwritten that the user did not
    change (target 0), rep changes lost and writes dead-lettered by transient faults (targets 0)."""
    from tests.bench.conflicts import conflict_figures

    _emit(conflict_figures(writes=writes, edited_share=edited, seed=seed), as_json)


@bench.command("renew-calls")
@click.option("--renewals", default=10, show_default=True, help="Renewals measured (and as many for the baseline).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def renew_calls(renewals: int, as_json: bool) -> None:
    """Salesforce API calls per renewal from the email (the Renew POST's live quote read, the push of its Task
    and write-back), beside the same renewal's calls before the live read and conditional writes (target: +2
    at most)."""
    from tests.bench.renew_calls import renew_call_figures

    _emit(renew_call_figures(renewals), as_json)


@bench.command("send")
@click.option("--reminders", default=500, show_default=True, help="Due reminders (each sends two emails).")
@click.option("--rate", default=50.0, show_default=True, help="The allowed send rate (emails per second).")
@click.option("--workers", default=2, show_default=True, help="`renewals worker` processes sending.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def send(reminders: int, rate: float, workers: int, as_json: bool) -> None:
    """Real workers sending through moto's SES behind a proxy that throttles above the allowed rate like SES:
    the rate achieved, throttling answers and duplicates."""
    from tests.bench.send import send_figures

    _emit(send_figures(reminders=reminders, rate=rate, workers=workers), as_json)


@bench.command("scale")
@click.option(
    "--workers",
    "worker_counts",
    default="1,2,4",
    show_default=True,
    help="Worker counts to run, comma-separated (the first is the baseline of the ratios).",
)
@click.option(
    "--tasks",
    default=20_000,
    show_default=True,
    help="Task events pushed per worker count (the default keeps one worker busy about ten seconds).",
)
@click.option(
    "--reminders", default=400, show_default=True, help="Due reminders sent per worker count (two emails each)."
)
@click.option("--latency-ms", default=50.0, show_default=True, help="Added to every call to the org (and to SES).")
@click.option(
    "--ses-latency-ms", type=float, default=None, help="Added to every SendEmail instead; default: --latency-ms."
)
@click.option(
    "--database-url",
    default=None,
    help="A PostgreSQL database the bench may create its stores beside; default: pg_virtualenv's (PG* variables).",
)
@click.option(
    "--pull-contracts",
    default=0,
    show_default=True,
    help="Also a full pull of this many contracts on PostgreSQL (e.g. 300000; long), per contract against "
    "--pull-baseline's, with its peak memory; 0: no pull.",
)
@click.option("--pull-baseline", default=60_000, show_default=True, help="Contracts of the pull compared with.")
@click.option(
    "--pull-data",
    default="var/bench",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the pull's orgs are seeded once and reused (devorg-scale-<contracts>).",
)
@click.option("--pull-only", is_flag=True, help="Only the pull (with --pull-contracts), not the push and the send.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def scale(
    worker_counts: str,
    tasks: int,
    reminders: int,
    latency_ms: float,
    ses_latency_ms: float | None,
    database_url: str | None,
    pull_contracts: int,
    pull_baseline: int,
    pull_data: Path,
    pull_only: bool,
    as_json: bool,
) -> None:
    """The push and the send on 1, 2 and 4 `renewals worker` processes sharing one PostgreSQL store and one Redis,
    against the stand-in org and SES with latency added to every call: seconds, items per second and the ratio to
    the first worker count, duplicates and missing items (target: 4 workers at least 3 times one, 0 duplicates).
    With --pull-contracts, a full pull of that many contracts per contract against --pull-baseline's (target: at
    most 1.3) and its peak memory (target: at most 400 MB). Run it under `pg_virtualenv -- .venv/bin/renewals bench
    scale`, or give --database-url."""
    from tests.bench.scale import pull_scale_figures, scale_figures

    try:
        counts = [int(part) for part in worker_counts.split(",") if part.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"{worker_counts!r} is not a list of numbers", param_hint="--workers") from exc
    if not counts or min(counts) < 1:
        raise click.BadParameter("give one or more counts of at least 1", param_hint="--workers")
    if pull_only and not pull_contracts:
        raise click.BadParameter("--pull-only needs --pull-contracts", param_hint="--pull-only")

    def progress(message: str) -> None:
        click.echo(message, err=True)  # stderr: stdout is the figures alone

    figures: dict[str, object] = {}
    if not pull_only:
        figures.update(
            scale_figures(
                workers=counts,
                tasks=tasks,
                reminders=reminders,
                latency_ms=latency_ms,
                ses_latency_ms=ses_latency_ms,
                database_url=database_url,
                progress=progress,
            )
        )
    if pull_contracts:
        figures.update(pull_scale_figures(pull_contracts, pull_baseline, pull_data, database_url, progress))
    _emit(figures, as_json)


@bench.command("render")
@click.option("--emails", default=60_000, show_default=True, help="Emails rendered.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def render(emails: int, as_json: bool) -> None:
    """Emails rendered per second with CSS inlined once per template and brand, beside a bare Jinja render of
    the same templates without inlining."""
    from tests.bench.render import render_figures

    _emit(render_figures(emails), as_json)


@bench.command("http")
@click.option("--requests", "count", default=2000, show_default=True, help="Requests per endpoint.")
@click.option("--concurrency", default=4, show_default=True, help="Client threads (keep-alive sessions).")
@click.option("--emails", default=500, show_default=True, help="Sent reminders the requests spread over.")
@click.option(
    "--pull-contracts", default=3000, show_default=True, help="Contracts of the org pulled while pages are asked for."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def http(count: int, concurrency: int, emails: int, pull_contracts: int, as_json: bool) -> None:
    """The open pixel and the Renew confirmation page under `renewals web` (gunicorn, two workers): requests
    per second and p50/p99 latency, beside a trivial endpoint of the same app in the same run (served by
    tests.bench.http_server, which adds it), with each one's ratio to the trivial endpoint; then the Renew page's
    p95 latency while a pull writes the store, and the pages served while slow clients hold connections."""
    from tests.bench.http import http_figures

    figures = http_figures(
        requests_per_endpoint=count, concurrency=concurrency, emails=emails, pull_contracts=pull_contracts
    )
    _emit(figures, as_json)


def _named_path(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path.startswith("/"):
        raise click.BadParameter(f"{value!r} is not NAME=/path")
    return name, path


@bench.command("admin")
@click.option("--contracts", default=60_000, show_default=True, help="Contracts seeded into the store.")
@click.option("--events", default=500_000, show_default=True, help="Email events seeded into the store.")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(min=1), help="Timed runs per page.")
@click.option(
    "--database-url",
    default=None,
    help="Store to seed and time (an empty SQLite or PostgreSQL one); default: a temporary SQLite file.",
)
@click.option("--reuse", is_flag=True, help="Time the store at --database-url as it is if it holds contracts.")
@click.option("--page", "pages", multiple=True, help="Also time NAME=/admin/path?query (repeatable).")
@click.option("--only", multiple=True, help="Time only the page of this name (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def admin(
    contracts: int,
    events: int,
    repeat: int,
    database_url: str | None,
    reuse: bool,
    pages: tuple[str, ...],
    only: tuple[str, ...],
    as_json: bool,
) -> None:
    """Every page of the admin console (each GET route of it without URL variables: reports, operations, ...)
    on a store of this many contracts and events: server time (median of --repeat runs after a warm-up, in
    process) and SQL statements per page, beside one full scan of the email events table on the same store,
    with each page's ratio to it."""
    from tests.bench.admin import admin_figures

    extra = dict(_named_path(value) for value in pages)
    figures = admin_figures(
        contracts=contracts,
        events=events,
        repeat=repeat,
        database_url=database_url,
        reuse=reuse,
        extra=extra,
        only=only,
        progress=lambda message: click.echo(message, err=True),  # stderr: stdout is the figures alone
    )
    _emit(figures, as_json)


@bench.command("email-links")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def email_links(as_json: bool) -> None:
    """Email links that can change state without a sign-in, other than the customer's own Renew (after its confirm
    POST), Contact rep and unsubscribe (target 0): one email of every kind sent to moto's SES, each link opened in
    a fresh client and every form it leads to submitted, the store compared before and after each step; beside
    the number of links tried."""
    from tests.bench.email_links import allowed_lines, email_link_figures, not_allowed_lines

    figures = email_link_figures()
    if as_json:
        _emit(figures, as_json)
        return
    _emit({key: value for key, value in figures.items() if key not in ("allowed", "not_allowed")}, as_json)
    for line in allowed_lines(figures):
        click.echo(f"allowed: {line}")
    for line in not_allowed_lines(figures):
        click.echo(f"not allowed: {line}")


@bench.command("sign-in")
@click.option("--rounds", default=50, show_default=True, type=click.IntRange(min=1), help="Sign-ins timed.")
@click.option(
    "--server",
    type=click.Choice(["gunicorn", "in-process"]),
    default="gunicorn",
    show_default=True,
    help="`renewals web`, or werkzeug's threaded server in the bench's process.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def sign_in(rounds: int, server: Literal["gunicorn", "in-process"], as_json: bool) -> None:
    """A rep's "Sign in with Salesforce" round trip against the stand-in org (our login route, the org's login
    page, our callback, the rep portal) with a fresh browser session each round: median and p95, beside a plain
    authenticated REST GET against the same org and the ratio."""
    from tests.bench.sign_in import sign_in_figures

    _emit(sign_in_figures(rounds, server=server), as_json)
