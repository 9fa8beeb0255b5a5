"""`renewals bench state-fields`: the API calls a full and an incremental pull make with the renewal state the
service reads back from the org (renewed, hold and every rep control, quote approval, the contact's email
opt-out), beside the same pulls with a mapping that reads none of it, in the same run on the same org.

Issue 13's target is 0 extra calls: the state fields ride on the queries the pull makes anyway (the renewal
opportunity's IsWon through a relationship path; the parent's SystemModstamp in the same SELECT).

Each mapping pulls the same org into its own fresh SQLite store: both full pulls first, then 1% of the contracts
change in the org and as many renewal opportunities are won (a change the contract's own SystemModstamp does not
show), then both incremental pulls. The one without the state fields cannot see the wins: the figures show it,
and the contract rows each read (a pull that sees more changed rows may need another page of 2,000). Then a
second round changes what both see alike (contracts edited, nothing won), and both pull incrementally again.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from mappings.model import Mapping
from sync_service.pull.run import Puller, PullResult
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


class _Store:
    """One mapping's pulls into its own fresh SQLite store."""

    def __init__(self, org: Any, mapping: Mapping, path: Path):
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        sf = org.salesforce(timeout=300)
        budget = Budget(daily_budget=10**9, reserve=0)
        self.puller = Puller(self.sessions, sf, meter_of(sf.session), mapping, budget, overlap=timedelta(0))

    def pull(self, *, full: bool) -> PullResult:
        result = self.puller.pull(full=full)
        if result.status != "succeeded":
            raise RuntimeError(f"the pull {result.status}: {result.error}")
        return result

    def renewed_in_salesforce(self) -> int:
        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(models.Contract).where(models.Contract.renewed_via == "salesforce")
                )
                or 0
            )


def state_field_figures(data: Path, contracts: int) -> dict[str, Any]:
    mapping = Mapping.model_validate(yaml.safe_load(SALESFORCE_CPQ_PRESET.read_text()))
    changes = max(1, contracts // 100)
    with tempfile.TemporaryDirectory() as tmp:
        return _figures(_fresh_copy(data, contracts, Path(tmp)), contracts, mapping, changes, Path(tmp))


def _fresh_copy(data: Path, contracts: int, tmp: Path) -> Path:
    """A copy of the seeded org's data (seeded on first use): earlier runs' changes to the shared benchmark
    org would otherwise sit at the watermark and be read again."""
    if not (data / "org.sqlite3").exists():
        with start_seeded_org(data, contracts):
            pass
    copy = tmp / "org"
    shutil.copytree(data, copy)
    return copy


def _figures(data: Path, contracts: int, mapping: Mapping, changes: int, tmp: Path) -> dict[str, Any]:
    with start_seeded_org(data, contracts) as org:
        sf = org.salesforce(timeout=300)
        rows = sf.query_all(
            "SELECT Id, SBQQ__RenewalOpportunity__c FROM Contract WHERE SBQQ__RenewalOpportunity__c != null "
            f"AND SBQQ__RenewalOpportunity__r.IsWon = false LIMIT {3 * changes}"
        )["records"]
        touched, won, edited = rows[:changes], rows[changes : 2 * changes], rows[2 * changes :]
        # Both mappings pull the same org: full pulls first, then 1% of the contracts change and as many renewal
        # opportunities are won, then both pull incrementally.
        stores = {
            "state": _Store(org, mapping, tmp / "state.db"),
            "baseline": _Store(org, baseline(mapping), tmp / "baseline.db"),
        }
        full = {name: store.pull(full=True) for name, store in stores.items()}
        org.advance_clock(CLOCK_STEP_SECONDS)
        _patch(sf, "Contract", [r["Id"] for r in touched], {"Description": "changed for the benchmark"})
        won_opportunities = sorted({r["SBQQ__RenewalOpportunity__c"] for r in won})
        _patch(sf, "Opportunity", won_opportunities, {"StageName": "Closed Won"})
        incremental = {name: store.pull(full=False) for name, store in stores.items()}
        # Then a change both mappings see alike: 1% of the contracts edited, no renewal won.
        org.advance_clock(CLOCK_STEP_SECONDS)
        _patch(sf, "Contract", [r["Id"] for r in edited], {"Description": "edited for the benchmark"})
        edits = {name: store.pull(full=False) for name, store in stores.items()}
        won_contracts = sf.query("SELECT COUNT() FROM Contract WHERE SBQQ__RenewalOpportunity__r.IsWon = true")[
            "totalSize"
        ]
        marked = {name: store.renewed_in_salesforce() for name, store in stores.items()}
        for store in stores.values():
            store.engine.dispose()
    return {
        "contracts": contracts,
        "full_pull_api_calls": full["state"].api_calls,
        "full_pull_api_calls_without_state_fields": full["baseline"].api_calls,
        "extra_calls_per_full_pull": full["state"].api_calls - full["baseline"].api_calls,
        "incremental_pull_api_calls": incremental["state"].api_calls,
        "incremental_pull_api_calls_without_state_fields": incremental["baseline"].api_calls,
        "extra_calls_per_incremental_pull": incremental["state"].api_calls - incremental["baseline"].api_calls,
        "incremental_contract_rows": incremental["state"].rows.get("contract", 0),
        "incremental_contract_rows_without_state_fields": incremental["baseline"].rows.get("contract", 0),
        "edits_only_incremental_pull_api_calls": edits["state"].api_calls,
        "edits_only_incremental_pull_api_calls_without_state_fields": edits["baseline"].api_calls,
        "extra_calls_per_edits_only_incremental_pull": edits["state"].api_calls - edits["baseline"].api_calls,
        "renewal_opportunities_won_in_salesforce": len(won_opportunities),
        "contracts_renewed_in_salesforce": won_contracts,
        "contracts_marked_renewed": marked["state"],
        "contracts_marked_renewed_without_state_fields": marked["baseline"],
        "target_extra_calls": 0,
    }


def _patch(client: Any, sobject: str, ids: list[str], values: dict[str, Any]) -> None:
    for start in range(0, len(ids), 200):
        records = [{"attributes": {"type": sobject}, "id": i, **values} for i in ids[start : start + 200]]
        client.restful("composite/sobjects", method="PATCH", json={"records": records})
