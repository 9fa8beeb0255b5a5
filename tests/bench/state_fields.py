"""`renewals bench state-fields`: the API calls a full and an incremental pull make with the renewal state the
service reads back from the org (renewed, hold and every rep control, quote approval, the contact's email
opt-out), beside the same pulls with a mapping that reads none of it, in the same run on the same org.

Issue 13's target is 0 extra calls: the state fields ride on the queries the pull makes anyway (the renewal
opportunity's IsWon through a relationship path; the parent's SystemModstamp in the same SELECT).

Each mapping pulls into its own fresh SQLite store. Between the full and the incremental pull 1% of the
contracts change in the org, and as many renewal opportunities are won (a change the contract's own
SystemModstamp does not show): both incremental pulls see the same org.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from mappings.model import Mapping
from sync_service.pull.run import Puller
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.transport import meter_of
from sync_service.store import migrate, models
from sync_service.store.db import make_engine
from tests.bench.devorg import start_seeded_org
from tests.paths import SALESFORCE_CPQ_PRESET

CLOCK_STEP_SECONDS = 2
# The canonical fields issue 13 added, per entity: the baseline mapping reads none of them.
STATE_FIELDS = {
    "contact": ("email_opt_out",),
    "contract": ("renewed", "hold", "status_flags", "adjustment_pct", "override_amount", "override_reason"),
    "renewal_quote": ("approval",),
}


def baseline(mapping: Mapping) -> Mapping:
    """`mapping` without the state fields: no renewal rules, no rep controls read back (nor written, so they
    are not filled in again for reading)."""
    data = mapping.model_dump(mode="python", exclude_defaults=True)
    for entity, names in STATE_FIELDS.items():
        for name in names:
            data["entities"][entity]["fields"].pop(name, None)
    data.pop("renewal", None)
    data.get("write_back", {}).pop("rep_controls", None)
    return Mapping.model_validate(data)


def _pulls(org: Any, mapping: Mapping, store: Path, change: Any) -> dict[str, Any]:
    url = f"sqlite:///{store}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    sf = org.salesforce(timeout=300)
    puller = Puller(
        sessions, sf, meter_of(sf.session), mapping, Budget(daily_budget=10**9, reserve=0), overlap=timedelta(0)
    )
    full = puller.pull(full=True)
    change(sf)
    incremental = puller.pull(full=False)
    with sessions() as session:
        renewed = session.scalar(
            select(func.count()).select_from(models.Contract).where(models.Contract.renewed_via == "salesforce")
        )
    engine.dispose()
    for result in (full, incremental):
        if result.status != "succeeded":
            raise RuntimeError(f"the pull {result.status}: {result.error}")
    return {"full": full.api_calls, "incremental": incremental.api_calls, "renewed_in_salesforce": renewed}


def state_field_figures(data: Path, contracts: int) -> dict[str, Any]:
    mapping = Mapping.model_validate(yaml.safe_load(SALESFORCE_CPQ_PRESET.read_text()))
    plain = baseline(mapping)
    changes = max(1, contracts // 100)
    with start_seeded_org(data, contracts) as org, tempfile.TemporaryDirectory() as tmp:
        sf = org.salesforce(timeout=300)
        rows = sf.query_all(
            "SELECT Id, SBQQ__RenewalOpportunity__c FROM Contract WHERE SBQQ__RenewalOpportunity__c != null "
            f"AND SBQQ__RenewalOpportunity__r.IsWon = false LIMIT {4 * changes}"
        )["records"]
        # Each mapping's incremental pull meets a change of the same size: its own contracts edited and its own
        # renewal opportunities won.
        batches = [(rows[i * changes : (i + 1) * changes], rows[(i + 2) * changes : (i + 3) * changes]) for i in (0, 1)]

        def changer(batch: int) -> Any:
            def change(client: Any) -> None:
                touched, won = batches[batch]
                org.advance_clock(CLOCK_STEP_SECONDS)
                _patch(client, "Contract", [r["Id"] for r in touched], {"Description": "changed for the benchmark"})
                _patch(
                    client, "Opportunity", [r["SBQQ__RenewalOpportunity__c"] for r in won], {"StageName": "Closed Won"}
                )

            return change

        without = _pulls(org, plain, Path(tmp) / "baseline.db", changer(0))
        with_state = _pulls(org, mapping, Path(tmp) / "state.db", changer(1))
    return {
        "contracts": contracts,
        "full_pull_api_calls": with_state["full"],
        "full_pull_api_calls_without_state_fields": without["full"],
        "extra_calls_per_full_pull": with_state["full"] - without["full"],
        "incremental_pull_api_calls": with_state["incremental"],
        "incremental_pull_api_calls_without_state_fields": without["incremental"],
        "extra_calls_per_incremental_pull": with_state["incremental"] - without["incremental"],
        "renewal_opportunities_won_in_salesforce": len(batches[1][1]),
        # Won before the state mapping's full pull (the baseline's batch) and after it (its own batch).
        "contracts_marked_renewed_in_salesforce": with_state["renewed_in_salesforce"],
        "target_extra_calls": 0,
    }


def _patch(client: Any, sobject: str, ids: list[str], values: dict[str, Any]) -> None:
    for start in range(0, len(ids), 200):
        records = [{"attributes": {"type": sobject}, "id": i, **values} for i in ids[start : start + 200]]
        client.restful("composite/sobjects", method="PATCH", json={"records": records})
