"""Benchmarks of the stand-in org: a 60,000-row query through simple-salesforce against the same rows
served as static JSON pages by the same HTTP stack, and the time to seed 60,000 contracts."""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.settings import Settings, load_settings
from mappings.loader import load
from mappings.model import TaskConventions
from sync_service.devorg.org import Org
from sync_service.devorg.seed import seed_org
from sync_service.pull.service import pull_all
from sync_service.store import migrate
from sync_service.store.db import Database
from sync_service.store.mapping_versions import activate, import_preset
from tests.standin_org import RunningOrg, start_org

QUERY = (
    "SELECT Id, ContractNumber, Status, StartDate, EndDate, ContractTerm, AccountId, Account.Name, OwnerId, "
    "Total_Contract_Value__c, CurrencyIsoCode, SystemModstamp FROM Contract"
)
# The benchmark orgs' flavour; the org seeds it into its data directory on its first start only.
FLAVOUR = "salesforce_cpq"


def start_seeded_org(data: Path, contracts: int) -> RunningOrg:
    """A Salesforce CPQ org of `contracts` contracts in `data`, seeded on first use and reused after."""
    return start_org(data, "--seed-contracts", str(contracts), "--flavour", FLAVOUR)


@dataclass(frozen=True)
class PulledStore:
    environment: dict[str, str]  # RENEWALS_* for processes started beside the bench
    settings: Settings
    db: Database
    conventions: TaskConventions  # the preset's Task conventions


def pulled_store(work: Path, org: RunningOrg, redis_url: str) -> PulledStore:
    """A SQLite store in `work` with the shipped Salesforce CPQ preset active, fully pulled from `org`. The app
    runs in the bench's process (Flask's test client): the public URL is only for the links' text."""
    database_url = f"sqlite:///{work / 'renewals.db'}"
    environment = {
        "RENEWALS_SECRET_KEYS": secrets.token_urlsafe(32),
        "RENEWALS_DATABASE_URL": database_url,
        "RENEWALS_REDIS_URL": redis_url,
        "RENEWALS_PUBLIC_BASE_URL": "http://renewals.bench",
        "RENEWALS_LOG_LEVEL": "WARNING",
        **org.salesforce_env(),
    }
    settings = load_settings(environment)
    migrate.upgrade(database_url)
    db = Database(database_url)
    try:
        with db.session_scope() as session:
            version = import_preset(session, "salesforce_cpq", author="bench")
            activate(session, version.name, version.version, [])
            conventions = load(version.yaml).write_back.tasks
        pull_all(db, settings, full=True)
    except BaseException:
        db.dispose()
        raise
    return PulledStore(environment, settings, db, conventions)


def seed_seconds(contracts: int, flavour: str = FLAVOUR, data: Path | None = None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        target = data or Path(tmp) / "org"
        org = Org(target)
        started = time.perf_counter()
        seed_org(org.store, contracts=contracts, flavour=flavour, api_username=org.credentials.username)
        elapsed = time.perf_counter() - started
        org.store.set_meta("seeded", json.dumps({"contracts": contracts, "flavour": flavour}))
        org.store.close()
    return elapsed


def query_figures(data: Path, contracts: int) -> dict[str, Any]:
    with start_seeded_org(data, contracts) as org:
        sf = org.salesforce(timeout=300)
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
        org.admin("PUT", "static", pages)
        # The baseline goes through the very same client code path (query_more on a URL), so the only
        # difference left is the org computing and encoding the pages instead of replaying stored bytes.
        started = time.perf_counter()
        static_rows = 0
        for index in range(len(pages)):
            page = sf.query_more(f"/_devorg/static/{index}", identifier_is_url=True)
            static_rows += len(page["records"])
        static_seconds = time.perf_counter() - started
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
