"""Pulls that heal (issue 13, part 7), against the stand-in org on SQLite and PostgreSQL: a transient failure
leaves the run "retrying" and the next scheduled tick pulls; only a permanent failure blocks the schedule, and
push runs neither block pulls nor clear their block; one malformed record, or one row the store refuses, is
skipped and reported with its id and reason while the rest of the pull lands.

The bad input is named in each test. Nothing sleeps: the org's fault rules and clock drive what happens (the
quick retries' backoff is shortened, which changes how long they wait, not what they do).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import Mapping
from sync_service.pull import service as pull_service
from sync_service.pull.convert import modstamp
from sync_service.pull.run import SKIPPED_KEY, PullResult
from sync_service.pull.service import Skipped, pull_all
from sync_service.salesforce.runs import record_run
from sync_service.store import models
from sync_service.store.db import Database
from tests.standin_org import RunningOrg
from tests.sync_service.pull.conftest import activate_preset, load_preset, make_puller, org_settings

MAPPING = "salesforce_cpq"
# Seconds the org's clock moves between a pull and a change it must see (watermarks compare to the second).
STEP = 2


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduled pull's quick retries wait at most this long between attempts (30 s in service)."""
    monkeypatch.setattr(pull_service, "RETRY_MAX_WAIT", 0.05)


def _runs(db: Database) -> list[tuple[str, str]]:
    with db.session_scope() as session:
        return [(r.kind, r.status) for r in session.scalars(select(models.SyncRun).order_by(models.SyncRun.id))]


def _record_push(db: Database, status: str, error: str | None) -> None:
    """A push run, recorded as jobs/push.py records it."""
    with db.session_scope() as session:
        record_run(
            session,
            mapping_name=MAPPING,
            kind="push",
            started=datetime.now(UTC),
            status=status,
            error=error,
            rows={"done": 0, "dead": 0},
            api_calls=1,
        )


# --------------------------------------------------------------------------------------------- failures


def test_a_transient_pull_failure_is_retrying_and_the_next_tick_pulls(
    mutable_org: RunningOrg, database: Database
) -> None:
    activate_preset(database.url)
    settings = org_settings(mutable_org, database.url)
    # Bad input: every query answers 503 SERVER_UNAVAILABLE, for longer than the pull's quick retries last.
    mutable_org.faults(rules=[{"route": "query", "error": "503", "rate": 1.0}])
    [first] = pull_all(database, settings)
    assert isinstance(first, PullResult) and first.status == "retrying", first
    assert first.error is not None and "SERVER_UNAVAILABLE" in first.error
    # Still down at the next tick: it is pulled again (not skipped as blocked), and is retrying again.
    [second] = pull_all(database, settings)
    assert isinstance(second, PullResult) and second.status == "retrying", second
    # The org answers again: the next scheduled pull (no force) pulls everything.
    mutable_org.faults(rules=[])
    [healed] = pull_all(database, settings)
    assert isinstance(healed, PullResult) and healed.status == "succeeded", healed
    assert healed.kind == "full" and healed.rows["contract"] == 40
    assert _runs(database) == [("full", "retrying"), ("full", "retrying"), ("full", "succeeded")]
    with database.session_scope() as session:
        run = session.get(models.SyncRun, first.run_id)
        assert run is not None and run.error == first.error and run.finished_at is not None


def test_a_permanent_failure_blocks_the_schedule_and_push_runs_neither_block_nor_clear_it(
    mutable_org: RunningOrg, database: Database
) -> None:
    activate_preset(database.url)
    settings = org_settings(mutable_org, database.url)
    [first] = pull_all(database, settings)
    assert isinstance(first, PullResult) and first.status == "succeeded", first
    # Bad input: a push whose sign-in Salesforce refused. Pulls go on.
    _record_push(database, "failed", "Salesforce sign-in failed: INVALID_LOGIN")
    [after_push] = pull_all(database, settings)
    assert isinstance(after_push, PullResult) and after_push.status == "succeeded", after_push
    # Bad input: a mapped field (Contract.Auto_Renew__c) deleted in the org — permanent.
    mutable_org.admin("POST", "schema", {"op": "delete", "object": "Contract", "field": "Auto_Renew__c"})
    [failed] = pull_all(database, settings)
    assert isinstance(failed, PullResult) and failed.status == "failed"
    assert failed.error is not None and "Auto_Renew__c" in failed.error
    # A push that succeeds afterwards does not clear the pull's block.
    _record_push(database, "succeeded", None)
    [blocked] = pull_all(database, settings)
    assert isinstance(blocked, Skipped) and "last pull failed" in blocked.reason and "Auto_Renew__c" in blocked.reason
    assert "renewals sync" in blocked.reason  # the fix
    assert [status for kind, status in _runs(database) if kind != "push"] == ["succeeded", "succeeded", "failed"]


# --------------------------------------------------------------------------------------------- bad records


def _with_contract_field(field: str, spec: object) -> Mapping:
    data = load_preset(MAPPING).model_dump(mode="python", exclude_defaults=True)
    data["entities"]["contract"]["fields"][field] = spec
    return Mapping.model_validate(data)


def _two_contracts(sf: Any) -> tuple[str, str]:
    records = sf.query("SELECT Id FROM Contract WHERE Status = 'Activated' ORDER BY ContractNumber LIMIT 2")["records"]
    return records[0]["Id"], records[1]["Id"]


def test_one_malformed_record_is_skipped_and_reported_and_the_rest_lands(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    # The admin maps the contracts' start date from a text field that reps fill by hand.
    mutable_org.admin("POST", "schema", {"op": "add", "object": "Contract", "field": "Service_Start__c"})
    mapping = _with_contract_field("start_date", "Service_Start__c")
    puller = make_puller(store, mutable_org, mapping)
    sf = puller.sf
    good, bad = _two_contracts(sf)
    sf.Contract.update(good, {"Service_Start__c": "2026-03-01"})
    sf.Contract.update(bad, {"Service_Start__c": "next spring"})  # bad input: not a date
    result = puller.pull(full=True)

    assert result.status == "succeeded", result.error
    reason = "start_date from Service_Start__c: 'next spring' is not a date"
    assert result.skipped["contract"] == [f"{bad}: {reason}"] and result.skipped_count["contract"] == 1
    assert result.rows["contract"] == 39
    # Its quote has no contract to hang on: skipped too, and said why; every other quote lands.
    assert result.skipped_count["renewal_quote"] == 1
    assert result.skipped["renewal_quote"][0].endswith(f"its contract {bad} is not in the pulled data")
    with store() as session:
        stored = {c.sf_id: c for c in session.scalars(select(models.Contract))}
        quotes = session.scalar(select(func.count()).select_from(models.RenewalQuote))
        run = session.get(models.SyncRun, result.run_id)
        watermark = session.scalar(select(models.SyncState.watermark).where(models.SyncState.entity == "contract"))
    assert len(stored) == 39 and bad not in stored
    assert stored[good].start_date is not None and stored[good].start_date.isoformat() == "2026-03-01"
    assert quotes == result.rows["renewal_quote"] > 0
    assert run is not None and run.status == "succeeded"
    assert run.rows["contract_skipped"] == 1 and run.rows[SKIPPED_KEY]["contract"] == [f"{bad}: {reason}"]
    # The watermark moved past the skipped record: it is read again when the org changes it, not every pull.
    bad_stamp = modstamp(sf.query(f"SELECT SystemModstamp FROM Contract WHERE Id = '{bad}'")["records"][0])
    assert watermark is not None and bad_stamp is not None and watermark >= bad_stamp

    # A rep corrects the value in the org: the next incremental pull lands the record and its quote.
    mutable_org.advance_clock(STEP)
    sf.Contract.update(bad, {"Service_Start__c": "2026-04-01"})
    healed = puller.pull(full=False)
    assert healed.status == "succeeded", healed.error
    assert healed.skipped_count["contract"] == 0 and healed.rows["contract"] == 1
    with store() as session:
        fixed = session.scalar(select(models.Contract).where(models.Contract.sf_id == bad))
        assert fixed is not None and fixed.start_date is not None and fixed.start_date.isoformat() == "2026-04-01"
        assert session.scalar(select(func.count()).where(models.RenewalQuote.contract_id == fixed.id)) == 1


def _refuse_contract(session: Session, sf_id: str) -> None:
    """The store refuses one contract row, as a constraint it breaks would (a trigger standing in for one)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "CREATE FUNCTION refuse_contract() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.sf_id = '{sf_id}' THEN RAISE EXCEPTION 'contract refused by a test constraint' "
                "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        session.execute(
            text(
                "CREATE TRIGGER refuse_contract BEFORE INSERT ON contracts "
                "FOR EACH ROW EXECUTE FUNCTION refuse_contract()"
            )
        )
    else:
        session.execute(
            text(
                f"CREATE TRIGGER refuse_contract BEFORE INSERT ON contracts WHEN NEW.sf_id = '{sf_id}' "
                "BEGIN SELECT RAISE(ABORT, 'contract refused by a test constraint'); END"
            )
        )


def test_one_row_the_store_refuses_is_skipped_and_the_rest_of_its_chunk_lands(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    puller = make_puller(store, mutable_org, load_preset(MAPPING))
    _, refused = _two_contracts(puller.sf)
    with store.begin() as session:
        _refuse_contract(session, refused)  # bad input: a contract row the store's constraint refuses
    result = puller.pull(full=True)
    assert result.status == "succeeded", result.error
    assert result.rows["contract"] == 39 and result.skipped_count["contract"] == 1
    [example] = result.skipped["contract"]
    assert example.startswith(f"{refused}: the store refused it: ") and "refused by a test constraint" in example
    with store() as session:
        sf_ids = set(session.scalars(select(models.Contract.sf_id)))
        run = session.get(models.SyncRun, result.run_id)
    assert len(sf_ids) == 39 and refused not in sf_ids
    assert run is not None and run.rows[SKIPPED_KEY]["contract"] == [example]


def test_a_malformed_parent_fetched_by_id_is_reported_under_its_own_entity(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    # The admin maps the accounts' reseller flag from a text field (no transform): only true/false convert.
    mutable_org.admin("POST", "schema", {"op": "add", "object": "Account", "field": "Resells__c"})
    data = load_preset(MAPPING).model_dump(mode="python", exclude_defaults=True)
    data["entities"]["account"]["fields"]["is_reseller"] = "Resells__c"
    puller = make_puller(store, mutable_org, Mapping.model_validate(data))
    sf = puller.sf
    # An account no contract points at yet, so out of scope: the full pull does not read it.
    account = sf.Account.create({"Name": "Newco", "Resells__c": "sometimes"})["id"]  # bad input: not true/false
    assert puller.pull(full=True).status == "succeeded"
    contract_id, _ = _two_contracts(sf)
    # A contract moves to it: the incremental pull reads the contract and fetches the unchanged account by id.
    mutable_org.advance_clock(STEP)
    sf.Contract.update(contract_id, {"AccountId": account})
    result = puller.pull(full=False)
    assert result.status == "succeeded", result.error
    assert result.rows["account"] == 0  # not read as a changed account: fetched as the contract's parent
    assert result.skipped["account"] == [f"{account}: is_reseller from Resells__c: 'sometimes' is not true or false"]
    assert result.skipped["contract"] == [f"{contract_id}: its account {account} is not in the pulled data"]
    assert result.skipped_count == {**result.skipped_count, "account": 1, "contract": 1}
