"""Benchmarks of the stand-in org: a 60,000-row query through simple-salesforce against the same rows
served as static JSON pages by the same HTTP stack, and the time to seed 60,000 contracts."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

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
    from sync_service.devorg.org import Org
    from sync_service.devorg.seed import seed_org

    with tempfile.TemporaryDirectory() as tmp:
        target = data or Path(tmp) / "org"
        org = Org(target)
        started = time.perf_counter()
        seed_org(org.store, contracts=contracts, flavour=flavour, api_username=org.credentials.username)
        elapsed = time.perf_counter() - started
        org.store.set_meta("seeded", json.dumps({"contracts": contracts, "flavour": flavour}))
        org.store.close()
    return elapsed


def _is_seeded(data: Path) -> bool:
    """Read the seeded flag straight from the org's file: opening the Org would load every record."""
    path = data / "org.sqlite3"
    if not path.exists():
        return False
    connection = sqlite3.connect(str(path))
    try:
        row = connection.execute("SELECT value FROM meta WHERE key = 'seeded'").fetchone()
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()
    return row is not None


def ensure_seeded(data: Path, contracts: int) -> None:
    from sync_service.devorg.org import Org
    from sync_service.devorg.seed import seed_org

    if _is_seeded(data):
        return
    org = Org(data)
    try:
        seed_org(org.store, contracts=contracts, flavour="salesforce_cpq", api_username=org.credentials.username)
        org.store.set_meta("seeded", json.dumps({"contracts": contracts, "flavour": "salesforce_cpq"}))
    finally:
        org.store.close()


def connect_to(info: dict[str, Any], timeout: float = 300) -> Salesforce:
    """simple-salesforce signed in to a stand-in org by the password flow, from its first line of output."""
    from sync_service.salesforce.client import Connection, connect

    return connect(
        Connection(
            auth="password",
            login_url=info["instance_url"],
            username=info["username"],
            password=info["password"],
            security_token=info["security_token"],
            ca_bundle=Path(info["ca_cert"]),
            timeout=timeout,
        )
    )


def query_figures(data: Path, contracts: int) -> dict[str, Any]:
    ensure_seeded(data, contracts)
    process, info = _start(data)
    try:
        sf = connect_to(info)
        list(sf.query_all_iter("SELECT Id FROM Contract LIMIT 10"))  # warm the connection and the login
        # Timed: stream every row the way the pull does, keeping none of them.
        started = time.perf_counter()
        rows = sum(1 for _ in sf.query_all_iter(QUERY))
        query_seconds = time.perf_counter() - started

        # Untimed: the same pages as JSON, to be served back verbatim as the baseline.
        pages = []
        page = sf.query(QUERY)
        while True:
            pages.append(json.dumps(page, separators=(",", ":")))
            if page.get("done", True):
                break
            page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        admin = {"X-Devorg-Admin": info["admin_token"]}
        sf.session.put(f"{info['instance_url']}/_devorg/admin/static", json=pages, headers=admin).raise_for_status()
        # The baseline goes through the very same client code path (query_more on a URL), so the only
        # difference left is the org computing and encoding the pages instead of replaying stored bytes.
        started = time.perf_counter()
        static_rows = 0
        for index in range(len(pages)):
            page = sf.query_more(f"/_devorg/static/{index}", identifier_is_url=True)
            static_rows += len(page["records"])
        static_seconds = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    rate = rows / query_seconds
    static_rate = static_rows / static_seconds
    return {
        "rows": rows,
        "query_seconds": round(query_seconds, 3),
        "records_per_second": round(rate, 1),
        "static_seconds": round(static_seconds, 3),
        "static_records_per_second": round(static_rate, 1),
        "ratio": round(rate / static_rate, 3),
    }
