"""The one-click actions of a renewal email: Renew, Contact rep, Unsubscribe, and "email me a fresh link".

GET and HEAD on a link **only show a page** and record the hit (a click event, the one write they make):
link scanners fetch every link of an email, so nothing happens until a person presses the page's button.

- ``/a/renew/<token>``: the renewal quote to confirm (contract, term, lines, total, an optional
  purchase-order number per brand), or, when Salesforce's rules do not allow a renewal from the email
  (:mod:`sync_service.renewability`: the quote's status, approval or validity, the rep's pricing request),
  why not and the way to the rep. The POST echoes the page's form token and the total shown; it reads the
  quote live from the org and renews only at that total and only what the rules allow
  (:func:`sync_service.renewal_live.renew_live`); a second or racing POST is told "already renewed on …", a
  changed total gets the new amount to confirm, a refused quote, cancelled contract or missing quote the way
  to the rep. When the org does not answer, the renewal is kept as an intent and the page says "we'll
  confirm your renewal shortly" (202); a POST while it waits says the same.
- ``/a/contact/<token>``: a form (message, preferred time and channel: :mod:`email_actions.web.act.forms`);
  the POST records one contact request per form (its form token's nonce), the mapping's write-back, a
  high-priority Task for the rep, and queues the rep's email.
- ``/u/<token>``: GET confirms; the POST (RFC 8058 ``List-Unsubscribe=One-Click`` from a mail client, no
  cookies, or the page's own button) suppresses the address for reminders only (confirmations and the
  rep's mail still go) and cancels the contact's planned reminders; it sets the mapping's opt-out field in
  Salesforce (conditionally, through the outbox) and leaves the rep a Task (:mod:`sync_service.opt_outs`).
  Always 200, never a redirect.
- ``POST /links/fresh`` (the expired-link page's button): a genuine but expired token gets a new email of the
  same kind with new links, at most one a day per email; the page never says where it went.

POSTs carry their own proof instead of a CSRF cookie (the signed link, plus the page's form token on Renew
and Contact) and are rate-limited per client address and per decoded email id. Work for the workers (the
outbox push, the emails) is enqueued only after the commit (``jobs.base.enqueue_after_commit``); when Redis is
down the scheduler's sweeps pick the committed rows up anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import date, datetime
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, current_app, g, request
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from email_actions.mail.bounces import suppress_contacts
from email_actions.mail.links import LINKS, LinkInvalid, Purpose, expires_on, utcnow
from email_actions.mail.rendering.formatting import formatter, normalise_locale
from email_actions.web.act.forms import CHANNELS, ContactForm
from email_actions.web.act.link_events import record_page_view
from email_actions.web.live_renew import pending_intent, record_reader
from email_actions.web.posted import decimal_or_none
from email_actions.web.security import csrf_exempt, limit_key_for_message, limiter
from email_actions.web.token_pages import Opened, brand_of, check_form_token, form_token, links, open_link, render_page
from jobs.base import enqueue, enqueue_after_commit
from jobs.email import send_batch_job
from jobs.push import enqueue_push
from jobs.queues import EMAIL
from mappings.model import Mapping
from sync_service.opt_outs import record_unsubscribe
from sync_service.outbox.tasks import active_mapping, record_email_activity
from sync_service.outbox.writeback import WriteBackUnresolved, live_quote, record_write_back
from sync_service.renewability import active_rules, refusal
from sync_service.renewal import PURCHASE_ORDER_MAX, RenewOutcome
from sync_service.renewal_live import renew_live
from sync_service.store import models
from sync_service.store.db import current_database, current_session
from sync_service.store.models import new_nonce

F = TypeVar("F", bound=Callable[..., Any])
Page = tuple[str, int]

bp = Blueprint("actions", __name__)

# Which link purpose each token view verifies (the rate limits' email id is decoded with it).
VIEW_PURPOSES: dict[str, Purpose] = {
    "actions.renew": "renew",
    "actions.contact": "contact",
    "actions.unsubscribe": "unsubscribe",
}
# Expired links a fresh email can replace: every page link (the pixel has no page).
FRESH_PURPOSES = frozenset(purpose for purpose in LINKS if purpose != "open")
AVERAGE_MONTH_DAYS = 30.4375


def _limited(view: F) -> F:
    """Rate limits of a token view: page views per client address (a scanner sharing a person's address only
    slows pages that change nothing); actions per address and per decoded email id."""
    pages = limiter.limit("120/minute", methods=["GET", "HEAD"])(view)
    per_address = limiter.limit("30/minute", methods=["POST"])(pages)
    return cast(F, limiter.limit("10/minute", methods=["POST"], key_func=limit_key_for_message)(per_address))


@bp.before_request
def _decode_email_id() -> None:
    """Put the token's email id in `g` for the rate limits, which run after this and before the view. Only a
    genuine signature counts (age aside); anything else is limited by address, and the view rejects it."""
    if request.endpoint == "actions.fresh_link":
        purpose, token = request.form.get("purpose", ""), request.form.get("token", "")
    else:
        purpose = VIEW_PURPOSES.get(request.endpoint or "", "")
        token = str((request.view_args or {}).get("token", ""))
    if purpose in LINKS and token:
        with suppress(LinkInvalid):
            g.email_message_id = links().verify_ignoring_age(cast(Purpose, purpose), token).message_id


# --- Renew -------------------------------------------------------------------------------------------------


@bp.route("/a/renew/<token>", methods=["GET", "POST"])
@csrf_exempt
@_limited
def renew(token: str) -> Page:
    opened = open_link("renew", token)
    session = current_session()
    if request.method != "POST":
        contract = _page_contract(session, opened.message)  # held: the page's lazy loads find it in the session
        page = _renew_state(session, opened)
        del contract  # rendered from reads; the click is written after, briefly
        record_page_view(session, opened.message, purpose="renew")
        return page

    message, brand = opened.message, opened.brand
    purchase_order = request.form.get("purchase_order", "").strip() if brand.purchase_order_field else None
    if check_form_token(request.form.get("form_token"), message, "renew") is None:
        return _renew_state(session, opened, status=400, notice="stale", purchase_order=purchase_order)
    total_seen = decimal_or_none(request.form.get("total_seen"))
    if total_seen is None:
        return _renew_state(session, opened, status=400, notice="stale", purchase_order=purchase_order)
    if purchase_order is not None and len(purchase_order) > PURCHASE_ORDER_MAX:
        return _renew_state(session, opened, status=400, purchase_order=purchase_order, po_error=True)
    contract = message.contract
    mapping = active_mapping(session)
    # renew_live ends the reads before it calls the org; its first statement after that is a write (SQLite).
    outcome = renew_live(
        session,
        record_reader(),
        current_database().sessionmaker,
        contract=contract,
        email_message=message,
        quote_total_seen=total_seen,
        purchase_order=purchase_order,
        source="email",
        mapping=mapping,
    )
    session.commit()
    if outcome.status == "renewed":
        assert outcome.confirmation is not None
        with enqueue_after_commit("the renewal's push and confirmation email"):
            enqueue_push()
            enqueue(EMAIL, send_batch_job, [outcome.confirmation.id])
    return _renew_result(session, opened, outcome, purchase_order)


def _page_contract(session: Session, message: models.EmailMessage) -> models.Contract | None:
    """The email's contract with its contact, rep and account, in one query instead of a lazy load each."""
    contract = models.Contract
    return (
        session.execute(
            select(contract)
            .options(joinedload(contract.contact), joinedload(contract.rep), joinedload(contract.account))
            .where(contract.id == message.contract_id)
        )
        .unique()
        .scalar_one_or_none()
    )


def _renew_state(
    session: Session,
    opened: Opened,
    *,
    status: int = 200,
    notice: str | None = None,
    purchase_order: str | None = None,
    po_error: bool = False,
) -> Page:
    """The page for the contract as it is now: renewed already, not renewable, or the quote to confirm."""
    contract = opened.message.contract
    if contract.renewed_at is not None:
        renewal = session.scalar(select(models.Renewal).where(models.Renewal.contract_id == contract.id))
        when = renewal.renewed_at if renewal is not None else contract.renewed_at
        return _page(opened, "actions/renewed.html", status, already=True, renewed_on=when.date(), renewal=renewal)
    if contract.is_cancelled or contract.is_deleted:
        return _page(opened, "actions/unavailable.html", status, reason="cancelled")
    if pending_intent(session, contract) is not None:
        return _page(opened, "actions/pending.html", status)
    quote = live_quote(session, contract, with_lines=True)
    if quote is None or quote.total is None:
        return _page(opened, "actions/unavailable.html", status, reason="no_quote")
    refused = refusal(contract, quote, active_rules(session), today=utcnow().date())
    if refused is not None:
        return _page(opened, "actions/unavailable.html", status, reason=refused.reason, message=refused.message)
    return _confirm_page(opened, quote, status, notice=notice, purchase_order=purchase_order, po_error=po_error)


def _renew_result(session: Session, opened: Opened, outcome: RenewOutcome, purchase_order: str | None) -> Page:
    if outcome.status in ("renewed", "already_renewed"):
        assert outcome.renewed_at is not None
        return _page(
            opened,
            "actions/renewed.html",
            200,
            already=outcome.status == "already_renewed",
            renewed_on=outcome.renewed_at.date(),
            renewal=outcome.renewal,
        )
    if outcome.status == "quote_changed":
        assert outcome.quote is not None
        return _confirm_page(opened, outcome.quote, 409, notice="changed", purchase_order=purchase_order)
    if outcome.status == "pending":
        return _page(opened, "actions/pending.html", 202)
    if outcome.status == "refused":
        assert outcome.refusal is not None
        reason, message = outcome.refusal.reason, outcome.refusal.message
        return _page(opened, "actions/unavailable.html", 409, reason=reason, message=message)
    return _page(
        opened, "actions/unavailable.html", 503 if outcome.status == "unavailable" else 409, reason=outcome.status
    )


def _confirm_page(
    opened: Opened,
    quote: models.RenewalQuote,
    status: int,
    *,
    notice: str | None,
    purchase_order: str | None,
    po_error: bool = False,
) -> Page:
    contract = opened.message.contract
    return _page(
        opened,
        "actions/renew.html",
        status,
        quote=quote,
        lines=sorted(quote.lines, key=lambda line: line.id or 0),
        currency=quote.currency or contract.currency,
        term_months=_term_months(contract.start_date, contract.end_date),
        form_token=form_token(opened.message, "renew"),
        total_seen=str(quote.total),
        notice=notice,
        purchase_order=purchase_order or "",
        po_error=po_error,
        po_max=PURCHASE_ORDER_MAX,
    )


def _term_months(start: date | None, end: date | None) -> int | None:
    """The contract's term in whole months (a year's term, start to end inclusive, is 12)."""
    if start is None or end is None or end < start:
        return None
    return max(1, round(((end - start).days + 1) / AVERAGE_MONTH_DAYS))


# --- Contact rep -------------------------------------------------------------------------------------------


@bp.route("/a/contact/<token>", methods=["GET", "POST"])
@csrf_exempt
@_limited
def contact(token: str) -> Page:
    opened = open_link("contact", token)
    session = current_session()
    if request.method != "POST":
        page = _contact_form(opened, 200, ContactForm())  # rendered from reads; the click is written after, briefly
        record_page_view(session, opened.message, purpose="contact")
        return page

    message = opened.message
    form = ContactForm()
    nonce = check_form_token(request.form.get("form_token"), message, "contact")
    if nonce is None:
        return _contact_form(opened, 400, form, notice="stale")
    if not form.validate():
        return _contact_form(opened, 400, form)
    contract = message.contract
    mapping = active_mapping(session)
    session.commit()  # end the reads: the insert below is this transaction's first statement (SQLite)
    now = utcnow()
    row = models.ContactRequest(
        contract_id=contract.id,
        email_message_id=message.id,
        form_nonce=nonce,
        message=form.message.data or None,
        preferred_time=form.preferred_time.data or None,
        channel=form.channel.data or None,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # The same form posted again (a double click, a resubmit): that request exists already.
        session.commit()
        return _page(opened, "actions/contacted.html", 200)
    notice = _record_contact_request(session, message, row, mapping, now)
    session.commit()
    with enqueue_after_commit("the contact request's push and the rep's email"):
        enqueue_push()
        enqueue(EMAIL, send_batch_job, [notice.id])
    return _page(opened, "actions/contacted.html", 200)


def _contact_form(opened: Opened, status: int, form: ContactForm, *, notice: str | None = None) -> Page:
    return _page(
        opened,
        "actions/contact.html",
        status,
        form=form,
        form_token=form_token(opened.message, "contact"),
        notice=notice,
    )


def _record_contact_request(
    session: Session,
    message: models.EmailMessage,
    row: models.ContactRequest,
    mapping: Mapping | None,
    now: datetime,
) -> models.EmailMessage:
    """The request's write-back, Task and rep email, in the request's transaction; returns the email."""
    contract = message.contract
    if mapping is not None:
        try:
            record_write_back(session, contract=contract, mapping=mapping, action="contact_rep")
        except WriteBackUnresolved as exc:
            # The rep still gets the Task and the email; only the org's fields wait for a person.
            current_app.logger.warning("contact request %s: write-back not recorded: %s", row.id, exc)
    channel = CHANNELS.get(row.channel or "")
    detail = "\n".join(
        line
        for line in (
            f"Preferred way: {channel}" if channel else "",
            f"Preferred time: {row.preferred_time}" if row.preferred_time else "",
            f"Message: {row.message}" if row.message else "",
        )
        if line
    )
    conventions = mapping.write_back.tasks if mapping is not None else None
    record_email_activity(session, message, "contact_requested", at=now, detail=detail, conventions=conventions)
    data = {"message": row.message, "preferred_time": row.preferred_time, "channel": channel}
    notice = models.EmailMessage(
        key=f"contact_request:{row.id}",
        kind="contact_request",
        contract_id=contract.id,
        contact_id=message.contact_id,
        rep_id=contract.rep_id,
        nonce=new_nonce(),
        status="queued",
        data={name: value for name, value in data.items() if value},
    )
    session.add(notice)
    session.flush()
    return notice


# --- Unsubscribe (RFC 8058) --------------------------------------------------------------------------------


@bp.route("/u/<token>", methods=["GET", "POST"])
@csrf_exempt
@_limited
def unsubscribe(token: str) -> Page:
    opened = open_link("unsubscribe", token)
    session = current_session()
    if request.method != "POST":
        page = _page(
            opened, "actions/unsubscribe.html", 200
        )  # rendered from reads; the click is written after, briefly
        record_page_view(session, opened.message, purpose="unsubscribe")
        return page
    # RFC 8058: the body names the one-click action; a POST without it is not an unsubscribe.
    if request.form.get("List-Unsubscribe") != "One-Click":
        return _page(opened, "actions/unsubscribe.html", 400, missing=True)
    message = opened.message
    addresses = {a.strip().lower() for a in (message.to_address, _contact_email(message)) if a and a.strip()}
    mapping = active_mapping(session)
    session.commit()  # end the reads before the first write (SQLite)
    now = utcnow()
    for address in sorted(addresses):
        _suppress_reminders(session, address, message)
        # Its contacts are marked suppressed (no reminder is planned for them again) and their contracts'
        # planned reminders cancelled.
        suppress_contacts(session, address, at=now)
    # The opt-out for Salesforce and the rep's Task, in the same transaction.
    record_unsubscribe(session, message, addresses, mapping, at=now)
    session.commit()
    with enqueue_after_commit("the unsubscribe's push"):
        enqueue_push()
    return _page(opened, "actions/unsubscribed.html", 200)


def _contact_email(message: models.EmailMessage) -> str | None:
    contact = message.contact
    return contact.email if contact is not None and not contact.is_deleted else None


def _suppress_reminders(session: Session, address: str, message: models.EmailMessage) -> None:
    """Suppress `address` for reminders: insert or nothing, so a repeat (or two at once) keeps one row, and an
    existing suppression (a bounce's, for all mail) stays as it is. One statement, and a write (SQLite)."""
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(models.EmailSuppression)
        .values(
            address=address,
            reason="unsubscribe",
            scope="reminders",
            detail="Unsubscribed from renewal reminders",
            email_message_id=message.id,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["address"])
    )


# --- Fresh link --------------------------------------------------------------------------------------------


@bp.post("/links/fresh")
@csrf_exempt
@limiter.limit("10/minute")
@limiter.limit("3/minute", key_func=limit_key_for_message)
def fresh_link() -> Page:
    purpose, token = request.form.get("purpose", ""), request.form.get("token", "")
    if purpose not in FRESH_PURPOSES:
        raise LinkInvalid("unknown link purpose")
    claims = links().verify_ignoring_age(cast(Purpose, purpose), token)
    session = current_session()
    message = session.get(models.EmailMessage, claims.message_id)
    if message is None or message.nonce != claims.nonce:
        raise LinkInvalid("invalid link")
    brand = brand_of(message)
    if expires_on(claims.purpose, claims.signed_at) > utcnow():
        # Not expired: its own link still works, so nothing is sent; the page does not say so.
        return render_page("actions/fresh_sent.html", brand=brand)
    session.commit()
    fresh = models.EmailMessage(
        key=f"fresh:{message.id}:{utcnow().date().isoformat()}",  # at most one a day per email
        kind=message.kind,
        contract_id=message.contract_id,
        contact_id=message.contact_id,
        rep_id=message.rep_id,
        stage=message.stage,
        nonce=new_nonce(),
        status="queued",
        data=dict(message.data or {}),
    )
    try:
        with session.begin_nested():
            session.add(fresh)
        queued = [fresh.id]
    except IntegrityError:
        queued = []
    session.commit()
    if queued:
        with enqueue_after_commit("the fresh link's email"):
            enqueue(EMAIL, send_batch_job, queued)
    return render_page("actions/fresh_sent.html", brand=brand)


# --- Shared ------------------------------------------------------------------------------------------------


def _page(opened: Opened, template: str, status: int, **context: Any) -> Page:
    message = opened.message
    contract = message.contract
    contact = message.contact
    rep = contract.rep
    locale = normalise_locale(message.locale or (contact.locale if contact is not None else None))
    contact_path = f"{LINKS['contact'].path}{links().token('contact', message.id, message.nonce)}"
    return render_page(
        template,
        brand=opened.brand,
        status=status,
        fmt=formatter(locale),
        contract=contract,
        customer=contract.account.name,
        contract_number=contract.number or contract.sf_id,
        rep_name=rep.name if rep is not None and rep.is_active else None,
        contact_url=contact_path if message.kind == "reminder" else None,
        **context,
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
