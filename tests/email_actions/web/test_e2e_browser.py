"""End to end in Chromium, every part real: a stand-in org pulled through the Salesforce CPQ preset, a reminder
sent through moto's SES, the development outbox read in the browser, its Renew and Contact-rep links clicked
and confirmed, the rep's notice opened and a contract held from the rep portal, then the outbox pushed to the
org — which then shows the write-back and the Tasks. Clicking Renew again shows "already renewed"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from redis import Redis
from sqlalchemy import select

from config.settings import Settings, load_settings
from email_actions.mail.sending.pipeline import EmailSender, queue_due, queued_ids
from email_actions.web.app import create_app
from mappings.loader import load
from sync_service.outbox.push import push
from sync_service.outbox.writeback import live_quote
from sync_service.pull.service import pull_all
from sync_service.renewability import active_rules, refusal
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.client import connect
from sync_service.salesforce.connect_settings import connection_from_settings
from sync_service.store import migrate, models
from sync_service.store.db import Database
from sync_service.store.mapping_versions import activate, import_preset
from sync_service.store.models import utcnow
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_reminder
from tests.paths import ARTIFACTS as ARTIFACTS_ROOT
from tests.processes import LateApp, serve_wsgi
from tests.standin_org import RunningOrg, start_seeded_copy, stop_org

ARTIFACTS = ARTIFACTS_ROOT / "e2e"


@dataclass
class System:
    settings: Settings
    db: Database
    org: RunningOrg
    base: str
    contract: models.Contract

    def push(self) -> None:
        with self.db.session_scope() as session:
            row = session.scalars(select(models.MappingVersion).where(models.MappingVersion.is_active)).one()
            conventions = load(row.yaml).write_back.tasks
        sf = connect(connection_from_settings(self.settings))
        result = push(self.db.sessionmaker, sf, conventions, Budget(daily_budget=10**6, reserve=0))
        assert result.dead == 0, result

    def query(self, soql: str) -> list[dict[str, Any]]:
        sf = connect(connection_from_settings(self.settings))
        return list(sf.query_all(soql)["records"])


@pytest.fixture
def system(tmp_path: Path, redis_url: str, ses_endpoint: str) -> Iterator[System]:
    org = start_seeded_copy(tmp_path / "org", "--seed-contracts", "30", "--flavour", "salesforce_cpq")
    web = LateApp()  # served first: the emails' links name its URL, so the app is built for it
    try:
        with serve_wsgi(web) as base:
            settings = load_settings(
                {
                    "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
                    "RENEWALS_DATABASE_URL": f"sqlite:///{tmp_path / 'renewals.db'}",
                    "RENEWALS_REDIS_URL": redis_url,
                    "RENEWALS_PUBLIC_BASE_URL": base,
                    "RENEWALS_DEV_OUTBOX": "true",
                    "RENEWALS_SES_ENDPOINT_URL": ses_endpoint,
                    "RENEWALS_SES_MAX_SEND_RATE": "100",
                    "RENEWALS_SES_DAILY_QUOTA": "10000",
                    "RENEWALS_SALESFORCE_AUTH": "password",
                    "RENEWALS_SALESFORCE_LOGIN_URL": org.url,
                    "RENEWALS_SALESFORCE_USERNAME": org.info["username"],
                    "RENEWALS_SALESFORCE_PASSWORD": org.info["password"],
                    "RENEWALS_SALESFORCE_SECURITY_TOKEN": org.info["security_token"],
                    "RENEWALS_SALESFORCE_CA_BUNDLE": org.info["ca_cert"],
                }
            )
            migrate.upgrade(settings.database_url)
            db = Database(settings.database_url)
            try:
                yield _pull_and_send(settings, db, org, base, web, redis_url)
            finally:
                db.dispose()
    finally:
        stop_org(org)


def _pull_and_send(
    settings: Settings, db: Database, org: RunningOrg, base: str, web: LateApp, redis_url: str
) -> System:
    """The org pulled through the CPQ preset, a reminder sent for the first contract it can go to, and the app
    serving at `base`."""
    with db.session_scope() as session:
        version = import_preset(session, "salesforce_cpq", author="e2e")
        activate(session, version.name, version.version, [])
    pull_all(db, settings, full=True)
    today = utcnow().date()
    with db.session_scope() as session:
        contract = next(
            c
            for c in session.scalars(
                select(models.Contract).where(models.Contract.is_cancelled.is_(False)).order_by(models.Contract.id)
            )
            if c.contact is not None
            and c.contact.email
            and c.rep is not None
            and c.rep.is_active
            and c.rep.email
            and any(not q.is_deleted for q in c.quotes)
            # The org's quote may be renewed from the email (the seed has Draft and expired ones too).
            and refusal(c, live_quote(session, c), active_rules(session), today=today) is None
        )
        make_reminder(session, contract, offset_days=-30, due_on=today)
        queue_due(session, today=today)
    with db.session_scope() as session:
        ids = queued_ids(session)
    summary = EmailSender(db.sessionmaker, settings, Redis.from_url(redis_url), today=today).send(ids)
    assert summary.sent == 2, summary.as_dict()
    web.app = create_app(settings)
    return System(settings, db, org, base, contract)


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1000, "height": 1200})
    yield context.new_page()
    context.close()


def _email_link(page: Page, base: str, kind: str, text: str) -> str:
    """From the development outbox: the href of the first link whose text matches in the email of `kind`."""
    page.goto(f"{base}/dev/outbox")
    kind_cell = page.locator("td", has_text=re.compile(f"^{kind}$"))
    page.locator("tr", has=kind_cell).locator("a").first.click()
    message_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.goto(f"{base}/dev/outbox/{message_id}/html")
    link = page.get_by_role("link", name=re.compile(text, re.IGNORECASE)).first
    href = link.get_attribute("href")
    assert href is not None and href.startswith(base)
    return href


@pytest.mark.timeout(300)
def test_a_customer_renews_from_the_email_and_the_org_shows_it(system: System, page: Page) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    renew = _email_link(page, system.base, "reminder", "^Renew")
    page.goto(renew)
    page.screenshot(path=str(ARTIFACTS / "renew-confirm.png"), full_page=True)
    page.get_by_role("button", name=re.compile("Confirm renewal")).click()
    page.get_by_role("heading", name=re.compile("Thank you")).wait_for()
    page.screenshot(path=str(ARTIFACTS / "renewed.png"), full_page=True)

    system.push()
    contract = system.contract
    quote = next(q for q in contract.quotes if not q.is_deleted)
    [quote_row] = system.query(f"SELECT SBQQ__Status__c FROM SBQQ__Quote__c WHERE Id = '{quote.sf_id}'")
    assert quote_row["SBQQ__Status__c"] == "Accepted"
    tasks = system.query(
        f"SELECT Subject FROM Task WHERE WhatId = '{contract.sf_id}' AND Subject LIKE '%Renewed from the email%'"
    )
    assert len(tasks) == 1

    page.goto(renew)
    assert page.get_by_role("heading", name=re.compile("Already renewed")).is_visible()
    system.push()
    again = system.query(f"SELECT Id FROM Task WHERE WhatId = '{contract.sf_id}' AND Subject LIKE '%Renewed%'")
    assert len(again) == 1


@pytest.mark.timeout(300)
def test_a_customer_asks_for_a_call_and_the_rep_gets_a_high_priority_task(system: System, page: Page) -> None:
    contact = _email_link(page, system.base, "reminder", "Contact")
    page.goto(contact)
    page.get_by_label(re.compile("message", re.IGNORECASE)).first.fill("Please call me about adding seats.")
    page.get_by_role("button", name=re.compile("Send my request")).click()
    page.get_by_role("heading", name=re.compile("request is sent")).wait_for()

    system.push()
    contract = system.contract
    assert contract.rep is not None
    tasks = system.query(
        "SELECT Priority, Status, OwnerId, ActivityDate FROM Task "
        f"WHERE WhatId = '{contract.sf_id}' AND Subject LIKE '%asked to be contacted%'"
    )
    assert len(tasks) == 1
    assert (tasks[0]["Priority"], tasks[0]["Status"], tasks[0]["OwnerId"]) == (
        "High",
        "Not Started",
        contract.rep.sf_id,
    )
    assert tasks[0]["ActivityDate"] >= (utcnow().date() + timedelta(days=1)).isoformat()


@pytest.mark.timeout(300)
def test_a_rep_holds_reminders_from_the_rep_portal_and_the_org_shows_the_hold(system: System, page: Page) -> None:
    portal = _email_link(page, system.base, "rep_notice", "contract list")
    page.goto(portal)
    # The link leads to the sign-in; without a connected app configured, the rep asks for a code by email.
    assert page.url == f"{system.base}/rep/sign-in"
    page.get_by_role("button", name="Email me a sign-in code").click()
    page.wait_for_url(f"{system.base}/rep/sign-in/code")
    page.goto(f"{system.base}/dev/outbox")  # the code's email, as the rep's mailbox would show it
    subject = page.locator("a", has_text=re.compile("sign-in code: [0-9]{8}")).first.inner_text()
    code = re.findall("[0-9]{8}", subject)[-1]
    page.goto(f"{system.base}/rep/sign-in/code")
    page.fill("#code", code)
    page.click("#verify-code")
    page.wait_for_url(f"{system.base}/rep")
    number = system.contract.number
    page.get_by_role("button", name=re.compile(f"Hold reminders for contract {number}")).click()
    page.get_by_role("button", name=re.compile(f"Resume reminders for contract {number}")).wait_for()
    page.screenshot(path=str(ARTIFACTS / "rep-portal-held.png"), full_page=True)

    system.push()
    [row] = system.query(f"SELECT Renewal_Reminders_Held__c FROM Contract WHERE Id = '{system.contract.sf_id}'")
    assert row["Renewal_Reminders_Held__c"] is True
    with system.db.session_scope() as session:
        assert session.get_one(models.Contract, system.contract.id).is_held
        audit = session.scalars(select(models.AuditEntry)).all()
        assert [entry.action for entry in audit] == ["rep.hold"]
