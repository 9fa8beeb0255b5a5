"""`renewals bench pull`: a full pull of a 60,000-contract Salesforce CPQ org into a fresh SQLite store,
against a bare simple-salesforce read of the same SOQL, then an incremental pull after 1% changed."""

from __future__ import annotations

import math
import resource
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import sessionmaker

from mappings.model import PULL_ORDER, Mapping
from sync_service.pull import plan
from sync_service.pull.run import Puller
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.transport import meter_of
from sync_service.store import migrate
from sync_service.store.db import make_engine
from tests.bench.devorg import start_seeded_org
from tests.paths import SALESFORCE_CPQ_PRESET

# Changes land this much later on the org's clock than the full pull's watermark (compared to the second).
CLOCK_STEP_SECONDS = 2


def _floor(rows: int, bulk: bool) -> int:
    """Calls the chosen API needs at least for `rows` rows, with the COUNT() that chose it."""
    if bulk:
        return 1 + 2 + max(1, math.ceil(rows / 50_000))  # count, create job + one status poll, result pages
    return 1 + max(1, math.ceil(rows / 2_000))


def pull_figures(data: Path, contracts: int) -> dict[str, Any]:
    mapping = Mapping.model_validate(yaml.safe_load(SALESFORCE_CPQ_PRESET.read_text()))
    with start_seeded_org(data, contracts) as org, tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        migrate.upgrade(url)
        engine = make_engine(url)
        sessions = sessionmaker(engine, expire_on_commit=False)
        sf = org.salesforce(timeout=300)
        meter = meter_of(sf.session)
        puller = Puller(sessions, sf, meter, mapping, Budget(daily_budget=10**9, reserve=0), overlap=timedelta(0))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = puller.pull(full=True)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if result.status != "succeeded":
            raise RuntimeError(f"the pull {result.status}: {result.error}")

        floor = 0
        bare_started = time.perf_counter()
        for entity in PULL_ORDER:
            for query in plan.queries(mapping, entity):
                rows = sum(1 for _ in sf.query_all_iter(query.soql()))
                floor += _floor(rows, rows > mapping.bulk_threshold)
        bare_seconds = time.perf_counter() - bare_started

        org.advance_clock(CLOCK_STEP_SECONDS)
        changed = [r["Id"] for r in sf.query(f"SELECT Id FROM Contract LIMIT {max(1, contracts // 100)}")["records"]]
        for start in range(0, len(changed), 200):
            records = [
                {"attributes": {"type": "Contract"}, "id": i, "Description": "changed for the benchmark"}
                for i in changed[start : start + 200]
            ]
            sf.restful("composite/sobjects", method="PATCH", json={"records": records})
        incremental = puller.pull(full=False)
        engine.dispose()
    return {
        "contracts": result.rows.get("contract", 0),
        "rows": result.rows,
        "api_calls": result.api_calls,
        "api_calls_floor": floor,
        "seconds": round(result.seconds, 2),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "rss_before_pull_mb": round(rss_before / 1024, 1),
        "bare_seconds": round(bare_seconds, 2),
        "ratio_vs_bare": round(result.seconds / bare_seconds, 2),
        "incremental_changed": len(changed),
        "incremental_rows": incremental.rows.get("contract", 0),
        "incremental_api_calls": incremental.api_calls,
        "incremental_seconds": round(incremental.seconds, 2),
    }
