"""The pull against the stand-in org: each preset lands its org's values in the store exactly; incremental
pulls fetch only what changed; deletions, cancellations and a renamed field are handled as an admin needs."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import Mapping
from sync_service.pull import fetch
from sync_service.pull import run as pull_run
from sync_service.pull.reconcile import reconcile
from sync_service.pull.run import transient_retrying
from sync_service.salesforce.budget import check_budget
from sync_service.salesforce.errors import TransientError
from sync_service.store import models
from sync_service.store.db import make_engine
from tests.standin_org import RunningOrg
from tests.sync_service.pull.conftest import load_preset, make_puller

# Seconds the org's clock is moved on between a pull and the changes it must (or must not) see next: watermarks
# are compared to the second, so a change has to land in a later second than the pull's newest record.
STEP = 2

# Per flavour: the contract object, its number and amount fields, and how to find its renewal quote's total
# and line count — written out by hand so the test does not reuse the mapping it checks.
FLAVOURS: dict[str, dict[str, str]] = {
    "salesforce_cpq": {
        "contracts": "SELECT Id, ContractNumber, EndDate, Total_Contract_Value__c, CurrencyIsoCode, Account.Name, "
        "Owner.Email FROM Contract WHERE Status = 'Activated' ORDER BY ContractNumber LIMIT 8",
        "number": "ContractNumber",
        "end": "EndDate",
        "amount": "Total_Contract_Value__c",
        "quote": "SELECT Name, SBQQ__NetAmount__c, (SELECT Id FROM SBQQ__LineItems__r) FROM SBQQ__Quote__c "
        "WHERE SBQQ__MasterContract__c = '{id}' AND SBQQ__Primary__c = true AND SBQQ__Type__c = 'Renewal'",
        "total": "SBQQ__NetAmount__c",
        "lines": "SBQQ__LineItems__r",
    },
    "conga_cpq": {
        "contracts": "SELECT Id, Apttus__FF_Agreement_Number__c, Apttus__Contract_End_Date__c, "
        "Apttus__Total_Contract_Value__c, CurrencyIsoCode, Apttus__Account__r.Name, Owner.Email "
        "FROM Apttus__APTS_Agreement__c ORDER BY Apttus__FF_Agreement_Number__c LIMIT 8",
        "number": "Apttus__FF_Agreement_Number__c",
        "end": "Apttus__Contract_End_Date__c",
        "amount": "Apttus__Total_Contract_Value__c",
        "quote": "SELECT Name, Apttus_Proposal__Amount__c, (SELECT Id FROM Apttus_Proposal__R00N70000001yUfBEAU__r) "
        "FROM Apttus_Proposal__Proposal__c WHERE Apttus_QPComply__MasterAgreementId__c = '{id}'",
        "total": "Apttus_Proposal__Amount__c",
        "lines": "Apttus_Proposal__R00N70000001yUfBEAU__r",
    },
    "standard": {
        "contracts": "SELECT Id, ContractNumber, EndDate, Total_Contract_Value__c, CurrencyIsoCode, Account.Name, "
        "Owner.Email FROM Contract WHERE Status = 'Activated' ORDER BY ContractNumber LIMIT 8",
        "number": "ContractNumber",
        "end": "EndDate",
        "amount": "Total_Contract_Value__c",
        "quote": "SELECT Name, Amount, (SELECT Id FROM OpportunityLineItems) FROM Opportunity "
        "WHERE ContractId = '{id}' AND Type = 'Renewal'",
        "total": "Amount",
        "lines": "OpportunityLineItems",
    },
}


def _path(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_each_preset_lands_the_org_values_in_the_store(
    flavour: str, flavour_org: Callable[[str], RunningOrg], store: sessionmaker[Session]
) -> None:
    org = flavour_org(flavour)
    puller = make_puller(store, org, load_preset(flavour))
    result = puller.pull(full=True)
    assert result.status == "succeeded", result.error
    assert result.rows["contract"] > 0 and result.rows["quote_line"] > result.rows["renewal_quote"] > 0
    spec = FLAVOURS[flavour]
    sf = puller.sf
    account_path = "Apttus__Account__r.Name" if flavour == "conga_cpq" else "Account.Name"
    with store() as session:
        for expected in sf.query(spec["contracts"])["records"]:
            contract = session.scalar(select(models.Contract).where(models.Contract.sf_id == expected["Id"]))
            assert contract is not None, expected["Id"]
            assert contract.number == expected[spec["number"]]
            assert contract.end_date is not None and contract.end_date.isoformat() == expected[spec["end"]]
            assert contract.amount == Decimal(str(expected[spec["amount"]])).quantize(Decimal("0.01"))
            assert contract.currency == expected["CurrencyIsoCode"]
            assert contract.account.name == _path(expected, account_path)
            assert contract.rep is not None and contract.rep.email == expected["Owner"]["Email"]
            quote = sf.query(spec["quote"].format(id=expected["Id"]))["records"][0]
            local = session.scalar(select(models.RenewalQuote).where(models.RenewalQuote.contract_id == contract.id))
            assert local is not None
            assert local.number == quote["Name"]
            assert local.total == Decimal(str(quote[spec["total"]])).quantize(Decimal("0.01"))
            assert len(local.lines) == quote[spec["lines"]]["totalSize"]
            assert local.documents and local.documents[0].blob_sf_id
            blob_object = local.documents[0].source_object
            body = "Body" if blob_object == "Document" else "VersionData"
            data = sf.session.get(
                f"{sf.base_url}sobjects/{blob_object}/{local.documents[0].blob_sf_id}/{body}", headers=sf.headers
            )
            assert data.content.startswith(b"%PDF")


def test_an_incremental_pull_fetches_only_the_changed_records(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"))
    assert puller.pull(full=True).status == "succeeded"
    mutable_org.advance_clock(STEP)  # watermarks are compared to the second: the changes below come later
    sf = puller.sf
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Contract WHERE Status = 'Activated' LIMIT 10")["records"]]
    sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [{"attributes": {"type": "Contract"}, "id": i, "Total_Contract_Value__c": 1234.5} for i in ids]
        },
    )
    result = puller.pull(full=False)
    assert result.status == "succeeded", result.error
    assert result.rows["contract"] == 10
    assert result.rows["renewal_quote"] == 0 and result.rows["quote_line"] == 0
    # One query per entity query (2 for accounts, 2 for contacts), each in a single page, plus one Composite
    # call for the deleted/left-scope checks of contracts and quotes.
    assert result.api_calls <= 10
    with store() as session:
        amounts = session.scalars(select(models.Contract.amount).where(models.Contract.sf_id.in_(ids))).all()
    assert amounts == [Decimal("1234.50")] * 10


def test_deleted_and_cancelled_contracts_are_marked(mutable_org: RunningOrg, store: sessionmaker[Session]) -> None:
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"))
    assert puller.pull(full=True).status == "succeeded"
    sf = puller.sf
    # Three live contracts the seed did not cancel (it cancels a random few): the test cancels one itself.
    live = sf.query("SELECT Id FROM Contract WHERE Status = 'Activated' AND Cancelled__c = false LIMIT 3")
    first, second, third = [r["Id"] for r in live["records"]]
    mutable_org.advance_clock(STEP)
    sf.Contract.delete(first)
    sf.Contract.update(second, {"Cancelled__c": True, "Cancellation_Reason__c": "Moved to a competitor"})
    result = puller.pull(full=False)
    assert result.status == "succeeded", result.error
    assert result.rows["contract_removed"] == 1
    with store() as session:
        by_id = {c.sf_id: c for c in session.scalars(select(models.Contract))}
    assert by_id[first].is_deleted and not by_id[first].is_cancelled
    assert by_id[second].is_cancelled and not by_id[second].is_deleted
    assert not by_id[third].is_deleted and not by_id[third].is_cancelled


def test_reconcile_marks_what_the_org_no_longer_has(mutable_org: RunningOrg, store: sessionmaker[Session]) -> None:
    mapping = load_preset("salesforce_cpq")
    puller = make_puller(store, mutable_org, mapping)
    assert puller.pull(full=True).status == "succeeded"
    gone = puller.sf.query("SELECT Id FROM Contract WHERE Status = 'Activated' LIMIT 1")["records"][0]["Id"]
    puller.sf.Contract.delete(gone)
    result = reconcile(store, puller.sf, mapping)
    assert result.removed["contract"] == 1
    with store() as session:
        contract = session.scalar(select(models.Contract).where(models.Contract.sf_id == gone))
        assert contract is not None and contract.is_deleted


def test_a_field_renamed_in_the_org_fails_the_pull_clearly_and_keeps_the_store(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"))
    assert puller.pull(full=True).status == "succeeded"
    with store() as session:
        before = session.scalar(select(func.count()).where(models.Contract.amount.is_not(None)))
    mutable_org.admin(
        "POST",
        "schema",
        {"op": "rename", "object": "Contract", "field": "Total_Contract_Value__c", "new_name": "TCV__c"},
    )
    result = puller.pull(full=False)
    assert result.status == "failed"
    assert result.error is not None and "INVALID_FIELD" in result.error and "Total_Contract_Value__c" in result.error
    with store() as session:
        assert session.scalar(select(func.count()).where(models.Contract.amount.is_not(None))) == before
        run = session.get(models.SyncRun, result.run_id)
        assert run is not None and run.status == "failed" and run.error == result.error


def test_large_entities_use_a_bulk_query_with_the_same_result(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    mapping = load_preset("salesforce_cpq").model_copy(update={"bulk_threshold": 20})
    since = time.time()
    result = make_puller(store, mutable_org, mapping).pull(full=True)
    assert result.status == "succeeded", result.error
    bulk_jobs = [e for e in mutable_org.admin("GET", f"requests?since={since}") if e["path"].endswith("/jobs/query")]
    assert bulk_jobs, "no Bulk API query job was created"
    with store() as session:
        assert session.scalar(select(func.count()).select_from(models.Contract)) == result.rows["contract"] == 40


def test_transient_errors_are_retried_and_nothing_is_lost(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    mutable_org.faults(
        rules=[
            {"route": "query", "error": "503", "count": 2},
            {"route": "query", "error": "UNABLE_TO_LOCK_ROW", "count": 1},
        ]
    )
    result = make_puller(store, mutable_org, load_preset("salesforce_cpq")).pull(full=True)
    assert result.status == "succeeded", result.error
    assert result.rows["contract"] == 40


def test_the_api_reserve_pauses_the_pull_with_a_visible_status(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    mutable_org.admin("PUT", "settings", {"daily_api_limit": 25})
    result = make_puller(store, mutable_org, load_preset("salesforce_cpq")).pull(full=True)
    assert result.status == "paused"
    assert result.error is not None and "reserve" in result.error
    with store() as session:
        run = session.get(models.SyncRun, result.run_id)
        assert run is not None and run.status == "paused"


def test_a_deletion_is_found_even_when_a_later_change_moved_the_watermark_past_it(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"))
    assert puller.pull(full=True).status == "succeeded"
    sf = puller.sf
    deleted, changed = [
        r["Id"] for r in sf.query("SELECT Id FROM Contract WHERE Status = 'Activated' LIMIT 2")["records"]
    ]
    mutable_org.advance_clock(STEP)
    sf.Contract.delete(deleted)
    mutable_org.advance_clock(STEP)  # the change comes seconds after the deletion: this pull's watermark moves past it
    sf.Contract.update(changed, {"Total_Contract_Value__c": 99})
    result = puller.pull(full=False)
    assert result.status == "succeeded", result.error
    assert result.rows["contract"] == 1 and result.rows["contract_removed"] == 1
    with store() as session:
        contract = session.scalar(select(models.Contract).where(models.Contract.sf_id == deleted))
        assert contract is not None and contract.is_deleted


def test_a_full_pull_finds_deletions_since_the_previous_pull(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"))
    assert puller.pull(full=True).status == "succeeded"
    gone = puller.sf.query("SELECT Id FROM Contract WHERE Status = 'Activated' LIMIT 1")["records"][0]["Id"]
    mutable_org.advance_clock(STEP)
    puller.sf.Contract.delete(gone)
    result = puller.pull(full=True)
    assert result.status == "succeeded", result.error
    assert result.rows["contract_removed"] == 1


def _with_contract_field(mapping_name: str, field: str, spec: object) -> Any:
    data = load_preset(mapping_name).model_dump(mode="python", exclude_defaults=True)
    data["entities"]["contract"]["fields"][field] = spec
    return Mapping.model_validate(data)


def test_a_full_pull_applies_a_changed_mapping_to_records_the_org_did_not_change(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    assert make_puller(store, mutable_org, load_preset("salesforce_cpq")).pull(full=True).status == "succeeded"
    changed = _with_contract_field("salesforce_cpq", "status", {"constant": "Mapped anew"})
    result = make_puller(store, mutable_org, changed).pull(full=True)
    assert result.status == "succeeded", result.error
    assert result.rows["contract"] == 40
    with store() as session:
        assert set(session.scalars(select(models.Contract.status))) == {"Mapped anew"}


def test_a_full_pull_brings_back_records_a_reconcile_had_marked_removed(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    # A record can leave the scope and come back through a related record (a scope on Account.Type, say)
    # without its own SystemModstamp changing; the reconcile marks it removed meanwhile.
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"))
    assert puller.pull(full=True).status == "succeeded"
    with store.begin() as session:
        contract = session.scalars(select(models.Contract).limit(1)).one()
        contract.is_deleted, back = True, contract.sf_id
    assert puller.pull(full=True).status == "succeeded"
    with store() as session:
        again = session.scalar(select(models.Contract).where(models.Contract.sf_id == back))
        assert again is not None and not again.is_deleted


def test_a_re_read_record_that_was_marked_removed_is_live_again(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"), overlap=timedelta(days=3650))
    assert puller.pull(full=True).status == "succeeded"
    with store.begin() as session:
        contract = session.scalars(select(models.Contract).limit(1)).one()
        contract.is_deleted, back = True, contract.sf_id
    result = puller.pull(full=False)  # the overlap re-reads every record, unchanged since the full pull
    assert result.status == "succeeded", result.error
    assert result.rows["contract"] == 1
    with store() as session:
        again = session.scalar(select(models.Contract).where(models.Contract.sf_id == back))
        assert again is not None and not again.is_deleted


def test_a_first_incremental_pull_reads_large_entities_with_bulk(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    mapping = load_preset("salesforce_cpq").model_copy(update={"bulk_threshold": 20})
    since = time.time()
    result = make_puller(store, mutable_org, mapping).pull(full=False)  # no watermark yet: everything is read
    assert result.status == "succeeded", result.error
    bulk_jobs = [e for e in mutable_org.admin("GET", f"requests?since={since}") if e["path"].endswith("/jobs/query")]
    assert bulk_jobs, "no Bulk API query job was created"
    assert result.rows["contract"] == 40


def test_an_expired_session_during_a_bulk_query_signs_in_again(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"))
    sf = puller.sf
    sf.query("SELECT Id FROM Contract LIMIT 1")
    mutable_org.admin("POST", "sessions/expire")
    with pytest.raises(TransientError, match="signed in again"):
        list(fetch.bulk_rows(sf, "Contract", "SELECT Id FROM Contract"))
    assert len(list(fetch.bulk_rows(sf, "Contract", "SELECT Id FROM Contract"))) >= 40
    # Within a pull the entity is simply retried.
    mutable_org.faults(rules=[{"route": "bulk", "error": "INVALID_SESSION_ID", "count": 1}])
    mapping = load_preset("salesforce_cpq").model_copy(update={"bulk_threshold": 20})
    result = make_puller(store, mutable_org, mapping).pull(full=True)
    assert result.status == "succeeded", result.error


def test_an_unexpected_error_fails_the_run_visibly_instead_of_leaving_it_running(
    mutable_org: RunningOrg, store: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("value too long for type character varying(40)\nSQL: INSERT ...")

    monkeypatch.setattr(pull_run, "write_batch", broken)
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"))
    with pytest.raises(RuntimeError):
        puller.pull(full=True)
    with store() as session:
        run_row = session.scalars(select(models.SyncRun)).one()
    assert run_row.status == "failed" and run_row.finished_at is not None
    assert run_row.error == "unexpected error: RuntimeError: value too long for type character varying(40)"


def test_the_reconcile_retries_transient_errors_and_pauses_at_the_reserve(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    mapping = load_preset("salesforce_cpq")
    puller = make_puller(store, mutable_org, mapping)
    assert puller.pull(full=True).status == "succeeded"
    gone = puller.sf.query("SELECT Id FROM Contract WHERE Status = 'Activated' LIMIT 1")["records"][0]["Id"]
    puller.sf.Contract.delete(gone)
    mutable_org.faults(rules=[{"route": "query", "error": "503", "count": 2}])
    result = reconcile(store, puller.sf, mapping, retrying=transient_retrying(max_wait=0.1))
    assert (result.status, result.removed["contract"]) == ("succeeded", 1)

    used = mutable_org.api_used()
    mutable_org.admin("PUT", "settings", {"daily_api_limit": used + 12})
    paused = reconcile(store, puller.sf, mapping, check_budget=lambda: check_budget(store, puller.meter, puller.budget))
    assert paused.status == "paused" and paused.error is not None and "reserve" in paused.error


def test_a_quote_that_comes_into_scope_brings_its_unchanged_lines_and_documents(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"))
    sf = puller.sf
    quote = sf.query(
        "SELECT Id, (SELECT Id FROM SBQQ__LineItems__r) FROM SBQQ__Quote__c "
        "WHERE SBQQ__Primary__c = true AND SBQQ__Type__c = 'Renewal' LIMIT 1"
    )["records"][0]
    lines = {line["Id"] for line in quote["SBQQ__LineItems__r"]["records"]}
    assert lines
    sf.SBQQ__Quote__c.update(quote["Id"], {"SBQQ__Primary__c": False})  # another quote was primary, say
    assert puller.pull(full=True).status == "succeeded"
    mutable_org.advance_clock(STEP)
    sf.SBQQ__Quote__c.update(quote["Id"], {"SBQQ__Primary__c": True})  # its lines do not change
    result = puller.pull(full=False)
    assert result.status == "succeeded", result.error
    assert result.rows["renewal_quote"] == 1 and result.rows["quote_line"] == len(lines)
    assert result.rows["quote_document"] >= 1
    with store() as session:
        local = session.scalar(select(models.RenewalQuote).where(models.RenewalQuote.sf_id == quote["Id"]))
        assert local is not None and {line.sf_id for line in local.lines} == lines and local.documents


def test_a_reconcile_that_would_remove_most_contracts_is_refused(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    mapping = load_preset("salesforce_cpq")
    puller = make_puller(store, mutable_org, mapping)
    assert puller.pull(full=True).status == "succeeded"
    # The scope no longer matches anything: what a picklist value renamed in the org looks like.
    broken = mapping.model_copy(deep=True)
    broken.entities["contract"].scope = "Status = 'Active'"
    result = reconcile(store, puller.sf, broken)
    assert result.status == "failed"
    assert result.error is not None and "would remove 40 of 40 contract rows" in result.error
    with store() as session:
        assert session.scalar(select(func.count()).where(models.Contract.is_deleted.is_(True))) == 0
    assert reconcile(store, puller.sf, broken, allow_mass_removal=True).removed["contract"] == 40


def test_parents_are_fetched_from_salesforce_with_no_transaction_open(
    mutable_org: RunningOrg, store: sessionmaker[Session]
) -> None:
    engine = store.kw["bind"]
    assert isinstance(engine, Engine)
    if engine.dialect.name == "sqlite":
        # Every transaction takes the write lock up front, so one left open would show below.
        engine = make_engine(engine.url.render_as_string(hide_password=False), sqlite_immediate=True)
        store = sessionmaker(engine, expire_on_commit=False)
    puller = make_puller(store, mutable_org, load_preset("salesforce_cpq"))
    sf = puller.sf
    # An account, and a contact of another account, that no contract points at yet: the full pull leaves them,
    # and moves the watermarks past them (an account and a contact in scope change later).
    customer = sf.Account.create({"Name": "Customer first seen on a contract"})["id"]
    other = sf.Account.create({"Name": "The signer's company"})["id"]
    signer = sf.Contact.create({"LastName": "Signer", "AccountId": other, "Email": "signer@example.com"})["id"]
    contract = sf.query(
        "SELECT Id, AccountId, CustomerSignedId FROM Contract WHERE Status = 'Activated' "
        "AND CustomerSignedId != null LIMIT 1"
    )["records"][0]
    mutable_org.advance_clock(STEP)
    sf.Account.update(contract["AccountId"], {"Name": "Renamed"})
    sf.Contact.update(contract["CustomerSignedId"], {"FirstName": "Renamed"})
    assert puller.pull(full=True).status == "succeeded"
    mutable_org.advance_clock(STEP)
    sf.Contract.update(contract["Id"], {"AccountId": customer, "CustomerSignedId": signer})

    open_transactions: dict[int, int] = {}

    def began(connection: object) -> None:
        ident = threading.get_ident()
        open_transactions[ident] = open_transactions.get(ident, 0) + 1

    def ended(connection: object) -> None:
        ident = threading.get_ident()
        open_transactions[ident] = open_transactions.get(ident, 0) - 1

    calls_seen: list[tuple[str, int, bool | None]] = []
    writer = threading.get_ident()
    database = engine.url.database

    def during_the_call(response: requests.Response, *args: object, **kwargs: object) -> None:
        if threading.get_ident() != writer:
            return  # the page reader: it never holds a transaction
        others_can_write = None
        if engine.dialect.name == "sqlite":
            other_connection = sqlite3.connect(str(database), timeout=0, isolation_level=None)
            try:
                other_connection.execute("BEGIN IMMEDIATE")
                other_connection.execute("ROLLBACK")
                others_can_write = True
            except sqlite3.OperationalError:
                others_can_write = False
            finally:
                other_connection.close()
        calls_seen.append((response.url, open_transactions.get(writer, 0), others_can_write))

    for name, listener in (("begin", began), ("commit", ended), ("rollback", ended)):
        event.listen(engine, name, listener)
    sf.session.hooks["response"].append(during_the_call)
    try:
        result = puller.pull(full=False)
    finally:
        sf.session.hooks["response"].remove(during_the_call)
        for name, listener in (("begin", began), ("commit", ended), ("rollback", ended)):
            event.remove(engine, name, listener)
    assert result.status == "succeeded", result.error
    assert result.rows["contract"] == 1
    parent_fetches = [c for c in calls_seen if "Id+IN+%28" in c[0] or "Id%20IN%20%28" in c[0]]
    assert len(parent_fetches) == 2, calls_seen  # the contact, then both accounts
    assert all(open_count == 0 for _, open_count, _ in calls_seen), calls_seen
    assert all(can is not False for _, _, can in calls_seen), calls_seen
    with store() as session:
        local = session.scalar(select(models.Contract).where(models.Contract.sf_id == contract["Id"]))
        assert local is not None and local.account.sf_id == customer
        assert local.contact is not None and local.contact.sf_id == signer
        assert local.contact.account is not None and local.contact.account.sf_id == other
    engine.dispose()
