"""`renewals bench pull`: a full pull of a 60,000-contract Salesforce CPQ org into a fresh store (SQLite, or
PostgreSQL with --database postgresql), against a bare simple-salesforce read of the same SOQL, then an
incremental pull after 1% changed.

Each pull runs in a child process of its own (spawned, not forked), so its peak RSS is the pull's and not the
high-water mark of the bench process (which seeds, reads the org bare and holds the changed ids). The child's
RSS before the pull, imports and connection made, is given beside it. `pull_scale` is the same full pull on
PostgreSQL alone, for the scale benchmark (seconds per contract at 60,000 and 300,000 contracts).

The bare read runs twice: once before the pull, untimed for the ratio (`bare_first_seconds`: the org's
first read after it starts, its caches cold, which the first of the two reads would otherwise pay alone), and
once after it, the baseline of `ratio_vs_bare`. The machine may be shared: the pull's CPU seconds (both of
its threads) and the bare read's are given beside the wall-clock seconds, and the load average at the end.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import sessionmaker

from mappings.model import PULL_ORDER, Mapping
from sync_service.pull import plan
from sync_service.pull.run import Puller
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.client import Connection, connect
from sync_service.salesforce.transport import meter_of
from sync_service.store import migrate
from sync_service.store.db import make_engine
from tests.bench.devorg import start_seeded_org
from tests.bench.scale import Stores, server_url
from tests.paths import SALESFORCE_CPQ_PRESET

# Changes land this much later on the org's clock than the full pull's watermark (compared to the second).
CLOCK_STEP_SECONDS = 2


def _floor(rows: int, bulk: bool) -> int:
    """Calls the chosen API needs at least for `rows` rows, with the COUNT() that chose it."""
    if bulk:
        return 1 + 2 + max(1, math.ceil(rows / 50_000))  # count, create job + one status poll, result pages
    return 1 + max(1, math.ceil(rows / 2_000))


def _mapping() -> Mapping:
    return Mapping.model_validate(yaml.safe_load(SALESFORCE_CPQ_PRESET.read_text()))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pull_here(connection: Connection, database_url: str, full: bool) -> dict[str, Any]:
    """One pull in this process (a spawned child): its figures, peak RSS included."""
    engine = make_engine(database_url)
    try:
        sf = connect(connection)
        puller = Puller(
            sessionmaker(engine, expire_on_commit=False),
            sf,
            meter_of(sf.session),
            _mapping(),
            Budget(daily_budget=10**9, reserve=0),
            overlap=timedelta(0),
        )
        rss_before = _rss_mb()
        cpu_started = time.process_time()
        result = puller.pull(full=full)
        return {
            "status": result.status,
            "error": result.error,
            "rows": result.rows,
            "api_calls": result.api_calls,
            "seconds": result.seconds,
            "cpu_seconds": time.process_time() - cpu_started,
            "peak_rss_mb": _rss_mb(),
            "rss_before_pull_mb": rss_before,
        }
    finally:
        engine.dispose()


def pull_in_child(connection: Connection, database_url: str, *, full: bool) -> dict[str, Any]:
    """`_pull_here` in a fresh interpreter; raises when the pull did not succeed."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        figures: dict[str, Any] = pool.apply(_pull_here, (connection, database_url, full))
    if figures["status"] != "succeeded":
        raise RuntimeError(f"the pull {figures['status']}: {figures['error']}")
    return figures


@contextmanager
def fresh_store(database: str, database_url: str | None = None) -> Iterator[str]:
    """The URL of a freshly migrated store: a SQLite file in a temporary directory, or a PostgreSQL database
    made on `database_url`'s server (else pg_virtualenv's, from the PG* variables) and dropped after."""
    if database == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'store.db'}"
            migrate.upgrade(url)
            yield url
        return
    stores = Stores(server_url(database_url))
    try:
        yield stores.fresh()
    finally:
        stores.drop_all()


def pull_figures(
    data: Path, contracts: int, *, database: str = "sqlite", database_url: str | None = None
) -> dict[str, Any]:
    mapping = _mapping()
    with start_seeded_org(data, contracts) as org, fresh_store(database, database_url) as url:
        connection = org.connection("password", timeout=300.0)
        sf = org.salesforce(timeout=300)
        first_seconds, _, _ = _bare_read(sf, mapping)  # the org's first read after it starts: cold caches
        full = pull_in_child(connection, url, full=True)
        bare_seconds, bare_cpu_seconds, floor = _bare_read(sf, mapping)

        org.advance_clock(CLOCK_STEP_SECONDS)
        changed = [r["Id"] for r in sf.query(f"SELECT Id FROM Contract LIMIT {max(1, contracts // 100)}")["records"]]
        for start in range(0, len(changed), 200):
            records = [
                {"attributes": {"type": "Contract"}, "id": i, "Description": "changed for the benchmark"}
                for i in changed[start : start + 200]
            ]
            sf.restful("composite/sobjects", method="PATCH", json={"records": records})
        incremental = pull_in_child(connection, url, full=False)
    return {
        "database": database,
        "contracts": full["rows"].get("contract", 0),
        "rows": full["rows"],
        "api_calls": full["api_calls"],
        "api_calls_floor": floor,
        "seconds": round(full["seconds"], 2),
        "cpu_seconds": round(full["cpu_seconds"], 2),
        "peak_rss_mb": round(full["peak_rss_mb"], 1),
        "rss_before_pull_mb": round(full["rss_before_pull_mb"], 1),
        "bare_seconds": round(bare_seconds, 2),
        "bare_first_seconds": round(first_seconds, 2),
        "bare_cpu_seconds": round(bare_cpu_seconds, 2),
        "ratio_vs_bare": round(full["seconds"] / bare_seconds, 2),
        "incremental_changed": len(changed),
        "incremental_rows": incremental["rows"].get("contract", 0),
        "incremental_api_calls": incremental["api_calls"],
        "incremental_seconds": round(incremental["seconds"], 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _bare_read(sf: Any, mapping: Mapping) -> tuple[float, float, int]:
    """The bare read of every query the pull makes: its seconds, CPU seconds, and the floor of API calls."""
    floor = 0
    started, cpu = time.perf_counter(), time.process_time()
    for entity in PULL_ORDER:
        for query in plan.queries(mapping, entity):
            rows = sum(1 for _ in sf.query_all_iter(query.soql()))
            floor += _floor(rows, rows > mapping.bulk_threshold)
    return time.perf_counter() - started, time.process_time() - cpu, floor


def pull_scale(data: Path, contracts: int, database_url: str | None = None) -> dict[str, Any]:
    """A full pull of a `contracts`-contract org (seeded in `data` on first use) into a fresh PostgreSQL
    database on `database_url`'s server (else pg_virtualenv's): seconds, seconds per contract, and the pull's
    own peak RSS."""
    with start_seeded_org(data, contracts) as org, fresh_store("postgresql", database_url) as url:
        full = pull_in_child(org.connection("password", timeout=300.0), url, full=True)
    pulled = full["rows"].get("contract", 0)
    return {
        "contracts": pulled,
        "rows": full["rows"],
        "seconds": round(full["seconds"], 2),
        "seconds_per_contract": full["seconds"] / pulled if pulled else None,
        "cpu_seconds": round(full["cpu_seconds"], 2),
        "api_calls": full["api_calls"],
        "peak_rss_mb": round(full["peak_rss_mb"], 1),
        "rss_before_pull_mb": round(full["rss_before_pull_mb"], 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
