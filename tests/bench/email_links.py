"""`renewals bench email-links` (issue 14, who may act): the number of email links that can change state without a
sign-in, other than the customer's own Renew (after its confirm POST), Contact rep and unsubscribe. Target: 0.

**The emails.** A Salesforce CPQ stand-in org is pulled into a SQLite store through the shipped preset. For one
contract the customer can renew (a contact and an active rep with addresses, a live quote with a PDF), one email
of every kind the product sends (``models.EMAIL_KINDS``, read when the bench runs) is queued the way the product
queues it: the reminder and the rep's notice by ``queue_due`` from a planned reminder due today; the confirmation
and the renewal-refused notice by ``queue_customer_email``; the contact-request notice as the Contact POST makes it;
a kind added later, as a customer email without extras. ``EmailSender`` sends them all to moto's SES, and the bench
reads back what SES received (the raw MIME, by its ``X-Renewals-Email`` header).

**The links.** Every URL on our host in an email: ``href`` and ``src`` in the HTML part (the pixel and the logo
are fetched by mail clients too), URLs in the text part, and the ``List-Unsubscribe`` header. One URL found in
several places is one link (its places are listed). Links to other hosts (``mailto:``, the brand's site) are
counted, not tried: they are not ours.

**Trying a link**, always from the store as it was after sending (restored before every step) and in a fresh
client (no cookies: someone who got the link in a forwarded email or a quoted reply):

1. GET it, following redirects on our host (a redirect elsewhere, e.g. to Salesforce's login, stops there), then
   GET every same-origin link (``<a href>``) of the pages reached, two levels deep: the pages anyone holding the
   link can open.
2. For every same-origin form of every page reached: restore the store, GET the page again (fresh CSRF and form
   tokens), submit the form with its prefilled values (and its first named submit button), then once more with
   plausible changed values if it has fields a person fills in (every checkbox ticked, a different choice of each
   select, ``-100`` in a percentage, ``1`` in an amount, words in text). Forms on the answer's page are submitted
   in turn (prefilled, two levels: "the total changed, confirm the new amount"). A ``List-Unsubscribe`` URL also
   gets its RFC 8058 one-click POST, as a mail client sends it.

**State** is a snapshot of every store table before and after each step, except what a GET of an email link may
write or what is no business state: ``email_events`` (click, open and download records) and the "opened" /
"downloaded" Task rows those records put in ``outbox_items``; the Salesforce API bookkeeping (``api_usage``,
``sync_runs``, ``sync_state``, ``sns_messages``); and sign-in artefacts (``rep_sign_in_codes``, ``admin_sessions``:
asking for a sign-in code is how a rep signs in, not an act on a contract). The stand-in org's request log adds the
writes it served during the step (none expected: no push runs).

**Allowed** changes are those made by the POST of the customer's own Renew (``/a/renew/<token>``, and the customer
portal's ``/portal/contracts/<id>/renew``, which is the same Renew with the same confirm page, reached from the
customer's own Review link), Contact rep (``/a/contact/<token>``) or unsubscribe (``/u/<token>``), and only from a
link of an email to the customer (not the rep's ``rep_notice`` and ``contact_request``). A link "changes state" if
any of its steps changed the snapshot; it is *not allowed* if any of those steps is not an allowed action. The
figure is the number of not-allowed links; the baseline beside it, the links tried.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_string, policy
from email.message import EmailMessage as MimeMessage
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import lxml.html
import requests
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from config.settings import Settings, load_settings
from email_actions.mail.links import LINKS
from email_actions.mail.rendering.context import REP_KINDS
from email_actions.mail.sending.pipeline import EmailSender, queue_due
from email_actions.web.app import create_app
from sync_service.outbox.record import event_key
from sync_service.outbox.writeback import live_quote
from sync_service.renewability import active_rules, refusal
from sync_service.renewal import queue_customer_email
from sync_service.store import models
from sync_service.store.db import make_engine
from sync_service.store.models import new_nonce, utcnow
from tests.bench.devorg import pulled_store
from tests.processes import RestartableRedis, moto_server, verify_brand_senders
from tests.standin_org import RunningOrg, start_org

TARGET = 0
ORG_CONTRACTS = 30
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
# Tables left out of the state snapshot (see the module docstring).
NOT_STATE = {
    "email_events": "click, open and download records: what a GET of an email link may write",
    "link_hits": "the raw hits a GET of an email link appends, before they become email_events",
    "api_usage": "Salesforce API call counters",
    "sync_runs": "pull bookkeeping",
    "sync_state": "pull bookkeeping",
    "sns_messages": "SES notification bookkeeping",
    "rep_sign_in_codes": "sign-in artefact: a code sent to the rep's own address",
    "admin_sessions": "sign-in artefact",
}
EVIDENCE_ACTIVITIES = ("opened", "downloaded")
# The POSTs whose changes are the customer's own one-click actions (paths with tokens and ids generalised).
ALLOWED_ACTIONS = {
    ("POST", "/a/renew/<token>"): "renew",
    ("POST", "/portal/contracts/<id>/renew"): "renew from the portal",
    ("POST", "/a/contact/<token>"): "contact rep",
    ("POST", "/u/<token>"): "unsubscribe",
}
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"')\]]+")
CRAWL_DEPTH = 2
FORM_CHAIN = 2
MAX_PAGES = 60
REDIRECTS = 10
TEXT_VALUE = "Changed by the email-links bench"
T = TypeVar("T")


# --- the emails -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    settings: Settings
    database: Path
    emails: dict[int, str]  # email id → kind
    other_kinds: tuple[str, ...]  # kinds queued without a known recipe (added after this bench)


def _emailable_contract(session: Session) -> models.Contract:
    today = utcnow().date()
    rules = active_rules(session)
    for contract in session.scalars(
        select(models.Contract)
        .where(models.Contract.is_cancelled.is_(False), models.Contract.is_deleted.is_(False))
        .order_by(models.Contract.id)
    ):
        contact, rep = contract.contact, contract.rep
        quote = live_quote(session, contract)
        if (
            contact is not None
            and contact.email
            and not contact.email_opted_out
            and rep is not None
            and rep.is_active
            and rep.email
            and quote is not None
            and (quote.primary_document_sf_id or quote.documents)
            and contract.renewed_at is None
            and not contract.is_held
            and refusal(contract, quote, rules, today=today) is None
        ):
            return contract
    raise RuntimeError("the stand-in org has no contract a customer can renew from an email now")


def _queue_every_kind(session: Session, contract: models.Contract) -> tuple[str, ...]:
    """One queued email of every kind about `contract`, each made the way the product makes it; returns the kinds
    queued without a recipe of their own."""
    today = utcnow().date()
    session.add(models.Reminder(contract=contract, offset_days=-30, due_on=today, status="planned", segment="default"))
    session.flush()
    queue_due(session, today=today)  # the reminder and the rep's notice
    queue_customer_email(
        session,
        contract,
        key=f"confirmation:bench:{contract.id}",
        kind="confirmation",
        contact_id=contract.contact_id,
        data={"purchase_order": "PO-4711"},
    )
    queue_customer_email(
        session,
        contract,
        key=f"renewal_refused:bench:{contract.id}",
        kind="renewal_refused",
        contact_id=contract.contact_id,
        data={"reason": "Your renewal quote changed in the meantime; please review the updated quote."},
    )
    # As the Contact POST queues it (email_actions.web.act.actions._record_contact_request).
    session.add(
        models.EmailMessage(
            key=f"contact_request:bench:{contract.id}",
            kind="contact_request",
            contract_id=contract.id,
            contact_id=contract.contact_id,
            rep_id=contract.rep_id,
            nonce=new_nonce(),
            status="queued",
            data={"message": "Can we talk about the price?", "preferred_time": "mornings", "channel": "Phone"},
        )
    )
    known = {"reminder", "rep_notice", "confirmation", "renewal_refused", "contact_request"}
    others = tuple(kind for kind in models.EMAIL_KINDS if kind not in known)
    for kind in others:
        queue_customer_email(
            session, contract, key=f"{kind}:bench:{contract.id}", kind=kind, contact_id=contract.contact_id, data={}
        )
    return others


def _sent_mime(ses_url: str, ids: set[int]) -> dict[int, MimeMessage]:
    """What SES received for the emails `ids`, by email id (from the ``X-Renewals-Email`` header)."""
    data = requests.get(f"{ses_url}/moto-api/data.json", timeout=30).json()
    found: dict[int, MimeMessage] = {}
    for raw in data.get("ses", {}).get("RawMessage", []):
        mime = message_from_string(raw["raw_data"], policy=policy.default)
        assert isinstance(mime, MimeMessage)
        _, _, number = str(mime.get("X-Renewals-Email", "")).rpartition("-")
        if number.isdigit() and int(number) in ids:
            found[int(number)] = mime
    return found


# --- the links ------------------------------------------------------------------------------------------------


@dataclass
class Link:
    email_id: int
    kind: str
    url: str
    sources: list[str] = field(default_factory=list)

    @property
    def purpose(self) -> str:
        return _purpose(self.url)


def _purpose(url: str) -> str:
    """The link's purpose (its token's), ``logo`` for the brand's logo, else its path."""
    path = urlsplit(url).path
    for kind in LINKS.values():
        if path.startswith(kind.path):
            return kind.purpose
    return "logo" if path.startswith("/brand/") else general_path(path)


def links_of(mime: MimeMessage, email_id: int, kind: str, base_url: str) -> tuple[list[Link], int]:
    """The email's links on our host, each once with the places it is in, and how many other URLs it has."""
    found: dict[str, Link] = {}
    others = 0

    def add(url: str, source: str) -> None:
        nonlocal others
        url = url.strip()
        if not url or url.startswith("#"):
            return
        if not same_origin(url, base_url):
            others += 1
            return
        # One link per purpose of the email: the List-Unsubscribe URL is signed apart from the body's and differs
        # from it only when the second ticked between the two signatures.
        link = found.setdefault(_purpose(url), Link(email_id, kind, url))
        if source not in link.sources:
            link.sources.append(source)

    for part in mime.walk():
        if part.get_content_type() == "text/html":
            doc = lxml.html.fromstring(part.get_content())
            for element in doc.iter("a", "area"):
                add(element.get("href") or "", "html href")
            for element in doc.iter("img"):
                add(element.get("src") or "", "html src")
        elif part.get_content_type() == "text/plain":
            for url in URL_IN_TEXT.findall(part.get_content()):
                add(url.rstrip(".,;:!?"), "text")
    header = str(mime.get("List-Unsubscribe", ""))
    for url in re.findall(r"<([^>]+)>", header):
        add(url, "List-Unsubscribe")
    return list(found.values()), others


def same_origin(url: str, base_url: str) -> bool:
    parts, base = urlsplit(url), urlsplit(base_url)
    if not parts.scheme and not parts.netloc:
        return url.startswith("/")
    return (parts.scheme, parts.netloc) == (base.scheme, base.netloc)


def general_path(path: str) -> str:
    """A path with its tokens and ids generalised: ``/rep/contracts/<id>/hold``, ``/a/renew/<token>``."""
    segments = []
    for segment in path.split("/"):
        if segment.isdigit():
            segment = "<id>"
        elif len(segment) >= 20:
            segment = "<token>" + (".gif" if segment.endswith(".gif") else "")
        segments.append(segment)
    return "/".join(segments)


# --- state ----------------------------------------------------------------------------------------------------


class Store:
    """The scene's SQLite store: snapshots of its state tables, and restoring it as it was after sending."""

    def __init__(self, app: Flask, database: Path, redis: Redis, org: RunningOrg) -> None:
        self.app = app
        self.database = database
        self.pristine = database.with_name("pristine.db")
        self.redis = redis
        self.org = org
        self.engine: Engine = make_engine(f"sqlite:///{database}")
        self._dispose()
        with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(self.pristine)) as target:
            source.backup(target)
        with closing(self.engine.connect()) as connection:
            ids = connection.scalars(select(models.EmailMessage.id)).all()
        self.evidence = {event_key(activity, email_id) for email_id in ids for activity in EVIDENCE_ACTIVITIES}
        self.tables = [table.name for table in models.Base.metadata.sorted_tables if table.name not in NOT_STATE]
        self.restores = 0

    def _dispose(self) -> None:
        self.app.extensions["renewals.database"].dispose()
        self.engine.dispose()

    def restore(self) -> None:
        """The store as it was after sending, and empty rate-limit counters (each step starts from the same place)."""
        self._dispose()
        with closing(sqlite3.connect(self.pristine)) as source, closing(sqlite3.connect(self.database)) as target:
            source.backup(target)
        self.redis.flushdb()
        self.restores += 1

    def snapshot(self) -> dict[str, int]:
        """A digest of each state table's rows (read with sqlite3 directly: this runs around every step)."""
        tables: dict[str, int] = {}
        with closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)) as connection:
            for name in self.tables:
                cursor = connection.execute(f'SELECT * FROM "{name}"')  # the models' own table names
                rows = cursor.fetchall()
                if name == "outbox_items":
                    key = [column[0] for column in cursor.description].index("key")
                    rows = [row for row in rows if row[key] not in self.evidence]
                tables[name] = hash(frozenset(rows))
        return tables

    def org_writes_since(self, since: float) -> list[str]:
        return [
            f"{entry['method']} {general_path(entry['path'])}"
            for entry in self.org.requests_since(since)
            if entry["method"] not in ("GET", "HEAD")
            and not entry["path"].startswith(("/services/oauth2/", "/services/Soap/", "/_devorg"))
        ]


def changed_tables(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


# --- a browser without cookies --------------------------------------------------------------------------------


@dataclass
class Page:
    url: str
    html: str | None  # None: not an HTML page (a PDF, the pixel)
    redirected: bool = False  # reached through a redirect (a POST's answer: the page it sends the browser to)


@dataclass
class Step:
    """One thing done with a link and what it changed."""

    via: str  # "GET pages" or "POST /rep/contracts/<id>/hold (changed values)"
    tables: list[str]
    org_writes: list[str]
    action: str | None  # the allowed action it is, if it is one

    @property
    def changed(self) -> bool:
        return bool(self.tables or self.org_writes)


@dataclass
class Form:
    method: str
    action: str  # absolute URL
    values: list[tuple[str, str]]
    changed: list[tuple[str, str]] | None  # plausible changed values, None without fields to fill in
    label: str


class Browser:
    """A fresh Flask test client on the public URL: follows redirects on our host only."""

    def __init__(self, app: Flask, base_url: str) -> None:
        self.client: FlaskClient = app.test_client()
        self.base_url = base_url
        self.requests = 0

    def _send(self, method: str, url: str, **kwargs: Any) -> TestResponse:
        self.requests += 1
        return self.client.open(urljoin(self.base_url, url), method=method, **kwargs)

    def go(self, method: str, url: str, **kwargs: Any) -> Page:
        first = url = urljoin(self.base_url, url)
        response = self._send(method, url, **kwargs)
        for _ in range(REDIRECTS):
            location = response.headers.get("Location")
            if response.status_code not in (301, 302, 303, 307, 308) or not location:
                break
            url = urljoin(url, location)
            if not same_origin(url, self.base_url):
                response.close()
                return Page(url, None, redirected=True)  # left our host (e.g. for Salesforce's login): not followed
            response.close()
            response = self._send("GET", url)
        html = None
        if response.mimetype == "text/html":
            html = response.get_data(as_text=True)
        response.close()
        return Page(url, html, redirected=url != first)


def page_links(page: Page, base_url: str) -> list[str]:
    if not page.html:
        return []
    doc = lxml.html.fromstring(page.html)
    found = []
    for element in doc.iter("a"):
        href = (element.get("href") or "").strip()
        if not href or href.startswith("#"):
            continue
        url = urljoin(page.url, href).split("#", 1)[0]
        if same_origin(url, base_url) and not urlsplit(url).path.startswith(("/brand/", "/static/")):
            found.append(url)
    return found


def _changed_value(element: Any) -> str | None:
    """A plausible value a person could type into the field, different from its own; None for fields not typed."""
    name = (element.get("name") or "").lower()
    kind = (element.get("type") or "text").lower()
    if element.tag == "textarea":
        return TEXT_VALUE
    if kind not in ("text", "number", "email", "tel", "search", "url"):
        return None
    if "pct" in name or "percent" in name or "adjust" in name:
        return "-100"
    if any(word in name for word in ("price", "amount", "override", "total")):
        return "1"
    if kind == "email":
        return "someone.else@example.com"
    return TEXT_VALUE[:20] if "order" in name else TEXT_VALUE


def _buttons(form: Any) -> list[Any]:
    """The form's named submit buttons."""
    buttons = []
    for element in form.iter("button", "input"):
        kind = (element.get("type") or ("submit" if element.tag == "button" else "text")).lower()
        if element.get("name") and kind == "submit":
            buttons.append(element)
    return buttons


def _filled(form: Any) -> list[tuple[str, str]] | None:
    """The form's values as a person might change them, or None when it has nothing to fill in."""
    values: list[tuple[str, str]] = []
    fillable = False
    radios: dict[str, str] = {}
    for element in form.iter("input", "textarea", "select"):
        name = element.get("name")
        if not name:
            continue
        kind = (element.get("type") or "text").lower()
        if element.tag == "select":
            options = [option.get("value", option.text or "") for option in element.iter("option")]
            chosen = [o.get("value", o.text or "") for o in element.iter("option") if o.get("selected") is not None]
            others = [option for option in options if option not in chosen]
            if others:
                values.append((name, others[0]))
                fillable = True
            elif chosen:
                values.append((name, chosen[0]))
        elif kind == "checkbox":
            values.append((name, element.get("value") or "on"))
            fillable = True
        elif kind == "radio":
            if element.get("checked") is None or name not in radios:
                fillable = fillable or element.get("checked") is None
                radios[name] = element.get("value") or "on"
        elif kind in ("submit", "button", "reset", "image", "file"):
            continue
        else:
            typed = None if kind == "hidden" else _changed_value(element)
            if typed is None:
                values.append((name, element.get("value") or element.text or ""))
            else:
                values.append((name, typed))
                fillable = True
    values.extend(radios.items())
    return values if fillable else None


def forms_of(page: Page, base_url: str) -> list[Form]:
    """The page's same-origin forms: their prefilled values and plausible changed ones."""
    if not page.html:
        return []
    doc = lxml.html.fromstring(page.html)
    forms = []
    for form in doc.forms:
        action = urljoin(page.url, form.get("action") or page.url).split("#", 1)[0]
        if not same_origin(action, base_url):
            continue
        method = (form.get("method") or "GET").upper()
        values = list(form.form_values())
        changed = _filled(form)
        buttons = _buttons(form)
        if buttons:
            pressed = (str(buttons[0].get("name")), buttons[0].get("value") or "")
            values.append(pressed)
            if changed is not None:
                changed.append(pressed)
        forms.append(Form(method, action, values, changed, f"{method} {general_path(urlsplit(action).path)}"))
    return forms


# --- trying one link ------------------------------------------------------------------------------------------


@dataclass
class Tried:
    link: Link
    steps: list[Step]
    pages: list[str]  # the pages reached by GET, paths generalised
    forms: int
    requests: int

    @property
    def changing(self) -> list[Step]:
        return [step for step in self.steps if step.changed]

    @property
    def allowed(self) -> bool:
        return all(step.action is not None for step in self.changing)


def _action(link: Link, method: str, url: str) -> str | None:
    """The allowed action a request is: only the customer's own, from an email to the customer."""
    if link.kind in REP_KINDS:
        return None
    return ALLOWED_ACTIONS.get((method, general_path(urlsplit(url).path)))


def _crawl(browser: Browser, url: str, base_url: str) -> list[Page]:
    """The link's landing page and the same-origin pages it leads to, `CRAWL_DEPTH` levels deep."""
    first = browser.go("GET", url)
    pages, seen = [first], {url, first.url}
    level = [first]
    for _ in range(CRAWL_DEPTH):
        following = []
        for page in level:
            for target in page_links(page, base_url):
                if target in seen or len(seen) >= MAX_PAGES:
                    continue
                seen.add(target)
                reached = browser.go("GET", target)
                if reached.url not in seen or reached.url == target:
                    seen.add(reached.url)
                    following.append(reached)
        pages.extend(following)
        level = following
    return pages


class Attempt:
    """Trying one link: its steps, each measured against the store (and the org's request log)."""

    def __init__(self, link: Link, app: Flask, store: Store, base_url: str) -> None:
        self.link, self.app, self.store, self.base_url = link, app, store, base_url
        self.steps: list[Step] = []
        self.submitted = 0
        self.requests = 0

    def measured(self, via: str, action: str | None, do: Callable[[], T]) -> T:
        before, since = self.store.snapshot(), time.time()
        result = do()
        self.steps.append(
            Step(via, changed_tables(before, self.store.snapshot()), self.store.org_writes_since(since), action)
        )
        return result

    def submit(self, browser: Browser, form: Form, values: list[tuple[str, str]], page: Page, variant: str) -> bool:
        """Submit `form` of `page`; then, as a person told "confirm again" would, the same form on the answer when
        the POST answered with a page of its own. Whether anything changed."""
        steps = len(self.steps)
        for depth in range(FORM_CHAIN):
            headers = {"Referer": page.url}
            fields = MultiDict(values)
            if form.method == "GET":
                send = partial(browser.go, "GET", form.action, query_string=fields, headers=headers)
            else:
                send = partial(browser.go, form.method, form.action, data=fields, headers=headers)
            self.submitted += 1
            label = f"{form.label} ({variant}{', on the answer' if depth else ''})"
            answer = self.measured(label, _action(self.link, form.method, form.action), send)
            again = [f for f in forms_of(answer, self.base_url) if (f.action, f.method) == (form.action, form.method)]
            if answer.redirected or not again:
                break
            form, values, page = again[0], again[0].values, answer
        return any(step.changed for step in self.steps[steps:])

    def run(self) -> Tried:
        self.store.restore()
        browser = Browser(self.app, self.base_url)
        pages = self.measured("GET pages", None, partial(_crawl, browser, self.link.url, self.base_url))
        # One change per kind of form and variant shows the link can make it: the same form of the next contract
        # of the page is not submitted once one did (until one does, each is).
        shown: set[tuple[str, str]] = set()
        for page in pages:
            for index, form in enumerate(forms_of(page, self.base_url)):
                for variant in ("prefilled values", "changed values"):
                    if (form.label, variant) in shown or (variant == "changed values" and form.changed is None):
                        continue
                    self.store.restore()
                    fresh = browser.go("GET", page.url)  # fresh CSRF and form tokens, on the restored store
                    forms = forms_of(fresh, self.base_url)
                    if index >= len(forms) or forms[index].label != form.label:
                        continue
                    now = forms[index]
                    values = now.values if variant == "prefilled values" else now.changed
                    if values is not None and self.submit(browser, now, values, fresh, variant):
                        shown.add((form.label, variant))
        self.requests += browser.requests
        if "List-Unsubscribe" in self.link.sources:
            # RFC 8058: the mail client's one-click POST, no cookies, no page first.
            self.store.restore()
            one_click = Browser(self.app, self.base_url)
            self.submitted += 1
            self.measured(
                f"POST {general_path(urlsplit(self.link.url).path)} (RFC 8058 one-click)",
                _action(self.link, "POST", self.link.url),
                partial(one_click.go, "POST", self.link.url, data={"List-Unsubscribe": "One-Click"}),
            )
            self.requests += one_click.requests
        return Tried(
            self.link, self.steps, [general_path(urlsplit(p.url).path) for p in pages], self.submitted, self.requests
        )


# --- the figures ----------------------------------------------------------------------------------------------


def _describe(tried: Tried) -> dict[str, Any]:
    return {
        "email": tried.link.kind,
        "purpose": tried.link.purpose,
        "path": general_path(urlsplit(tried.link.url).path),
        "found_in": tried.link.sources,
        "pages": tried.pages,
        "forms_submitted": tried.forms,
        "changes": [
            {"via": step.via, "tables": step.tables, "org_writes": step.org_writes, "allowed_action": step.action}
            for step in tried.changing
        ],
    }


def measure(scene: Scene, org: RunningOrg, redis: Redis, ses_url: str) -> dict[str, Any]:
    mimes = _sent_mime(ses_url, set(scene.emails))
    missing = sorted(kind for email_id, kind in scene.emails.items() if email_id not in mimes)
    base_url = scene.settings.public_base_url
    links: list[Link] = []
    elsewhere = 0
    for email_id, mime in sorted(mimes.items()):
        found, others = links_of(mime, email_id, scene.emails[email_id], base_url)
        links.extend(found)
        elsewhere += others
    app = create_app(scene.settings)
    store = Store(app, scene.database, redis, org)
    try:
        tried = [Attempt(link, app, store, base_url).run() for link in links]
    finally:
        app.extensions["renewals.database"].dispose()
        store.engine.dispose()
    changing = [t for t in tried if t.changing]
    allowed = [t for t in changing if t.allowed]
    not_allowed = [t for t in changing if not t.allowed]
    per_kind: dict[str, dict[str, int]] = {}
    for link in links:
        per_kind.setdefault(link.kind, {})
        per_kind[link.kind][link.purpose] = per_kind[link.kind].get(link.purpose, 0) + 1
    return {
        "emails": dict(Counter(scene.emails.values())),
        "emails_not_received": missing,
        "kinds_without_recipe": list(scene.other_kinds),
        "links_found": per_kind,
        "links_to_other_hosts": elsewhere,
        "links_tried": len(tried),
        "pages_opened": sum(len(t.pages) for t in tried),
        "forms_submitted": sum(t.forms for t in tried),
        "requests": sum(t.requests for t in tried),
        "links_changing_state": len(changing),
        "allowed": sorted(
            (
                {
                    "email": t.link.kind,
                    "purpose": t.link.purpose,
                    "actions": sorted({step.action for step in t.changing if step.action}),
                }
                for t in allowed
            ),
            key=lambda entry: (str(entry["email"]), str(entry["purpose"])),
        ),
        "allowed_actions": sorted({s.action for t in allowed for s in t.changing if s.action}),
        "not_allowed": [_describe(t) for t in not_allowed],
        "not_allowed_links": len(not_allowed),
        "target_not_allowed_links": TARGET,
        "baseline_links_tried": len(tried),
    }


@dataclass
class Parts:
    """What the bench runs against, each started here unless given (a test passes its session's)."""

    org: RunningOrg | None = None
    redis_url: str | None = None
    ses_url: str | None = None


def scene_in(work: Path, org: RunningOrg, redis_url: str, ses_url: str) -> Scene:
    store = pulled_store(work, org, redis_url)
    try:
        settings = load_settings(
            {
                **store.environment,
                "RENEWALS_SES_ENDPOINT_URL": ses_url,
                # moto's account allows one email a second: the bench is not about sending.
                "RENEWALS_SES_MAX_SEND_RATE": "1000",
                "RENEWALS_SES_DAILY_QUOTA": "100000",
            }
        )
        sessions = sessionmaker(store.db.engine, expire_on_commit=False)
        with store.db.session_scope() as session:
            contract = _emailable_contract(session)
            others = _queue_every_kind(session, contract)
        with sessions() as session:
            queued = {
                email_id: kind
                for email_id, kind in session.execute(
                    select(models.EmailMessage.id, models.EmailMessage.kind).where(
                        models.EmailMessage.status == "queued"
                    )
                )
            }
        redis = Redis.from_url(redis_url)
        try:
            summary = EmailSender(sessions, settings, redis).send(sorted(queued))
        finally:
            redis.close()
        if summary.sent != len(queued):
            raise RuntimeError(f"the scene's emails were not all sent: {summary.as_dict()}")
        with store.db.session_scope() as session:
            # Sent two hours ago: the clicks that follow are a person's, not a scanner's on delivery.
            for message in session.scalars(select(models.EmailMessage)):
                if message.sent_at is not None:
                    message.sent_at -= timedelta(hours=2)
    finally:
        store.db.dispose()
    return Scene(settings, work / "renewals.db", queued, others)


def email_link_figures(parts: Parts | None = None) -> dict[str, Any]:
    parts = parts or Parts()
    with ExitStack() as stack:
        # The store is restored and read around every step: in memory where the machine has a tmpfs for it.
        shm = Path("/dev/shm")
        work = Path(tempfile.mkdtemp(prefix="renewals-bench-email-links-", dir=shm if shm.is_dir() else None))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        org = parts.org
        if org is None:
            org = start_org(work / "org", "--seed-contracts", str(ORG_CONTRACTS), "--flavour", "salesforce_cpq")
            stack.callback(org.stop)
        redis_url = parts.redis_url or stack.enter_context(RestartableRedis(work)).url
        ses_url = parts.ses_url
        if ses_url is None:
            for name, value in AWS_ENV.items():
                os.environ.setdefault(name, value)
            ses_url = stack.enter_context(moto_server())
            verify_brand_senders(ses_url)
        scene = scene_in(work, org, redis_url, ses_url)
        redis = Redis.from_url(redis_url)
        stack.callback(redis.close)
        return measure(scene, org, redis, ses_url)
    raise AssertionError("unreachable")


def allowed_lines(figures: dict[str, Any]) -> Iterator[str]:
    """One line per link whose changes were all the customer's own actions."""
    for entry in figures["allowed"]:
        yield f"{entry['email']} {entry['purpose']}: {', '.join(entry['actions'])}"


def not_allowed_lines(figures: dict[str, Any]) -> Iterator[str]:
    """One line per not-allowed change: the email, the link, the step and the tables it changed."""
    for entry in figures["not_allowed"]:
        for change in entry["changes"]:
            yield f"{entry['email']} {entry['purpose']}: {change['via']} → {', '.join(change['tables'])}"
