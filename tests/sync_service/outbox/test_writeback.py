"""The renewal write-back for each preset, end to end: pull a stand-in org of the preset's flavour into the
store, record the Renew write-back for one live contract, push it, and read the org back with SOQL written
out here (not the mapping's own paths). Also: recording twice keeps the same outbox rows, and a target that
cannot be resolved raises and records nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import Mapping
from sync_service.outbox.push import Pusher
from sync_service.outbox.writeback import WriteBackUnresolved, record_write_back
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.client import connect
from sync_service.store import models
from tests.conftest import orgs_by_flavour
from tests.standin_org import RunningOrg
from tests.sync_service.pull.conftest import load_preset, make_puller

# Per preset, written out by hand: the quote object, how to read the quote's own written field and the id
# of the opportunity it points at, and what Renew must leave in the org.
EXPECTED: dict[str, dict[str, Any]] = {
    "salesforce_cpq": {
        "quote": "SELECT SBQQ__Status__c, SBQQ__Opportunity2__c FROM SBQQ__Quote__c WHERE Id = '{id}'",
        "quote_field": ("SBQQ__Status__c", "Accepted"),
        "opportunity_lookup": "SBQQ__Opportunity2__c",
    },
    "conga_cpq": {
        "quote": "SELECT Apttus_Proposal__Approval_Stage__c, Apttus_Proposal__Opportunity__c "
        "FROM Apttus_Proposal__Proposal__c WHERE Id = '{id}'",
        "quote_field": ("Apttus_Proposal__Approval_Stage__c", "Accepted"),
        "opportunity_lookup": "Apttus_Proposal__Opportunity__c",
    },
    "standard": {
        # The renewal quote is the renewal Opportunity itself.
        "quote": "SELECT StageName FROM Opportunity WHERE Id = '{id}'",
        "quote_field": ("StageName", "Closed Won"),
        "opportunity_lookup": None,
    },
}


@pytest.fixture(scope="module")
def writeback_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], RunningOrg]]:
    """Small orgs of their own per flavour: the pushes change them, so the session's shared orgs stay intact."""
    with orgs_by_flavour(tmp_path_factory, "writeback", 10) as get:
        yield get


def _pulled(store: sessionmaker[Session], org: RunningOrg, mapping: Mapping) -> None:
    make_puller(store, org, mapping).pull(full=True)


def _contracts_with_quote(session: Session) -> list[models.Contract]:
    quoted = select(models.RenewalQuote.contract_id).where(models.RenewalQuote.is_deleted.is_(False))
    return list(
        session.scalars(
            select(models.Contract)
            .where(
                models.Contract.is_deleted.is_(False),
                models.Contract.is_cancelled.is_(False),
                models.Contract.id.in_(quoted),
            )
            .order_by(models.Contract.sf_id)
        )
    )


def _quote_of(session: Session, contract: models.Contract) -> models.RenewalQuote:
    return session.scalars(
        select(models.RenewalQuote)
        .where(models.RenewalQuote.contract_id == contract.id, models.RenewalQuote.is_deleted.is_(False))
        .order_by(models.RenewalQuote.id.desc())
    ).first()  # type: ignore[return-value]


def _outbox(session: Session) -> list[models.OutboxItem]:
    return list(session.scalars(select(models.OutboxItem).order_by(models.OutboxItem.key)))


def _drain(store: sessionmaker[Session], sf: Salesforce, mapping: Mapping) -> None:
    pusher = Pusher(store, sf, mapping.write_back.tasks, Budget(100_000, 10), retry_base=0.0, max_attempts=5)
    for _ in range(10):
        with store() as session:
            pending = [i for i in _outbox(session) if i.status == "pending"]
        if not pending:
            return
        pusher.push()
    raise AssertionError(f"{len(pending)} outbox items still pending")


def _org_values(sf: Salesforce, preset: str, quote_sf_id: str) -> tuple[Any, Any]:
    """(the quote's written field, the renewal opportunity's StageName or None) as the org has them now."""
    spec = EXPECTED[preset]
    field, _ = spec["quote_field"]
    [quote] = sf.query(spec["quote"].format(id=quote_sf_id))["records"]
    stage = None
    if spec["opportunity_lookup"]:
        opportunity_id = quote[spec["opportunity_lookup"]]
        assert opportunity_id, f"the seeded {preset} quote {quote_sf_id} has no opportunity"
        [opportunity] = sf.query(f"SELECT StageName FROM Opportunity WHERE Id = '{opportunity_id}'")["records"]
        stage = opportunity["StageName"]
    return quote[field], stage


@pytest.mark.parametrize(
    ("preset", "store", "pick"),
    [
        ("salesforce_cpq", "sqlite", 0),
        ("conga_cpq", "sqlite", 0),
        ("standard", "sqlite", 0),
        # Its own contract, so this second run against the same org still shows a change.
        ("salesforce_cpq", "postgresql", 1),
    ],
    indirect=["store"],
)
def test_write_back_for_each_preset(
    preset: str, store: sessionmaker[Session], pick: int, writeback_org: Callable[[str], RunningOrg]
) -> None:
    org = writeback_org(preset)
    mapping = load_preset(preset)
    sf = connect(org.connection("password"))
    _pulled(store, org, mapping)
    with store() as session:
        candidates = _contracts_with_quote(session)
        assert len(candidates) >= 2, f"the {preset} org has too few live contracts with a renewal quote"
        contract = candidates[pick]
        quote_sf_id = _quote_of(session, contract).sf_id

    _, accepted = EXPECTED[preset]["quote_field"]
    won = "Closed Won" if EXPECTED[preset]["opportunity_lookup"] else None
    status, stage = _org_values(sf, preset, quote_sf_id)
    assert status != accepted, "the seed already has the renewed quote value"
    assert won is None or stage != won, "the seed already has the renewed opportunity stage"

    with store.begin() as session:
        contract = session.get_one(models.Contract, contract.id)
        items = record_write_back(session, contract=contract, mapping=mapping, action="renew")
        assert [i.sobject for i in items] == [a.object for a in mapping.write_back.renew]
    _drain(store, sf, mapping)

    assert _org_values(sf, preset, quote_sf_id) == (accepted, won)
    with store() as session:
        assert {i.status for i in _outbox(session)} == {"done"}


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_recording_twice_keeps_the_same_outbox_rows(
    store: sessionmaker[Session], writeback_org: Callable[[str], RunningOrg]
) -> None:
    mapping = load_preset("salesforce_cpq")
    _pulled(store, writeback_org("salesforce_cpq"), mapping)
    with store() as session:
        contract_id = _contracts_with_quote(session)[0].id
    keys = []
    for _ in range(2):
        with store.begin() as session:
            contract = session.get_one(models.Contract, contract_id)
            items = record_write_back(session, contract=contract, mapping=mapping, action="renew")
            keys.append(sorted(i.key for i in items))
    assert keys[0] == keys[1] and len(keys[0]) == len(mapping.write_back.renew)
    with store() as session:
        assert sorted(i.key for i in _outbox(session)) == keys[0]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_an_unresolvable_target_raises_and_records_nothing(
    store: sessionmaker[Session], writeback_org: Callable[[str], RunningOrg]
) -> None:
    mapping = load_preset("salesforce_cpq")
    _pulled(store, writeback_org("salesforce_cpq"), mapping)
    with store() as session:
        contract = _contracts_with_quote(session)[0]
        quote = _quote_of(session, contract)
        # The quote resolves, its opportunity lookup does not: the first action must not be left recorded.
        quote.sf_links = {"SBQQ__Opportunity2__c": None}
        session.flush()
        with pytest.raises(WriteBackUnresolved) as raised:
            record_write_back(session, contract=contract, mapping=mapping, action="renew")
        message = str(raised.value)
        assert contract.sf_id in message and "renew" in message and "SBQQ__Opportunity2__c" in message
        assert session.scalar(select(func.count()).select_from(models.OutboxItem)) == 0

        # No live quote at all.
        quote.is_deleted = True
        session.flush()
        with pytest.raises(WriteBackUnresolved, match="no live renewal quote"):
            record_write_back(session, contract=contract, mapping=mapping, action="renew")
        assert session.scalar(select(func.count()).select_from(models.OutboxItem)) == 0
        session.rollback()
    with store() as session:
        assert _outbox(session) == []
