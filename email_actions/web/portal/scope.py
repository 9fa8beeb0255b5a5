"""What one portal session may see, and the checks that keep it there.

Opening an email link (:func:`open_scope`) verifies the token, records the click (the only write a GET makes)
and scopes the session to the email's account, and for the rep's link to that rep as well: the signed session
cookie holds the scope, which email opened it and when. Opening a link replaces whatever scope the browser had:
one account at a time. The scope lapses after 30 idle minutes (the cookie's age) and at most
:data:`SCOPE_MAX_AGE` after the link was opened; :func:`current_scope` then raises :class:`NoScope` (the "use
the link in your email" page).

Every contract id is looked up together with the session's account (and rep), never on its own: another
account's contract, or another rep's, is the same :class:`NotInScope` (404) as one that does not exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import redirect, session
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response

from email_actions.mail.brands import Brand
from email_actions.mail.links import Purpose
from email_actions.mail.rendering.formatting import Formatter, formatter
from email_actions.web.act.link_events import record_event
from email_actions.web.token_pages import brand_of, open_link
from sync_service.store import models
from sync_service.store.db import current_session

SCOPE_KEY = "portal_scope"
# However active the browser, a scope lasts at most this long after its link was opened (seconds).
SCOPE_MAX_AGE = 4 * 3600

CUSTOMER = "customer"
REP = "rep"


class NoScope(Exception):
    """No (or no longer a) portal session of the kind the page needs."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"no {kind} portal session")


class NotInScope(LookupError):
    """A contract that does not exist, or is outside the session's account (or rep): one 404 for both."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        super().__init__("no such contract in this portal")


@dataclass(frozen=True)
class Scope:
    """What one portal session may see: one account, and for a rep only that rep's contracts there."""

    kind: str
    account_id: int
    message: models.EmailMessage
    brand: Brand
    rep: models.Rep | None

    @property
    def fmt(self) -> Formatter:
        contact = self.message.contact or self.message.contract.contact
        return formatter(self.message.locale or (contact.locale if contact is not None else None) or "en_US")

    @property
    def actor(self) -> str:
        assert self.rep is not None
        return f"rep:{self.rep.sf_id}"


def open_scope(purpose: Purpose, token: str, kind: str) -> Response:
    """Verify the link, record the click, and scope the session to the email's account (and rep)."""
    db = current_session()
    opened = open_link(purpose, token)
    message = opened.message
    scope: dict[str, Any] = {
        "kind": kind,
        "account_id": message.contract.account_id,
        "email_message_id": message.id,
        "opened_at": int(time.time()),
    }
    if kind == REP:
        rep = message.rep or message.contract.rep
        if rep is None:
            raise NoScope(kind)
        scope["rep_id"] = rep.id
    record_event(db, message, kind="click", purpose=purpose)
    db.commit()
    session.clear()
    session.permanent = True
    session[SCOPE_KEY] = scope
    return redirect("/rep" if kind == REP else "/portal", code=303)


def current_scope(kind: str) -> Scope:
    """The session's scope if it is of `kind` and still valid; otherwise NoScope (the "use your link" page)."""
    raw = session.get(SCOPE_KEY)
    if not isinstance(raw, dict) or raw.get("kind") != kind:
        raise NoScope(kind)
    account_id, message_id, opened_at = raw.get("account_id"), raw.get("email_message_id"), raw.get("opened_at")
    if not all(isinstance(value, int) for value in (account_id, message_id, opened_at)):
        raise NoScope(kind)
    assert isinstance(account_id, int) and isinstance(message_id, int) and isinstance(opened_at, int)
    if not 0 <= time.time() - opened_at <= SCOPE_MAX_AGE:
        raise NoScope(kind)
    db = current_session()
    message = db.get(models.EmailMessage, message_id)
    if message is None:
        raise NoScope(kind)
    rep = None
    if kind == REP:
        rep_id = raw.get("rep_id")
        rep = db.get(models.Rep, rep_id) if isinstance(rep_id, int) else None
        if rep is None or not rep.is_active:
            raise NoScope(kind)
    return Scope(kind, account_id, message, brand_of(message), rep)


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
