"""The one-click actions: Renew, Contact rep, Unsubscribe and "email me a fresh link", through the app.

Each test reads as what a customer (or a link scanner, or a mail client) does and what the store holds
afterwards: pages on GET and HEAD with nothing but a click event written; on POST exactly one renewal,
one contact request or one suppression, with their outbox rows and queued emails, however often or
concurrently it is posted.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from config.settings import Settings
from email_actions.mail.brands import load_brands
from email_actions.mail.links import LINKS, Links, Purpose
from email_actions.mail.sending.pipeline import Composer, Skip
from email_actions.web import token_pages as tokens
from email_actions.web.app import create_app
from email_actions.web.security import limiter
from jobs.base import get_queue
from jobs.queues import EMAIL, PUSH
from mappings.loader import load
from sync_service.outbox.record import event_key
from sync_service.planning.planner import CANCEL_RENEWED, CANCEL_SUPPRESSED
from sync_service.renewal import renew_contract
from sync_service.store import models
from sync_service.store.db import make_engine
from sync_service.store.models import utcnow
from tests.email_actions.web.hits import drain
from tests.factories import make_contract, make_email, make_reminder, make_sent_reminder_email, sf_id
from tests.org_quotes import org_settings, put_quote, reprice
from tests.paths import SALESFORCE_CPQ_PRESET
from tests.processes import free_port
from tests.standin_org import RunningOrg

PRESET = SALESFORCE_CPQ_PRESET
CONTACT_REP_FIELD = "Renewal_Contact_Requested__c"
FORM_FIELD = re.compile(r'name="(form_token|total_seen)" value="([^"]*)"')
COUNTED = {
    "renewals": models.Renewal,
    "contact_requests": models.ContactRequest,
    "outbox_items": models.OutboxItem,
    "email_messages": models.EmailMessage,
    "email_suppressions": models.EmailSuppression,
    "email_events": models.EmailEvent,
}


def mapping_yaml(**contact_rep_action: Any) -> str:
    """The Salesforce CPQ preset plus a Contact rep write-back (the presets have none)."""
    data = yaml.safe_load(PRESET.read_text())
    action = {"object": "Contract", "record": "contract", "set": {CONTACT_REP_FIELD: True}, **contact_rep_action}
    data["write_back"]["contact_rep"] = [action]
    return str(yaml.safe_dump(data, sort_keys=False))


@dataclass
class Site:
    """The app over one store, and a session factory to look at that store."""

    app: Flask
    sessions: sessionmaker[Session]
    settings: Settings
    # The stand-in org the Renew POST reads its quotes from (seed puts each contract's quote there).
    org: RunningOrg | None = None

    def client(self, **kwargs: Any) -> FlaskClient:
        return self.app.test_client(**kwargs)

    def links(self) -> Links:
        return Links(self.settings)

    def counts(self) -> dict[str, int]:
        """Rows by table, once the link hits appended so far are drained (as a push starts by)."""
        drain(self.app)
        with self.sessions() as session:
            found = {
                name: session.scalar(select(func.count()).select_from(model)) or 0 for name, model in COUNTED.items()
            }
            for status in ("planned", "cancelled"):
                found[f"reminders_{status}"] = (
                    session.scalar(select(func.count()).where(models.Reminder.status == status)) or 0
                )
            found["contacts_suppressed"] = (
                session.scalar(select(func.count()).where(models.Contact.suppressed_at.is_not(None))) or 0
            )
            return found


@dataclass(frozen=True)
class Seeded:
    """A contract with a sent reminder email (the one whose links are clicked) and a planned later reminder."""

    message_id: int
    contract_id: int
    nonce: str
    rep_sf_id: str
    address: str

    def path(self, site: Site, purpose: Purpose) -> str:
        return f"{LINKS[purpose].path}{site.links().token(purpose, self.message_id, self.nonce)}"


def open_site(settings: Settings, database_url: str, org: RunningOrg | None = None) -> Site:
    if org is not None:
        settings = org_settings(settings, org)
    app = create_app(dataclasses.replace(settings, database_url=database_url))
    app.config["TESTING"] = True
    return Site(
        app, sessionmaker(make_engine(database_url), expire_on_commit=False), app.extensions["renewals.settings"], org
    )


def close_site(site: Site) -> None:
    site.app.extensions["renewals.database"].dispose()
    site.sessions.kw["bind"].dispose()


@pytest.fixture
def site(settings: Settings, cpq_org: RunningOrg) -> Iterator[Site]:
    """The app on the test's own SQLite store, reading quotes live from the CPQ stand-in org."""
    running = open_site(settings, settings.database_url, cpq_org)
    yield running
    close_site(running)


@pytest.fixture
def any_site(settings: Settings, store: sessionmaker[Session], cpq_org: RunningOrg) -> Iterator[Site]:
    """The app on a fresh store of each backend (SQLite and PostgreSQL), reading quotes from the CPQ org."""
    running = open_site(settings, store.kw["bind"].url.render_as_string(hide_password=False), cpq_org)
    yield running
    close_site(running)


def seed(target: Site | sessionmaker[Session], *, mapping: str | None = None, **contract_fields: Any) -> Seeded:
    """A contract with its active mapping (the CPQ preset plus a Contact rep write-back unless `mapping`), a
    sent reminder email and a planned later reminder."""
    today = utcnow().date()
    sessions = target.sessions if isinstance(target, Site) else target
    with sessions.begin() as session:
        if session.scalar(select(models.MappingVersion.id)) is None:
            session.add(
                models.MappingVersion(
                    name="cpq", version=1, yaml=mapping or mapping_yaml(), author="test", is_active=True
                )
            )
        contract = make_contract(session, end_date=today + timedelta(days=30), **contract_fields)
        [quote] = contract.quotes
        quote.sf_links = {"SBQQ__Opportunity2__c": sf_id("006")}
        if isinstance(target, Site) and target.org is not None:
            put_quote(target.org, quote)
        # The reminder due today (30 days before the end), sent two hours ago, and the one 7 days before the end.
        message = make_sent_reminder_email(session, contract, sent_at=utcnow() - timedelta(hours=2))
        make_reminder(session, contract, offset_days=-7)
        assert contract.contact is not None and contract.contact.email and contract.rep is not None
        return Seeded(message.id, contract.id, message.nonce, contract.rep.sf_id, contract.contact.email)


def form_fields(response: TestResponse) -> dict[str, str]:
    return dict(FORM_FIELD.findall(response.get_data(as_text=True)))


def renew_form(client: FlaskClient, path: str, **extra: str) -> dict[str, str]:
    """What the Renew page's form posts: its form token and the total it shows (plus `extra` fields)."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return {**form_fields(page), **extra}


def contact_link(site: Site, response: TestResponse) -> int:
    """The email id of the page's Contact rep link (which must verify)."""
    [token] = re.findall(r'href="/a/contact/([^"]+)"', response.get_data(as_text=True))
    return site.links().verify("contact", token).message_id


def queued_jobs(redis: Redis) -> dict[str, int]:
    return {name: get_queue(name, connection=redis).count for name in (EMAIL, PUSH)}


def outbox(site: Site) -> list[models.OutboxItem]:
    with site.sessions() as session:
        return list(session.scalars(select(models.OutboxItem).order_by(models.OutboxItem.id)))


def text(response: TestResponse) -> str:
    return " ".join(response.get_data(as_text=True).split())


# --- GET, HEAD and OPTIONS change nothing --------------------------------------------------------------


@pytest.mark.parametrize("purpose", ["renew", "contact", "unsubscribe"])
def test_get_and_head_show_a_page_and_write_only_a_click_event(site: Site, redis: Redis, purpose: Purpose) -> None:
    seeded = seed(site)
    path = seeded.path(site, purpose)
    before, jobs = site.counts(), queued_jobs(redis)
    client = site.client()

    get = client.get(path)
    head = client.head(path)

    assert get.status_code == 200 and head.status_code == 200
    assert b"<form" in get.data and head.data == b""
    after = site.counts()
    assert after == {**before, "email_events": before["email_events"] + 2}
    assert queued_jobs(redis) == jobs
    with site.sessions() as session:
        events = session.scalars(select(models.EmailEvent).order_by(models.EmailEvent.id)).all()
        assert [(e.kind, e.purpose, e.method) for e in events] == [
            ("click", purpose, "GET"),
            ("click", purpose, "HEAD"),
        ]
        assert events[1].label == "machine"  # a HEAD is a scanner's, never a person's


@pytest.mark.parametrize("purpose", ["renew", "contact", "unsubscribe"])
def test_options_changes_nothing(site: Site, purpose: Purpose) -> None:
    seeded = seed(site)
    before = site.counts()
    response = site.client().options(seeded.path(site, purpose))
    assert response.status_code == 200 and "POST" in response.headers["Allow"]
    assert site.counts() == before


def test_a_scanner_burst_then_one_confirm_makes_one_renewal_and_one_task(site: Site) -> None:
    seeded = seed(site)
    path = seeded.path(site, "renew")
    scanner = site.client()
    for _ in range(10):
        scanner.get(path, headers={"User-Agent": "Mozilla/5.0 (compatible; Microsoft Office Protection)"})
        scanner.head(path)
    person = site.client()
    assert person.post(path, data=renew_form(person, path)).status_code == 200
    counts = site.counts()
    assert counts["renewals"] == 1 and counts["email_events"] == 21
    tasks = [item for item in outbox(site) if item.kind == "task"]
    assert len(tasks) == 1 and tasks[0].key == event_key("renewed", seeded.message_id) and tasks[0].count == 1


# --- Renew -------------------------------------------------------------------------------------------------


def test_the_renew_page_summarises_the_contract_and_quote(site: Site) -> None:
    seeded = seed(site, number="00012345")
    response = site.client().get(seeded.path(site, "renew"))
    page = text(response)
    assert response.status_code == 200
    assert "Confirm your renewal" in page and "00012345" in page and "Acme Manufacturing GmbH" in page
    assert "Analytics Platform - Enterprise" in page and "Premium Support" in page
    assert "$1,000.00" in page and "$12,500.00" in page and "(USD)" in page
    assert "12 months" in page
    assert '<label for="purchase_order">Purchase order number (optional)</label>' in page
    fields = form_fields(response)
    assert fields["total_seen"] == "12500.00" and fields["form_token"]
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"


def test_a_brand_without_the_purchase_order_field_neither_asks_nor_stores_one(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = load_brands(site.settings.brands_file).default.model_copy(update={"purchase_order_field": False})
    monkeypatch.setattr(tokens, "brand_of", lambda message: plain)
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path, purchase_order="PO-1")
    assert "purchase_order" not in client.get(path).get_data(as_text=True)
    assert client.post(path, data=form).status_code == 200
    with site.sessions() as session:
        renewal = session.scalars(select(models.Renewal)).one()
        assert renewal.purchase_order is None


def test_a_purchase_order_too_long_is_400_and_changes_nothing(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path, purchase_order="P" * 81)
    before = site.counts()
    response = client.post(path, data=form)
    assert response.status_code == 400 and "at most 80 characters" in text(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert site.counts() == before


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda form, site, seeded: {"total_seen": form["total_seen"]}, id="no form token"),
        pytest.param(lambda form, site, seeded: {**form, "form_token": form["form_token"][:-3]}, id="forged"),
        pytest.param(lambda form, site, seeded: {**form, "total_seen": "twelve"}, id="no total"),
        pytest.param(lambda form, site, seeded: {"form_token": form["form_token"]}, id="total missing"),
    ],
)
def test_a_post_without_a_valid_form_is_400_and_changes_nothing(site: Site, redis: Redis, tamper: Any) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path)
    before, jobs = site.counts(), queued_jobs(redis)
    response = client.post(path, data=tamper(form, site, seeded))
    assert response.status_code == 400
    assert "nothing has been renewed yet" in text(response)
    assert form_fields(response)["form_token"]  # a fresh form to confirm with
    assert site.counts() == before and queued_jobs(redis) == jobs


def test_a_form_token_of_another_page_does_not_renew(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    contact_page = client.get(seeded.path(site, "contact"))
    form = renew_form(client, seeded.path(site, "renew"), form_token=form_fields(contact_page)["form_token"])
    before = site.counts()
    assert client.post(seeded.path(site, "renew"), data=form).status_code == 400
    assert site.counts() == before


def test_renew_records_the_renewal_its_outbox_rows_and_the_confirmation(any_site: Site, redis: Redis) -> None:
    site = any_site
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    before = site.counts()

    response = client.post(path, data=renew_form(client, path, purchase_order="  PO-4711 "))

    assert response.status_code == 200
    assert "your contract is renewed" in text(response) and "PO-4711" in text(response)
    with site.sessions() as session:
        contract = session.get_one(models.Contract, seeded.contract_id)
        renewal = session.scalars(select(models.Renewal)).one()
        assert contract.renewed_at is not None and renewal.renewed_at == contract.renewed_at
        assert (renewal.contract_id, renewal.email_message_id, renewal.source) == (
            seeded.contract_id,
            seeded.message_id,
            "email",
        )
        assert (renewal.amount, renewal.currency, renewal.purchase_order) == (Decimal("12500.00"), "USD", "PO-4711")
        assert renewal.quote_id == contract.quotes[0].id
        confirmation = session.scalars(
            select(models.EmailMessage).where(models.EmailMessage.kind == "confirmation")
        ).one()
        assert confirmation.key == f"confirmation:{seeded.contract_id}" and confirmation.status == "queued"
        assert confirmation.contact_id == contract.contact_id and confirmation.rep_id == contract.rep_id
        assert confirmation.data == {"purchase_order": "PO-4711"}
        reminders = {r.offset_days: (r.status, r.reason) for r in session.scalars(select(models.Reminder))}
        assert reminders == {-30: ("sent", None), -7: ("cancelled", CANCEL_RENEWED)}
    items = outbox(site)
    updates = {i.sobject: i.payload["values"] for i in items if i.kind == "field_update"}
    assert updates == {"SBQQ__Quote__c": {"SBQQ__Status__c": "Accepted"}, "Opportunity": {"StageName": "Closed Won"}}
    [task] = [i for i in items if i.kind == "task"]
    assert task.key == event_key("renewed", seeded.message_id)
    assert "Renewed from the email" in task.payload["subject"] and "PO-4711" in task.payload["description"]
    assert task.payload["fields"]["OwnerId"] == seeded.rep_sf_id
    after = site.counts()
    assert after["renewals"] == before["renewals"] + 1
    assert after["outbox_items"] == before["outbox_items"] + 3
    assert after["email_messages"] == before["email_messages"] + 1
    # The push and the confirmation are handed to the workers after the commit.
    assert queued_jobs(redis) == {EMAIL: 1, PUSH: 1}


def test_a_second_post_shows_already_renewed_and_changes_nothing(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    first_form = renew_form(client, path)
    assert client.post(path, data=first_form).status_code == 200
    before = site.counts()

    again = client.post(path, data=first_form)  # the same form, resubmitted
    later = client.post(path, data={**first_form, **form_fields(client.get(path))})  # a new page's form
    page = client.get(path)

    today = utcnow().date()
    expected = f"already renewed on {today:%B} {today.day}, {today.year}"
    for response in (again, later, page):
        assert response.status_code == 200 and expected in text(response)
    assert site.counts() == {**before, "email_events": before["email_events"] + 2}


def test_twenty_concurrent_confirms_make_one_renewal(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    site = any_site
    seeded = seed(site)
    path = seeded.path(site, "renew")
    # The rate limits (tested on their own) would turn most of the racers away before they race.
    monkeypatch.setattr(limiter, "enabled", False)
    clients = [site.client() for _ in range(20)]
    forms = [renew_form(client, path) for client in clients]
    start = threading.Barrier(len(clients))
    responses: list[TestResponse | BaseException] = [RuntimeError("not run")] * len(clients)

    def confirm(index: int) -> None:
        start.wait()
        try:
            responses[index] = clients[index].post(path, data=forms[index])
        except BaseException as exc:
            responses[index] = exc

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    pages = []
    for response in responses:
        assert isinstance(response, TestResponse), response
        assert response.status_code == 200, text(response)
        pages.append(text(response))
    assert sum("your contract is renewed" in page for page in pages) == 1
    assert sum("already renewed on" in page for page in pages) == 19
    counts = site.counts()
    assert counts["renewals"] == 1 and counts["outbox_items"] == 3
    with site.sessions() as session:
        kinds = session.scalars(select(models.EmailMessage.kind).order_by(models.EmailMessage.id)).all()
        assert kinds == ["reminder", "confirmation"]
    [task] = [item for item in outbox(site) if item.kind == "task"]
    assert task.count == 1


def test_a_contract_cancelled_since_the_email_is_not_renewed(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path)
    with site.sessions.begin() as session:
        session.get_one(models.Contract, seeded.contract_id).is_cancelled = True
    before = site.counts()

    posted = client.post(path, data=form)
    shown = client.get(path)

    assert posted.status_code == 409 and shown.status_code == 200
    for response in (posted, shown):
        page = text(response)
        assert "has been cancelled" in page and "Nothing has been renewed" in page
        assert contact_link(site, response) == seeded.message_id
    assert site.counts() == {**before, "email_events": before["email_events"] + 1}


def test_a_quote_repriced_in_salesforce_since_the_page_asks_to_confirm_the_new_amount(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path)
    assert form["total_seen"] == "12500.00"
    assert site.org is not None
    with site.sessions() as session:
        [quote] = session.get_one(models.Contract, seeded.contract_id).quotes
        reprice(site.org, quote.sf_id, Decimal("13250.00"))  # a rep re-prices the quote in Salesforce
    before = site.counts()

    changed = client.post(path, data=form)

    assert changed.status_code == 409
    page = text(changed)
    assert "The renewal amount has changed" in page and "$13,250.00" in page and "Nothing has been renewed" in page
    assert site.counts() == before
    with site.sessions() as session:  # the store's copy took Salesforce's total from the live read
        assert session.get_one(models.Contract, seeded.contract_id).quotes[0].total == Decimal("13250.00")
    fresh = form_fields(changed)
    assert fresh["total_seen"] == "13250.00"

    confirmed = client.post(path, data=fresh)
    assert confirmed.status_code == 200 and "your contract is renewed" in text(confirmed)
    with site.sessions() as session:
        assert session.scalars(select(models.Renewal.amount)).one() == Decimal("13250.00")


def test_a_contract_without_a_live_quote_points_to_the_rep(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path)
    with site.sessions.begin() as session:
        [quote] = session.get_one(models.Contract, seeded.contract_id).quotes
        quote.is_deleted = True
    before = site.counts()
    shown, posted = client.get(path), client.post(path, data=form)
    assert (shown.status_code, posted.status_code) == (200, 409)
    for response in (shown, posted):
        assert "isn't available online" in text(response) and "Contact your account manager" in text(response)
        assert contact_link(site, response) == seeded.message_id
    assert site.counts() == {**before, "email_events": before["email_events"] + 1}


def test_renew_posts_are_rate_limited_per_email_whatever_the_address(site: Site) -> None:
    seeded = seed(site)
    path = seeded.path(site, "renew")
    statuses = [
        site.client().post(path, data={}, environ_base={"REMOTE_ADDR": f"198.51.100.{i}"}).status_code
        for i in range(12)
    ]
    assert statuses[:10] == [400] * 10 and statuses[10:] == [429, 429]
    # Another email's link is not slowed by it.
    other = seed(site)
    assert site.client().post(other.path(site, "renew"), data={}).status_code == 400


# --- Contact rep -------------------------------------------------------------------------------------------


def contact_form(client: FlaskClient, path: str, **values: str) -> dict[str, str]:
    page = client.get(path)
    assert page.status_code == 200
    return {"form_token": form_fields(page)["form_token"], **values}


def test_the_contact_form_labels_every_field(site: Site) -> None:
    seeded = seed(site)
    page = site.client().get(seeded.path(site, "contact")).get_data(as_text=True)
    assert "<h1>Contact your account manager</h1>" in page
    assert '<label for="message">' in page and 'id="message"' in page and 'maxlength="2000"' in page
    assert '<label for="preferred_time">' in page and 'maxlength="80"' in page
    assert "<legend>How would you like to be contacted?</legend>" in page
    for channel in ("phone", "email", "video"):
        assert f'<label for="channel_{channel}"' in page
    assert "Riley Rep will get your request" in page


def test_a_contact_request_makes_a_task_for_the_rep_and_an_email(any_site: Site, redis: Redis) -> None:
    site = any_site
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "contact")
    form = contact_form(client, path, message="Can we add two seats?", preferred_time="Tue 10-12 CET", channel="video")
    before = site.counts()

    response = client.post(path, data=form)

    assert response.status_code == 200
    assert "Your account manager Riley Rep will contact you" in text(response)
    with site.sessions() as session:
        request_row = session.scalars(select(models.ContactRequest)).one()
        assert (request_row.message, request_row.preferred_time, request_row.channel) == (
            "Can we add two seats?",
            "Tue 10-12 CET",
            "video",
        )
        assert (request_row.contract_id, request_row.email_message_id) == (seeded.contract_id, seeded.message_id)
        notice = session.scalars(select(models.EmailMessage).where(models.EmailMessage.kind == "contact_request")).one()
        assert notice.key == f"contact_request:{request_row.id}" and notice.status == "queued"
        contract = session.get_one(models.Contract, seeded.contract_id)
        assert notice.rep_id == contract.rep_id and notice.contact_id == contract.contact_id
        assert notice.data == {
            "message": "Can we add two seats?",
            "preferred_time": "Tue 10-12 CET",
            "channel": "Video call",
        }
        assert contract.renewed_at is None
    items = outbox(site)
    [task] = [i for i in items if i.kind == "task"]
    assert task.key == event_key("contact_requested", seeded.message_id)
    fields = task.payload["fields"]
    assert (fields["Priority"], fields["Status"], fields["OwnerId"]) == ("High", "Not Started", seeded.rep_sf_id)
    assert fields["ActivityDate"] == (utcnow().date() + timedelta(days=2)).isoformat()
    assert "Can we add two seats?" in task.payload["description"] and "Video call" in task.payload["description"]
    [update] = [i for i in items if i.kind == "field_update"]
    assert update.sobject == "Contract" and update.payload["values"] == {CONTACT_REP_FIELD: True}
    after = site.counts()
    assert after == {
        **before,
        "contact_requests": before["contact_requests"] + 1,
        "outbox_items": before["outbox_items"] + 2,
        "email_messages": before["email_messages"] + 1,
    }
    assert queued_jobs(redis) == {EMAIL: 1, PUSH: 1}


def test_a_double_submit_is_one_request(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "contact")
    form = contact_form(client, path, message="Call me", channel="phone")
    first, second = client.post(path, data=form), client.post(path, data=form)
    assert first.status_code == second.status_code == 200
    assert "will contact you" in text(second)
    counts = site.counts()
    assert counts["contact_requests"] == 1 and counts["email_messages"] == 2
    [task] = [i for i in outbox(site) if i.kind == "task"]
    assert task.count == 1
    # A new form (a second, deliberate request) is a second request; the rep's Task counts it.
    assert client.post(path, data=contact_form(client, path, message="Still there?")).status_code == 200
    assert site.counts()["contact_requests"] == 2
    [task] = [i for i in outbox(site) if i.kind == "task"]
    assert task.count == 2


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"message": "x" * 2001}, "shorten your message to 2000"),
        ({"preferred_time": "y" * 81}, "shorten this to 80"),
        ({"channel": "fax"}, "choose one of the listed ways"),
    ],
)
def test_an_invalid_contact_form_is_400_and_keeps_what_was_typed(
    site: Site, values: dict[str, str], error: str
) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "contact")
    typed = {"message": "Keep me", "preferred_time": "Mornings", **values}
    form = contact_form(client, path, **typed)
    before = site.counts()
    response = client.post(path, data=form)
    assert response.status_code == 400
    page = text(response)
    assert error in page and 'aria-invalid="true"' in page
    assert typed["message"][:7] in page and typed["preferred_time"][:7] in page
    assert site.counts() == before


def test_no_way_chosen_is_fine(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "contact")
    assert client.post(path, data=contact_form(client, path, message="Either way", channel="")).status_code == 200
    with site.sessions() as session:
        request_row = session.scalars(select(models.ContactRequest)).one()
        assert (request_row.message, request_row.preferred_time, request_row.channel) == ("Either way", None, None)


def test_a_contact_post_without_the_form_token_is_400(site: Site) -> None:
    seeded = seed(site)
    before = site.counts()
    response = site.client().post(seeded.path(site, "contact"), data={"message": "hello"})
    assert response.status_code == 400 and "has not been sent yet" in text(response)
    assert site.counts() == before


def test_an_unresolvable_contact_write_back_still_records_the_request(site: Site) -> None:
    seeded = seed(site, mapping=mapping_yaml(record="renewal_quote.Missing_Lookup__c", object="Opportunity"))
    client = site.client()
    path = seeded.path(site, "contact")
    assert client.post(path, data=contact_form(client, path, message="Hi")).status_code == 200
    counts = site.counts()
    assert counts["contact_requests"] == 1 and counts["email_messages"] == 2
    assert [i.kind for i in outbox(site)] == ["task"]


# --- Unsubscribe (RFC 8058) --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["multipart/form-data", "application/x-www-form-urlencoded"])
def test_one_click_unsubscribe_without_cookies(any_site: Site, encoding: str) -> None:
    site = any_site
    seeded = seed(site)
    client = site.client(use_cookies=False)
    path = seeded.path(site, "unsubscribe")
    before = site.counts()

    responses = [client.post(path, data={"List-Unsubscribe": "One-Click"}, content_type=encoding) for _ in range(2)]

    for response in responses:
        assert response.status_code == 200 and "Location" not in response.headers
        assert "Set-Cookie" not in response.headers
        assert len(response.data) < 8000 and "You are unsubscribed" in text(response)
    after = site.counts()
    assert after == {
        **before,
        "email_suppressions": before["email_suppressions"] + 1,
        "reminders_planned": before["reminders_planned"] - 1,
        "reminders_cancelled": before["reminders_cancelled"] + 1,
        "contacts_suppressed": before["contacts_suppressed"] + 1,
        # The opt-out for Salesforce and the rep's Task: once, however many POSTs.
        "outbox_items": before["outbox_items"] + 2,
    }
    with site.sessions() as session:
        suppression = session.scalars(select(models.EmailSuppression)).one()
        assert (suppression.address, suppression.reason, suppression.scope) == (
            seeded.address,
            "unsubscribe",
            "reminders",
        )
        reason = session.scalar(select(models.Reminder.reason).where(models.Reminder.status == "cancelled"))
        assert reason == CANCEL_SUPPRESSED
        writes = {item.kind: item for item in session.scalars(select(models.OutboxItem))}
        contact = session.scalars(select(models.Contact)).first()
        assert contact is not None
        opt_out = writes["field_update"]
        assert (opt_out.sobject, opt_out.target_sf_id) == ("Contact", contact.sf_id)
        assert opt_out.payload["values"] == {"HasOptedOutOfEmail": True}
        assert opt_out.payload["seen"] == {"HasOptedOutOfEmail": False}
        assert "unsubscribed from renewal reminders" in writes["task"].payload["subject"]
        assert writes["task"].count == 2  # the bounded Task: the second POST bumped it


def test_the_unsubscribe_page_button_posts_the_same_one_click(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "unsubscribe")
    page = client.get(path).get_data(as_text=True)
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page and "<button" in page
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert site.counts()["email_suppressions"] == 1


def test_an_unsubscribe_post_without_the_one_click_body_changes_nothing(site: Site) -> None:
    seeded = seed(site)
    before = site.counts()
    path = seeded.path(site, "unsubscribe")
    for data in ({}, {"List-Unsubscribe": "yes"}):
        response = site.client(use_cookies=False).post(path, data=data)
        assert response.status_code == 400 and "Location" not in response.headers
    assert site.counts() == before


def test_unsubscribing_stops_reminders_but_not_confirmations(site: Site) -> None:
    seeded = seed(site)
    assert (
        site.client().post(seeded.path(site, "unsubscribe"), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    )
    composer = Composer(site.settings)
    with site.sessions() as session:
        contract = session.get_one(models.Contract, seeded.contract_id)
        emails = {}
        for kind in ("confirmation", "reminder"):
            # Queued, not yet addressed: the composer finds the address itself.
            emails[kind] = make_email(
                session,
                contract,
                kind=kind,
                status="queued",
                key=f"{kind}:later",
                stage=-7 if kind == "reminder" else None,
                to_address=None,
            )
        prepared = composer.prepare(session, emails["confirmation"], use_reseller_brand=True)
        assert prepared.to == seeded.address
        with pytest.raises(Skip, match="suppressed"):
            composer.prepare(session, emails["reminder"], use_reseller_brand=True)
        session.rollback()


# --- Expired links and fresh ones --------------------------------------------------------------------------


def expired_token(site: Site, seeded: Seeded, purpose: Purpose) -> str:
    """A genuine token signed long enough ago to be past its purpose's age."""
    signed = time.time() - LINKS[purpose].max_age - 3600
    with mock.patch("time.time", return_value=signed):
        return site.links().token(purpose, seeded.message_id, seeded.nonce)


@pytest.mark.parametrize("purpose", ["renew", "contact", "unsubscribe"])
def test_an_expired_link_offers_a_fresh_one_and_changes_nothing(site: Site, purpose: Purpose) -> None:
    seeded = seed(site)
    token = expired_token(site, seeded, purpose)
    before = site.counts()
    for method in ("GET", "HEAD", "POST"):
        response = site.client().open(f"{LINKS[purpose].path}{token}", method=method)
        assert response.status_code == 410
    page = site.client().get(f"{LINKS[purpose].path}{token}").get_data(as_text=True)
    assert "This link has expired" in page and 'action="/links/fresh"' in page
    assert f'name="token" value="{token}"' in page and f'name="purpose" value="{purpose}"' in page
    assert site.counts() == before


def test_a_fresh_link_is_queued_once_a_day_and_its_links_work(site: Site, redis: Redis) -> None:
    seeded = seed(site)
    token = expired_token(site, seeded, "renew")
    client = site.client()

    responses = [client.post("/links/fresh", data={"token": token, "purpose": "renew"}) for _ in range(2)]

    for response in responses:
        assert response.status_code == 200 and "We have sent a fresh link" in text(response)
        assert seeded.address not in response.get_data(as_text=True)
    with site.sessions() as session:
        fresh = session.scalars(select(models.EmailMessage).where(models.EmailMessage.key.startswith("fresh:"))).one()
        original = session.get_one(models.EmailMessage, seeded.message_id)
        assert fresh.key == f"fresh:{seeded.message_id}:{utcnow().date().isoformat()}"
        assert (fresh.kind, fresh.stage, fresh.contract_id, fresh.contact_id, fresh.rep_id, fresh.status) == (
            original.kind,
            original.stage,
            original.contract_id,
            original.contact_id,
            original.rep_id,
            "queued",
        )
        assert fresh.nonce != original.nonce and fresh.reminder_id is None
        fresh_id, fresh_nonce = fresh.id, fresh.nonce
    assert queued_jobs(redis)[EMAIL] == 1
    new_path = f"{LINKS['renew'].path}{site.links().token('renew', fresh_id, fresh_nonce)}"
    assert client.get(new_path).status_code == 200


def test_without_redis_the_actions_are_recorded_and_left_to_the_sweeps(settings: Settings, cpq_org: RunningOrg) -> None:
    down = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    site = open_site(down, settings.database_url, cpq_org)
    try:
        seeded = seed(site)
        client = site.client()
        renew_path = seeded.path(site, "renew")
        assert client.post(renew_path, data=renew_form(client, renew_path)).status_code == 200
        contact_path = seeded.path(site, "contact")
        assert client.post(contact_path, data=contact_form(client, contact_path, message="Hi")).status_code == 200
        token = expired_token(site, seeded, "renew")
        assert client.post("/links/fresh", data={"token": token, "purpose": "renew"}).status_code == 200
        # What the workers would have been told about waits, committed, for the scheduler's sweeps.
        with site.sessions() as session:
            kinds = select(models.EmailMessage.kind, models.EmailMessage.status).where(
                models.EmailMessage.id != seeded.message_id
            )
            assert sorted(tuple(row) for row in session.execute(kinds)) == [
                ("confirmation", "queued"),
                ("contact_request", "queued"),
                ("reminder", "queued"),
            ]
        assert {item.status for item in outbox(site)} == {"pending"}
        assert site.counts()["renewals"] == site.counts()["contact_requests"] == 1
    finally:
        close_site(site)


def test_a_fresh_link_for_a_link_still_valid_sends_nothing_and_says_the_same(site: Site) -> None:
    seeded = seed(site)
    token = site.links().token("renew", seeded.message_id, seeded.nonce)
    before = site.counts()
    response = site.client().post("/links/fresh", data={"token": token, "purpose": "renew"})
    assert response.status_code == 200 and "We have sent a fresh link" in text(response)
    assert site.counts() == before


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"purpose": "renew"}, id="no token"),
        pytest.param({"purpose": "open", "token": "x"}, id="pixel"),
        pytest.param({"purpose": "nonsense", "token": "x"}, id="unknown purpose"),
    ],
)
def test_a_fresh_link_request_without_a_genuine_token_is_404(site: Site, form: dict[str, str]) -> None:
    seed(site)
    before = site.counts()
    response = site.client().post("/links/fresh", data=form)
    assert response.status_code == 404 and "This link is not valid" in text(response)
    assert site.counts() == before


def test_an_expired_token_of_another_purpose_gets_no_fresh_link(site: Site) -> None:
    seeded = seed(site)
    token = expired_token(site, seeded, "renew")
    before = site.counts()
    response = site.client().post("/links/fresh", data={"token": token, "purpose": "contact"})
    assert response.status_code == 404
    assert site.counts() == before


# --- renew_contract, as the portal calls it ----------------------------------------------------------------


def add_reminder_email(session: Session, contract_id: int, offset_days: int, *, sent: bool) -> models.EmailMessage:
    """A reminder email at stage `offset_days`, sent `offset_days` minutes from now (so the later stage is the
    newer), or still queued."""
    return make_sent_reminder_email(
        session,
        session.get_one(models.Contract, contract_id),
        offset_days=offset_days,
        due_on=utcnow().date(),
        status="sent" if sent else "queued",
        sent_at=utcnow() + timedelta(minutes=offset_days) if sent else None,
    )


def test_a_portal_renewal_puts_its_task_on_the_latest_sent_reminder(store: sessionmaker[Session]) -> None:
    seeded = seed(store)
    with store.begin() as session:
        newest_sent = add_reminder_email(session, seeded.contract_id, -14, sent=True).id
        add_reminder_email(session, seeded.contract_id, -10, sent=False)  # queued, never reached the customer
    with store() as session:
        contract = session.get_one(models.Contract, seeded.contract_id)
        mapping = load(mapping_yaml())
        session.commit()
        outcome = renew_contract(
            session,
            contract=contract,
            quote_total_seen=Decimal("12500"),
            purchase_order=None,
            source="portal",
            mapping=mapping,
        )
        session.commit()
        assert outcome.status == "renewed" and outcome.write_back_problem is None
        renewal = session.scalars(select(models.Renewal)).one()
        assert (renewal.source, renewal.email_message_id, renewal.purchase_order) == ("portal", None, None)
        tasks = [i for i in session.scalars(select(models.OutboxItem)) if i.kind == "task"]
        assert [t.key for t in tasks] == [event_key("renewed", newest_sent)]
        assert "customer portal" in tasks[0].payload["description"]


def test_a_portal_renewal_without_a_sent_reminder_has_no_task(store: sessionmaker[Session]) -> None:
    seeded = seed(store)
    with store.begin() as session:
        session.execute(update(models.EmailMessage).values(sent_at=None, status="queued"))
    with store() as session:
        contract = session.get_one(models.Contract, seeded.contract_id)
        outcome = renew_contract(
            session,
            contract=contract,
            quote_total_seen=Decimal("12500.00"),
            purchase_order="PO-9",
            source="portal",
            mapping=load(mapping_yaml()),
        )
        session.commit()
        assert outcome.status == "renewed" and outcome.confirmation is not None
        assert sorted(i.kind for i in session.scalars(select(models.OutboxItem))) == ["field_update"] * 2
        assert outcome.confirmation.data == {"purchase_order": "PO-9"}


def test_an_unresolvable_renew_write_back_keeps_the_renewal_and_tells_the_rep(store: sessionmaker[Session]) -> None:
    seeded = seed(store)
    with store.begin() as session:
        [quote] = session.get_one(models.Contract, seeded.contract_id).quotes
        quote.sf_links = {}  # the pull left the opportunity lookup out
    with store() as session:
        contract = session.get_one(models.Contract, seeded.contract_id)
        message = session.get_one(models.EmailMessage, seeded.message_id)
        outcome = renew_contract(
            session,
            contract=contract,
            email_message=message,
            quote_total_seen=Decimal("12500.00"),
            purchase_order=None,
            source="email",
            mapping=load(mapping_yaml()),
        )
        session.commit()
        assert outcome.status == "renewed" and outcome.write_back_problem is not None
        assert "SBQQ__Opportunity2__c" in outcome.write_back_problem
        [task] = session.scalars(select(models.OutboxItem)).all()
        assert task.kind == "task" and "set it by hand" in task.payload["description"]
        assert session.scalars(select(models.Renewal)).one().contract_id == seeded.contract_id


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_renew_contract_refuses_what_the_customer_did_not_see(store: sessionmaker[Session]) -> None:
    seeded = seed(store)
    with store() as session:
        contract = session.get_one(models.Contract, seeded.contract_id)
        common: dict[str, Any] = {"contract": contract, "source": "portal", "mapping": None}
        unseen = renew_contract(session, quote_total_seen=None, purchase_order=None, **common)
        assert (unseen.status, unseen.total, unseen.currency) == ("quote_changed", Decimal("12500.00"), "USD")
        with pytest.raises(ValueError, match="at most 80"):
            renew_contract(session, quote_total_seen=Decimal("12500"), purchase_order="P" * 81, **common)
        session.commit()
        assert session.scalar(select(func.count()).select_from(models.Renewal)) == 0
        assert session.get_one(models.Contract, seeded.contract_id).renewed_at is None
