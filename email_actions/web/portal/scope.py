"""What one portal session may see, and the checks that keep it there.

Opening an email link (:func:`open_scope`) verifies the token, records the click (the only write a GET makes)
and opens a session of its kind: the customer portal's and the rep portal's each live in a cookie of their own
(:mod:`email_actions.web.session_cookies`), beside the admin console's, so opening one never ends another. The
cookie holds which email opened it, when, and when it was last used; opening a link replaces the session of its
kind (one email's scope at a time). A session lapses after ``RENEWALS_PORTAL_IDLE_MINUTES`` (the rep's:
``RENEWALS_REP_IDLE_MINUTES``) without a request and ``RENEWALS_PORTAL_MAX_HOURS`` (``RENEWALS_REP_MAX_HOURS``)
after its link was opened; :func:`current_scope` then raises :class:`NoScope` (the "use the link in your email"
page).

**The scope is decided from the recipient** (the email's contact, or its rep), never from the contract alone,
afresh on every request (so a contact moved to another account in Salesforce sees what the new account may):

- a contact of the contract's own account sees every contract of that account;
- a contact of another account (a reseller's or distributor's buyer, the quote's contact at another company)
  sees only that customer's contracts sold through their account (``reseller_account_id``), never the
  customer's direct deals or other resellers' deals; a decision where the issue is silent: only of the customer
  the email was about, not the reseller's deals with other customers, which that email never concerned;
- a customer email with no contact, or a contact with no account, opens no portal (the recipient, and so what
  they may see, is unknown);
- a rep sees the contracts they own at the email's account, and a partner rep (one with a reseller account)
  only those sold through their reseller.

**A rep signs in before anything is shown** (issue 14): a rep link in an email is a bearer credential that a
quoted reply or a forward hands to someone else, so opening it only records the click and remembers which email
it was (``wanted``), then sends the browser to the sign-in (Sign in with Salesforce, or a code emailed to the
rep's address on file: :mod:`email_actions.web.portal.rep_access`). A rep page, read or write, needs a session
whose ``signed_in`` rep is the email's rep; a browser already signed in as that rep goes straight to the portal.
The absolute limit of a rep session runs from the sign-in. Decision where the issue is silent: no read-only list
before the sign-in either, since a reseller's buyer quoted a direct rep's reply would see that rep's direct deals
at their customer.

Every contract id is looked up together with the scope, never on its own: a contract outside it is the same
:class:`NotInScope` (404) as one that does not exist. The email's own action links (Renew, Contact rep, the
quote download) act only on the contract that email was about, which its recipient was sent.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

from flask import current_app, redirect, session
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response

from config.settings import Settings
from email_actions.mail.brands import Brand
from email_actions.mail.links import Purpose
from email_actions.mail.rendering.formatting import Formatter, formatter
from email_actions.web.act.link_events import record_page_view
from email_actions.web.session_cookies import CUSTOMER_KEY, REP_KEY
from email_actions.web.token_pages import brand_of, open_link
from sync_service.store import models
from sync_service.store.db import current_session

SCOPE_KEY = CUSTOMER_KEY
CUSTOMER = "customer"
REP = "rep"
KEYS = {CUSTOMER: CUSTOMER_KEY, REP: REP_KEY}
# The idle clock in the cookie is moved on at most this often (seconds): not every request rewrites it.
SEEN_GRANULARITY = 30


class NoScope(Exception):
    """No (or no longer a) portal session of the kind the page needs."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"no {kind} portal session")


class SignInRequired(NoScope):
    """A rep page asked for without a signed-in rep (the rep link alone opens nothing): the sign-in page."""

    def __init__(self) -> None:
        super().__init__(REP)


class NotInScope(LookupError):
    """A contract that does not exist, or is outside the session's scope: one 404 for both."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        super().__init__("no such contract in this portal")


@dataclass(frozen=True)
class Scope:
    """What one portal session may see: one customer account's contracts, only those sold through
    `reseller_account_id` when it is set, and for a rep only that rep's; `session_id` names the session."""

    kind: str
    account_id: int
    reseller_account_id: int | None
    message: models.EmailMessage
    brand: Brand
    rep: models.Rep | None
    session_id: str
    signed_in_via: str | None = None  # a rep's: how they signed in ("salesforce" or "code")

    @property
    def fmt(self) -> Formatter:
        contact = self.message.contact or self.message.contract.contact
        return formatter(self.message.locale or (contact.locale if contact is not None else None) or "en_US")

    @property
    def actor(self) -> str:
        assert self.rep is not None
        return f"rep:{self.rep.sf_id}"


def _limits(kind: str) -> tuple[float, float]:
    """The kind's idle and absolute limits in seconds, from its own settings."""
    settings = cast(Settings, current_app.extensions["renewals.settings"])
    if kind == REP:
        return settings.rep_idle_minutes * 60.0, settings.rep_max_hours * 3600.0
    return settings.portal_idle_minutes * 60.0, settings.portal_max_hours * 3600.0


def recipient_scope(message: models.EmailMessage, kind: str) -> tuple[int, int | None, models.Rep | None]:
    """(customer account, reseller account or None, rep) that the email's recipient may see; NoScope if none."""
    contract = message.contract
    if kind == REP:
        rep = message.rep or contract.rep
        if rep is None or not rep.is_active:
            raise NoScope(kind)
        return contract.account_id, rep.reseller_account_id, rep
    contact = message.contact
    if contact is None or contact.account_id is None:
        raise NoScope(kind)
    if contact.account_id == contract.account_id:
        return contract.account_id, None, None
    return contract.account_id, contact.account_id, None


def open_scope(purpose: Purpose, token: str, kind: str) -> Response:
    """Verify the link, record the click, and open the kind's session for the email's recipient (a rep's only
    when this browser is signed in as that rep; otherwise the rep is sent to the sign-in)."""
    db = current_session()
    opened = open_link(purpose, token)
    message = opened.message
    _, _, rep = recipient_scope(message, kind)  # a recipient who may see nothing gets the "use your link" page
    record_page_view(db, message, purpose=purpose)  # read, then a short write transaction
    session.permanent = True
    now = int(time.time())
    if kind == REP:
        assert rep is not None
        raw = session.get(REP_KEY)
        signed_in = _signed_in(raw if isinstance(raw, dict) else {}, rep.id, now)
        if signed_in is None:
            session[REP_KEY] = {"wanted": {"email_message_id": message.id, "at": now}}
            return redirect("/rep/sign-in", code=303)
        assert isinstance(raw, dict)
        session[REP_KEY] = {**raw, "email_message_id": message.id, "seen": now}
        return redirect("/rep", code=303)
    session[KEYS[kind]] = {
        "kind": kind,
        "email_message_id": message.id,
        "opened_at": now,
        "seen": now,
        "sid": secrets.token_urlsafe(12),
    }
    return redirect("/portal", code=303)


def _signed_in(raw: dict[str, Any], rep_id: int, now: float) -> dict[str, Any] | None:
    """The browser's rep sign-in if it is `rep_id`'s and within the rep limits (idle, absolute from the sign-in)."""
    signed_in, opened_at, seen = raw.get("signed_in"), raw.get("opened_at"), raw.get("seen")
    if raw.get("kind") != REP or not isinstance(signed_in, dict) or signed_in.get("rep_id") != rep_id:
        return None
    if not isinstance(opened_at, int) or not isinstance(seen, int) or not isinstance(raw.get("sid"), str):
        return None
    idle, absolute = _limits(REP)
    if not (0 <= now - opened_at <= absolute and now - seen <= idle):
        return None
    return signed_in


def open_rep_session(message: models.EmailMessage, signed_in: dict[str, Any]) -> None:
    """Start a signed-in rep session scoped to `message` (a new session id; whatever the cookie held goes)."""
    now = int(time.time())
    session.permanent = True
    session[REP_KEY] = {
        "kind": REP,
        "email_message_id": message.id,
        "opened_at": now,
        "seen": now,
        "sid": secrets.token_urlsafe(12),
        "signed_in": {**signed_in, "at": now},
    }


def wanted_message(db: Session) -> models.EmailMessage | None:
    """The email whose rep link this browser opened before signing in, if any."""
    raw = session.get(REP_KEY)
    wanted = raw.get("wanted") if isinstance(raw, dict) else None
    message_id = wanted.get("email_message_id") if isinstance(wanted, dict) else None
    return db.get(models.EmailMessage, message_id) if isinstance(message_id, int) else None


def current_scope(kind: str) -> Scope:
    """The session's scope if it is of `kind` and still valid; otherwise NoScope (the "use your link" page), or
    for a rep SignInRequired (the sign-in page)."""
    key = KEYS[kind]
    raw = session.get(key)
    missing: NoScope = SignInRequired() if kind == REP else NoScope(kind)
    if not isinstance(raw, dict) or raw.get("kind") != kind:
        raise missing
    message_id, opened_at, seen, sid = (raw.get(name) for name in ("email_message_id", "opened_at", "seen", "sid"))
    if not all(isinstance(value, int) for value in (message_id, opened_at, seen)) or not isinstance(sid, str):
        raise missing
    assert isinstance(message_id, int) and isinstance(opened_at, int) and isinstance(seen, int)
    idle, absolute = _limits(kind)
    now = time.time()
    if not (0 <= now - opened_at <= absolute and now - seen <= idle):
        session.pop(key, None)
        raise missing
    message = current_session().get(models.EmailMessage, message_id)
    if message is None:
        raise missing
    account_id, reseller_account_id, rep = recipient_scope(message, kind)
    via = None
    if kind == REP:
        assert rep is not None
        signed_in = _signed_in(raw, rep.id, now)
        if signed_in is None:
            raise missing
        via = str(signed_in.get("via"))
    if now - seen > SEEN_GRANULARITY:
        session[key] = {**raw, "seen": int(now)}
    return Scope(kind, account_id, reseller_account_id, message, brand_of(message), rep, sid, via)


def _contracts_query(scope: Scope) -> Select[models.Contract]:
    query = (
        select(models.Contract)
        .where(models.Contract.account_id == scope.account_id, models.Contract.is_deleted.is_(False))
        .options(
            selectinload(models.Contract.quotes).selectinload(models.RenewalQuote.lines),
            selectinload(models.Contract.quotes).selectinload(models.RenewalQuote.documents),
            selectinload(models.Contract.account),
        )
    )
    if scope.reseller_account_id is not None:
        query = query.where(models.Contract.reseller_account_id == scope.reseller_account_id)
    if scope.kind == REP:
        assert scope.rep is not None
        query = query.where(models.Contract.rep_id == scope.rep.id)
    return query


def contracts_in_scope(db: Session, scope: Scope) -> list[models.Contract]:
    return list(db.scalars(_contracts_query(scope)))


def contract_in_scope(db: Session, scope: Scope, contract_id: int, *, for_update: bool = False) -> models.Contract:
    """The contract if the scope may see it; NotInScope (404) otherwise, whatever the reason."""
    query = _contracts_query(scope).where(models.Contract.id == contract_id)
    if for_update:
        query = query.with_for_update(of=models.Contract)
    contract = db.scalars(query).first()
    if contract is None:
        raise NotInScope(scope)
    return contract
