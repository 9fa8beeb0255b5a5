"""The Renew POST's live read against the Conga CPQ and the standard-objects orgs (issue 13, parts 2 and 6), on
SQLite and PostgreSQL: the read asks the org for the fields the flavour's preset maps (status, total, currency,
validity and approval where mapped, and the stamps) and nothing else; a quote pulled renewable and then made
not renewable in the org under that preset's rules (Conga: approval stage Draft, or approval status not
Approved; standard: the renewal opportunity back at Qualification) is refused at the POST, renewing and writing
nothing; a quote still renewable renews, its write-back conditional on the values read.

The orgs are this module's own (started once per flavour): the tests change quotes in them, and the session's
flavour orgs stay exactly as seeded for the tests that read them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync_service.outbox.tasks import active_mapping
from sync_service.renewal_live import read_live_quote
from sync_service.salesforce.record_reads import RecordReader
from sync_service.store import models
from tests.conftest import orgs_by_flavour
from tests.email_actions.web.act.test_actions import renew_form, text
from tests.email_actions.web.org_scene import OrgScene
from tests.standin_org import RunningOrg

# What each preset's live read of a quote asks for: its mapped decisive fields, then the stamps.
READ_FIELDS = {
    "conga_cpq": {
        "Apttus_Proposal__Approval_Stage__c",
        "Apttus_Proposal__Amount__c",
        "CurrencyIsoCode",
        "Apttus_Proposal__Valid_Until_Date__c",
        "Apttus_QPApprov__Approval_Status__c",
        "LastModifiedDate",
        "SystemModstamp",
    },
    "standard": {"StageName", "Amount", "CurrencyIsoCode", "LastModifiedDate", "SystemModstamp"},
}
STATUS_FIELD = {"conga_cpq": "Apttus_Proposal__Approval_Stage__c", "standard": "StageName"}


@pytest.fixture(scope="module")
def module_orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], RunningOrg]]:
    with orgs_by_flavour(tmp_path_factory, "renew-flavour", 30) as get:
        yield get


def open_scene(
    flavour: str, module_orgs: Callable[[str], RunningOrg], store: sessionmaker[Session], redis_url: str
) -> OrgScene:
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    scene = OrgScene(module_orgs(flavour), url, redis_url, flavour)
    scene.pull(full=True)
    return scene


@pytest.fixture
def scenes(
    module_orgs: Callable[[str], RunningOrg], store: sessionmaker[Session], redis_url: str
) -> Iterator[Callable[[str], OrgScene]]:
    """Opens the scene of a flavour: its org pulled into the test's fresh store (of each backend)."""
    opened: list[OrgScene] = []

    def open_flavour(flavour: str) -> OrgScene:
        opened.append(open_scene(flavour, module_orgs, store, redis_url))
        return opened[-1]

    yield open_flavour
    for scene in opened:
        scene.close()


@pytest.mark.parametrize("flavour", ["conga_cpq", "standard"])
def test_the_live_read_asks_for_the_presets_fields_and_a_renewable_quote_renews(
    scenes: Callable[[str], OrgScene], flavour: str
) -> None:
    scene = scenes(flavour)
    contract_id = scene.renewable_contract()
    quote = scene.quote(contract_id)
    with scene.sessions() as session:
        mapping = active_mapping(session)
    assert mapping is not None
    sobject = mapping.entities["renewal_quote"].object

    live = read_live_quote(RecordReader(scene.settings), scene.sessions, mapping, quote)

    assert set(live.raw) - {"attributes"} == READ_FIELDS[flavour]
    in_org = scene.org_record(sobject, quote.sf_id)
    assert {name: in_org[name] for name in READ_FIELDS[flavour]} == {
        name: live.raw[name] for name in READ_FIELDS[flavour]
    }
    assert (live.values["status"], live.values["total"]) == (quote.status, quote.total)

    reminder, _ = scene.emails(contract_id)
    client = scene.client()
    path = scene.path("renew", reminder)
    done = client.post(path, data=renew_form(client, path))
    assert done.status_code == 200 and "your contract is renewed" in text(done)
    with scene.sessions() as session:
        [renewal] = session.scalars(select(models.Renewal))
        assert (renewal.contract_id, renewal.amount) == (contract_id, quote.total)
        quote_write = (models.OutboxItem.sobject == sobject) & (models.OutboxItem.target_sf_id == quote.sf_id)
        [write] = session.scalars(select(models.OutboxItem).where(quote_write))
    # The quote's write-back is conditional on its status as read live.
    assert write.payload["seen"] == {STATUS_FIELD[flavour]: in_org[STATUS_FIELD[flavour]]}


@pytest.mark.parametrize(
    ("flavour", "change", "says", "stored"),
    [
        pytest.param(
            "conga_cpq",
            {"Apttus_Proposal__Approval_Stage__c": "Draft"},
            "not ready to be accepted yet (status: Draft)",
            {"status": "Draft"},
            id="conga-draft",
        ),
        pytest.param(
            "conga_cpq",
            {"Apttus_QPApprov__Approval_Status__c": "Pending Approval"},
            "still waiting for approval",
            {"approval": "Pending Approval"},
            id="conga-not-approved",
        ),
        pytest.param(
            "standard",
            {"StageName": "Qualification"},
            "not ready to be accepted yet (status: Qualification)",
            {"status": "Qualification"},
            id="standard-qualification",
        ),
    ],
)
def test_a_quote_made_not_renewable_in_the_org_after_the_pull_is_refused_at_the_post(
    scenes: Callable[[str], OrgScene], flavour: str, change: dict[str, Any], says: str, stored: dict[str, str]
) -> None:
    scene = scenes(flavour)
    contract_id = scene.renewable_contract()
    quote = scene.quote(contract_id)
    reminder, _ = scene.emails(contract_id)
    client = scene.client()
    path = scene.path("renew", reminder)
    form = renew_form(client, path)  # the confirm page while the store still says renewable
    with scene.sessions() as session:
        mapping = active_mapping(session)
    assert mapping is not None
    scene.change_in_org(mapping.entities["renewal_quote"].object, quote.sf_id, change)
    api_before = scene.org.api_used()

    posted = client.post(path, data=form)

    assert posted.status_code == 409, text(posted)
    assert says in text(posted) and "Nothing has been renewed" in text(posted)
    assert scene.org.api_used() - api_before == 1  # the live read, nothing written
    assert scene.counts() == {"renewals": 0, "outbox_items": 0, "renewal_intents": 0}
    assert scene.contract(contract_id).renewed_at is None
    after = scene.quote(contract_id)
    assert {name: getattr(after, name) for name in stored} == stored  # the store took the org's value
    shown = client.get(path)
    assert says in text(shown) and 'name="total_seen"' not in shown.get_data(as_text=True)
