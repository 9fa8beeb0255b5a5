"""The customer portal and the rep portal: every contract of one account, reached from an email link.

- **Opening.** ``GET /a/review/<token>`` (the customer's Review link) and ``GET /rep/<token>`` (the rep's link)
  verify the token, record the click (the only write a GET makes), and open a short-lived session scoped to
  the email's account, and for the rep to that rep as well: the signed session cookie (``__Host-renewals``
  on https: Secure, HttpOnly, SameSite=Lax, Path=/) holds the scope, which email opened it and when. Then
  303 to ``/portal`` or ``/rep``. Opening a link replaces whatever scope the browser had: one account at a
  time. The scope lapses after 30 idle minutes (the cookie's age) and at most :data:`SCOPE_MAX_AGE` after
  the link was opened; then the pages ask for the link in the email again.
- **Customer portal** (``/portal``): every contract of the account (deleted ones aside), most urgent first,
  each with its state in colour *and* words (red Expired / Overdue, amber Due soon, green Live or Renewed,
  black Cancelled; a legend says what each means), its quote download and, when it can be renewed, a Renew
  button leading to a confirmation page whose POST renews (``sync_service.renewal.renew_contract``).
- **Rep portal** (``/rep``): the contracts the rep owns at that account, with the rep's controls: status
  flags, pricing (an adjustment percentage, an override amount with its reason) and hold / resume
  reminders. Each change is validated (a bad value shows the page with the error beside its field, 400,
  nothing saved), then applied in one transaction with an :class:`~sync_service.store.models.AuditEntry`
  and the controls' field update for Salesforce in the outbox (per the mapping's ``write_back.rep_controls``);
  a write-back the store cannot resolve refuses the change, nothing saved. The push is queued after commit.
  Holding cancels the contract's planned reminders at once; resuming lets the next planner run plan again.
  *Do not remind* is a status flag written to Salesforce like the others; it does not stop reminders:
  holding does.
- **Access control.** Every contract id in a path is looked up together with the session's account (and
  rep): another account's contract, or another rep's, is the same 404 as one that does not exist. Quote
  downloads go through the same check before anything is fetched. Every POST carries the CSRF token.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Flask, current_app, flash, get_flashed_messages, redirect, request, session
from redis.exceptions import RedisError
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response

from email_actions.mail.brands import Brand
from email_actions.mail.links import Purpose
from email_actions.mail.rendering.formatting import Formatter, formatter
from email_actions.web.act.link_events import record_event
from email_actions.web.act.pixel_and_quote import quote_pdf_response
from email_actions.web.security import limiter
from email_actions.web.token_pages import brand_of, open_link, render_page
from jobs.base import enqueue
from jobs.push import enqueue_push
from jobs.queues import EMAIL
from sync_service.outbox.tasks import active_mapping
from sync_service.outbox.writeback import WriteBackUnresolved, record_rep_controls
from sync_service.planning.planner import CANCEL_HELD
from sync_service.renewal import renew_contract
from sync_service.store import models
from sync_service.store.db import current_session
from sync_service.store.models import utcnow

bp = Blueprint("portal", __name__)

SCOPE_KEY = "portal_scope"
# However active the browser, a scope lasts at most this long after its link was opened (seconds).
SCOPE_MAX_AGE = 4 * 3600
DUE_SOON_DAYS = 60

CUSTOMER = "customer"
REP = "rep"

# The rep's status flags: stored (and written to Salesforce) by key, shown by label.
STATUS_FLAGS: dict[str, str] = {
    "warranty_only": "Warranty only",
    "consolidate": "Consolidate",
    "do_not_remind": "Do not remind",
}
MAX_ADJUSTMENT_PCT = Decimal(100)
MAX_OVERRIDE = Decimal(10) ** 15
MAX_REASON_LENGTH = 1000
MAX_NOTE_LENGTH = 500
MAX_PURCHASE_ORDER_LENGTH = 80  # the width of renewals.purchase_order
CENT = Decimal("0.01")


# --- Scope ------------------------------------------------------------------------------------------------


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


def _open(purpose: Purpose, token: str, kind: str) -> Response:
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


# --- What the list shows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """A contract's state as the portal shows it: a colour, and always words beside it."""

    key: str  # expired, overdue, due_soon, live, renewed, cancelled
    colour: str  # red, amber, green, black
    label: str
    detail: str
    rank: int  # sort order: most urgent first


LEGEND: tuple[tuple[str, str, str], ...] = (
    ("red", "Expired / Overdue", "The end date has passed and the contract has not been renewed."),
    ("amber", "Due soon", f"Live, ending within {DUE_SOON_DAYS} days."),
    ("green", "Live / Renewed", f"Live with more than {DUE_SOON_DAYS} days to go, or already renewed."),
    ("black", "Cancelled", "The contract was cancelled."),
)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def state_of(contract: models.Contract, today: date, fmt: Formatter) -> State:
    """The state of `contract` on `today` (cancelled, then renewed, then by the end date)."""
    if contract.is_cancelled:
        return State("cancelled", "black", "Cancelled", "No renewal is due.", 4)
    if contract.renewed_at is not None:
        return State("renewed", "green", "Renewed", f"Renewed on {fmt.date(contract.renewed_at.date())}", 3)
    if contract.end_date is None:
        return State("live", "green", "Live", "No end date.", 2)
    days = (contract.end_date - today).days
    if days < 0:
        ended = f"Ended {_days(-days)} ago."
        if "expired" in (contract.status or "").lower():
            return State("expired", "red", "Expired", ended, 0)
        return State("overdue", "red", "Overdue", f"{ended} Renewal not received.", 0)
    ends = "Ends today." if days == 0 else f"Ends in {_days(days)}."
    if days <= DUE_SOON_DAYS:
        return State("due_soon", "amber", "Due soon", ends, 1)
    return State("live", "green", "Live", ends, 2)


@dataclass(frozen=True)
class Row:
    """One contract as a line of the portal's table."""

    contract: models.Contract
    quote: models.RenewalQuote | None
    state: State
    days_to_end: int | None
    number: str
    products: str
    amount: str
    end_date: str

    @property
    def has_document(self) -> bool:
        return self.quote is not None and bool(self.quote.primary_document_sf_id or self.quote.documents)

    @property
    def renewable(self) -> bool:
        live = self.state.key in ("expired", "overdue", "due_soon", "live")
        return live and self.quote is not None and self.quote.total is not None

    @property
    def document_title(self) -> str:
        if self.quote is not None and self.quote.documents:
            return min(self.quote.documents, key=lambda document: document.id or 0).title
        return f"Quote {self.quote.number}" if self.quote is not None and self.quote.number else "Quote"


def _live_quote(contract: models.Contract) -> models.RenewalQuote | None:
    """The newest quote not deleted in the org (as ``writeback.live_quote``, over the loaded quotes)."""
    live = [quote for quote in contract.quotes if not quote.is_deleted]
    return max(live, key=lambda quote: quote.id) if live else None


def _products(quote: models.RenewalQuote | None) -> str:
    if quote is None or not quote.lines:
        return "—"
    names = [line.product for line in sorted(quote.lines, key=lambda line: line.id or 0)]
    if len(names) <= 2:
        return ", ".join(names)
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def make_rows(contracts: Iterable[models.Contract], today: date, fmt: Formatter) -> list[Row]:
    """The contracts as table rows, most urgent first (red, amber, green, renewed, cancelled; then by days to
    the end date, then number)."""
    rows = []
    for contract in contracts:
        quote = _live_quote(contract)
        rows.append(
            Row(
                contract=contract,
                quote=quote,
                state=state_of(contract, today, fmt),
                days_to_end=(contract.end_date - today).days if contract.end_date is not None else None,
                number=contract.number or contract.sf_id,
                products=_products(quote),
                amount=fmt.money(contract.amount, contract.currency or contract.account.currency) or "—",
                end_date=fmt.date(contract.end_date, "medium") or "—",
            )
        )
    far = 10**6
    rows.sort(key=lambda row: (row.state.rank, far if row.days_to_end is None else row.days_to_end, row.number))
    return rows


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


def _today() -> date:
    return utcnow().date()


# --- Pages ----------------------------------------------------------------------------------------------


def _page(template: str, scope: Scope, *, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_page(
        template, brand=scope.brand, status=status, scope=scope, legend=LEGEND, flags=STATUS_FLAGS, **context
    )


def _flashes() -> list[str]:
    return [str(message) for message in get_flashed_messages()]


@bp.get("/a/review/<token>")
def open_customer_portal(token: str) -> Response:
    return _open("review", token, CUSTOMER)


@bp.get("/portal")
def customer_portal() -> tuple[str, int]:
    scope = current_scope(CUSTOMER)
    rows = make_rows(contracts_in_scope(current_session(), scope), _today(), scope.fmt)
    return _page("portal/customer.html", scope, rows=rows, notices=_flashes())


@bp.get("/portal/contracts/<int:contract_id>/quote")
def customer_quote(contract_id: int) -> Response:
    scope = current_scope(CUSTOMER)
    return _quote_download(scope, contract_in_scope(current_session(), scope, contract_id))


@bp.get("/rep/<token>")
def open_rep_portal(token: str) -> Response:
    return _open("rep", token, REP)


@bp.get("/rep")
def rep_portal() -> tuple[str, int]:
    scope = current_scope(REP)
    return _rep_page(scope)


@bp.get("/rep/contracts/<int:contract_id>/quote")
def rep_quote(contract_id: int) -> Response:
    scope = current_scope(REP)
    return _quote_download(scope, contract_in_scope(current_session(), scope, contract_id))


def _rep_page(
    scope: Scope,
    *,
    status: int = 200,
    errors: Mapping[int, Mapping[str, str]] | None = None,
    values: Mapping[int, Mapping[str, Any]] | None = None,
    problem: str | None = None,
) -> tuple[str, int]:
    rows = make_rows(contracts_in_scope(current_session(), scope), _today(), scope.fmt)
    return _page(
        "portal/rep.html",
        scope,
        status=status,
        rows=rows,
        notices=_flashes(),
        errors=errors or {},
        values=values or {},
        problem=problem,
    )


def _quote_download(scope: Scope, contract: models.Contract) -> Response:
    """The contract's live quote PDF (ownership already checked), or the not-found page when it has none.
    No event is recorded: the portal is not an email link."""
    quote = _live_quote(contract)
    if quote is None or not (quote.primary_document_sf_id or quote.documents):
        raise NotInScope(scope)
    return quote_pdf_response(current_session(), quote, brand=scope.brand)


# --- Renew from the portal -------------------------------------------------------------------------------


def _renew_confirm(
    scope: Scope,
    contract: models.Contract,
    quote: models.RenewalQuote,
    *,
    status: int = 200,
    purchase_order: str = "",
    error: str | None = None,
    changed: bool = False,
) -> tuple[str, int]:
    lines = sorted(quote.lines, key=lambda line: line.id or 0)
    currency = quote.currency or contract.currency or contract.account.currency
    return _page(
        "portal/renew.html",
        scope,
        status=status,
        contract=contract,
        number=contract.number or contract.sf_id,
        quote=quote,
        lines=lines,
        currency=currency,
        fmt=scope.fmt,
        purchase_order=purchase_order,
        error=error,
        changed=changed,
    )


def _renew_result(
    scope: Scope, contract: models.Contract, outcome: str, *, status: int = 200, **context: Any
) -> tuple[str, int]:
    return _page(
        "portal/renewed.html",
        scope,
        status=status,
        contract=contract,
        number=contract.number or contract.sf_id,
        outcome=outcome,
        fmt=scope.fmt,
        **context,
    )


def _not_renewable(
    scope: Scope, contract: models.Contract, quote: models.RenewalQuote | None
) -> tuple[str, int] | None:
    """The page for a contract the portal cannot renew (cancelled, renewed, no quote), else None."""
    if contract.is_cancelled:
        return _renew_result(scope, contract, "cancelled")
    if contract.renewed_at is not None:
        return _renew_result(scope, contract, "already_renewed", renewed_at=contract.renewed_at)
    if quote is None or quote.total is None:
        return _renew_result(scope, contract, "no_quote")
    return None


@bp.get("/portal/contracts/<int:contract_id>/renew")
def renew_page(contract_id: int) -> tuple[str, int]:
    scope = current_scope(CUSTOMER)
    contract = contract_in_scope(current_session(), scope, contract_id)
    quote = _live_quote(contract)
    refusal = _not_renewable(scope, contract, quote)
    if refusal is not None:
        return refusal
    assert quote is not None
    return _renew_confirm(scope, contract, quote)


def _seen_total(raw: str | None) -> Decimal | None:
    try:
        value = Decimal((raw or "").strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@bp.post("/portal/contracts/<int:contract_id>/renew")
def renew(contract_id: int) -> tuple[str, int]:
    scope = current_scope(CUSTOMER)
    db = current_session()
    contract = contract_in_scope(db, scope, contract_id)
    purchase_order = (request.form.get("purchase_order") or "").strip() if scope.brand.purchase_order_field else ""
    if len(purchase_order) > MAX_PURCHASE_ORDER_LENGTH:
        quote = _live_quote(contract)
        refusal = _not_renewable(scope, contract, quote)
        if refusal is not None:
            return refusal
        assert quote is not None
        error = f"A purchase order number has at most {MAX_PURCHASE_ORDER_LENGTH} characters."
        return _renew_confirm(scope, contract, quote, status=400, purchase_order=purchase_order, error=error)
    mapping = active_mapping(db)
    # The renewal's first statement must be its write (SQLite: see sync_service.renewal): end the reads.
    db.commit()
    message = scope.message if scope.message.contract_id == contract.id else None
    outcome = renew_contract(
        db,
        contract=contract,
        email_message=message,
        quote_total_seen=_seen_total(request.form.get("quote_total_seen")),
        purchase_order=purchase_order or None,
        source="portal",
        mapping=mapping,
    )
    if outcome.status != "renewed":
        db.rollback()
        if outcome.status == "quote_changed" and outcome.quote is not None:
            return _renew_confirm(
                scope, contract, outcome.quote, status=409, purchase_order=purchase_order, changed=True
            )
        renewed_at = outcome.renewed_at
        status = 200 if outcome.status == "already_renewed" else 409
        return _renew_result(scope, contract, outcome.status, status=status, renewed_at=renewed_at)
    db.commit()
    enqueue_push_quietly()
    if outcome.confirmation is not None:
        enqueue_email_quietly(outcome.confirmation.id)
    return _renew_result(
        scope,
        contract,
        "renewed",
        renewed_at=outcome.renewed_at,
        total=outcome.total,
        currency=outcome.currency,
        purchase_order=purchase_order,
    )


# --- Rep controls ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Controls:
    """The controls form, validated."""

    status_flags: list[str]
    price_adjustment_pct: Decimal | None
    price_override: Decimal | None
    price_override_reason: str | None


def _decimal(raw: str) -> Decimal:
    """A number as a person types it ("5", "-2.5", "7,5", "10 %"); ValueError when it is not one or has more
    than two decimals."""
    text = raw.strip().removesuffix("%").strip().replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not value.is_finite():
        raise ValueError("not a number")
    if abs(value) >= MAX_OVERRIDE:
        raise ValueError("too large")
    if value != value.quantize(CENT):
        raise ValueError("too many decimals")
    return value.quantize(CENT)


def parse_controls(
    form: Mapping[str, Any], flags: list[str], current: list[str]
) -> tuple[Controls | None, dict[str, str]]:
    """Validate the controls form: (the controls, {}) or (None, field name → error message)."""
    errors: dict[str, str] = {}
    unknown = [flag for flag in flags if flag not in STATUS_FLAGS]
    if unknown:
        errors["status_flags"] = "Choose only from the status flags listed."
    adjustment: Decimal | None = None
    raw_adjustment = str(form.get("price_adjustment_pct", "")).strip()
    if raw_adjustment:
        try:
            adjustment = _decimal(raw_adjustment)
        except ValueError:
            errors["price_adjustment_pct"] = "Enter a percentage such as 5 or -10, with at most two decimals."
        else:
            if not -MAX_ADJUSTMENT_PCT <= adjustment <= MAX_ADJUSTMENT_PCT:
                errors["price_adjustment_pct"] = "Enter a percentage between -100 and 100."
    override: Decimal | None = None
    raw_override = str(form.get("price_override", "")).strip()
    if raw_override:
        try:
            override = _decimal(raw_override)
        except ValueError:
            errors["price_override"] = "Enter an amount such as 9500 or 9500.50, with at most two decimals."
        else:
            if override < 0:
                errors["price_override"] = "Enter an amount of zero or more."
    reason = str(form.get("price_override_reason", "")).strip() or None
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        errors["price_override_reason"] = f"Keep the reason under {MAX_REASON_LENGTH} characters."
    elif raw_override and reason is None:
        errors["price_override_reason"] = "Give a reason for the override price."
    elif not raw_override and reason is not None:
        errors["price_override"] = "Enter the override amount, or clear the reason."
    if errors:
        return None, errors
    # Flags the portal does not offer (set in Salesforce) are kept as they are.
    kept = [flag for flag in current if flag not in STATUS_FLAGS]
    chosen = [flag for flag in STATUS_FLAGS if flag in flags]
    return Controls(kept + chosen, adjustment, override, reason), {}


def _control_values(contract: models.Contract) -> dict[str, Any]:
    """The controls as the audit records them (JSON: amounts as strings)."""
    return {
        "status_flags": list(contract.status_flags or []),
        "price_adjustment_pct": str(contract.price_adjustment_pct)
        if contract.price_adjustment_pct is not None
        else None,
        "price_override": str(contract.price_override) if contract.price_override is not None else None,
        "price_override_reason": contract.price_override_reason,
    }


class Refused(Exception):
    """A change that cannot be written to Salesforce; nothing is saved."""


def _write_back(db: Session, contract: models.Contract) -> None:
    mapping = active_mapping(db)
    if mapping is None:
        raise Refused("No Salesforce mapping is active, so changes cannot be sent to Salesforce yet.")
    try:
        record_rep_controls(db, contract=contract, mapping=mapping)
    except WriteBackUnresolved as exc:
        raise Refused(f"Salesforce has no record to write this change to ({exc.missing}).") from None


def _audit(
    db: Session,
    scope: Scope,
    contract: models.Contract,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str | None,
) -> None:
    changed = [key for key in after if before.get(key) != after[key]]
    db.add(
        models.AuditEntry(
            actor=scope.actor,
            action=action,
            contract_id=contract.id,
            before={key: before.get(key) for key in changed},
            after={key: after[key] for key in changed},
            reason=reason,
            at=utcnow(),
        )
    )


def _saved(db: Session, contract: models.Contract, notice: str) -> Response:
    db.commit()
    enqueue_push_quietly()
    flash(notice)
    return redirect(f"/rep#contract-{contract.id}", code=303)


def _refused(db: Session, scope: Scope, error: Refused) -> tuple[str, int]:
    db.rollback()
    return _rep_page(scope, status=409, problem=f"{error} Nothing was changed.")


@bp.post("/rep/contracts/<int:contract_id>/controls")
def rep_controls(contract_id: int) -> Response | tuple[str, int]:
    scope = current_scope(REP)
    db = current_session()
    contract = contract_in_scope(db, scope, contract_id, for_update=True)
    flags = request.form.getlist("status_flags")
    controls, errors = parse_controls(request.form, flags, list(contract.status_flags or []))
    if controls is None:
        db.rollback()
        submitted = {**request.form.to_dict(), "status_flags": flags}
        return _rep_page(scope, status=400, errors={contract_id: errors}, values={contract_id: submitted})
    before = _control_values(contract)
    contract.status_flags = controls.status_flags
    contract.price_adjustment_pct = controls.price_adjustment_pct
    contract.price_override = controls.price_override
    contract.price_override_reason = controls.price_override_reason
    after = _control_values(contract)
    if after == before:
        db.rollback()
        flash(f"Contract {contract.number or contract.sf_id}: nothing to save, no control changed.")
        return redirect(f"/rep#contract-{contract_id}", code=303)
    _audit(db, scope, contract, "rep.controls", before, after, controls.price_override_reason)
    try:
        _write_back(db, contract)
    except Refused as exc:
        return _refused(db, scope, exc)
    return _saved(db, contract, f"Contract {contract.number or contract.sf_id}: changes saved and sent to Salesforce.")


def _note() -> str | None:
    return (request.form.get("note") or "").strip()[:MAX_NOTE_LENGTH] or None


@bp.post("/rep/contracts/<int:contract_id>/hold")
def rep_hold(contract_id: int) -> Response | tuple[str, int]:
    scope = current_scope(REP)
    db = current_session()
    contract = contract_in_scope(db, scope, contract_id, for_update=True)
    number = contract.number or contract.sf_id
    if contract.is_held:
        db.rollback()
        flash(f"Contract {number}: reminders were already on hold.")
        return redirect(f"/rep#contract-{contract_id}", code=303)
    contract.is_held = True
    cancelled = db.execute(
        update(models.Reminder)
        .where(models.Reminder.contract_id == contract.id, models.Reminder.status == "planned")
        .values(status="cancelled", reason=CANCEL_HELD)
        .returning(models.Reminder.id)
        .execution_options(synchronize_session="fetch")
    ).all()
    _audit(
        db,
        scope,
        contract,
        "rep.hold",
        {"is_held": False},
        {"is_held": True, "reminders_cancelled": len(cancelled)},
        _note(),
    )
    try:
        _write_back(db, contract)
    except Refused as exc:
        return _refused(db, scope, exc)
    return _saved(db, contract, f"Contract {number}: reminders on hold; no reminder will be sent until you resume.")


@bp.post("/rep/contracts/<int:contract_id>/resume")
def rep_resume(contract_id: int) -> Response | tuple[str, int]:
    scope = current_scope(REP)
    db = current_session()
    contract = contract_in_scope(db, scope, contract_id, for_update=True)
    number = contract.number or contract.sf_id
    if not contract.is_held:
        db.rollback()
        flash(f"Contract {number}: reminders were not on hold.")
        return redirect(f"/rep#contract-{contract_id}", code=303)
    contract.is_held = False
    _audit(db, scope, contract, "rep.resume", {"is_held": True}, {"is_held": False}, _note())
    try:
        _write_back(db, contract)
    except Refused as exc:
        return _refused(db, scope, exc)
    return _saved(db, contract, f"Contract {number}: reminders resume from the next planning run.")


# --- Plumbing -------------------------------------------------------------------------------------------


def enqueue_push_quietly() -> None:
    """Queue the outbox push after a commit; Redis being down only delays it to the scheduler's next sweep."""
    try:
        enqueue_push()
    except RedisError as exc:
        current_app.logger.warning("push not queued (the scheduler's sweep will send it): %s", exc)


def enqueue_email_quietly(message_id: int) -> None:
    """Queue one email's send after the commit that queued it; without Redis the send sweep finds it later."""
    try:
        enqueue(EMAIL, "jobs.email.send_batch_job", [message_id])
    except RedisError as exc:
        current_app.logger.warning("email %s not queued (the send sweep will find it): %s", message_id, exc)


@bp.errorhandler(NoScope)
def _no_scope(error: NoScope) -> tuple[str, int]:
    return render_page("portal/no_session.html", brand=brand_of(None), status=403, kind=error.kind)


@bp.errorhandler(NotInScope)
def _not_in_scope(error: NotInScope) -> tuple[str, int]:
    scope = error.scope
    return render_page("portal/not_found.html", brand=scope.brand, status=404, scope=scope)


def init_app(app: Flask) -> None:
    # Anti-automation on every portal URL, per client address; generous, since offices share one address.
    limiter.limit("300/minute")(bp)
    app.register_blueprint(bp)
