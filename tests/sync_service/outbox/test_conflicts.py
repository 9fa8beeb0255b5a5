"""Write only what changed, never over someone's edit (issue 13, part 3), against a salesforce_cpq stand-in org on
SQLite and PostgreSQL: the store is pulled, a rep's change is recorded with the values last seen, someone edits
the contract in Salesforce (another API client) after the pull, and the push runs. Every outcome is read back
from the org: the field someone changed keeps their value (a conflict listed with both values, and a Task for
the rep), a change to another field of the record does not stop our write, a write racing another writer waits
for the next push, and a record-level rejection is a dead letter. A write recorded without the record's stamp
reads first, then writes or meets the conflict. And a Task whose key the org holds while the store does not know
it (a store restored from a backup) is updated once, not refused for TaskSubtype.

The org's clock is moved two seconds before each edit "in Salesforce": LastModifiedDate has one-second
resolution in If-Unmodified-Since, as in Salesforce.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from sync_service.outbox.push import Pusher
from sync_service.outbox.record import event_key, record_field_update, record_task
from sync_service.outbox.writeback import record_rep_controls
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.client import connect
from sync_service.salesforce.transport import SalesforceAdapter
from sync_service.store import models
from tests.conftest import orgs_by_flavour
from tests.standin_org import RunningOrg
from tests.sync_service.pull.conftest import load_preset, make_puller

MAPPING = load_preset("salesforce_cpq")
CONTROL_FIELDS = MAPPING.write_back.rep_controls.fields  # type: ignore[union-attr]
# Control name → the store's attribute.
ATTRIBUTES = {
    "hold": "is_held",
    "status_flags": "status_flags",
    "adjustment_pct": "price_adjustment_pct",
    "override_amount": "price_override",
    "override_reason": "price_override_reason",
}
# Each test takes contracts no other test (on either database) has written.
_picks = itertools.count()


@pytest.fixture(scope="module")
def cpq_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    with orgs_by_flavour(tmp_path_factory, "conflicts", 24) as get:
        yield get("salesforce_cpq")


@pytest.fixture
def org(cpq_org: RunningOrg) -> Iterator[RunningOrg]:
    yield cpq_org
    cpq_org.faults()


def _pulled_contract(store: sessionmaker[Session], org: RunningOrg) -> models.Contract:
    """Pull the org and take a live contract with an active rep that no test has used."""
    make_puller(store, org, MAPPING).pull(full=True)
    with store() as session:
        candidates = session.scalars(
            select(models.Contract)
            .join(models.Rep, models.Contract.rep_id == models.Rep.id)
            .where(models.Contract.is_deleted.is_(False), models.Rep.is_active.is_(True))
            .order_by(models.Contract.sf_id)
        ).all()
        return candidates[next(_picks) % len(candidates)]


def _change(store: sessionmaker[Session], contract_id: int, **controls: Any) -> None:
    """A rep's change of `controls` (control name → new store value), recorded as the portal records it."""
    with store.begin() as session:
        contract = session.get_one(models.Contract, contract_id)
        before = {name: getattr(contract, ATTRIBUTES[name]) for name in controls}
        for name, value in controls.items():
            setattr(contract, ATTRIBUTES[name], value)
        record_rep_controls(session, contract=contract, mapping=MAPPING, changed=before)


def _org_controls(sf: Salesforce, sf_id: str) -> dict[str, Any]:
    fields = ", ".join(CONTROL_FIELDS.values())
    [record] = sf.query(f"SELECT {fields} FROM Contract WHERE Id = '{sf_id}'")["records"]
    return {name: record[field] for name, field in CONTROL_FIELDS.items()}


def _pusher(store: sessionmaker[Session], sf: Salesforce) -> Pusher:
    return Pusher(store, sf, MAPPING.write_back.tasks, Budget(100_000, 10), retry_base=0.0, max_attempts=5)


def _outbox(store: sessionmaker[Session], kind: str = "field_update") -> list[models.OutboxItem]:
    with store() as session:
        return list(session.scalars(select(models.OutboxItem).where(models.OutboxItem.kind == kind)))


def _conflicts(store: sessionmaker[Session]) -> list[models.WriteConflict]:
    with store() as session:
        return list(session.scalars(select(models.WriteConflict).order_by(models.WriteConflict.id)))


def _someone_edits(org: RunningOrg, sf_id: str, values: dict[str, Any]) -> None:
    """A person (another API client) edits the contract in Salesforce, two seconds later on the org's clock."""
    org.advance_clock(2)
    connect(org.connection("password")).restful(f"sobjects/Contract/{sf_id}", method="PATCH", json=values)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_a_field_edited_in_salesforce_after_the_pull_keeps_salesforces_value(
    store: sessionmaker[Session], org: RunningOrg
) -> None:
    """Bad input: the rep raises the uplift to 12.5 % after someone set it to 3 % in Salesforce."""
    contract = _pulled_contract(store, org)
    sf = connect(org.connection("password"))
    before = _org_controls(sf, contract.sf_id)
    seen = contract.price_adjustment_pct
    _someone_edits(org, contract.sf_id, {"SBQQ__RenewalUpliftRate__c": 3})
    _change(store, contract.id, adjustment_pct=Decimal("12.5"))

    result = _pusher(store, sf).push()

    assert (result.conflicts, result.dead) == (1, 0), [(i.kind, i.status, i.last_error) for i in _outbox(store, "task")]
    assert _org_controls(sf, contract.sf_id) == {**before, "adjustment_pct": 3}  # theirs stays, nothing else moved
    [item] = _outbox(store)
    assert item.status == "conflict"
    assert "SBQQ__RenewalUpliftRate__c is 3 in Salesforce" in str(item.last_error)
    [conflict] = _conflicts(store)
    assert (conflict.contract_id, conflict.sobject, conflict.record_sf_id, conflict.field) == (
        contract.id,
        "Contract",
        contract.sf_id,
        "SBQQ__RenewalUpliftRate__c",
    )
    assert conflict.seen == (float(seen) if seen is not None else None)
    assert (conflict.ours, conflict.theirs, conflict.resolved_at) == (12.5, 3, None)
    # The rep's Task is in the org (the same push sent it), on the contract, owned by the rep, with both values.
    with store() as session:
        rep_sf_id = session.get_one(models.Contract, contract.id).rep.sf_id  # type: ignore[union-attr]
    [task] = sf.query(
        "SELECT Subject, Description, WhatId, OwnerId FROM Task "
        f"WHERE WhatId = '{contract.sf_id}' AND Subject LIKE '%Salesforce change kept%'"
    )["records"]
    assert (task["WhatId"], task["OwnerId"]) == (contract.sf_id, rep_sf_id)
    assert "SBQQ__RenewalUpliftRate__c" in task["Subject"] and "is 3, not 12.5" in task["Subject"]
    assert "to 12.5" in task["Description"] and "is now 3" in task["Description"]
    assert [t.status for t in _outbox(store, "task")] == ["done"]


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_another_field_edited_in_salesforce_does_not_stop_our_write(
    store: sessionmaker[Session], org: RunningOrg
) -> None:
    """Someone edits SpecialTerms after the pull (412), the hold is still as last seen: re-read, written."""
    contract = _pulled_contract(store, org)
    sf = connect(org.connection("password"))
    before = _org_controls(sf, contract.sf_id)
    assert before["hold"] is False, "the seed holds this contract already"
    _someone_edits(org, contract.sf_id, {"SpecialTerms": "Net 45, agreed by phone"})
    _change(store, contract.id, hold=True)
    started = time.time()

    result = _pusher(store, sf).push()

    assert (result.done, result.conflicts, result.dead) == (1, 0, 0)
    assert _org_controls(sf, contract.sf_id) == {**before, "hold": True}
    [record] = sf.query(f"SELECT SpecialTerms FROM Contract WHERE Id = '{contract.sf_id}'")["records"]
    assert record["SpecialTerms"] == "Net 45, agreed by phone"
    assert [i.status for i in _outbox(store)] == ["done"] and _conflicts(store) == []
    # Conditional PATCH (412), one read, conditional PATCH (204): three calls on the record.
    calls = [(r["method"], r["status"]) for r in org.requests_since(started) if contract.sf_id in r["path"]]
    assert calls == [("PATCH", 412), ("GET", 200), ("PATCH", 204)], calls


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_a_write_without_edits_lands_in_one_call_and_changes_only_its_field(
    store: sessionmaker[Session], org: RunningOrg
) -> None:
    contract = _pulled_contract(store, org)
    sf = connect(org.connection("password"))
    before = _org_controls(sf, contract.sf_id)
    _change(store, contract.id, status_flags=["At risk"])

    pusher = _pusher(store, sf)
    result = pusher.push()

    assert (result.done, result.conflicts, result.api_calls) == (1, 0, 1)
    assert _org_controls(sf, contract.sf_id) == {**before, "status_flags": "At risk"}


def _record_without_stamp(store: sessionmaker[Session], contract: models.Contract, control: str, ours: Any) -> None:
    """A write of one rep control carrying the value the pull saw but no stamp of the record (no `seen_at`)."""
    field = CONTROL_FIELDS[control]  # type: ignore[index]
    with store.begin() as session:
        seen = getattr(session.get_one(models.Contract, contract.id), ATTRIBUTES[control])
        record_field_update(
            session,
            key=f"conflict-test-no-stamp-{contract.sf_id}",
            sobject="Contract",
            sf_id=contract.sf_id,
            values={field: ours},
            seen={field: seen},
        )


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_a_write_without_a_stamp_reads_first_and_lands_when_the_field_is_as_seen(
    store: sessionmaker[Session], org: RunningOrg
) -> None:
    """No `seen_at`: nothing to send in If-Unmodified-Since, so the push reads the record, then writes."""
    contract = _pulled_contract(store, org)
    sf = connect(org.connection("password"))
    before = _org_controls(sf, contract.sf_id)
    _someone_edits(org, contract.sf_id, {"SpecialTerms": "Net 60"})  # another field: no reason to stop
    _record_without_stamp(store, contract, "override_reason", "Matched competitor")
    started = time.time()

    result = _pusher(store, sf).push()

    assert (result.done, result.conflicts, result.dead) == (1, 0, 0)
    assert _org_controls(sf, contract.sf_id) == {**before, "override_reason": "Matched competitor"}
    assert [i.status for i in _outbox(store)] == ["done"] and _conflicts(store) == []
    # One read, then the write conditional on the LastModifiedDate just read: no blind first PATCH.
    calls = [(r["method"], r["status"]) for r in org.requests_since(started) if contract.sf_id in r["path"]]
    assert calls == [("GET", 200), ("PATCH", 204)], calls


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_a_write_without_a_stamp_of_a_field_changed_in_salesforce_is_a_conflict(
    store: sessionmaker[Session], org: RunningOrg
) -> None:
    """Bad input: no `seen_at`, and someone set the override reason in Salesforce after the pull."""
    contract = _pulled_contract(store, org)
    sf = connect(org.connection("password"))
    before = _org_controls(sf, contract.sf_id)
    field = CONTROL_FIELDS["override_reason"]
    _someone_edits(org, contract.sf_id, {field: "Agreed with procurement"})
    _record_without_stamp(store, contract, "override_reason", "Matched competitor")
    started = time.time()

    result = _pusher(store, sf).push()

    assert (result.conflicts, result.dead) == (1, 0)
    assert _org_controls(sf, contract.sf_id) == {**before, "override_reason": "Agreed with procurement"}
    [item] = _outbox(store)
    assert item.status == "conflict"
    [conflict] = _conflicts(store)
    assert (conflict.record_sf_id, conflict.field) == (contract.sf_id, field)
    assert (conflict.seen, conflict.ours, conflict.theirs) == (
        before["override_reason"],
        "Matched competitor",
        "Agreed with procurement",
    )
    # One read and no write to the contract; the rep's Task names both values.
    calls = [(r["method"], r["status"]) for r in org.requests_since(started) if contract.sf_id in r["path"]]
    assert calls == [("GET", 200)], calls
    [task] = sf.query(
        "SELECT Subject, Description FROM Task "
        f"WHERE WhatId = '{contract.sf_id}' AND Subject LIKE '%Salesforce change kept%'"
    )["records"]
    assert "is 'Agreed with procurement', not 'Matched competitor'" in task["Subject"]
    assert (
        "to 'Matched competitor'" in task["Description"] and "is now 'Agreed with procurement'" in task["Description"]
    )
    assert [t.status for t in _outbox(store, "task")] == ["done"]


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_a_task_already_in_the_org_and_unknown_to_a_restored_store_is_updated_once(
    store: sessionmaker[Session], org: RunningOrg
) -> None:
    """Bad input: the store comes back from a backup taken before its Task was pushed, so it upserts a key the
    org holds as if it were new (with TaskSubtype, which Salesforce refuses on an update)."""
    contract = _pulled_contract(store, org)
    sf = connect(org.connection("password"))
    conventions = MAPPING.write_back.tasks
    ext = str(conventions.external_id_field)
    key = event_key("restored-store-test", contract.sf_id, time.time())

    def opened(at: datetime) -> None:
        with store.begin() as session:
            record_task(
                session,
                key=key,
                what_id=contract.sf_id,
                who_id=None,
                owner_id=None,
                subject="Renewal email opened",
                description="The customer opened the renewal email.",
                event_at=at,
                conventions=conventions,
            )

    first = datetime.now(UTC).replace(microsecond=0)
    opened(first)
    assert _pusher(store, sf).push().done == 1
    # The backup: the row as it was before that push (pending, never tried, no Task id); then a second event.
    with store.begin() as session:
        session.execute(
            update(models.OutboxItem)
            .where(models.OutboxItem.key == key)
            .values(status="pending", attempts=0, sf_id=None, done_at=None, last_error=None, next_attempt_at=first)
        )
    opened(first + timedelta(minutes=5))
    started = time.time()

    result = _pusher(store, sf).push()

    assert (result.done, result.dead, result.retrying) == (1, 0, 0), [
        (t.status, t.last_error) for t in _outbox(store, "task")
    ]
    [task] = sf.query(f"SELECT Id, Description, TaskSubtype, WhatId FROM Task WHERE {ext} = '{key}'")["records"]
    assert "Happened 2 times" in task["Description"], task["Description"]
    assert (task["TaskSubtype"], task["WhatId"]) == (conventions.subtype, contract.sf_id)
    [row] = _outbox(store, "task")
    assert (row.status, row.sf_id, row.last_error) == ("done", task["Id"], None)
    # The upsert refused for TaskSubtype, then the same record again without it: two calls, this once.
    upserts = [r["status"] for r in org.requests_since(started) if r["path"].endswith(f"composite/sobjects/Task/{ext}")]
    assert upserts == [200, 200], upserts


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_write_racing_another_writer_waits_for_the_next_push_without_spending_an_attempt(
    store: sessionmaker[Session], org: RunningOrg
) -> None:
    """Bad input: someone edits the contract again between our read after the 412 and our write."""
    contract = _pulled_contract(store, org)
    sf = connect(org.connection("password"))
    before = _org_controls(sf, contract.sf_id)
    _someone_edits(org, contract.sf_id, {"SpecialTerms": "first edit"})
    _change(store, contract.id, override_reason="Matched competitor")
    adapter = sf.session.get_adapter("https://")
    assert isinstance(adapter, SalesforceAdapter)
    real_send = adapter.send
    raced: list[str] = []

    def send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = real_send(request, **kwargs)
        if not raced and request.method == "GET" and f"sobjects/Contract/{contract.sf_id}" in (request.url or ""):
            raced.append("edited")
            _someone_edits(org, contract.sf_id, {"SpecialTerms": "second edit"})
        return response

    adapter.send = send  # type: ignore[method-assign]
    first = _pusher(store, sf).push()
    assert raced and (first.done, first.retrying, first.dead, first.conflicts) == (0, 1, 0, 0)
    [item] = _outbox(store)
    assert (item.status, item.attempts) == ("pending", 0)
    assert "changed in Salesforce again" in str(item.last_error)
    assert _org_controls(sf, contract.sf_id) == before

    second = _pusher(store, sf).push()
    assert (second.done, second.conflicts) == (1, 0)
    assert _org_controls(sf, contract.sf_id) == {**before, "override_reason": "Matched competitor"}


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_field_the_org_does_not_have_is_a_dead_letter_with_salesforces_message(
    store: sessionmaker[Session], org: RunningOrg
) -> None:
    """Bad input: a conditional write of Renewal_Nonexistent__c, a field the org does not have."""
    contract = _pulled_contract(store, org)
    sf = connect(org.connection("password"))
    with store.begin() as session:
        record_field_update(
            session,
            key="conflict-test-bad-field",
            sobject="Contract",
            sf_id=contract.sf_id,
            values={"Renewal_Nonexistent__c": "x"},
            seen={"Renewal_Nonexistent__c": None},
            seen_at=contract.sf_system_modstamp,
        )
    result = _pusher(store, sf).push()
    assert (result.dead, result.done) == (1, 0)
    [item] = _outbox(store)
    assert item.status == "dead"
    assert "Renewal_Nonexistent__c" in str(item.last_error)


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_salesforce_down_during_a_conditional_write_spends_no_attempt_and_it_lands_after(
    store: sessionmaker[Session], org: RunningOrg
) -> None:
    """Bad input: every sObject Rows call answers 503 for three pushes."""
    contract = _pulled_contract(store, org)
    sf = connect(org.connection("password"))
    before = _org_controls(sf, contract.sf_id)
    _change(store, contract.id, override_amount=Decimal("990.00"), override_reason="Loyalty")
    org.faults(rules=[{"route": "sobjects", "error": "503", "rate": 1.0}])
    pusher = _pusher(store, sf)
    for _ in range(3):
        result = pusher.push()
        assert (result.status, result.dead) == ("retrying", 0)
        [item] = _outbox(store)
        assert item.status == "pending" and item.attempts <= 1
    org.faults()
    pusher.clock = _later(pusher.clock)
    assert pusher.push().done == 1
    assert _org_controls(sf, contract.sf_id) == {**before, "override_amount": 990.0, "override_reason": "Loyalty"}


def _later(clock: Callable[[], Any]) -> Callable[[], Any]:
    """The pusher's clock an hour on: past any backoff the outage left."""
    return lambda: clock() + timedelta(hours=1)
