"""`renewals bench admin`: the admin console's pages against a store the size the service is designed for.

**The store.** :func:`seed_store` fills an empty store (SQLite by default, or a PostgreSQL URL) through
SQLAlchemy Core bulk inserts: accounts (some of them resellers), contacts, reps (some at resellers),
contracts with end dates spread over the 12 months either side of today in EUR, USD and GBP, some
cancelled, held or renewed (with ``renewals`` rows), a renewal quote per contract with one to three lines
over five product lines and its PDF, the reminders the cadence would have planned so far, the customer's
and the rep's email of each (delivered, sent, bounced, complained, unknown, failed, skipped, queued; brand
``northwind``, or ``partner`` for contracts sold through a reseller), renewal confirmations, contact
requests and their notices, the email events (opens, clicks, downloads; about a fifth labelled ``machine``
by the bot signals), the outbox items those events would have recorded (mostly done, some pending, some
dead), 30 days of pull and push runs and of API usage, suppressions, SNS notifications and audit entries.
The data are random but reproducible (a fixed seed) and respect every unique and check constraint of the
models. PostgreSQL is ANALYZEd after seeding (as autovacuum would do); SQLite is left without statistics,
as a deployment that never runs ANALYZE is.

**The timing.** :func:`admin_figures` creates the web app on the seeded store (with a throwaway Redis, which
the operations page reads queue depths from), signs in as an admin through the real sign-in form, and finds
the pages to time in the URL map: every GET route of the ``admin`` blueprint without URL variables, except
signing in and out. Each is requested once to warm up, then ``repeat`` times through Flask's test client (in
process: server time only, no network). A page answering HTML is reported under ``pages``, one answering
anything else (the CSV exports) under ``exports``, a redirect (the console's front page) under ``redirects``,
and one that fails (not 200, or an exception) as an entry with ``error`` in ``pages``, without stopping the
run. Per page: the median seconds, the SQL statements the request issued (counted on the app's engine;
``BEGIN`` excluded so SQLite and PostgreSQL count alike), the response's bytes, its slowest statement (by
the time the driver's ``execute`` took: a sort or aggregate is done by then, the rows of a plain scan after
the first are read later and not counted), and ``ratio_vs_event_scan``: the page's seconds divided by those
of the baseline.

**The baseline**, measured in the same run on the same store: one full scan of the biggest table,
``SELECT count(*) FROM email_events`` (median of ``repeat``), and the health check ``/healthz`` timed the
same way as the pages.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, got_request_exception
from sqlalchemy import Connection, Engine, bindparam, event, func, make_url, select, text, update

from config.settings import load_settings
from email_actions.web.app import create_app
from email_actions.web.console.auth import UserError, create_user, set_password, set_role
from mappings.loader import preset_text
from sync_service.outbox.record import event_key
from sync_service.store import migrate, models
from sync_service.store.db import make_engine
from tests.processes import RestartableRedis

SEED = 20240607
ADMIN_USERNAME = "bench-admin"
ADMIN_PASSWORD = "bench admin password 0123456789"
# Pages are named by endpoint without this prefix.
BLUEPRINT = "admin."
# Signing in and out are not pages to time.
NOT_PAGES = frozenset({"admin.login", "admin.logout"})
SLOW_STATEMENT_SQL_CHARS = 300
# Rows per executemany.
CHUNK = 5000

CURRENCIES = (("EUR", 0.6), ("USD", 0.25), ("GBP", 0.15))
LOCALES = ("en_GB", "de_DE", "fr_FR", "en_US", "nl_NL", "es_ES", "it_IT")
FIRST_NAMES = ("Anna", "Ben", "Carla", "David", "Eva", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Lea", "Marc")
LAST_NAMES = ("Meyer", "Smith", "Dubois", "Jansen", "Rossi", "Garcia", "Novak", "Berg", "Keller", "Brown")
COMPANY_WORDS = ("Alpine", "Baltic", "Cobalt", "Delta", "Ember", "Fjord", "Granite", "Harbour", "Iris", "Juniper")
COMPANY_KINDS = ("GmbH", "Ltd", "SA", "BV", "Inc", "AG", "SRL")
# Product line → products on quote lines.
PRODUCTS = {
    "Platform": ("Platform Standard", "Platform Enterprise"),
    "Analytics": ("Analytics Pro", "Analytics Seats"),
    "Support": ("Premium Support", "Standard Support"),
    "Security": ("Security Suite", "Audit Add-on"),
    "Integrations": ("Connector Pack", "API Calls 1M"),
}
STAGES = (-90, -60, -30, -7, 7, 30)  # the default cadence
MAPPING = "salesforce_cpq"
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17531; Pro)",
)
# (user agent, the classifier's reason) of machine hits.
MACHINES = (
    ("Mozilla/5.0", "Apple Mail Privacy Protection (bare Mozilla/5.0)"),
    ("Mozilla/5.0 (compatible; Mimecast URL Protect)", "scanner or proxy user agent (Mimecast)"),
    ("Mozilla/5.0 (Windows NT 10.0) Microsoft Office Protection", "scanner or proxy user agent (MSOffice)"),
    ("Mozilla/5.0 (compatible; GoogleImageProxy)", "scanner or proxy user agent (GoogleImageProxy)"),
    ("python-requests/2.31", "scanner or proxy user agent (python-requests)"),
)
LINK_PURPOSES = ("renew", "review", "contact", "quote")


# --- seeding -----------------------------------------------------------------------------------------------


@dataclass
class _Contract:
    """What later rows of one contract need to know about it."""

    id: int
    sf_id: str
    end_date: date
    contact_id: int | None
    rep_id: int | None
    reseller: bool
    currency: str
    cancelled: bool
    held: bool
    renewed_at: datetime | None
    renewed_here: bool  # renewed through the service (a `renewals` row), not only marked in the org
    quote_id: int | None
    quote_total: Decimal | None


# One hit of a visit: (kind, purpose, method, user agent, the machine reason or None, time).
_Hit = tuple[str, str, str, str, str | None, datetime]


@dataclass
class _Email:
    """A customer email that can be opened or clicked."""

    id: int
    contract_id: int
    sent_at: datetime


@dataclass
class _Seeder:
    """Generates the store's rows in dependency order and writes them in chunks."""

    connection: Connection
    contracts: int
    events: int
    now: datetime
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    buffers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=dict)
    # Filled as rows are made.
    contact_emails: dict[int, str] = field(default_factory=dict)
    contact_locales: dict[int, str] = field(default_factory=dict)
    # Contacts whose address will bounce, complain or unsubscribe ("bounce"/"complaint"/"unsubscribe"), and
    # when it happened once it has: later reminders to them are skipped.
    fragile: dict[int, str] = field(default_factory=dict)
    suppressed_at: dict[int, datetime] = field(default_factory=dict)
    rep_emails: dict[int, str] = field(default_factory=dict)
    reseller_reps: dict[int, list[int]] = field(default_factory=dict)
    in_house_reps: list[int] = field(default_factory=list)
    openable: list[_Email] = field(default_factory=list)
    # Emails and their forced human clicks (a renewal's renew click, a contact request's contact click).
    forced_clicks: list[tuple[_Email, str, datetime]] = field(default_factory=list)
    suppression_emails: dict[str, tuple[str, str, int, datetime]] = field(default_factory=dict)

    # -- plumbing

    def new_id(self, table: str) -> int:
        value = self.next_ids.get(table, 1)
        self.next_ids[table] = value + 1
        return value

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.buffers.setdefault(table, []).append(row)
        if len(self.buffers[table]) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        """Write every buffered row, parents before children, so foreign keys hold at every statement."""
        for table in models.Base.metadata.sorted_tables:
            rows = self.buffers.pop(table.name, None)
            if rows:
                self.connection.execute(table.insert(), rows)
                self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)

    def ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    # -- the store

    def run(self) -> dict[str, int]:
        self.mapping()
        resellers, customers = self.accounts()
        account_contacts = self.contacts(customers)
        self.reps(resellers)
        for number in range(1, self.contracts + 1):
            self.contract(number, customers, resellers, account_contacts)
        self.flush()
        self.mark_suppressed_contacts()
        self.email_events()
        self.suppressions()
        self.operations()
        self.flush()
        return dict(sorted(self.counts.items()))

    def mapping(self) -> None:
        yaml = preset_text(MAPPING)
        for version in (1, 2):
            self.add(
                "mapping_versions",
                {
                    "id": self.new_id("mapping_versions"),
                    "name": MAPPING,
                    "version": version,
                    "yaml": yaml,
                    "author": "admin:alice",
                    "created_at": self.ago(200 - 100 * version),
                    "is_active": version == 2,
                },
            )

    def accounts(self) -> tuple[list[int], list[int]]:
        resellers = [self.account(reseller=True) for _ in range(max(2, round(self.contracts / 1500)))]
        customers = [self.account(reseller=False) for _ in range(max(5, self.contracts // 3))]
        return resellers, customers

    def account(self, *, reseller: bool) -> int:
        rng = self.rng
        account_id = self.new_id("accounts")
        kind = "Partners" if reseller else "Systems"
        name = f"{rng.choice(COMPANY_WORDS)} {kind} {account_id} {rng.choice(COMPANY_KINDS)}"
        self.add(
            "accounts",
            {
                "id": account_id,
                "sf_id": f"001{account_id:012d}AAA",
                "sf_system_modstamp": self.ago(rng.uniform(1, 700)),
                "pulled_at": self.ago(rng.uniform(0, 1)),
                "name": name,
                "is_reseller": reseller,
                "currency": _weighted(rng, CURRENCIES),
                "is_deleted": False,
            },
        )
        return account_id

    def contacts(self, customers: list[int]) -> dict[int, list[int]]:
        rng = self.rng
        by_account: dict[int, list[int]] = {}
        for account_id in customers:
            for _ in range(rng.choice((1, 1, 2, 2, 3))):
                contact_id = self.new_id("contacts")
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                email = f"{first.lower()}.{last.lower()}.{contact_id}@customer{account_id}.example"
                locale = rng.choice(LOCALES)
                roll = rng.random()
                if roll < 0.015:
                    self.fragile[contact_id] = "bounce"
                elif roll < 0.018:
                    self.fragile[contact_id] = "complaint"
                elif roll < 0.03:
                    self.fragile[contact_id] = "unsubscribe"
                self.contact_emails[contact_id] = email
                self.contact_locales[contact_id] = locale
                by_account.setdefault(account_id, []).append(contact_id)
                self.add(
                    "contacts",
                    {
                        "id": contact_id,
                        "sf_id": f"003{contact_id:012d}AAA",
                        "sf_system_modstamp": self.ago(rng.uniform(1, 700)),
                        "pulled_at": self.ago(rng.uniform(0, 1)),
                        "account_id": account_id,
                        "email": email,
                        "first_name": first,
                        "last_name": last,
                        "locale": locale,
                        "suppressed_at": None,  # set once the seeded emails say when
                        "is_deleted": False,
                    },
                )
        return by_account

    def mark_suppressed_contacts(self) -> None:
        contacts = models.Base.metadata.tables["contacts"]
        rows = [{"contact": contact_id, "at": at} for contact_id, at in sorted(self.suppressed_at.items())]
        if rows:
            statement = (
                update(contacts)
                .where(contacts.c.id == bindparam("contact"))
                .values(suppressed_at=bindparam("at", type_=contacts.c.suppressed_at.type))
            )
            self.connection.execute(statement, rows)

    def reps(self, resellers: list[int]) -> None:
        rng = self.rng
        owners: list[int | None] = [None] * max(3, self.contracts // 300)
        for reseller in resellers:
            owners += [reseller, reseller]
        for owner in owners:
            rep_id = self.new_id("reps")
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            domain = f"partner{owner}.example" if owner else "northwind.example"
            email = f"{first.lower()}.{last.lower()}.{rep_id}@{domain}"
            self.rep_emails[rep_id] = email
            if owner is None:
                self.in_house_reps.append(rep_id)
            else:
                self.reseller_reps.setdefault(owner, []).append(rep_id)
            self.add(
                "reps",
                {
                    "id": rep_id,
                    "sf_id": f"005{rep_id:012d}AAA",
                    "sf_system_modstamp": self.ago(rng.uniform(1, 700)),
                    "pulled_at": self.ago(rng.uniform(0, 1)),
                    "name": f"{first} {last}",
                    "email": email,
                    "reseller_account_id": owner,
                    "is_active": rng.random() > 0.03,
                },
            )

    def contract(
        self, number: int, customers: list[int], resellers: list[int], account_contacts: dict[int, list[int]]
    ) -> None:
        rng = self.rng
        today = self.now.date()
        contract_id = self.new_id("contracts")
        account_id = rng.choice(customers)
        contact_id = rng.choice(account_contacts[account_id]) if rng.random() > 0.03 else None
        reseller = rng.choice(resellers) if rng.random() < 0.25 else None
        rep_id: int | None = rng.choice(self.reseller_reps[reseller]) if reseller else rng.choice(self.in_house_reps)
        if rng.random() < 0.01:
            rep_id = None
        end_date = today + timedelta(days=rng.randint(-365, 365))
        years = rng.choice((1, 1, 1, 2, 3))
        currency = _weighted(rng, CURRENCIES)
        amount = Decimal(int(min(max(rng.lognormvariate(8.3, 1.1), 150.0), 400_000.0) * 100)).scaleb(-2)
        cancelled = rng.random() < 0.04
        held = not cancelled and rng.random() < 0.01
        renewed_at = None
        if not cancelled and end_date <= today + timedelta(days=90):
            chance = 0.62 if end_date < today - timedelta(days=30) else 0.35
            if rng.random() < chance:
                earliest = datetime.combine(end_date - timedelta(days=90), clock(7), UTC)
                latest = min(datetime.combine(end_date + timedelta(days=30), clock(19), UTC), self.now)
                if latest > earliest:
                    renewed_at = earliest + (latest - earliest) * rng.random() ** 1.5
        renewed_here = renewed_at is not None and rng.random() < 0.9
        sf_id = f"800{contract_id:012d}AAA"
        self.add(
            "contracts",
            {
                "id": contract_id,
                "sf_id": sf_id,
                "sf_system_modstamp": self.ago(rng.uniform(0, 400)),
                "pulled_at": self.ago(rng.uniform(0, 1)),
                "number": f"{number:08d}",
                "account_id": account_id,
                "contact_id": contact_id,
                "rep_id": rep_id,
                "reseller_account_id": reseller,
                "start_date": end_date - timedelta(days=365 * years),
                "end_date": end_date,
                "status": "Activated",
                "amount": amount,
                "currency": currency,
                "auto_renew": rng.random() < 0.08,
                "is_cancelled": cancelled,
                "is_deleted": False,
                "renewed_at": renewed_at,
                "is_held": held,
                "sf_links": {"SBQQ__RenewalOpportunity__c": f"006{contract_id:012d}AAA"},
                "status_flags": ["price_review"] if rng.random() < 0.03 else [],
                "price_adjustment_pct": Decimal(rng.choice((-10, -5, 3, 5))) if rng.random() < 0.02 else None,
                "price_override": None,
                "price_override_reason": None,
            },
        )
        contract = _Contract(
            contract_id,
            sf_id,
            end_date,
            contact_id,
            rep_id,
            reseller is not None,
            currency,
            cancelled,
            held,
            renewed_at,
            renewed_here,
            None,
            None,
        )
        if rng.random() < 0.97:
            self.quote(contract, amount)
        self.reminders(contract)

    def quote(self, contract: _Contract, amount: Decimal) -> None:
        rng = self.rng
        quote_id = self.new_id("renewal_quotes")
        lines = rng.choice((1, 1, 2, 2, 3))
        cents = int(amount * Decimal(rng.choice((100, 103, 105, 107)))) or 100
        shares = sorted(rng.random() for _ in range(lines - 1))
        bounds = [0, *(int(cents * s) for s in shares), cents]
        net_cents = []
        line_rows = []
        for index in range(lines):
            part = max(bounds[index + 1] - bounds[index], 100)
            quantity = rng.choice((1, 1, 1, 5, 10, 25))
            unit = max(part // quantity, 1)
            net_cents.append(unit * quantity)
            product_line = rng.choice(tuple(PRODUCTS))
            line_id = self.new_id("quote_lines")
            line_rows.append(
                {
                    "id": line_id,
                    "sf_id": f"a0R{line_id:012d}AAA",
                    "sf_system_modstamp": self.ago(rng.uniform(0, 200)),
                    "pulled_at": self.ago(rng.uniform(0, 1)),
                    "quote_id": quote_id,
                    "product": rng.choice(PRODUCTS[product_line]),
                    "product_line": product_line,
                    "quantity": Decimal(quantity),
                    "unit_price": Decimal(unit).scaleb(-2),
                    "net": Decimal(unit * quantity).scaleb(-2),
                }
            )
        total = Decimal(sum(net_cents)).scaleb(-2)
        generated = datetime.combine(contract.end_date - timedelta(days=100), clock(6), UTC)
        self.add(
            "renewal_quotes",
            {
                "id": quote_id,
                "sf_id": f"a0Q{quote_id:012d}AAA",
                "sf_system_modstamp": self.ago(rng.uniform(0, 200)),
                "pulled_at": self.ago(rng.uniform(0, 1)),
                "contract_id": contract.id,
                "number": f"Q-{quote_id:07d}",
                "status": "Accepted" if contract.renewed_at else "Presented",
                "total": total,
                "currency": contract.currency,
                "valid_until": contract.end_date + timedelta(days=30),
                "primary_document_sf_id": f"069{quote_id:012d}AAA",
                "document_generated_at": min(generated, self.now),
                "is_deleted": False,
                "contact_id": None,
                "sf_links": {},
            },
        )
        for row in line_rows:
            self.add("quote_lines", row)
        document_id = self.new_id("quote_documents")
        self.add(
            "quote_documents",
            {
                "id": document_id,
                "sf_id": f"069{quote_id:012d}AAA",
                "sf_system_modstamp": self.ago(rng.uniform(0, 200)),
                "pulled_at": self.ago(rng.uniform(0, 1)),
                "quote_id": quote_id,
                "source_object": "ContentVersion" if rng.random() < 0.8 else "Document",
                "title": f"Renewal quote Q-{quote_id:07d}.pdf",
                "content_type": "application/pdf",
                "size": rng.randint(40_000, 400_000),
                "blob_sf_id": f"068{quote_id:012d}AAA",
            },
        )
        contract.quote_id, contract.quote_total = quote_id, total

    def reminders(self, contract: _Contract) -> None:
        """The reminders the daily planner would have made so far, and the emails each one sent."""
        if contract.cancelled:
            return
        rng = self.rng
        today = self.now.date()
        last_customer_email: _Email | None = None
        for offset in STAGES:
            due_on = contract.end_date + timedelta(days=offset)
            if due_on > today:
                break
            if contract.renewed_at is not None and due_on > contract.renewed_at.date():
                break
            reminder_id = self.new_id("reminders")
            sent_at = datetime.combine(due_on, clock(6), UTC) + timedelta(minutes=rng.uniform(0, 240))
            suppressed = self.suppressed_at.get(contract.contact_id) if contract.contact_id else None
            if contract.held:
                status, reason = "skipped", "reminders held by the rep"
            elif contract.contact_id is None:
                status, reason = "skipped", "no contact address"
            elif due_on == today:
                status, reason = "planned", None
            elif suppressed is not None and suppressed < sent_at:
                status, reason = "skipped", "the contact's address is suppressed"
            elif rng.random() < 0.04:
                status, reason = "skipped", "superseded by a later stage"
            else:
                status, reason = "sent", None
            self.add(
                "reminders",
                {
                    "id": reminder_id,
                    "contract_id": contract.id,
                    "offset_days": offset,
                    "due_on": due_on,
                    "segment": "default",
                    "status": status,
                    "reason": reason,
                    "created_at": datetime.combine(due_on, clock(5), UTC),
                },
            )
            if status == "sent" or (status == "planned" and rng.random() < 0.4):
                email = self.reminder_emails(contract, reminder_id, offset, status, sent_at)
                if email is not None:
                    last_customer_email = email
        if contract.renewed_at is not None and contract.renewed_here:
            self.renewal(contract, last_customer_email)
        if last_customer_email is not None and rng.random() < 0.03:
            self.contact_request(contract, last_customer_email)

    def reminder_emails(
        self, contract: _Contract, reminder_id: int, offset: int, reminder_status: str, sent_at: datetime
    ) -> _Email | None:
        rng = self.rng
        brand = "partner" if contract.reseller else "northwind"
        contact_id = contract.contact_id
        if reminder_status == "planned" or sent_at > self.now:
            # Due today and not sent yet: the send job has queued them.
            for kind in ("reminder", "rep_notice"):
                self.email(contract, kind, f"{kind}:{reminder_id}", reminder_id, offset, brand, "queued", None)
            return None
        # A fragile address fails on one of its emails (and is suppressed from then on).
        fragile = self.fragile.get(contact_id) if contact_id and contact_id not in self.suppressed_at else None
        if fragile is not None and rng.random() >= 0.4:
            fragile = None
        roll = rng.random()
        if fragile == "bounce":
            status = "bounced"
        elif fragile == "complaint":
            status = "complained"
        elif roll < 0.003:
            status = "unknown"
        elif roll < 0.006:
            status = "failed"
        elif roll < 0.07:
            status = "sent"  # no delivery notification (yet)
        else:
            status = "delivered"
        if fragile == "unsubscribe" and status not in ("delivered", "sent"):
            fragile = None
        message_id = self.email(
            contract, "reminder", f"reminder:{reminder_id}", reminder_id, offset, brand, status, sent_at
        )
        if fragile is not None and contact_id is not None:
            if fragile == "unsubscribe":
                at = min(sent_at + timedelta(hours=rng.uniform(1, 48)), self.now)
                self.forced_clicks.append((_Email(message_id, contract.id, sent_at), "unsubscribe", at))
            else:
                at = sent_at + timedelta(minutes=rng.uniform(1, 60 if fragile == "complaint" else 3))
            scope = "reminders" if fragile == "unsubscribe" else "all"
            self.suppressed_at[contact_id] = at
            self.suppression_emails[self.contact_emails[contact_id].lower()] = (fragile, scope, message_id, at)
        if contract.rep_id is not None:
            rep_status = "delivered" if rng.random() < 0.95 else "sent"
            self.email(
                contract,
                "rep_notice",
                f"rep_notice:{reminder_id}",
                reminder_id,
                offset,
                brand,
                rep_status,
                sent_at + timedelta(seconds=rng.uniform(1, 30)),
            )
        if status in ("sent", "delivered", "bounced", "complained"):
            self.task("sent", message_id, contract, sent_at)
        if status in ("bounced", "complained"):
            self.task(status, message_id, contract, self.suppressed_at.get(contact_id or 0, sent_at))
        if status in ("delivered", "sent", "complained"):
            email = _Email(message_id, contract.id, sent_at)
            self.openable.append(email)
            return email
        return None

    def email(
        self,
        contract: _Contract,
        kind: str,
        key: str,
        reminder_id: int | None,
        stage: int | None,
        brand: str,
        status: str,
        sent_at: datetime | None,
        data: dict[str, Any] | None = None,
    ) -> int:
        rng = self.rng
        message_id = self.new_id("email_messages")
        to_rep = kind in ("rep_notice", "contact_request")
        if to_rep:
            to_address = self.rep_emails.get(contract.rep_id) if contract.rep_id else None
        else:
            to_address = self.contact_emails.get(contract.contact_id) if contract.contact_id else None
        created_at = (sent_at or self.now) - timedelta(seconds=rng.uniform(5, 120))
        went_out = status in ("sent", "delivered", "bounced", "complained")
        self.add(
            "email_messages",
            {
                "id": message_id,
                "key": key,
                "kind": kind,
                "reminder_id": reminder_id,
                "contract_id": contract.id,
                "contact_id": None if to_rep else contract.contact_id,
                "rep_id": contract.rep_id,
                "stage": stage,
                "to_address": to_address,
                "brand": brand,
                "locale": self.contact_locales.get(contract.contact_id or 0, "en_GB"),
                "subject": f"Your contract renews on {contract.end_date.isoformat()}",
                "nonce": hashlib.blake2b(f"{SEED}:{message_id}".encode(), digest_size=16).hexdigest(),
                "status": status,
                "error": {"unknown": "the send timed out", "failed": "MessageRejected: address rejected"}.get(status),
                "ses_message_id": f"0100018f{message_id:024x}-000000" if went_out else None,
                "attempts": 0 if status == "queued" else 1,
                "created_at": created_at,
                "sending_at": None if status == "queued" else created_at + timedelta(seconds=1),
                "sent_at": sent_at if went_out else None,
                "status_at": sent_at + timedelta(seconds=rng.uniform(1, 90))
                if sent_at and status != "sent" and went_out
                else None,
                "data": data or {},
            },
        )
        return message_id

    def renewal(self, contract: _Contract, email: _Email | None) -> None:
        rng = self.rng
        assert contract.renewed_at is not None
        renewed_at = contract.renewed_at
        by_email = email is not None and email.sent_at < renewed_at and rng.random() < 0.85
        renewal_id = self.new_id("renewals")
        self.add(
            "renewals",
            {
                "id": renewal_id,
                "contract_id": contract.id,
                "quote_id": contract.quote_id,
                "email_message_id": email.id if by_email and email else None,
                "amount": contract.quote_total,
                "currency": contract.currency,
                "purchase_order": f"PO-{rng.randint(10000, 99999)}" if rng.random() < 0.3 else None,
                "source": "email" if by_email else "portal",
                "renewed_at": renewed_at,
            },
        )
        if by_email and email is not None:
            self.forced_clicks.append((email, "renew", renewed_at - timedelta(seconds=rng.uniform(20, 600))))
        brand = "partner" if contract.reseller else "northwind"
        self.email(
            contract,
            "confirmation",
            f"confirmation:{contract.id}",
            None,
            None,
            brand,
            "delivered",
            renewed_at + timedelta(seconds=rng.uniform(2, 60)),
        )
        self.task("renewed", contract.id, contract, renewed_at)
        self.add(
            "outbox_items",
            self.outbox_row(
                event_key("write-back", "renew", contract.id),
                "field_update",
                "SBQQ__Quote__c",
                {"values": {"SBQQ__Status__c": "Accepted"}},
                renewed_at,
                target_sf_id=f"a0Q{contract.quote_id or 0:012d}AAA",
            ),
        )

    def contact_request(self, contract: _Contract, email: _Email) -> None:
        rng = self.rng
        at = min(email.sent_at + timedelta(hours=rng.uniform(1, 200)), self.now - timedelta(minutes=5))
        request_id = self.new_id("contact_requests")
        self.add(
            "contact_requests",
            {
                "id": request_id,
                "contract_id": contract.id,
                "email_message_id": email.id,
                "form_nonce": hashlib.blake2b(f"form:{request_id}".encode(), digest_size=16).hexdigest(),
                "message": "Please call me about adding seats before we renew.",
                "preferred_time": rng.choice(("morning", "afternoon", None)),
                "channel": rng.choice(("phone", "email")),
                "created_at": at,
            },
        )
        self.forced_clicks.append((email, "contact", at - timedelta(seconds=rng.uniform(30, 300))))
        brand = "partner" if contract.reseller else "northwind"
        self.email(
            contract,
            "contact_request",
            f"contact_request:{request_id}",
            None,
            None,
            brand,
            "delivered",
            at + timedelta(seconds=5),
            data={"message": "Please call me about adding seats before we renew."},
        )
        self.task("contact_requested", request_id, contract, at)

    def task(self, activity: str, ref: int, contract: _Contract, at: datetime, count: int = 1) -> None:
        payload = {
            "fields": {
                "WhatId": contract.sf_id,
                "OwnerId": f"005{contract.rep_id or 0:012d}AAA",
                "Status": "Completed",
                "Priority": "Normal",
                "ActivityDate": at.date().isoformat(),
            },
            "subject": f"Renewals: {activity}",
            "description": "",
            "subtype": "Task",
            "first_event_at": at.isoformat(),
        }
        key = event_key(activity, ref)
        self.add("outbox_items", self.outbox_row(key, "task", "Task", payload, at, count=count))

    def outbox_row(
        self,
        key: str,
        kind: str,
        sobject: str,
        payload: dict[str, Any],
        at: datetime,
        *,
        target_sf_id: str | None = None,
        count: int = 1,
    ) -> dict[str, Any]:
        rng = self.rng
        outbox_id = self.new_id("outbox_items")
        age = (self.now - at).total_seconds()
        roll = rng.random()
        if age < 600 or roll < 0.003:
            status, attempts, error = "pending", (0 if age < 600 else rng.randint(1, 4)), None
            if attempts:
                error = "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access to this record"
        elif roll < 0.005:
            status, attempts = "dead", 8
            error = rng.choice(
                (
                    "INVALID_CROSS_REFERENCE_KEY: invalid cross reference id",
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION: Closed quotes cannot be changed",
                    "ENTITY_IS_DELETED: entity is deleted",
                )
            )
        elif roll < 0.006:
            status, attempts, error = "discarded", 1, "the contract was deleted in the org"
        else:
            status, attempts, error = "done", 1, None
        done = status == "done"
        return {
            "id": outbox_id,
            "key": key,
            "kind": kind,
            "sobject": sobject,
            "payload": payload,
            "target_sf_id": target_sf_id,
            "status": status,
            "attempts": attempts,
            "last_error": error,
            "next_attempt_at": at + timedelta(seconds=30 * (2**attempts)),
            "sf_id": f"00T{outbox_id:012d}AAA" if done else None,
            "count": count,
            "last_event_at": at if kind == "task" else None,
            "revision": count,
            "created_at": at,
            "done_at": at + timedelta(seconds=rng.uniform(5, 60)) if done else None,
        }

    def email_events(self) -> None:
        """`events` hits spread over the customer emails: the forced clicks, then scanner bursts, privacy
        proxies and people opening, clicking and downloading."""
        rng = self.rng
        written = 0
        opened: set[int] = set()
        downloaded: set[int] = set()
        for email, purpose, at in self.forced_clicks:
            if written + 2 > self.events:
                break
            for kind, hit_purpose, when in (
                ("open", "open", at - timedelta(seconds=40)),
                ("click", purpose, at),
            ):
                self.event(email, kind, hit_purpose, "GET", rng.choice(BROWSERS), None, max(when, email.sent_at))
                written += 1
            opened.add(email.id)
        emails = self.openable
        while written < self.events and emails:
            email = rng.choice(emails)
            for kind, purpose, method, agent, reason, at in self.hits(email):
                if written >= self.events:
                    break
                self.event(email, kind, purpose, method, agent, reason, at)
                written += 1
                if reason is None and kind == "open":
                    opened.add(email.id)
                if reason is None and kind == "download":
                    downloaded.add(email.id)
        by_id = {email.id: email for email in emails}
        by_id.update((email.id, email) for email, _, _ in self.forced_clicks)
        for email_id in sorted(opened):
            self.open_task(by_id[email_id], "opened")
        for email_id in sorted(downloaded):
            self.open_task(by_id[email_id], "downloaded")

    def open_task(self, email: _Email, activity: str) -> None:
        at = min(email.sent_at + timedelta(hours=self.rng.uniform(0.5, 72)), self.now)
        payload = {
            "fields": {"Status": "Completed", "Priority": "Normal", "ActivityDate": at.date().isoformat()},
            "subject": f"Renewals: {activity}",
            "description": "",
            "subtype": "Task",
            "first_event_at": at.isoformat(),
        }
        count = self.rng.choice((1, 1, 1, 2, 3))
        self.add(
            "outbox_items",
            self.outbox_row(event_key(activity, email.id), "task", "Task", payload, at, count=count),
        )

    def hits(self, email: _Email) -> list[_Hit]:
        """One visit of an email: (kind, purpose, method, user agent, machine reason or None, time)."""
        rng = self.rng
        roll = rng.random()
        sent = email.sent_at
        if roll < 0.07:
            # A link scanner walking every link seconds after delivery.
            agent, reason = rng.choice(MACHINES[1:])
            start = sent + timedelta(seconds=rng.uniform(0.5, 4))
            hits: list[_Hit] = []
            for step, purpose in enumerate(("open", *LINK_PURPOSES)):
                kind = "open" if purpose == "open" else "click"
                at = start + timedelta(seconds=0.3 * step)
                hits.append((kind, purpose, rng.choice(("GET", "HEAD")), agent, reason, at))
            return hits
        if roll < 0.13:
            # Apple Mail Privacy Protection loads the pixel on delivery.
            at = sent + timedelta(seconds=rng.uniform(1, 600))
            return [("open", "open", "GET", MACHINES[0][0], MACHINES[0][1], at)]
        # A person: an open, perhaps more opens, a click or a download.
        agent = rng.choice(BROWSERS)
        at = sent + timedelta(hours=rng.expovariate(1 / 30))
        hits = [("open", "open", "GET", agent, None, at)]
        if rng.random() < 0.3:
            at += timedelta(minutes=rng.uniform(1, 10))
            purpose = rng.choice(("review", "review", "quote", "renew"))
            kind = "download" if purpose == "quote" else "click"
            hits.append((kind, purpose, "GET", agent, None, at))
        if rng.random() < 0.2:
            hits.append(("open", "open", "GET", agent, None, at + timedelta(days=rng.uniform(1, 10))))
        return hits

    def event(
        self, email: _Email, kind: str, purpose: str, method: str, agent: str, reason: str | None, at: datetime
    ) -> None:
        at = min(at, self.now)
        since = max((at - email.sent_at).total_seconds(), 0.0)
        reasons = [] if reason is None else [reason]
        if reason is not None and method == "HEAD":
            reasons.insert(0, "HEAD request")
        self.add(
            "email_events",
            {
                "id": self.new_id("email_events"),
                "email_message_id": email.id,
                "kind": kind,
                "purpose": purpose,
                "method": method,
                "ip": f"10.{email.id % 250}.{(email.id >> 8) % 250}.{self.rng.randint(1, 250)}",
                "user_agent": agent,
                "occurred_at": at,
                "seconds_since_sent": since,
                "label": "human" if reason is None else "machine",
                "reasons": reasons,
            },
        )

    def suppressions(self) -> None:
        rng = self.rng
        for address, (reason, scope, message_id, at) in sorted(self.suppression_emails.items()):
            self.add(
                "email_suppressions",
                {
                    "id": self.new_id("email_suppressions"),
                    "address": address,
                    "reason": reason,
                    "scope": scope,
                    "detail": {"bounce": "550 5.1.1 user unknown", "complaint": "abuse"}.get(reason),
                    "email_message_id": message_id,
                    "created_at": at,
                },
            )
            if reason != "unsubscribe":
                sns_id = self.new_id("sns_messages")
                self.add(
                    "sns_messages",
                    {
                        "id": sns_id,
                        "message_id": f"{sns_id:08x}-bench-4c2e-9a1b-{rng.getrandbits(48):012x}",
                        "type": "Notification",
                        "topic_arn": "arn:aws:sns:eu-west-1:123456789012:ses-notifications",
                        "notification_type": "Bounce" if reason == "bounce" else "Complaint",
                        "ses_message_id": f"0100018f{message_id:024x}-000000",
                        "outcome": f"suppressed ({reason})",
                        "received_at": at,
                    },
                )

    def operations(self) -> None:
        """30 days of sync runs and API usage, the pull watermarks, and the audit trail."""
        rng = self.rng
        for days_ago in range(30, -1, -1):
            day = (self.now - timedelta(days=days_ago)).date()
            pulls = pushes = 0
            for hour in range(24):
                started = datetime.combine(day, clock(hour), UTC) + timedelta(minutes=rng.uniform(0, 5))
                if started > self.now:
                    break
                failed = rng.random() < 0.02
                calls = rng.randint(3, 12)
                pulls += calls
                self.sync_run("incremental", started, calls, failed, {"contracts": rng.randint(0, 400)})
                for minute in (10, 25, 40, 55):
                    pushed = started + timedelta(minutes=minute)
                    if pushed > self.now:
                        break
                    push_calls = rng.randint(1, 6)
                    pushes += push_calls
                    dead = 1 if rng.random() < 0.02 else 0
                    rows = {"done": rng.randint(1, 900), "retrying": rng.randint(0, 3), "dead": dead}
                    self.sync_run("push", pushed, push_calls, rng.random() < 0.01, rows)
            reconcile = datetime.combine(day, clock(2, 30), UTC)
            if reconcile <= self.now:
                self.sync_run("reconcile", reconcile, 40, False, {"contracts_removed": rng.randint(0, 5)})
            for job_name, calls in (
                (f"pull:{MAPPING}", pulls),
                (f"push:{MAPPING}", pushes),
                (f"reconcile:{MAPPING}", 40),
                ("quote_download", rng.randint(50, 400)),
            ):
                self.add(
                    "api_usage",
                    {"id": self.new_id("api_usage"), "day": day, "job_name": job_name, "calls": calls},
                )
        self.sync_run("full", self.ago(45), 900, False, {"contracts": self.contracts})
        for entity in ("account", "contact", "user", "contract", "renewal_quote", "quote_line", "quote_document"):
            self.add(
                "sync_state",
                {
                    "id": self.new_id("sync_state"),
                    "mapping_name": MAPPING,
                    "entity": entity,
                    "watermark": self.ago(rng.uniform(0.01, 0.04)),
                    "updated_at": self.ago(0.01),
                },
            )
        for _ in range(max(20, self.contracts // 12)):
            contract_id = rng.randint(1, self.contracts)
            rep = rng.randint(1, max(1, len(self.rep_emails)))
            action, before, after = rng.choice(
                (
                    ("rep.hold", {"is_held": False}, {"is_held": True}),
                    ("rep.resume", {"is_held": True}, {"is_held": False}),
                    ("rep.status_flags", {"status_flags": []}, {"status_flags": ["price_review"]}),
                    ("rep.price_adjustment", {"price_adjustment_pct": None}, {"price_adjustment_pct": "5.00"}),
                )
            )
            self.add(
                "audit_entries",
                {
                    "id": self.new_id("audit_entries"),
                    "actor": f"rep:005{rep:012d}AAA",
                    "action": action,
                    "contract_id": contract_id,
                    "before": before,
                    "after": after,
                    "reason": None,
                    "at": self.ago(rng.uniform(0, 365)),
                },
            )
        for days_ago in (200, 100, 3):
            self.add(
                "audit_entries",
                {
                    "id": self.new_id("audit_entries"),
                    "actor": "admin:alice",
                    "action": "mapping.activate" if days_ago != 3 else "settings.api_budget",
                    "contract_id": None,
                    "before": {},
                    "after": {"name": MAPPING} if days_ago != 3 else {"daily_budget": 100000},
                    "reason": None,
                    "at": self.ago(days_ago),
                },
            )

    def sync_run(self, kind: str, started: datetime, calls: int, failed: bool, rows: dict[str, Any]) -> None:
        rng = self.rng
        finished = started + timedelta(seconds=rng.uniform(2, 90) if kind != "full" else 1800)
        running = finished > self.now
        self.add(
            "sync_runs",
            {
                "id": self.new_id("sync_runs"),
                "mapping_name": MAPPING,
                "kind": kind,
                "started_at": started,
                "finished_at": None if running else finished,
                "watermark": started - timedelta(minutes=1) if kind in ("full", "incremental") else None,
                "rows": rows,
                "api_calls": calls,
                "status": "running" if running else ("failed" if failed else "succeeded"),
                "error": "REQUEST_LIMIT_EXCEEDED: ConcurrentPerOrgLongTxn Limit exceeded" if failed else None,
            },
        )


def _weighted(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    roll = rng.random()
    for value, weight in choices:
        roll -= weight
        if roll < 0:
            return value
    return choices[-1][0]


def _fast_sqlite_writes(dbapi_connection: Any, connection_record: Any) -> None:
    # A store being seeded from scratch: no fsync while it is written (a crash loses only the benchmark).
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute("PRAGMA cache_size = -200000")
    finally:
        cursor.close()


def seed_store(database_url: str, *, contracts: int, events: int, now: datetime | None = None) -> dict[str, int]:
    """Fill the (migrated, empty) store at `database_url`; returns rows written per table."""
    engine = make_engine(database_url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _fast_sqlite_writes)
    try:
        with engine.connect() as connection:
            with connection.begin():
                if connection.scalar(select(func.count()).select_from(models.Contract.__table__)):
                    raise RuntimeError("the store already holds contracts; seed an empty one")
                seeder = _Seeder(connection, contracts, events, now or models.utcnow())
                counts = seeder.run()
            if engine.dialect.name == "postgresql":
                with connection.begin():
                    for table in models.Base.metadata.sorted_tables:
                        if counts.get(table.name):
                            # Rows were written with their ids: move each id sequence past them.
                            connection.execute(
                                text(
                                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                    f"(SELECT max(id) FROM {table.name}))"
                                )
                            )
                connection.execute(text("ANALYZE"))
                connection.commit()
    finally:
        engine.dispose()
    return counts


# --- timing ------------------------------------------------------------------------------------------------


class StatementCounter:
    """The SQL statements an engine executes (``BEGIN`` left out), with the slowest one, per request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements = 0
        self.slowest: tuple[float, str] = (0.0, "")
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip()[:5].upper() == "BEGIN":
            return
        self.statements += 1
        seconds = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        if seconds > self.slowest[0]:
            self.slowest = (seconds, statement)

    def reset(self) -> None:
        self.statements = 0
        self.slowest = (0.0, "")

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


@dataclass
class _Run:
    seconds: float
    statements: int
    status: int
    content_type: str
    size: int
    slowest: tuple[float, str]
    location: str | None
    error: str | None


def _request(app: Flask, client: Any, counter: StatementCounter, path: str) -> _Run:
    errors: list[BaseException] = []

    def record(sender: Any, exception: BaseException, **extra: Any) -> None:
        errors.append(exception)

    counter.reset()
    with got_request_exception.connected_to(record, app):
        started = time.perf_counter()
        response = client.get(path)
        body = response.get_data()
        seconds = time.perf_counter() - started
    error = None
    if errors:
        error = f"{type(errors[0]).__name__}: {str(errors[0]).splitlines()[0][:300] if str(errors[0]) else ''}"
    return _Run(
        seconds,
        counter.statements,
        response.status_code,
        response.mimetype or "",
        len(body),
        counter.slowest,
        response.headers.get("Location"),
        error,
    )


def _measure(app: Flask, client: Any, counter: StatementCounter, path: str, repeat: int) -> dict[str, Any]:
    warm = _request(app, client, counter, path)
    if warm.status != 200:
        if 300 <= warm.status < 400 and warm.error is None:
            return {"path": path, "redirect": warm.location, "status": warm.status}
        return {"path": path, "error": warm.error or f"HTTP {warm.status}", "status": warm.status}
    runs = []
    for _ in range(repeat):
        run = _request(app, client, counter, path)
        if run.status != 200:
            return {
                "path": path,
                "error": run.error or f"HTTP {run.status} (after a 200 warm-up)",
                "status": run.status,
            }
        runs.append(run)
    slowest = max((run.slowest for run in runs), key=lambda pair: pair[0])
    return {
        "path": path,
        "seconds": round(statistics.median(run.seconds for run in runs), 4),
        "sql_statements": int(statistics.median(run.statements for run in runs)),
        "bytes": runs[-1].size,
        "content_type": runs[-1].content_type,
        "slowest_statement": {
            "seconds": round(slowest[0], 4),
            "sql": " ".join(slowest[1].split())[:SLOW_STATEMENT_SQL_CHARS],
        },
    }


def _ratio(seconds: float | None, baseline: float) -> float | None:
    return round(seconds / baseline, 2) if seconds is not None and baseline > 0 else None


def admin_pages(app: Flask) -> dict[str, str]:
    """Page name (endpoint without ``admin.``) → path, of every GET route of the console without URL
    variables, signing in and out left out."""
    pages: dict[str, str] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith(BLUEPRINT) or rule.endpoint in NOT_PAGES:
            continue
        if "GET" not in (rule.methods or ()) or rule.arguments:
            continue
        pages[rule.endpoint.removeprefix(BLUEPRINT)] = rule.rule
    return pages


def _event_scan_seconds(engine: Engine, repeat: int) -> tuple[float, int]:
    query = select(func.count()).select_from(models.EmailEvent.__table__)
    times = []
    count = 0
    with engine.connect() as connection:
        connection.scalar(query)  # warm the page cache like the pages' warm-up request
        for _ in range(repeat):
            started = time.perf_counter()
            count = connection.scalar(query) or 0
            times.append(time.perf_counter() - started)
        connection.rollback()
    return statistics.median(times), count


@contextmanager
def _redis() -> Iterator[str]:
    """A throwaway redis-server for the app's rate limits; yields its URL."""
    with (
        tempfile.TemporaryDirectory(prefix="renewals-bench-admin-redis-", ignore_cleanup_errors=True) as work,
        RestartableRedis(Path(work)) as server,
    ):
        yield server.url


def _sign_in(app: Flask) -> Any:
    with app.extensions["renewals.database"].session_scope() as session:
        try:
            create_user(session, ADMIN_USERNAME, ADMIN_PASSWORD, "admin")
        except UserError:  # a reused store: the user is there from an earlier run
            set_password(session, ADMIN_USERNAME, ADMIN_PASSWORD)
            set_role(session, ADMIN_USERNAME, "admin")
    client = app.test_client()
    form = client.get("/admin/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if match is None:
        raise RuntimeError("the sign-in form has no CSRF field")
    answer = client.post(
        "/admin/login",
        data={"csrf_token": match.group(1), "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
    )
    if answer.status_code != 302:
        raise RuntimeError(f"signing in answered {answer.status_code}")
    return client


def time_pages(
    database_url: str,
    redis_url: str,
    *,
    repeat: int,
    extra: dict[str, str] | None = None,
    only: Collection[str] = (),
) -> dict[str, Any]:
    """Time the console's pages (and `extra` name → path ones; only those named in `only` if any) on the
    store at `database_url`."""
    settings = load_settings(
        {
            "RENEWALS_SECRET_KEYS": secrets.token_urlsafe(32),
            "RENEWALS_DATABASE_URL": database_url,
            "RENEWALS_REDIS_URL": redis_url,
            "RENEWALS_PUBLIC_BASE_URL": "http://localhost",
            "RENEWALS_LOG_LEVEL": "WARNING",
        }
    )
    app = create_app(settings)
    database = app.extensions["renewals.database"]
    counter = StatementCounter(database.engine)
    try:
        client = _sign_in(app)
        scan_seconds, event_count = _event_scan_seconds(database.engine, repeat)
        health = _measure(app, client, counter, "/healthz", repeat)
        targets = {**admin_pages(app), **(extra or {})}
        pages: dict[str, Any] = {}
        if only:
            for name in sorted(set(only) - set(targets)):
                pages[name] = {"error": "no GET route of the console without URL variables is named so"}
            targets = {name: path for name, path in targets.items() if name in only}
        exports: dict[str, Any] = {}
        redirects: dict[str, Any] = {}
        for name, path in targets.items():
            figures = _measure(app, client, counter, path, repeat)
            if "redirect" in figures:
                redirects[name] = figures
                continue
            if "seconds" in figures:
                figures["ratio_vs_event_scan"] = _ratio(figures["seconds"], scan_seconds)
                html = figures.pop("content_type") == "text/html"
            else:  # failed: an export by its name
                html = not path.split("?")[0].endswith(".csv")
            (pages if html else exports)[name] = figures
        return {
            "pages": pages,
            "exports": exports,
            "redirects": redirects,
            "baseline": {
                "event_scan": {
                    "sql": "SELECT count(*) FROM email_events",
                    "seconds": round(scan_seconds, 4),
                    "rows": event_count,
                },
                "healthz": {
                    **{key: health[key] for key in ("path", "seconds", "sql_statements", "error") if key in health},
                    "ratio_vs_event_scan": _ratio(health.get("seconds"), scan_seconds),
                },
            },
        }
    finally:
        counter.close()
        database.dispose()


def admin_figures(
    *,
    contracts: int = 60_000,
    events: int = 500_000,
    repeat: int = 3,
    database_url: str | None = None,
    reuse: bool = False,
    extra: dict[str, str] | None = None,
    only: Collection[str] = (),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Seed a store (a temporary SQLite file unless `database_url` names one) and time the console on it.
    With `reuse`, a store that already holds contracts is timed as it is (no seeding)."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    say = progress or (lambda message: None)
    work = None
    if database_url is None:
        work = Path(tempfile.mkdtemp(prefix="renewals-bench-admin-"))
        database_url = f"sqlite:///{work / 'renewals.db'}"
    backend = make_url(database_url).get_backend_name()
    try:
        migrate.upgrade(database_url)
        seeded = _contract_count(database_url)
        seed_seconds = None
        rows: dict[str, int] = {}
        if seeded and not reuse:
            raise RuntimeError("the store already holds contracts: pass --reuse to time it as it is, or an empty one")
        if not seeded:
            say(f"seeding {contracts} contracts and {events} events ...")
            started = time.perf_counter()
            rows = seed_store(database_url, contracts=contracts, events=events)
            seed_seconds = round(time.perf_counter() - started, 1)
            say(f"seeded in {seed_seconds} s")
        with _redis() as redis_url:
            say("timing pages ...")
            figures = time_pages(database_url, redis_url, repeat=repeat, extra=extra, only=only)
        contracts_now, events_now = _store_size(database_url)
        return {
            **figures,
            "contracts": contracts_now,
            "events": events_now,
            "seed_seconds": seed_seconds,
            "seeded_rows": rows,
            "repeat": repeat,
            "database": backend,
        }
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def _contract_count(database_url: str) -> int:
    return _store_size(database_url)[0]


def _store_size(database_url: str) -> tuple[int, int]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            contracts = connection.scalar(select(func.count()).select_from(models.Contract.__table__)) or 0
            events = connection.scalar(select(func.count()).select_from(models.EmailEvent.__table__)) or 0
            connection.rollback()
    finally:
        engine.dispose()
    return contracts, events
