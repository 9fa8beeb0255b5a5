"""The customer portal and the rep portal (email_actions.web.portal.views): the token opens a session scoped to one
account, the list shows every contract of that account (and only of it) by urgency with colour and words,
every route refuses another account's ids, the rep's controls are validated, audited and written back
through the outbox, and no GET changes anything. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from config.settings import Settings
from email_actions.mail.links import Links
from email_actions.web.app import create_app
from email_actions.web.portal import views as portal
from mappings.loader import preset_text
from sync_service.planning.planner import CANCEL_HELD
from sync_service.store import mapping_versions, models
from sync_service.store.models import new_nonce
from tests.conftest import free_port
from tests.factories import make_contract, sf_id

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TODAY = datetime.now(UTC).date()
COUNTED = (
    models.Contract,
    models.AuditEntry,
    models.OutboxItem,
    models.Reminder,
    models.EmailEvent,
    models.EmailMessage,
    models.Renewal,
)


@dataclass
class Portal:
    app: Flask
    client: FlaskClient
    sessions: sessionmaker[Session]
    links: Links
    settings: Settings

    def token(self, purpose: str, message_id: int) -> str:
        with self.sessions() as session:
            message = session.get(models.EmailMessage, message_id)
            assert message is not None
            return self.links.token(purpose, message.id, message.nonce)  # type: ignore[arg-type]

    def open_customer(self, message_id: int) -> TestResponse:
        return self.client.get(f"/a/review/{self.token('review', message_id)}")

    def open_rep(self, message_id: int) -> TestResponse:
        return self.client.get(f"/rep/{self.token('rep', message_id)}")

    def csrf(self, path: str) -> str:
        match = CSRF.search(self.client.get(path).get_data(as_text=True))
        assert match is not None, f"no CSRF token on {path}"
        return match.group(1)

    def counts(self) -> dict[str, int]:
        with self.sessions() as session:
            return {
                model.__name__: int(session.scalar(select(func.count()).select_from(model)) or 0) for model in COUNTED
            }

    def contract(self, contract_id: int) -> models.Contract:
        with self.sessions() as session:
            contract = session.get(models.Contract, contract_id)
            assert contract is not None
            return contract

    def rows(self, model: type[models.Base]) -> list[Any]:
        with self.sessions() as session:
            return list(session.scalars(select(model).order_by(model.id)))  # type: ignore[attr-defined]


def _start(settings: Settings, url: str) -> Portal:
    app = create_app(dataclasses.replace(settings, database_url=url))
    app.config["TESTING"] = True
    engine = app.extensions["renewals.database"].engine
    return Portal(app, app.test_client(), sessionmaker(engine, expire_on_commit=False), Links(settings), settings)


@pytest.fixture
def site(settings: Settings, store: sessionmaker[Session]) -> Iterator[Portal]:
    """The app over a freshly migrated store on each backend."""
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    running = _start(settings, url)
    yield running
    running.app.extensions["renewals.database"].dispose()


@pytest.fixture
def served_quotes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Stands in for the evidence module's fetch-and-cache of a quote PDF: records (quote id, brand key)."""
    served: list[tuple[int, str]] = []

    def respond(db: Session, quote: models.RenewalQuote, *, brand: Any = None) -> Response:
        served.append((quote.id, brand.key if brand is not None else ""))
        response = Response(b"%PDF-1.4 test", mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'attachment; filename="{quote.number}.pdf"'
        return response

    monkeypatch.setattr(portal, "quote_pdf_response", respond)
    return served


# --- Data ----------------------------------------------------------------------------------------------------


def _quote(session: Session, contract: models.Contract, total: Decimal, products: list[str]) -> models.RenewalQuote:
    quote = models.RenewalQuote(
        sf_id=sf_id("a0Q"),
        contract=contract,
        number=f"Q-{contract.number}",
        status="Presented",
        total=total,
        currency=contract.currency,
        sf_links={"SBQQ__Opportunity2__c": sf_id("006")},
    )
    for product in products:
        quote.lines.append(
            models.QuoteLine(sf_id=sf_id("a0R"), product=product, quantity=Decimal(1), unit_price=total, net=total)
        )
    quote.documents.append(
        models.QuoteDocument(sf_id=sf_id("068"), source_object="ContentVersion", title=f"{quote.number}.pdf")
    )
    session.add(quote)
    return quote


def sibling(
    session: Session,
    first: models.Contract,
    number: str,
    end: int | None,
    *,
    rep: models.Rep | None = None,
    quote: bool = True,
    **fields: Any,
) -> models.Contract:
    """Another contract of `first`'s account, ending `end` days from today."""
    contract = models.Contract(
        sf_id=sf_id("800"),
        number=number,
        account=first.account,
        contact=first.contact,
        rep=rep or first.rep,
        end_date=TODAY + timedelta(days=end) if end is not None else None,
        status=fields.pop("status", "Activated"),
        amount=Decimal("1000.00"),
        currency=first.currency,
        **fields,
    )
    session.add(contract)
    if quote:
        _quote(session, contract, Decimal("1000.00"), [f"Product of {number}"])
    session.flush()
    return contract


def message_for(session: Session, contract: models.Contract, kind: str = "reminder") -> models.EmailMessage:
    message = models.EmailMessage(
        key=f"{kind}:portal-test:{contract.id}:{new_nonce()}",
        kind=kind,
        contract=contract,
        contact=contract.contact,
        rep=contract.rep,
        stage=-30 if kind == "reminder" else None,
        to_address=contract.contact.email if contract.contact else None,
        nonce=new_nonce(),
        sent_at=datetime.now(UTC) - timedelta(hours=2),
        status="sent",
    )
    session.add(message)
    session.flush()
    return message


@dataclass
class Accounts:
    """Account A: six contracts in every state (rep Riley owns all but `others`), account B: one."""

    emailed: int
    expired: int
    overdue: int
    due_soon: int
    live: int
    renewed: int
    cancelled: int
    deleted: int
    others: int  # account A, another rep
    other_account: int  # account B
    other_same_rep: int  # account B, Riley's
    customer_message: int
    rep_message: int
    other_message: int
    rep_sf_id: str


def seed(site: Portal, *, locale: str = "en_US", currency: str = "USD", mapping: bool = True) -> Accounts:
    with site.sessions.begin() as session:
        emailed = make_contract(
            session, end_date=TODAY + timedelta(days=30), number="A-EMAILED", locale=locale, currency=currency
        )
        for quote in emailed.quotes:
            quote.sf_links = {"SBQQ__Opportunity2__c": sf_id("006")}
        other_rep = models.Rep(sf_id=sf_id("005"), name="Other Rep", email="other.rep@vendor.example")
        expired = sibling(session, emailed, "A-EXPIRED", -40, status="Expired")
        overdue = sibling(session, emailed, "A-OVERDUE", -10)
        due_soon = sibling(session, emailed, "A-DUESOON", 45)
        live = sibling(session, emailed, "A-LIVE", 200)
        renewed = sibling(session, emailed, "A-RENEWED", 50, renewed_at=datetime(2026, 3, 3, 12, tzinfo=UTC))
        cancelled = sibling(session, emailed, "A-CANCELLED", 20, is_cancelled=True)
        deleted = sibling(session, emailed, "A-DELETED", 25, is_deleted=True)
        others = sibling(session, emailed, "A-OTHERREP", 15, rep=other_rep)
        other = make_contract(session, end_date=TODAY + timedelta(days=10), number="B-ONLY")
        other.account.name = "Globex Corporation"
        # The same rep also owns a contract at account B: the rep's session for A must not reach it.
        same_rep = sibling(session, other, "B-SAMEREP", 5, rep=emailed.rep)
        customer_message = message_for(session, emailed)
        rep_message = message_for(session, emailed, kind="rep_notice")
        other_message = message_for(session, other)
        if mapping:
            row = mapping_versions.import_preset(session, "salesforce_cpq", author="test")
            mapping_versions.activate(session, row.name, row.version, [])
        assert emailed.rep is not None
        return Accounts(
            emailed=emailed.id,
            expired=expired.id,
            overdue=overdue.id,
            due_soon=due_soon.id,
            live=live.id,
            renewed=renewed.id,
            cancelled=cancelled.id,
            deleted=deleted.id,
            others=others.id,
            other_account=other.id,
            other_same_rep=same_rep.id,
            customer_message=customer_message.id,
            rep_message=rep_message.id,
            other_message=other_message.id,
            rep_sf_id=emailed.rep.sf_id,
        )


# --- Opening a session ---------------------------------------------------------------------------------------


def test_the_review_link_opens_a_session_scoped_to_the_account(site: Portal) -> None:
    data = seed(site)
    response = site.open_customer(data.customer_message)
    assert response.status_code == 303
    assert response.headers["Location"] == "/portal"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("renewals=")
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert not any(part.startswith("domain=") for part in attributes)
    assert any(part.startswith("expires=") for part in attributes)  # permanent: bounded by the lifetime
    with site.client.session_transaction() as flask_session:
        scope = flask_session[portal.SCOPE_KEY]
    assert scope["kind"] == "customer" and scope["email_message_id"] == data.customer_message
    assert scope["account_id"] == site.contract(data.emailed).account_id
    events = site.rows(models.EmailEvent)
    assert [(e.kind, e.purpose, e.email_message_id) for e in events] == [("click", "review", data.customer_message)]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response.headers["Cache-Control"]


def test_on_https_the_cookie_is_host_prefixed_and_secure(settings: Settings, store: sessionmaker[Session]) -> None:
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    site = _start(dataclasses.replace(settings, public_base_url="https://renewals.test"), url)
    try:
        data = seed(site)
        token = site.token("review", data.customer_message)
        response = site.client.get(f"/a/review/{token}", base_url="https://renewals.test")
        assert response.status_code == 303
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("__Host-renewals=")
        attributes = [part.strip().lower() for part in cookie.split(";")]
        assert {"secure", "httponly", "path=/", "samesite=lax"} <= set(attributes)
        assert not any(part.startswith("domain=") for part in attributes)
        page = site.client.get("/portal", base_url="https://renewals.test")
        assert page.status_code == 200
        # The portal's pages let the browser send a same-origin Referer: on https the CSRF check needs it.
        assert '<meta name="referrer" content="same-origin">' in page.get_data(as_text=True)
        confirm = site.client.get(f"/portal/contracts/{data.due_soon}/renew", base_url="https://renewals.test")
        token_field = CSRF.search(confirm.get_data(as_text=True))
        assert token_field is not None
        # Without a Referer (what a no-referrer page would send) Flask-WTF's strict https check refuses.
        refused = site.client.post(
            f"/portal/contracts/{data.due_soon}/renew",
            data={"csrf_token": token_field.group(1), "quote_total_seen": "1000.00"},
            base_url="https://renewals.test",
        )
        assert refused.status_code == 400
        renewed = site.client.post(
            f"/portal/contracts/{data.due_soon}/renew",
            data={"csrf_token": token_field.group(1), "quote_total_seen": "1000.00"},
            base_url="https://renewals.test",
            headers={"Referer": "https://renewals.test/portal/contracts/1/renew"},
        )
        assert renewed.status_code == 200, renewed.get_data(as_text=True)
        assert site.contract(data.due_soon).renewed_at is not None
    finally:
        site.app.extensions["renewals.database"].dispose()


def test_a_bad_link_opens_nothing(site: Portal) -> None:
    data = seed(site)
    token = site.token("review", data.customer_message)
    assert site.client.get(f"/a/review/{token[:-3]}xyz").status_code == 404
    # A rep token is not a review token, and the reverse.
    assert site.client.get(f"/a/review/{site.token('rep', data.rep_message)}").status_code == 404
    assert site.client.get(f"/rep/{token}").status_code == 404
    assert site.client.get("/portal").status_code == 403
    assert site.rows(models.EmailEvent) == []


def test_without_a_session_the_pages_say_to_use_the_link_in_the_email(site: Portal) -> None:
    data = seed(site)
    for path in ("/portal", f"/portal/contracts/{data.emailed}/renew", f"/portal/contracts/{data.emailed}/quote"):
        response = site.client.get(path)
        assert response.status_code == 403
        assert "Please use the link in your email" in response.get_data(as_text=True)
    for path in ("/rep", f"/rep/contracts/{data.emailed}/quote"):
        assert site.client.get(path).status_code == 403


def test_one_kind_of_session_does_not_open_the_other_portal(site: Portal) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    assert site.client.get("/rep").status_code == 200
    assert site.client.get("/portal").status_code == 403
    site.open_customer(data.customer_message)
    assert site.client.get("/portal").status_code == 200
    assert site.client.get("/rep").status_code == 403


def test_the_session_lapses_some_hours_after_the_link_was_opened(site: Portal) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    with site.client.session_transaction() as flask_session:
        flask_session[portal.SCOPE_KEY] = {
            **flask_session[portal.SCOPE_KEY],
            "opened_at": flask_session[portal.SCOPE_KEY]["opened_at"] - portal.SCOPE_MAX_AGE - 1,
        }
    assert site.client.get("/portal").status_code == 403


# --- The customer's list ---------------------------------------------------------------------------------------


def _numbers_in_order(html: str) -> list[str]:
    return re.findall(r'<th scope="row">([^<]+)</th>', html)


def test_the_list_shows_every_contract_of_the_account_by_urgency_and_none_of_another(site: Portal) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    response = site.client.get("/portal")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _numbers_in_order(html) == [
        "A-EXPIRED",
        "A-OVERDUE",
        "A-OTHERREP",
        "A-EMAILED",
        "A-DUESOON",
        "A-LIVE",
        "A-RENEWED",
        "A-CANCELLED",
    ]
    assert "B-ONLY" not in html and "B-SAMEREP" not in html and "Globex" not in html
    assert "A-DELETED" not in html
    # Colour and words, always together.
    for label, colour in (
        ("Expired", "red"),
        ("Overdue", "red"),
        ("Due soon", "amber"),
        ("Live", "green"),
        ("Renewed", "green"),
        ("Cancelled", "black"),
    ):
        assert f'<span class="state state-{colour}">{label}</span>' in html
    assert "Ended 40 days ago." in html and "Ended 10 days ago. Renewal not received." in html
    assert "Ends in 45 days." in html and "Renewed on March 3, 2026" in html
    # The legend.
    assert "What the colours mean" in html
    assert "The end date has passed and the contract has not been renewed." in html
    # Renew only where a renewal is possible; a quote download for every contract with a document.
    renewable = {data.expired, data.overdue, data.due_soon, data.live, data.emailed, data.others}
    for contract_id in renewable:
        assert f'href="/portal/contracts/{contract_id}/renew"' in html
    for contract_id in (data.renewed, data.cancelled):
        assert f'href="/portal/contracts/{contract_id}/renew"' not in html
        assert f'href="/portal/contracts/{contract_id}/quote"' in html
    # Accessible and phone-friendly: a caption, header scopes, less important columns hidden when narrow.
    assert "<caption>" in html and '<th scope="col" class="hide-small">Products</th>' in html
    # Nothing from elsewhere.
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_the_state_of_a_contract() -> None:
    from email_actions.mail.rendering.formatting import formatter

    fmt = formatter("en_US")
    today = date(2026, 6, 1)

    def state(**fields: Any) -> portal.State:
        fields.setdefault("status", "Activated")
        return portal.state_of(models.Contract(**fields), today, fmt)

    assert state(end_date=date(2026, 7, 31)).key == "due_soon"  # 60 days
    assert state(end_date=date(2026, 8, 1)).key == "live"  # 61 days
    assert state(end_date=today).detail == "Ends today."
    assert state(end_date=date(2026, 5, 31)).key == "overdue"
    assert state(end_date=date(2026, 5, 31), status="Expired").key == "expired"
    assert state(end_date=None).key == "live"
    assert state(end_date=date(2026, 5, 1), is_cancelled=True, renewed_at=None).colour == "black"
    renewed = state(end_date=date(2026, 5, 1), renewed_at=datetime(2026, 4, 2, tzinfo=UTC))
    assert (renewed.key, renewed.colour, renewed.detail) == ("renewed", "green", "Renewed on April 2, 2026")


def test_amounts_follow_the_contacts_locale(site: Portal) -> None:
    data = seed(site, locale="de_DE", currency="EUR")
    site.open_customer(data.customer_message)
    html = site.client.get("/portal").get_data(as_text=True)
    assert "12.500,00\xa0€" in html


# --- Access control ----------------------------------------------------------------------------------------------


def test_every_customer_route_refuses_another_accounts_ids(site: Portal, served_quotes: list[tuple[int, str]]) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    token = site.csrf(f"/portal/contracts/{data.emailed}/renew")
    before = site.counts()
    for contract_id in (data.other_account, data.other_same_rep, data.deleted, 999_999):
        for path in (f"/portal/contracts/{contract_id}/quote", f"/portal/contracts/{contract_id}/renew"):
            response = site.client.get(path)
            assert response.status_code == 404, path
            assert "Contract not found" in response.get_data(as_text=True)
        response = site.client.post(
            f"/portal/contracts/{contract_id}/renew", data={"csrf_token": token, "quote_total_seen": "12500.00"}
        )
        assert response.status_code == 404
    assert site.counts() == before
    assert served_quotes == []
    assert site.contract(data.other_account).renewed_at is None


def test_every_rep_route_refuses_another_accounts_and_another_reps_ids(
    site: Portal, served_quotes: list[tuple[int, str]]
) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    token = site.csrf("/rep")
    before = site.counts()
    for contract_id in (data.other_account, data.other_same_rep, data.others, data.deleted, 999_999):
        assert site.client.get(f"/rep/contracts/{contract_id}/quote").status_code == 404
        for action in ("controls", "hold", "resume"):
            response = site.client.post(
                f"/rep/contracts/{contract_id}/{action}",
                data={"csrf_token": token, "status_flags": "consolidate", "price_adjustment_pct": "5"},
            )
            assert response.status_code == 404, (contract_id, action)
    # The customer's routes are not the rep's.
    assert site.client.get(f"/portal/contracts/{data.emailed}/renew").status_code == 403
    assert site.counts() == before
    assert served_quotes == []
    for contract_id in (data.other_account, data.other_same_rep, data.others):
        contract = site.contract(contract_id)
        assert not contract.is_held and contract.status_flags == [] and contract.price_adjustment_pct is None


def test_the_quote_download_serves_the_contracts_live_quote_after_the_ownership_check(
    site: Portal, served_quotes: list[tuple[int, str]]
) -> None:
    data = seed(site)
    with site.sessions.begin() as session:
        live = session.get(models.Contract, data.live)
        assert live is not None
        [old] = live.quotes
        newer = _quote(session, live, Decimal("1200.00"), ["Renewed product"])
        session.flush()
        deleted = _quote(session, live, Decimal("1300.00"), ["Deleted in the org"])
        deleted.is_deleted = True
        session.flush()
        old_id, newer_id = old.id, newer.id
        nodoc = sibling(session, live, "A-NODOC", 30)
        nodoc.quotes[0].documents.clear()
        nodoc_id = nodoc.id
    site.open_customer(data.customer_message)
    response = site.client.get(f"/portal/contracts/{data.live}/quote")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert served_quotes == [(newer_id, "northwind")] and old_id != newer_id
    for contract_id in (data.other_account, nodoc_id):
        response = site.client.get(f"/portal/contracts/{contract_id}/quote")
        assert response.status_code == 404
        assert response.headers["Cache-Control"] == "no-store"
    site.open_rep(data.rep_message)
    assert site.client.get(f"/rep/contracts/{data.emailed}/quote").status_code == 200
    assert site.client.get(f"/rep/contracts/{data.others}/quote").status_code == 404
    assert len(served_quotes) == 2


# --- The rep portal ----------------------------------------------------------------------------------------------


def test_the_rep_sees_only_their_own_contracts_at_the_account(site: Portal) -> None:
    data = seed(site)
    response = site.open_rep(data.rep_message)
    assert response.status_code == 303 and response.headers["Location"] == "/rep"
    with site.client.session_transaction() as flask_session:
        scope = flask_session[portal.SCOPE_KEY]
    assert scope["kind"] == "rep" and scope["account_id"] == site.contract(data.emailed).account_id
    assert [(e.kind, e.purpose) for e in site.rows(models.EmailEvent)] == [("click", "rep")]
    html = site.client.get("/rep").get_data(as_text=True)
    numbers = _numbers_in_order(html)
    assert "A-OTHERREP" not in numbers and "A-DELETED" not in numbers
    assert "B-ONLY" not in html and "B-SAMEREP" not in html and "Globex" not in html
    assert numbers[:2] == ["A-EXPIRED", "A-OVERDUE"] and len(numbers) == 7
    assert "Warranty only" in html and "Consolidate" in html and "Do not remind" in html
    assert f'action="/rep/contracts/{data.emailed}/hold"' in html
    assert "What the colours mean" in html


def _post(site: Portal, path: str, **form: Any) -> TestResponse:
    return site.client.post(path, data={"csrf_token": site.csrf("/rep"), **form})


def test_changing_the_controls_updates_the_contract_audits_and_writes_back(site: Portal, redis: Redis) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    response = _post(
        site,
        f"/rep/contracts/{data.emailed}/controls",
        status_flags=["warranty_only", "do_not_remind"],
        price_adjustment_pct="-5.5",
        price_override="9000",
        price_override_reason="Multi-year commitment agreed on the call",
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/rep#contract-{data.emailed}"
    contract = site.contract(data.emailed)
    assert contract.status_flags == ["warranty_only", "do_not_remind"]
    assert contract.price_adjustment_pct == Decimal("-5.50")
    assert contract.price_override == Decimal("9000.00")
    assert contract.price_override_reason == "Multi-year commitment agreed on the call"
    assert not contract.is_held
    [audit] = site.rows(models.AuditEntry)
    assert (audit.actor, audit.action, audit.contract_id) == (f"rep:{data.rep_sf_id}", "rep.controls", data.emailed)
    assert audit.before == {
        "status_flags": [],
        "price_adjustment_pct": None,
        "price_override": None,
        "price_override_reason": None,
    }
    assert audit.after == {
        "status_flags": ["warranty_only", "do_not_remind"],
        "price_adjustment_pct": "-5.50",
        "price_override": "9000.00",
        "price_override_reason": "Multi-year commitment agreed on the call",
    }
    assert audit.reason == "Multi-year commitment agreed on the call"
    [item] = site.rows(models.OutboxItem)
    assert (item.kind, item.sobject, item.target_sf_id, item.status) == (
        "field_update",
        "Contract",
        contract.sf_id,
        "pending",
    )
    assert item.payload["values"] == {
        "Renewal_Reminders_Held__c": False,
        "Renewal_Flags__c": "warranty_only;do_not_remind",
        "SBQQ__RenewalUpliftRate__c": -5.5,
        "Renewal_Price_Override__c": 9000.0,
        "Renewal_Override_Reason__c": "Multi-year commitment agreed on the call",
    }
    assert Queue("push", connection=redis).count == 1
    page = site.client.get("/rep").get_data(as_text=True)
    assert "changes saved and sent to Salesforce" in page

    # A second change: audited again, and the same outbox row carries the latest state.
    response = _post(site, f"/rep/contracts/{data.emailed}/controls", status_flags=["consolidate"])
    assert response.status_code == 303
    contract = site.contract(data.emailed)
    assert contract.status_flags == ["consolidate"] and contract.price_override is None
    assert contract.price_adjustment_pct is None and contract.price_override_reason is None
    assert len(site.rows(models.AuditEntry)) == 2
    [item] = site.rows(models.OutboxItem)
    assert item.payload["values"]["Renewal_Flags__c"] == "consolidate"
    assert item.payload["values"]["Renewal_Price_Override__c"] is None

    # Saving the same values again changes nothing and records nothing.
    _post(site, f"/rep/contracts/{data.emailed}/controls", status_flags=["consolidate"])
    assert len(site.rows(models.AuditEntry)) == 2


def test_redis_being_down_only_delays_the_push(settings: Settings, store: sessionmaker[Session]) -> None:
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    site = _start(dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"), url)
    try:
        data = seed(site)
        site.open_rep(data.rep_message)
        response = _post(site, f"/rep/contracts/{data.emailed}/hold")
        assert response.status_code == 303
        assert site.contract(data.emailed).is_held
        [item] = site.rows(models.OutboxItem)
        assert item.status == "pending"  # the scheduler's sweep pushes it
    finally:
        site.app.extensions["renewals.database"].dispose()


def test_flags_set_in_salesforce_are_kept(site: Portal) -> None:
    data = seed(site)
    with site.sessions.begin() as session:
        contract = session.get(models.Contract, data.emailed)
        assert contract is not None
        contract.status_flags = ["strategic"]
    site.open_rep(data.rep_message)
    _post(site, f"/rep/contracts/{data.emailed}/controls", status_flags=["consolidate"])
    assert site.contract(data.emailed).status_flags == ["strategic", "consolidate"]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"price_adjustment_pct": "150"}, "price_adjustment_pct", "between -100 and 100"),
        ({"price_adjustment_pct": "-100.01"}, "price_adjustment_pct", "between -100 and 100"),
        ({"price_adjustment_pct": "lots"}, "price_adjustment_pct", "Enter a percentage"),
        ({"price_adjustment_pct": "1.234"}, "price_adjustment_pct", "at most two decimals"),
        ({"price_adjustment_pct": "NaN"}, "price_adjustment_pct", "Enter a percentage"),
        ({"price_override": "9000"}, "price_override_reason", "Give a reason"),
        ({"price_override": "-1", "price_override_reason": "x"}, "price_override", "zero or more"),
        ({"price_override": "1e30", "price_override_reason": "x"}, "price_override", "Enter an amount"),
        ({"price_override_reason": "a reason alone"}, "price_override", "clear the reason"),
        ({"status_flags": "vip"}, "status_flags", "Choose only from the status flags"),
    ],
)
def test_invalid_controls_are_refused_beside_the_field_and_nothing_is_saved(
    site: Portal, form: dict[str, str], field: str, message: str
) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    before = site.counts()
    response = _post(site, f"/rep/contracts/{data.emailed}/controls", **form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'id="c{data.emailed}-{field}-error">' in html and message in html
    assert "Nothing was saved." in html
    assert site.counts() == before
    contract = site.contract(data.emailed)
    assert contract.status_flags == [] and contract.price_adjustment_pct is None and contract.price_override is None


def test_the_adjustment_accepts_what_people_type(site: Portal) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    assert _post(site, f"/rep/contracts/{data.emailed}/controls", price_adjustment_pct="7,5 %").status_code == 303
    assert site.contract(data.emailed).price_adjustment_pct == Decimal("7.50")
    assert _post(site, f"/rep/contracts/{data.emailed}/controls", price_adjustment_pct="-100").status_code == 303
    assert site.contract(data.emailed).price_adjustment_pct == Decimal("-100.00")


def _reminders(session: Session, contract_id: int) -> None:
    for offset, status in ((-60, "sent"), (-30, "planned"), (-7, "planned")):
        session.add(
            models.Reminder(
                contract_id=contract_id,
                offset_days=offset,
                due_on=TODAY + timedelta(days=offset + 30),
                segment="default",
                status=status,
            )
        )


def test_hold_cancels_planned_reminders_and_resume_lifts_the_hold(site: Portal, redis: Redis) -> None:
    data = seed(site)
    with site.sessions.begin() as session:
        _reminders(session, data.emailed)
        _reminders(session, data.due_soon)
    site.open_rep(data.rep_message)
    response = _post(site, f"/rep/contracts/{data.emailed}/hold", note="Negotiating a consolidation")
    assert response.status_code == 303
    assert site.contract(data.emailed).is_held
    reminders = {(r.contract_id, r.offset_days): (r.status, r.reason) for r in site.rows(models.Reminder)}
    assert reminders[(data.emailed, -60)] == ("sent", None)
    assert reminders[(data.emailed, -30)] == ("cancelled", CANCEL_HELD)
    assert reminders[(data.emailed, -7)] == ("cancelled", CANCEL_HELD)
    assert reminders[(data.due_soon, -30)] == ("planned", None)  # another contract's are untouched
    [audit] = site.rows(models.AuditEntry)
    assert (audit.actor, audit.action, audit.reason) == (
        f"rep:{data.rep_sf_id}",
        "rep.hold",
        "Negotiating a consolidation",
    )
    assert audit.before == {"is_held": False, "reminders_cancelled": None}
    assert audit.after == {"is_held": True, "reminders_cancelled": 2}
    [item] = site.rows(models.OutboxItem)
    assert item.payload["values"]["Renewal_Reminders_Held__c"] is True
    assert Queue("push", connection=redis).count == 1
    html = site.client.get("/rep").get_data(as_text=True)
    assert "reminders on hold" in html
    assert f'action="/rep/contracts/{data.emailed}/resume"' in html

    # Holding again changes nothing.
    _post(site, f"/rep/contracts/{data.emailed}/hold")
    assert len(site.rows(models.AuditEntry)) == 1

    response = _post(site, f"/rep/contracts/{data.emailed}/resume")
    assert response.status_code == 303
    assert not site.contract(data.emailed).is_held
    audits = site.rows(models.AuditEntry)
    assert [a.action for a in audits] == ["rep.hold", "rep.resume"]
    assert (audits[1].before, audits[1].after) == ({"is_held": True}, {"is_held": False})
    [item] = site.rows(models.OutboxItem)
    assert item.payload["values"]["Renewal_Reminders_Held__c"] is False and item.status == "pending"


def test_a_write_back_that_cannot_be_resolved_refuses_the_change(site: Portal) -> None:
    data = seed(site, mapping=False)
    text = preset_text("salesforce_cpq").replace(
        "  rep_controls:\n    object: Contract\n    record: contract\n",
        "  rep_controls:\n    object: Contract\n    record: contract.Parent_Contract__c\n",
    )
    assert "contract.Parent_Contract__c" in text
    with site.sessions.begin() as session:
        row = mapping_versions.save_version(session, text, author="test")
        mapping_versions.activate(session, row.name, row.version, [])
        _reminders(session, data.emailed)
    site.open_rep(data.rep_message)
    before = site.counts()
    for action, form in (("controls", {"status_flags": "consolidate"}), ("hold", {})):
        response = _post(site, f"/rep/contracts/{data.emailed}/{action}", **form)
        assert response.status_code == 409
        html = response.get_data(as_text=True)
        assert "Salesforce has no record to write this change to" in html and "Nothing was changed." in html
    assert site.counts() == before
    contract = site.contract(data.emailed)
    assert not contract.is_held and contract.status_flags == []
    assert {r.status for r in site.rows(models.Reminder)} == {"sent", "planned"}


def test_without_an_active_mapping_changes_are_refused(site: Portal) -> None:
    data = seed(site, mapping=False)
    site.open_rep(data.rep_message)
    before = site.counts()
    response = _post(site, f"/rep/contracts/{data.emailed}/hold")
    assert response.status_code == 409
    assert "No Salesforce mapping is active" in response.get_data(as_text=True)
    assert site.counts() == before and not site.contract(data.emailed).is_held


def test_a_post_without_the_csrf_token_is_refused_and_saves_nothing(site: Portal) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    before = site.counts()
    for action in ("controls", "hold"):
        response = site.client.post(f"/rep/contracts/{data.emailed}/{action}", data={"status_flags": "consolidate"})
        assert response.status_code == 400
    response = site.client.post(
        f"/rep/contracts/{data.emailed}/hold", data={"csrf_token": "forged"}, headers={"X-CSRFToken": ""}
    )
    assert response.status_code == 400
    site.open_customer(data.customer_message)
    response = site.client.post(f"/portal/contracts/{data.emailed}/renew", data={"quote_total_seen": "12500.00"})
    assert response.status_code == 400
    assert site.counts() == {**before, "EmailEvent": before["EmailEvent"] + 1}  # the review link's click
    contract = site.contract(data.emailed)
    assert not contract.is_held and contract.status_flags == [] and contract.renewed_at is None


def test_no_get_changes_anything(site: Portal, served_quotes: list[tuple[int, str]]) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    before = site.counts()
    paths = ["/portal", f"/portal/contracts/{data.emailed}/renew", f"/portal/contracts/{data.emailed}/quote"]
    paths += [f"/portal/contracts/{contract_id}/renew" for contract_id in (data.renewed, data.cancelled, data.live)]
    for path in paths:
        assert site.client.get(path).status_code in (200, 404)
        assert site.client.head(path).status_code in (200, 404)
    site.open_rep(data.rep_message)
    before = {**before, "EmailEvent": before["EmailEvent"] + 1}
    for path in ("/rep", f"/rep/contracts/{data.emailed}/quote"):
        site.client.get(path)
        site.client.head(path)
    for method in (site.client.get, site.client.head):
        for action in ("controls", "hold", "resume"):
            assert method(f"/rep/contracts/{data.emailed}/{action}").status_code == 405
    assert site.counts() == before
    contract = site.contract(data.emailed)
    assert contract.renewed_at is None and not contract.is_held


# --- Renew from the portal ---------------------------------------------------------------------------------------


def test_renew_from_the_portal_goes_through_its_confirmation(site: Portal, redis: Redis) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    page = site.client.get(f"/portal/contracts/{data.due_soon}/renew")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Product of A-DUESOON" in html and "$1,000.00" in html
    assert 'name="quote_total_seen" value="1000.00"' in html
    assert 'name="purchase_order"' in html  # the default brand asks for one
    assert site.contract(data.due_soon).renewed_at is None
    token = CSRF.search(html)
    assert token is not None
    response = site.client.post(
        f"/portal/contracts/{data.due_soon}/renew",
        data={"csrf_token": token.group(1), "quote_total_seen": "1000.00", "purchase_order": "PO-4711"},
    )
    assert response.status_code == 200
    assert "contract A-DUESOON is renewed" in response.get_data(as_text=True)
    [renewal] = site.rows(models.Renewal)
    assert (renewal.contract_id, renewal.source, renewal.purchase_order) == (data.due_soon, "portal", "PO-4711")
    assert renewal.amount == Decimal("1000.00")
    assert site.contract(data.due_soon).renewed_at is not None
    assert {item.sobject for item in site.rows(models.OutboxItem)} >= {"SBQQ__Quote__c", "Opportunity"}
    confirmations = [m for m in site.rows(models.EmailMessage) if m.kind == "confirmation"]
    assert [m.contract_id for m in confirmations] == [data.due_soon]
    assert Queue("push", connection=redis).count == 1
    assert Queue("email", connection=redis).count == 1

    # A second POST (a double click, the back button) renews nothing twice.
    again = site.client.post(
        f"/portal/contracts/{data.due_soon}/renew", data={"csrf_token": token.group(1), "quote_total_seen": "1000.00"}
    )
    assert again.status_code == 200
    assert "already renewed" in again.get_data(as_text=True)
    assert len(site.rows(models.Renewal)) == 1
    listing = site.client.get("/portal").get_data(as_text=True)
    assert f'href="/portal/contracts/{data.due_soon}/renew"' not in listing


def test_the_emailed_contract_renewed_from_the_portal_carries_its_email(site: Portal) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    token = site.csrf(f"/portal/contracts/{data.emailed}/renew")
    response = site.client.post(
        f"/portal/contracts/{data.emailed}/renew", data={"csrf_token": token, "quote_total_seen": "12500.00"}
    )
    assert response.status_code == 200
    [renewal] = site.rows(models.Renewal)
    assert renewal.email_message_id == data.customer_message


def test_a_changed_quote_is_shown_again_and_nothing_is_renewed(site: Portal) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    token = site.csrf(f"/portal/contracts/{data.live}/renew")
    with site.sessions.begin() as session:
        quote = session.scalars(select(models.RenewalQuote).where(models.RenewalQuote.contract_id == data.live)).one()
        quote.total = Decimal("1100.00")
    response = site.client.post(
        f"/portal/contracts/{data.live}/renew", data={"csrf_token": token, "quote_total_seen": "1000.00"}
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "The renewal quote changed" in html and "$1,100.00" in html
    assert site.rows(models.Renewal) == [] and site.contract(data.live).renewed_at is None


def test_contracts_that_cannot_be_renewed_say_so(site: Portal) -> None:
    data = seed(site)
    with site.sessions.begin() as session:
        emailed = session.get(models.Contract, data.emailed)
        assert emailed is not None
        noquote = sibling(session, emailed, "A-NOQUOTE", 30, quote=False)
    site.open_customer(data.customer_message)
    assert "was cancelled" in site.client.get(f"/portal/contracts/{data.cancelled}/renew").get_data(as_text=True)
    assert "already renewed" in site.client.get(f"/portal/contracts/{data.renewed}/renew").get_data(as_text=True)
    assert "no renewal quote" in site.client.get(f"/portal/contracts/{noquote.id}/renew").get_data(as_text=True)
    token = site.csrf(f"/portal/contracts/{data.live}/renew")
    response = site.client.post(
        f"/portal/contracts/{data.cancelled}/renew", data={"csrf_token": token, "quote_total_seen": "1000.00"}
    )
    assert response.status_code == 409
    response = site.client.post(
        f"/portal/contracts/{data.live}/renew",
        data={"csrf_token": token, "quote_total_seen": "1000.00", "purchase_order": "P" * 81},
    )
    assert response.status_code == 400
    assert "at most 80 characters" in response.get_data(as_text=True)
    assert site.rows(models.Renewal) == []
