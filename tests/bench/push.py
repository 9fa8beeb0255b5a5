"""`renewals bench push`: events recorded into the outbox and pushed to the stand-in org as bounded Tasks, once
on a healthy org and once with 20% injected errors and latency, counting what arrived."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from mappings.model import TaskConventions
from sync_service.outbox.push import Pusher
from sync_service.outbox.record import event_key, record_task
from sync_service.salesforce.budget import Budget
from sync_service.store import migrate, models
from sync_service.store.db import make_engine
from tests.bench.devorg import start_seeded_org

# Contracts in the org the Tasks go to.
ORG_CONTRACTS = 200

# Events per email: sent, opened, opened again (a repeat bumps the same Task), downloaded — the mix of a
# reminder that is read. Each email therefore yields three Tasks for four events.
_KINDS = ("sent", "opened", "opened", "downloaded")


def _record(sessions: Any, events: int, what_ids: list[str], conventions: TaskConventions, run: str) -> set[str]:
    keys: set[str] = set()
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for n in range(events):
            email, kind = divmod(n, len(_KINDS))
            key = event_key(run, email, _KINDS[kind])
            keys.add(key)
            record_task(
                session,
                key=key,
                what_id=what_ids[email % len(what_ids)],
                who_id=None,
                owner_id=None,
                subject=f"Renewal email {_KINDS[kind]}",
                description=f"Email {email}: {_KINDS[kind]}.",
                event_at=now,
                conventions=conventions,
            )
    return keys


def drain(pusher: Pusher, sessions: Any, deadline: float) -> tuple[int, int]:
    """Push until nothing is pending or `deadline` (time.monotonic) passes; returns (pushes, API calls)."""
    pushes = calls = 0
    while time.monotonic() < deadline:
        result = pusher.push()
        pushes, calls = pushes + 1, calls + result.api_calls
        with sessions.begin() as session:
            # Rows waiting out their backoff are made due now: the benchmark measures the org, not the clock.
            session.execute(
                update(models.OutboxItem)
                .where(models.OutboxItem.status == "pending")
                .values(next_attempt_at=datetime.now(UTC))
            )
            pending = session.scalar(
                select(func.count()).select_from(models.OutboxItem).where(models.OutboxItem.status == "pending")
            )
        if not pending:
            break
    return pushes, calls


def _tasks_in_org(sf: Any) -> dict[str, int]:
    """How many Tasks carry each key marker (the `[rnw-…]` at the end of the Subject)."""
    counts: dict[str, int] = {}
    for record in sf.query_all_iter("SELECT Subject FROM Task WHERE Subject LIKE 'Renewals: %'"):
        subject = str(record["Subject"])
        marker = subject[subject.rindex("[") :] if "[" in subject else subject
        counts[marker] = counts.get(marker, 0) + 1
    return counts


def push_figures(events: int) -> dict[str, Any]:
    conventions = TaskConventions(external_id_field="Renewals_Event_Key__c")
    with tempfile.TemporaryDirectory() as tmp, start_seeded_org(Path(tmp) / "org", ORG_CONTRACTS) as org:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        migrate.upgrade(url)
        engine = make_engine(url)
        sessions = sessionmaker(engine, expire_on_commit=False)
        sf = org.salesforce(timeout=300)
        what_ids = [r["Id"] for r in sf.query(f"SELECT Id FROM Contract LIMIT {ORG_CONTRACTS}")["records"]]
        budget = Budget(daily_budget=10**9, reserve=0)

        keys = _record(sessions, events, what_ids, conventions, "bench")
        started = time.perf_counter()
        _, calls = drain(Pusher(sessions, sf, conventions, budget), sessions, time.monotonic() + 600)
        seconds = time.perf_counter() - started

        org.faults(
            rules=[{"route": "collections", "error": "503", "rate": 0.2}], record_lock_rate=0.2, latency_ms=20, seed=7
        )
        fault_keys = _record(sessions, events // 2, what_ids, conventions, "fault")
        drain(Pusher(sessions, sf, conventions, budget, retry_base=0.01), sessions, time.monotonic() + 900)
        org.faults()
        found = _tasks_in_org(sf)
        engine.dispose()
    expected = {f"[{key}]" for key in fault_keys}
    return {
        "events": events,
        "tasks": len(keys),
        "api_calls": calls,
        "api_calls_per_1000_events": round(calls * 1000 / events, 2),
        "events_per_second": round(events / seconds, 1),
        "seconds": round(seconds, 2),
        "fault_run_events": events // 2,
        "lost": len(expected - set(found)),
        "duplicated": sum(found[marker] - 1 for marker in expected if found.get(marker, 0) > 1),
    }
