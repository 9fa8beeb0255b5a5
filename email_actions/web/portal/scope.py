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
from email_actions.web.act.link_events import record_event
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
    """Verify the link, record the click, and open the kind's session for the email's recipient."""
    db = current_session()
    opened = open_link(purpose, token)
    message = opened.message
    recipient_scope(message, kind)  # a recipient who may see nothing gets the "use your link" page, no session
    now = int(time.time())
    scope: dict[str, Any] = {
        "kind": kind,
        "email_message_id": message.id,
        "opened_at": now,
        "seen": now,
        "sid": secrets.token_urlsafe(12),
    }
    record_event(db, message, kind="click", purpose=purpose)
    db.commit()
    session.permanent = True
    session[KEYS[kind]] = scope
    return redirect("/rep" if kind == REP else "/portal", code=303)


def current_scope(kind: str) -> Scope:
    """The session's scope if it is of `kind` and still valid; otherwise NoScope (the "use your link" page)."""
    key = KEYS[kind]
    raw = session.get(key)
    if not isinstance(raw, dict) or raw.get("kind") != kind:
        raise NoScope(kind)
    message_id, opened_at, seen, sid = (raw.get(name) for name in ("email_message_id", "opened_at", "seen", "sid"))
    if not all(isinstance(value, int) for value in (message_id, opened_at, seen)) or not isinstance(sid, str):
        raise NoScope(kind)
    assert isinstance(message_id, int) and isinstance(opened_at, int) and isinstance(seen, int)
    idle, absolute = _limits(kind)
    now = time.time()
    if not (0 <= now - opened_at <= absolute and now - seen <= idle):
        session.pop(key, None)
        raise NoScope(kind)
    message = current_session().get(models.EmailMessage, message_id)
    if message is None:
        raise NoScope(kind)
    account_id, reseller_account_id, rep = recipient_scope(message, kind)
    if now - seen > SEEN_GRANULARITY:
        session[key] = {**raw, "seen": int(now)}
    return Scope(kind, account_id, reseller_account_id, message, brand_of(message), rep, sid)


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
