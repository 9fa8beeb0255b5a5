"""The rep's controls write only what the rep changed, end to end against a salesforce_cpq stand-in org (issue 13,
part 3), on SQLite and PostgreSQL: the store is pulled from the org, the rep opens the portal from their notice
and clicks Hold (or changes one control), the outbox is pushed, and every mapped rep-control field is read back
from the org with SOQL written out here. A Hold changes exactly one field: the contract's CPQ renewal uplift and
every other control keep their values. And the whole way in Chromium (issue 14): the rep clicks the link in
their notice, signs in on the org's login page (Sign in with Salesforce), lands in the rep portal and holds the
reminders; the hold lands in the org."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser
from simple_salesforce import Salesforce
from sqlalchemy import select
from sqlalchemy import true as sqlalchemy_true

from config.settings import Settings
from config.settings.secret import Secret
from sync_service.outbox.push import Pusher
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.client import connect
from sync_service.store import mapping_versions, models
from tests.conftest import orgs_by_flavour
from tests.email_actions.web.portal.portal_site import Portal, message_for, post_rep_form, start_portal
from tests.processes import LateApp, serve_wsgi
from tests.standin_org import RunningOrg
from tests.sync_service.pull.conftest import load_preset, make_puller

MAPPING = load_preset("salesforce_cpq")
# Every rep-control field of the preset, written out by hand.
CONTROL_FIELDS = (
    "Renewal_Reminders_Held__c",
    "Renewal_Flags__c",
    "SBQQ__RenewalUpliftRate__c",
    "Renewal_Price_Override__c",
    "Renewal_Override_Reason__c",
)


@pytest.fixture(scope="module")
def cpq_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    with orgs_by_flavour(tmp_path_factory, "rep-controls", 12) as get:
        yield get("salesforce_cpq")


def _org_fields(sf: Salesforce, sf_id: str) -> dict[str, Any]:
    [record] = sf.query(f"SELECT {', '.join(CONTROL_FIELDS)} FROM Contract WHERE Id = '{sf_id}'")["records"]
    return {field: record[field] for field in CONTROL_FIELDS}


def _pulled_rep_notice(site: Portal, org: RunningOrg, pick: int, *, in_house: bool = False) -> tuple[int, str, int]:
    """Pull the org into the site's store, activate the preset, and send (as if) a rep notice for a contract that
    is not held and has an uplift (and an in-house rep, a Salesforce user who can sign in with Salesforce, when
    `in_house`); returns (contract id, its Salesforce id, the notice's id)."""
    make_puller(site.sessions, org, MAPPING).pull(full=True)
    with site.sessions.begin() as session:
        row = mapping_versions.import_preset(session, "salesforce_cpq", author="test")
        mapping_versions.activate(session, row.name, row.version, [])
        contracts = session.scalars(
            select(models.Contract)
            .join(models.Rep, models.Contract.rep_id == models.Rep.id)
            .where(
                models.Contract.is_deleted.is_(False),
                models.Contract.is_held.is_(False),
                models.Contract.price_adjustment_pct.is_not(None),
                models.Contract.contact_id.is_not(None),
                models.Rep.is_active.is_(True),
                models.Rep.reseller_account_id.is_(None) if in_house else sqlalchemy_true(),
            )
            .order_by(models.Contract.sf_id)
        ).all()
        assert len(contracts) > pick, "the seeded org has too few contracts with an uplift"
        contract = contracts[pick]
        return contract.id, contract.sf_id, message_for(session, contract, kind="rep_notice").id


def _push(site: Portal, sf: Salesforce) -> None:
    pusher = Pusher(site.sessions, sf, MAPPING.write_back.tasks, Budget(100_000, 10), retry_base=0.0)
    result = pusher.push()
    assert (result.done, result.dead, result.conflicts) == (1, 0, 0), result


def test_a_hold_changes_exactly_one_field_in_the_org(site: Portal, cpq_org: RunningOrg) -> None:
    pick = 0 if "sqlite" in str(site.sessions.kw["bind"].url) else 1  # each backend its own contract
    contract_id, sf_id, notice = _pulled_rep_notice(site, cpq_org, pick)
    sf = connect(cpq_org.connection("password"))
    before = _org_fields(sf, sf_id)
    assert before["SBQQ__RenewalUpliftRate__c"] is not None

    site.open_rep(notice)
    response = post_rep_form(site, f"/rep/contracts/{contract_id}/hold", note="Customer is consolidating")
    assert response.status_code == 303
    _push(site, sf)

    assert _org_fields(sf, sf_id) == {**before, "Renewal_Reminders_Held__c": True}


def test_one_changed_control_writes_one_field_and_resume_sets_the_hold_back(site: Portal, cpq_org: RunningOrg) -> None:
    pick = 2 if "sqlite" in str(site.sessions.kw["bind"].url) else 3
    contract_id, sf_id, notice = _pulled_rep_notice(site, cpq_org, pick)
    sf = connect(cpq_org.connection("password"))
    before = _org_fields(sf, sf_id)
    site.open_rep(notice)
    contract = site.contract(contract_id)
    assert contract.status_flags == [] and contract.price_override is None, "the seed flags this contract"
    form = {"status_flags": ["consolidate"], "price_adjustment_pct": str(contract.price_adjustment_pct)}

    assert post_rep_form(site, f"/rep/contracts/{contract_id}/controls", **form).status_code == 303
    _push(site, sf)
    assert _org_fields(sf, sf_id) == {**before, "Renewal_Flags__c": "consolidate"}

    # Hold, then resume before the push: one write, setting the hold back to what Salesforce holds.
    post_rep_form(site, f"/rep/contracts/{contract_id}/hold")
    post_rep_form(site, f"/rep/contracts/{contract_id}/resume")
    [*_, item] = site.rows(models.OutboxItem)
    assert item.payload["values"] == {"Renewal_Reminders_Held__c": False}
    _push(site, sf)
    assert _org_fields(sf, sf_id) == {**before, "Renewal_Flags__c": "consolidate"}


def test_in_chromium_a_rep_signs_in_with_salesforce_from_the_notice_and_the_hold_lands_in_the_org(
    settings: Settings, cpq_org: RunningOrg, chromium: Browser
) -> None:
    late = LateApp()
    before_app = cpq_org.admin("GET", "connected-app")
    with serve_wsgi(late) as base:
        site = start_portal(dataclasses.replace(settings, public_base_url=base), settings.database_url, cpq_org)
        site.app.extensions["renewals.settings"] = dataclasses.replace(
            site.app.extensions["renewals.settings"],
            salesforce_client_id=cpq_org.info["client_id"],
            salesforce_client_secret=Secret(cpq_org.info["client_secret"]),
        )
        late.app = site.app
        cpq_org.admin("PUT", "connected-app", {"callback_urls": [f"{base}/auth/salesforce/callback"]})
        context = chromium.new_context(ignore_https_errors=True)  # the org's CA is the test run's own
        try:
            contract_id, sf_id, notice = _pulled_rep_notice(site, cpq_org, 4, in_house=True)
            sf = connect(cpq_org.connection("password"))
            before = _org_fields(sf, sf_id)
            with site.sessions() as session:
                rep_sf_id = session.get_one(models.Contract, contract_id).rep.sf_id  # type: ignore[union-attr]
            [user] = sf.query(f"SELECT Username FROM User WHERE Id = '{rep_sf_id}'")["records"]
            page = context.new_page()
            page.goto(f"{base}/rep/{site.token('rep', notice)}")  # the link in the rep's notice
            assert page.url == f"{base}/rep/sign-in"
            page.click("#sign-in-salesforce")
            page.fill("#username", user["Username"])  # the org's login page
            page.fill("#password", cpq_org.info["user_password"])
            page.click("[name=Login]")
            page.wait_for_load_state()
            if page.locator("#oaapprove").count():  # the first sign-in approves the connected app
                page.click("#oaapprove")
            page.wait_for_url(f"{base}/rep")
            assert "Signed in as" in page.content()
            page.click(f"#contract-{contract_id} form[action$='/hold'] button")
            page.wait_for_url(f"{base}/rep#contract-{contract_id}")
            assert "reminders on hold" in page.content()
        finally:
            context.close()
            cpq_org.admin("PUT", "connected-app", before_app)
            site.app.extensions["renewals.database"].dispose()
    (entry,) = site.rows(models.AuditEntry)
    assert entry.action == "rep.hold" and entry.after["by"]["rep_sf_id"] == rep_sf_id
    assert entry.after["by"]["signed_in_via"] == "salesforce"
    _push(site, sf)
    assert _org_fields(sf, sf_id) == {**before, "Renewal_Reminders_Held__c": True}
