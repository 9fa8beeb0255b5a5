"""Scenarios in which the org changes under the service (issue 13, part 1), for every preset, on SQLite and
PostgreSQL: a rep closes a renewal in Salesforce or holds a contract's reminders there, and after the next
incremental pull the cadence stops for it (nothing planned, no email in SES), the portal shows it Renewed (in
Salesforce) with no Renew, the email's Renew link says it is already renewed, the rep portal shows the controls
read back from the org, and the reports count the renewal under "in Salesforce"; the renewal reopened in
Salesforce clears the mark everywhere.

Everything is real: the stand-in org (edited with simple-salesforce as a rep's changes would be), the pull,
the planning and send jobs, moto's SES, Redis and the Flask app. The org side of each flavour is written out by
hand (objects, fields, values from the vendors' data models), not read from the mapping under test.
"""

from __future__ import annotations

import dataclasses
import email
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as MimeMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from simple_salesforce import Salesforce
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from email_actions.mail.links import LINKS, Links, Purpose
from email_actions.web.app import create_app
from jobs.email import send_batch_job, send_due_job
from jobs.planning import plan_reminders_job
from sync_service import reports
from sync_service.pull.run import Puller
from sync_service.store import models
from tests.conftest import sent_emails
from tests.email_actions.web.console.conftest import add_user, sign_in
from tests.email_actions.web.portal.portal_site import mark_rep_signed_in
from tests.standin_org import RunningOrg, start_seeded_copy, stop_org
from tests.sync_service.pull.conftest import activate_preset, load_preset, make_puller

# Seconds the org's clock moves on between a pull and the changes the next incremental pull must see
# (watermarks are compared to the second).
STEP = 2
SEED_CONTRACTS = "30"


@dataclass(frozen=True)
class Flavour:
    """The org side of a preset: the contract object and its end date field, and how a rep closes the
    renewal there (the record, the field and the value), per way of closing it."""

    contract_object: str
    end_field: str
    closings: dict[str, Callable[[Salesforce, str], tuple[str, str, str, str]]]


def _one(sf: Salesforce, soql: str) -> dict[str, Any]:
    records = sf.query(soql)["records"]
    assert len(records) == 1, (soql, records)
    return dict(records[0])


def _cpq_opportunity(sf: Salesforce, contract: str) -> tuple[str, str, str, str]:
    opportunity = _one(sf, f"SELECT SBQQ__RenewalOpportunity__c FROM Contract WHERE Id = '{contract}'")
    record = _one(
        sf, f"SELECT Id, StageName FROM Opportunity WHERE Id = '{opportunity['SBQQ__RenewalOpportunity__c']}'"
    )
    return "Opportunity", record["Id"], "StageName", "Closed Won"


def _cpq_quote(sf: Salesforce, contract: str) -> tuple[str, str, str, str]:
    record = _one(
        sf,
        "SELECT Id FROM SBQQ__Quote__c WHERE SBQQ__MasterContract__c = "
        f"'{contract}' AND SBQQ__Primary__c = true AND SBQQ__Type__c = 'Renewal'",
    )
    return "SBQQ__Quote__c", record["Id"], "SBQQ__Status__c", "Accepted"


def _conga_agreement(sf: Salesforce, contract: str) -> tuple[str, str, str, str]:
    return "Apttus__APTS_Agreement__c", contract, "Apttus__Status__c", "Renewed"


def _conga_proposal(sf: Salesforce, contract: str) -> tuple[str, str, str, str]:
    record = _one(
        sf,
        "SELECT Id FROM Apttus_Proposal__Proposal__c WHERE Apttus_QPComply__MasterAgreementId__c = "
        f"'{contract}' AND APTS_Proposal_Type__c = 'Renewal' AND Apttus_Proposal__Primary__c = true",
    )
    return "Apttus_Proposal__Proposal__c", record["Id"], "Apttus_Proposal__Approval_Stage__c", "Accepted"


def _standard_opportunity(sf: Salesforce, contract: str) -> tuple[str, str, str, str]:
    record = _one(sf, f"SELECT Id FROM Opportunity WHERE ContractId = '{contract}' AND Type = 'Renewal'")
    return "Opportunity", record["Id"], "StageName", "Closed Won"


FLAVOURS = {
    "salesforce_cpq": Flavour(
        "Contract", "EndDate", {"renewal opportunity won": _cpq_opportunity, "renewal quote accepted": _cpq_quote}
    ),
    "conga_cpq": Flavour(
        "Apttus__APTS_Agreement__c",
        "Apttus__Contract_End_Date__c",
        {"agreement renewed": _conga_agreement, "proposal accepted": _conga_proposal},
    ),
    "standard": Flavour("Contract", "EndDate", {"renewal opportunity won": _standard_opportunity}),
}
# The rep controls as the presets map them on each flavour's contract object (the adjustment differs on CPQ).
ADJUSTMENT_FIELD = {"salesforce_cpq": "SBQQ__RenewalUpliftRate__c"}
CLOSINGS = [(flavour, how) for flavour, spec in FLAVOURS.items() for how in spec.closings]


@dataclass
class Scene:
    """A running org of the flavour, the service over a fresh store (the pull, the jobs and the app), and
    three contracts each with a contact of its own: `closed` (the rep closes its renewal in Salesforce),
    `control` (nobody touches it) and `held` (the rep holds its reminders in Salesforce)."""

    flavour: str
    org: RunningOrg
    puller: Puller
    sessions: sessionmaker[Session]
    app: Flask
    ses: str
    contracts: dict[str, models.Contract]

    @property
    def sf(self) -> Salesforce:
        return self.puller.sf

    def pull(self) -> None:
        """The next scheduled (incremental) pull, once the org's clock has moved past the changes."""
        self.org.advance_clock(STEP)
        result = self.puller.pull(full=False)
        assert result.status == "succeeded", result.error

    def move_end_dates(self, days: int) -> None:
        """The three contracts end `days` from today. A Contract's EndDate is computed by Salesforce (StartDate
        plus ContractTerm months, less a day) and read-only, so a twelve-month term starting a year before the
        day after moves it; a Conga agreement's end date is a plain field."""
        spec = FLAVOURS[self.flavour]
        end = datetime.now(UTC).date() + timedelta(days=days)
        if spec.contract_object == "Contract":
            after = end + timedelta(days=1)
            values: dict[str, Any] = {"StartDate": after.replace(year=after.year - 1).isoformat(), "ContractTerm": 12}
        else:
            values = {spec.end_field: end.isoformat()}
        for contract in self.contracts.values():
            getattr(self.sf, spec.contract_object).update(contract.sf_id, values)

    def plan_and_send(self) -> None:
        """The planning job, then the send job and the batches it fans out (run here instead of a worker)."""
        with self.app.app_context():
            assert plan_reminders_job()["paused"] is None
            assert send_due_job()["stale_pause"] is None
        with self.sessions() as session:
            queued = list(session.scalars(select(models.EmailMessage.id).where(models.EmailMessage.status == "queued")))
        with self.app.app_context():
            send_batch_job(queued)

    def reminders_to(self) -> dict[str, int]:
        """How many reminder emails reached each of the three contracts' customers, from SES."""
        addresses = {name: contract.contact.email for name, contract in self.contracts.items() if contract.contact}
        counts = dict.fromkeys(addresses, 0)
        for raw in sent_emails(self.ses):
            message = email.message_from_string(raw["raw_data"], policy=default_policy)
            assert isinstance(message, MimeMessage)
            if not str(message["X-Renewals-Email"]).startswith("reminder-"):
                continue
            for name, address in addresses.items():
                if str(message["To"]).endswith(f"<{address}>") or str(message["To"]) == address:
                    counts[name] += 1
        return counts

    def planned(self, name: str) -> int:
        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count()).where(
                        models.Reminder.contract_id == self.contracts[name].id, models.Reminder.status == "planned"
                    )
                )
                or 0
            )

    def contract(self, name: str) -> models.Contract:
        with self.sessions() as session:
            found = session.get(models.Contract, self.contracts[name].id)
            assert found is not None
            return found

    def message(self, name: str, kind: str = "reminder") -> models.EmailMessage:
        with self.sessions() as session:
            found = session.scalars(
                select(models.EmailMessage)
                .where(models.EmailMessage.contract_id == self.contracts[name].id, models.EmailMessage.kind == kind)
                .order_by(models.EmailMessage.id)
            ).first()
            assert found is not None, (name, kind)
            return found

    def link(self, name: str, purpose: Purpose, kind: str = "reminder") -> str:
        """The path of a link of the first email of `kind` about the contract, as its recipient clicks it."""
        message = self.message(name, kind)
        token = Links(self.app.extensions["renewals.settings"]).token(purpose, message.id, message.nonce)
        return f"{LINKS[purpose].path}{token}"

    def page(self, client: FlaskClient, path: str) -> str:
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 200, (path, response.status_code)
        return response.get_data(as_text=True)

    def salesforce_renewals_due(self) -> reports.Funnel:
        today = datetime.now(UTC).date()
        with self.sessions() as session:
            return reports.funnel(session, reports.Period(today, today + timedelta(days=30)))


def _pick(session: Session) -> dict[str, models.Contract]:
    """Three live contracts, not renewed or held, each with a live quote with a total and a contact of its own
    (so each customer's reminder is about that contract alone)."""
    contracts_per_contact = dict(
        session.execute(
            select(models.Contract.contact_id, func.count())
            .where(models.Contract.is_deleted.is_(False), models.Contract.is_cancelled.is_(False))
            .group_by(models.Contract.contact_id)
        ).all()
    )
    chosen: list[models.Contract] = []
    for contract in session.scalars(
        select(models.Contract)
        .where(
            models.Contract.is_deleted.is_(False),
            models.Contract.is_cancelled.is_(False),
            models.Contract.renewed_at.is_(None),
            models.Contract.is_held.is_(False),
        )
        .order_by(models.Contract.id)
    ):
        contact = contract.contact
        live = [quote for quote in contract.quotes if not quote.is_deleted and quote.total is not None]
        if (
            contact is not None
            and contact.email
            and not contact.email_opted_out
            and contracts_per_contact.get(contact.id) == 1
            and live
        ):
            chosen.append(contract)
        if len(chosen) == 3:
            break
    assert len(chosen) == 3, "the seeded org has too few contracts with a contact of their own"
    for contract in chosen:
        assert contract.contact is not None  # loaded now: the scene reads the addresses after the session
    return dict(zip(("closed", "control", "held"), chosen, strict=True))


@pytest.fixture
def scene_for(
    tmp_path: Path, store: sessionmaker[Session], settings: Settings, ses_endpoint: str
) -> Iterator[Callable[[str], Scene]]:
    started: list[Scene] = []

    def make(flavour: str) -> Scene:
        org = start_seeded_copy(tmp_path / "org", "--seed-contracts", SEED_CONTRACTS, "--flavour", flavour)
        url = store.kw["bind"].url.render_as_string(hide_password=False)
        activate_preset(url, flavour)
        puller = make_puller(store, org, load_preset(flavour))
        result = puller.pull(full=True)
        assert result.status == "succeeded", result.error
        with store() as session:
            contracts = _pick(session)
        app = create_app(
            dataclasses.replace(
                settings, database_url=url, ses_endpoint_url=ses_endpoint, ses_max_send_rate=50.0, ses_daily_quota=1000
            )
        )
        app.config["TESTING"] = True
        scene = Scene(flavour, org, puller, store, app, ses_endpoint, contracts)
        started.append(scene)
        return scene

    yield make
    for scene in started:
        scene.app.extensions["renewals.database"].dispose()
        stop_org(scene.org)


def _first_reminders(scene: Scene) -> None:
    """Each of the three contracts ends in 20 days: the 30-days-before reminder goes to each customer."""
    scene.move_end_dates(20)
    scene.pull()
    scene.plan_and_send()
    assert scene.reminders_to() == {"closed": 1, "control": 1, "held": 1}


@pytest.mark.parametrize(("flavour", "how"), CLOSINGS)
def test_a_renewal_closed_in_salesforce_stops_the_cadence_shows_renewed_and_counts_in_salesforce(
    scene_for: Callable[[str], Scene], flavour: str, how: str
) -> None:
    scene = scene_for(flavour)
    _first_reminders(scene)
    sobject, record, field, value = FLAVOURS[flavour].closings[how](scene.sf, scene.contracts["closed"].sf_id)
    before = getattr(scene.sf, sobject).get(record)[field]
    assert before != value

    # The rep closes the renewal in Salesforce; a week on, every contract reaches its 7-days-before stage.
    getattr(scene.sf, sobject).update(record, {field: value})
    scene.move_end_dates(5)
    scene.pull()
    closed = scene.contract("closed")
    assert (closed.renewed_via, closed.renewed_at is not None) == ("salesforce", True)
    scene.plan_and_send()
    assert scene.reminders_to() == {"closed": 1, "control": 2, "held": 2}  # nothing more to the closed one
    assert scene.planned("closed") == 0

    # The customer's portal and the email's Renew link.
    customer = scene.app.test_client()
    portal = scene.page(customer, scene.link("closed", "review"))
    row = re.search(rf'<tr class="row-green" id="contract-{closed.id}">(.*?)</tr>', portal, re.S)
    assert row is not None, portal
    assert '<span class="state state-green">Renewed</span>' in row.group(1)
    assert "Renewed in Salesforce on" in row.group(1)
    assert f"/portal/contracts/{closed.id}/renew" not in portal
    renew = scene.page(scene.app.test_client(), scene.link("closed", "renew"))
    assert "Already renewed" in renew and "in Salesforce" in renew
    assert 'name="form_token"' not in renew  # no confirm form: nothing to renew

    # The reports, in the store and on the console's funnel CSV.
    funnel = scene.salesforce_renewals_due()
    assert (funnel.renewed_in_salesforce, funnel.renewed_from_email) == (1, 0)
    add_user(scene.app, "alice", "admin")
    admin = scene.app.test_client()
    assert sign_in(admin, "alice").status_code == 302
    today = datetime.now(UTC).date()
    csv_text = admin.get(
        f"/admin/reports/funnel.csv?from={today.isoformat()}&to={(today + timedelta(days=30)).isoformat()}"
    ).get_data(as_text=True)
    assert "Renewed in Salesforce,1," in csv_text

    # The renewal reopened in Salesforce: the mark is cleared, the portal offers Renew, the reports drop it.
    getattr(scene.sf, sobject).update(record, {field: before})
    scene.pull()
    reopened = scene.contract("closed")
    assert (reopened.renewed_at, reopened.renewed_via) == (None, None)
    portal = scene.page(customer, "/portal")
    row = re.search(rf'<tr class="row-amber" id="contract-{closed.id}">(.*?)</tr>', portal, re.S)
    assert row is not None, portal
    assert '<span class="state state-amber">Due soon</span>' in row.group(1) and "Renewed" not in row.group(1)
    assert scene.salesforce_renewals_due().renewed_in_salesforce == 0


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_a_hold_set_in_salesforce_stops_reminders_and_the_rep_portal_shows_the_controls_from_the_org(
    scene_for: Callable[[str], Scene], flavour: str
) -> None:
    scene = scene_for(flavour)
    _first_reminders(scene)
    spec = FLAVOURS[flavour]
    held = scene.contracts["held"]
    adjustment = ADJUSTMENT_FIELD.get(flavour, "Renewal_Price_Adjustment__c")
    getattr(scene.sf, spec.contract_object).update(
        held.sf_id,
        {"Renewal_Reminders_Held__c": True, "Renewal_Flags__c": "consolidate;warranty_only", adjustment: 7.5},
    )
    scene.move_end_dates(5)
    scene.pull()
    stored = scene.contract("held")
    assert (stored.is_held, stored.status_flags, str(stored.price_adjustment_pct)) == (
        True,
        ["consolidate", "warranty_only"],
        "7.50",
    )
    scene.plan_and_send()
    assert scene.reminders_to() == {"closed": 2, "control": 2, "held": 1}
    assert scene.planned("held") == 0

    browser = scene.app.test_client()
    mark_rep_signed_in(browser, scene.sessions, scene.message("held", kind="rep_notice").id)
    rep = scene.page(browser, scene.link("held", "rep", kind="rep_notice"))
    section = re.search(rf'<section class="contract-controls" id="contract-{held.id}"(.*?)</section>', rep, re.S)
    assert section is not None, rep
    controls = section.group(1)
    assert "Reminders: <strong>on hold</strong>" in controls
    assert re.search(r'value="consolidate" checked', controls) and re.search(r'value="warranty_only" checked', controls)
    assert not re.search(r'value="do_not_remind" checked', controls)
    assert re.search(r'name="price_adjustment_pct"[^>]*value="7.5', controls) or re.search(
        r'value="7.5[0]?"[^>]*name="price_adjustment_pct"', controls
    )
    assert "Resume reminders" in controls
