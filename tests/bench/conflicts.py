"""`renewals bench conflicts`: the fault run of issue 13's figures. A salesforce_cpq stand-in org is pulled into a
fresh store; N contracts get a rep's change of one or two controls (recorded as the rep portal records it: only
the changed controls, with the values seen); between the pull and the push a random share of those contracts is
edited "in Salesforce" by another client: half of them on a field the rep also changed (a conflict injected),
half on a mapped rep-control field the rep did not change (which must survive). The push then drains the outbox
while the org answers 503 and 500 to a share of sObject calls, locks rows now and then, and adds latency.

Every mapped rep-control field of the N contracts is read back with SOQL and compared with what each field
must hold: ours where the rep changed it and nobody else did, theirs where a conflict was injected, the value
before (or the other client's edit) where the rep changed nothing. Figures, each with its target:
conflicts injected = conflicts detected; fields overwritten that the user did not change: 0; rep changes lost:
0; writes dead-lettered by transient faults: 0.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from simple_salesforce import Salesforce
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from mappings.loader import load, preset_text
from mappings.model import Mapping
from sync_service.outbox.conflicts import same
from sync_service.outbox.push import Pusher
from sync_service.outbox.writeback import record_rep_controls
from sync_service.pull.run import Puller
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.transport import meter_of
from sync_service.store import migrate, models
from sync_service.store.db import make_engine
from tests.bench.devorg import start_seeded_org
from tests.bench.push import drain

# Control → (store attribute, a value the rep sets, a value someone else sets in Salesforce, as the org gives it).
CONTROLS: dict[str, tuple[str, Any, Any]] = {
    "status_flags": ("status_flags", ["consolidate"], "edited_in_salesforce"),
    "adjustment_pct": ("price_adjustment_pct", Decimal("7.25"), 42.0),
    "override_amount": ("price_override", Decimal("1234.00"), 4321.0),
    "override_reason": ("price_override_reason", "Bench: matched an offer", "Edited in Salesforce"),
    "hold": ("is_held", True, None),  # a checkbox: someone else can only set ours or the value seen, never a third
}
FAULTS = {
    "rules": [
        {"route": "sobjects", "error": "503", "rate": 0.15},
        {"route": "sobjects", "error": "500", "rate": 0.05},
        {"route": "sobjects", "error": "UNABLE_TO_LOCK_ROW", "rate": 0.05},
        {"route": "query", "error": "503", "rate": 0.05},
        {"route": "composite", "error": "503", "rate": 0.1},
        {"route": "collections", "error": "503", "rate": 0.1},
    ],
    "record_lock_rate": 0.05,
    "latency_ms": 2,
    "seed": 13,
}


def _mapping() -> Mapping:
    return load(preset_text("salesforce_cpq"))


def _org_values(sf: Salesforce, mapping: Mapping, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Every mapped rep-control field of the contracts `ids`, by contract id and field, as the org has them."""
    assert mapping.write_back.rep_controls is not None
    fields = list(mapping.write_back.rep_controls.fields.values())
    values: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 100):
        chunk = ", ".join(f"'{i}'" for i in ids[start : start + 100])
        for record in sf.query_all_iter(f"SELECT Id, {', '.join(fields)} FROM Contract WHERE Id IN ({chunk})"):
            values[str(record["Id"])] = {field: record[field] for field in fields}
    return values


def _changes(rng: random.Random, contract: models.Contract) -> dict[str, Any]:
    """One or two controls the rep changes, with new values that differ from the contract's."""
    picked = rng.sample(sorted(CONTROLS), rng.choice((1, 2)))
    changes: dict[str, Any] = {}
    for control in picked:
        attribute, value, _ = CONTROLS[control]
        if control == "hold":
            value = not contract.is_held
        elif getattr(contract, attribute) == value:
            continue
        changes[control] = value
    return changes or {"hold": not contract.is_held}


def conflict_figures(writes: int = 100, edited_share: float = 0.3, seed: int = 13) -> dict[str, Any]:
    rng = random.Random(seed)
    mapping = _mapping()
    assert mapping.write_back.rep_controls is not None
    field_of: dict[str, str] = {str(c): f for c, f in mapping.write_back.rep_controls.fields.items()}
    with tempfile.TemporaryDirectory() as tmp, start_seeded_org(Path(tmp) / "org", max(writes, 20)) as org:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        migrate.upgrade(url)
        engine = make_engine(url)
        sessions = sessionmaker(engine, expire_on_commit=False)
        sf = org.salesforce(timeout=300)
        budget = Budget(daily_budget=10**9, reserve=0)
        Puller(sessions, sf, meter_of(sf.session), mapping, budget, max_wait=0.2, overlap=timedelta(0)).pull(full=True)

        # The rep's changes, recorded as the portal records them.
        planned: dict[str, dict[str, Any]] = {}  # contract id → {field: ours}
        with sessions.begin() as session:
            contracts = session.scalars(
                select(models.Contract).where(models.Contract.is_deleted.is_(False)).order_by(models.Contract.sf_id)
            ).all()[:writes]
            for contract in contracts:
                changes = _changes(rng, contract)
                before = {control: getattr(contract, CONTROLS[control][0]) for control in changes}
                for control, value in changes.items():
                    setattr(contract, CONTROLS[control][0], value)
                record_rep_controls(session, contract=contract, mapping=mapping, changed=before)
                values = {
                    "hold": contract.is_held,
                    "status_flags": ";".join(contract.status_flags or []) or None,
                    "adjustment_pct": float(contract.price_adjustment_pct)
                    if contract.price_adjustment_pct is not None
                    else None,
                    "override_amount": float(contract.price_override) if contract.price_override is not None else None,
                    "override_reason": contract.price_override_reason or None,
                }
                planned[contract.sf_id] = {field_of[c]: values[c] for c in changes}
        ids = sorted(planned)
        expected = _org_values(sf, mapping, ids)  # before anyone writes: the values seen

        # Someone edits a share of the contracts in Salesforce after the pull (two seconds on, as LastModifiedDate
        # counts whole seconds in If-Unmodified-Since).
        org.advance_clock(2)
        editor = org.salesforce(timeout=300)
        injected = 0
        edited = rng.sample(ids, round(len(ids) * edited_share))
        for n, sf_id in enumerate(edited):
            ours = planned[sf_id]
            theirs_fields = {field_of[c]: CONTROLS[c][2] for c in CONTROLS if CONTROLS[c][2] is not None}
            conflicting = [f for f in ours if f in theirs_fields]
            untouched = [f for f in theirs_fields if f not in ours]
            if n % 2 == 0 and conflicting:
                field = rng.choice(conflicting)
                injected += 1
                ours.pop(field)  # theirs must stay
            else:
                field = rng.choice(untouched)
            editor.restful(f"sobjects/Contract/{sf_id}", method="PATCH", json={field: theirs_fields[field]})
            expected[sf_id][field] = theirs_fields[field]
        for sf_id, ours in planned.items():
            expected[sf_id].update(ours)

        org.faults(**FAULTS)
        started = time.perf_counter()
        pusher = Pusher(sessions, sf, mapping.write_back.tasks, budget, retry_base=0.01)
        pushes, calls = drain(pusher, sessions, time.monotonic() + 300)
        seconds = time.perf_counter() - started
        org.faults()

        actual = _org_values(sf, mapping, ids)
        overwritten = lost = 0
        for sf_id in ids:
            for field, value in expected[sf_id].items():
                if same(actual[sf_id][field], value):
                    continue
                if field in planned[sf_id]:
                    lost += 1
                else:
                    overwritten += 1
        with sessions() as session:
            detected = session.scalar(select(func.count()).select_from(models.WriteConflict)) or 0
            statuses = dict(
                session.execute(
                    select(models.OutboxItem.status, func.count())
                    .where(models.OutboxItem.kind == "field_update")
                    .group_by(models.OutboxItem.status)
                ).all()
            )
        conflict_tasks = sf.query("SELECT COUNT() FROM Task WHERE Subject LIKE '%Salesforce change kept%'")["totalSize"]
        engine.dispose()
    return {
        "writes": len(ids),
        "edited_in_salesforce": len(edited),
        "conflicts_injected": injected,
        "conflicts_detected": int(detected),
        "conflict_tasks_in_org": int(conflict_tasks or 0),
        "fields_overwritten_not_changed_by_user": overwritten,
        "rep_changes_lost": lost,
        "dead_lettered": int(statuses.get("dead", 0)),
        "still_pending": int(statuses.get("pending", 0)),
        "outbox": {str(k): int(v) for k, v in statuses.items()},
        "pushes": pushes,
        "api_calls": calls,
        "seconds": round(seconds, 2),
    }
