"""The portal tests' site and data: the app over a freshly migrated store, and account A with a contract in every
state (plus account B, and another rep's contract at A) to see what each portal shows and refuses."""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from config.settings import Settings
from email_actions.mail.links import Links
from email_actions.web.app import create_app
from email_actions.web.session_cookies import REP_KEY
from sync_service.store import mapping_versions, models
from tests.email_actions.web.hits import drain
from tests.factories import make_contract, make_email, make_reminder, sf_id
from tests.org_quotes import org_settings, put_quote
from tests.standin_org import RunningOrg

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
    # The stand-in org the Renew POST reads quotes from (seed puts every seeded quote there).
    org: RunningOrg | None = None

    def token(self, purpose: str, message_id: int) -> str:
        with self.sessions() as session:
            message = session.get(models.EmailMessage, message_id)
            assert message is not None
            return self.links.token(purpose, message.id, message.nonce)  # type: ignore[arg-type]

    def open_customer(self, message_id: int) -> TestResponse:
        return self.client.get(f"/a/review/{self.token('review', message_id)}")

    def sign_in_rep(self, message_id: int, client: FlaskClient | None = None) -> None:
        """Mark `client` (default: the site's own) signed in as the email's rep."""
        mark_rep_signed_in(client or self.client, self.sessions, message_id)

    def open_rep(self, message_id: int, *, sign_in: bool = True, client: FlaskClient | None = None) -> TestResponse:
        """The rep link of the email, opened by its rep signed in (`sign_in`) or by whoever holds the link, in
        `client` (default: the site's own)."""
        if sign_in:
            self.sign_in_rep(message_id, client)
        return (client or self.client).get(f"/rep/{self.token('rep', message_id)}")

    def csrf(self, path: str) -> str:
        match = CSRF.search(self.client.get(path).get_data(as_text=True))
        assert match is not None, f"no CSRF token on {path}"
        return match.group(1)

    def counts(self) -> dict[str, int]:
        """Rows by model, once the link hits appended so far are drained (as a push starts by)."""
        drain(self.app)
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
        drain(self.app)
        with self.sessions() as session:
            return list(session.scalars(select(model).order_by(model.id)))  # type: ignore[attr-defined]


def mark_rep_signed_in(client: FlaskClient, sessions: sessionmaker[Session], message_id: int) -> None:
    """Leave `client`'s rep cookie as a sign-in leaves it, for the rep of the email `message_id` (the sign-ins
    themselves are tested in test_rep_sign_in.py and test_rep_codes.py)."""
    with sessions() as session:
        message = session.get(models.EmailMessage, message_id)
        assert message is not None
        rep_id = message.rep_id or message.contract.rep_id
    now = int(time.time())
    with client.session_transaction() as cookie:
        cookie[REP_KEY] = {
            "kind": "rep",
            "email_message_id": message_id,
            "opened_at": now,
            "seen": now,
            "sid": "signed-in-by-test",
            "signed_in": {"via": "test", "rep_id": rep_id, "at": now},
        }


def start_portal(settings: Settings, url: str, org: RunningOrg | None = None) -> Portal:
    """The app over the store at `url` (already migrated), with a test client; signed in to `org` if given."""
    if org is not None:
        settings = org_settings(settings, org)
    app = create_app(dataclasses.replace(settings, database_url=url))
    app.config["TESTING"] = True
    engine = app.extensions["renewals.database"].engine
    sessions = sessionmaker(engine, expire_on_commit=False)
    return Portal(app, app.test_client(), sessions, Links(settings), settings, org)


# --- Data ----------------------------------------------------------------------------------------------------


def add_quote(session: Session, contract: models.Contract, total: Decimal, products: list[str]) -> models.RenewalQuote:
    """A presented quote of `contract` with one line per product and a PDF document."""
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
        add_quote(session, contract, Decimal("1000.00"), [f"Product of {number}"])
    session.flush()
    return contract


def message_for(session: Session, contract: models.Contract, kind: str = "reminder") -> models.EmailMessage:
    """An email of `kind` about the contract, sent two hours ago: its links open the portals."""
    return make_email(session, contract, kind=kind, sent_at=datetime.now(UTC) - timedelta(hours=2))


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
        if site.org is not None:
            session.flush()
            for quote in session.scalars(select(models.RenewalQuote).where(models.RenewalQuote.total.is_not(None))):
                put_quote(site.org, quote)
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


def numbers_in_order(html: str) -> list[str]:
    """The contract numbers of a portal page's table, top to bottom."""
    return re.findall(r'<th scope="row">([^<]+)</th>', html)


def post_rep_form(site: Portal, path: str, **form: Any) -> TestResponse:
    """POST `form` to one of the rep's controls, with the CSRF token of the rep's page."""
    return site.client.post(path, data={"csrf_token": site.csrf("/rep"), **form})


def add_reminders(session: Session, contract_id: int) -> None:
    """One sent and two planned reminders of the contract."""
    contract = session.get_one(models.Contract, contract_id)
    for offset, status in ((-60, "sent"), (-30, "planned"), (-7, "planned")):
        make_reminder(session, contract, offset_days=offset, due_on=TODAY + timedelta(days=offset + 30), status=status)
