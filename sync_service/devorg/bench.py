"""Benchmarks of the stand-in org: a 60,000-row query through simple-salesforce against the same rows
served as static JSON pages by the same HTTP stack, and the time to seed 60,000 contracts."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUERY = (
    "SELECT Id, ContractNumber, Status, StartDate, EndDate, ContractTerm, AccountId, Account.Name, OwnerId, "
    "Total_Contract_Value__c, CurrencyIsoCode, SystemModstamp FROM Contract"
)


def _start(data: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    command = [str(Path(sys.executable).with_name("renewals")), "devorg", "serve", "--port", "0", "--data", str(data)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the stand-in org did not start")
    return process, json.loads(line)


def seed_seconds(contracts: int, flavour: str = "salesforce_cpq", data: Path | None = None) -> float:
    from .org import Org
    from .seed import seed_org

    with tempfile.TemporaryDirectory() as tmp:
        target = data or Path(tmp) / "org"
        org = Org(target)
        started = time.perf_counter()
        seed_org(org.store, contracts=contracts, flavour=flavour, api_username=org.credentials.username)
        elapsed = time.perf_counter() - started
        org.store.set_meta("seeded", json.dumps({"contracts": contracts, "flavour": flavour}))
        org.store.close()
    return elapsed


def ensure_seeded(data: Path, contracts: int) -> None:
    from .org import Org
    from .seed import seed_org

    org = Org(data)
    try:
        if org.store.get_meta("seeded") is None:
            seed_org(org.store, contracts=contracts, flavour="salesforce_cpq", api_username=org.credentials.username)
            org.store.set_meta("seeded", json.dumps({"contracts": contracts, "flavour": "salesforce_cpq"}))
    finally:
        org.store.close()


def query_figures(data: Path, contracts: int) -> dict[str, Any]:
    from sync_service.salesforce.client import Connection, connect

    ensure_seeded(data, contracts)
    process, info = _start(data)
    try:
        sf = connect(
            Connection(
                auth="password",
                login_url=info["instance_url"],
                username=info["username"],
                password=info["password"],
                security_token=info["security_token"],
                ca_bundle=Path(info["ca_cert"]),
                timeout=120,
            )
        )
        list(sf.query_all_iter("SELECT Id FROM Contract LIMIT 10"))  # warm the connection and the login
        started = time.perf_counter()
        records = list(sf.query_all_iter(QUERY))
        query_seconds = time.perf_counter() - started

        pages = []
        for start in range(0, len(records), 2000):
            chunk = records[start : start + 2000]
            page: dict[str, Any] = {"totalSize": len(records), "done": start + 2000 >= len(records)}
            if not page["done"]:
                page["nextRecordsUrl"] = f"/services/data/v59.0/query/01g0000000000AB-{start + 2000}"
            page["records"] = chunk
            pages.append(json.dumps(page, separators=(",", ":")))
        admin = {"X-Devorg-Admin": info["admin_token"]}
        sf.session.put(f"{info['instance_url']}/_devorg/admin/static", json=pages, headers=admin).raise_for_status()
        started = time.perf_counter()
        static_rows = 0
        for index in range(len(pages)):
            response = sf.session.get(f"{info['instance_url']}/_devorg/static/{index}", headers=sf.headers)
            static_rows += len(response.json()["records"])
        static_seconds = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    rate = len(records) / query_seconds
    static_rate = static_rows / static_seconds
    return {
        "rows": len(records),
        "query_seconds": round(query_seconds, 3),
        "records_per_second": round(rate, 1),
        "static_seconds": round(static_seconds, 3),
        "static_records_per_second": round(static_rate, 1),
        "ratio": round(rate / static_rate, 3),
    }
