"""How a rep gets into the rep portal (issue 14, part 1): the sign-in page, the emailed one-time code, sign-out.

- ``GET /rep/sign-in``: where a rep link (and any rep page without a signed-in rep) leads. It shows no contract
  and no rep detail beyond a masked address. In-house reps (no reseller account, a Salesforce user id) get
  **Sign in with Salesforce** (:mod:`email_actions.web.rep_sign_in`); partner reps get **Email me a sign-in
  code**. Decision where the issue is silent: an in-house rep is offered the code too when Sign in with Salesforce
  is not configured (no connected app), so the rep portal never becomes unreachable; with it configured, in-house
  reps sign in with Salesforce only, so leaving the company (a deactivated Salesforce user) ends their access.
- ``POST /rep/sign-in/code``: issues a code for the rep of the link this browser opened (never for an address
  typed in: the code goes to the address on file), binds it to a fresh PKCE verifier kept in this browser's rep
  cookie, and emails it at once (:mod:`email_actions.mail.sign_in_code`). Limited per address in the store
  (:mod:`sync_service.rep_sign_in_codes`) and per client here.
- ``GET /rep/sign-in/code`` shows where to type it; ``POST /rep/sign-in/code/verify`` redeems it (used once,
  within minutes, for that address, from this browser) and opens the signed-in rep session for the link's email.
- ``POST /rep/sign-out`` ends the rep session of this browser (the customer portal's and the console's are
  other cookies and stay).
"""

from __future__ import annotations

from typing import Any, cast

import structlog
from flask import current_app, redirect, request, session
from werkzeug.wrappers import Response

from config.settings import Settings
from email_actions.mail import sign_in_code
from email_actions.mail.sending.ses import SendError
from email_actions.web.portal.blueprint import bp
from email_actions.web.portal.scope import REP, NoScope, open_rep_session, recipient_scope, wanted_message
from email_actions.web.security import limiter
from email_actions.web.session_cookies import REP_KEY
from email_actions.web.token_pages import brand_of, render_page
from jobs.base import redis_connection
from sync_service import rep_sign_in_codes as codes
from sync_service.salesforce.web_sign_in import new_pkce
from sync_service.store import models
from sync_service.store.db import current_session

log = structlog.get_logger(__name__)

PENDING_CODE = "code"


def _settings() -> Settings:
    return cast(Settings, current_app.extensions["renewals.settings"])


def salesforce_available(settings: Settings) -> bool:
    return bool(settings.salesforce_client_id) and settings.salesforce_client_secret is not None


def _rep_value() -> dict[str, Any]:
    raw = session.get(REP_KEY)
    return dict(raw) if isinstance(raw, dict) else {}


def _wanted() -> tuple[models.EmailMessage, models.Rep] | None:
    message = wanted_message(current_session())
    if message is None:
        return None
    try:
        _, _, rep = recipient_scope(message, REP)
    except NoScope:
        return None
    assert rep is not None
    return message, rep


def _ways(rep: models.Rep | None) -> tuple[bool, bool]:
    """(Sign in with Salesforce offered, emailed code offered) for `rep` (None: no link opened here)."""
    salesforce = salesforce_available(_settings())
    if rep is None:
        return salesforce, False
    in_house = rep.reseller_account_id is None and bool(rep.sf_id)
    return salesforce and in_house, bool(rep.email) and (not in_house or not salesforce)


def _sign_in_page(status: int = 200, problem: str | None = None) -> tuple[str, int]:
    wanted = _wanted()
    message, rep = wanted if wanted is not None else (None, None)
    salesforce, code = _ways(rep)
    return render_page(
        "portal/sign_in.html",
        brand=brand_of(message),
        status=status,
        salesforce=salesforce,
        code=code,
        address=codes.mask(codes.normalise_address(rep.email)) if rep is not None and rep.email else None,
        problem=problem,
    )


@bp.get("/rep/sign-in")
def rep_sign_in() -> tuple[str, int]:
    return _sign_in_page()


@bp.post("/rep/sign-in/code")
@limiter.limit("5/minute;20/hour")
def rep_request_code() -> Response | tuple[str, int]:
    wanted = _wanted()
    if wanted is None:
        return _sign_in_page(400, "Open the link in one of your renewal notices first, then ask for a code.")
    message, rep = wanted
    if not _ways(rep)[1]:
        return _sign_in_page(403, "Please sign in with Salesforce.")
    db = current_session()
    pkce = new_pkce()
    try:
        issued = codes.issue(db, rep, challenge=pkce.challenge, email_message_id=message.id, ip=request.remote_addr)
    except codes.TooManyCodes:
        db.rollback()
        return _sign_in_page(
            429, f"Several codes were sent in the last {codes.WINDOW_MINUTES} minutes: use the latest one, or wait."
        )
    except codes.CodeRefused as refused:
        db.rollback()
        return _sign_in_page(403, str(refused))
    db.commit()  # the row counts against the address's allowance even if the send below fails
    settings = _settings()
    try:
        ses_id = sign_in_code.send(
            db,
            settings,
            redis_connection(settings),
            brand=brand_of(message),
            to=issued.row.address,
            name=rep.name,
            code=issued.code,
            minutes=codes.CODE_MINUTES,
            code_id=issued.row.id,
        )
    except (sign_in_code.CodeNotSent, SendError) as error:
        log.warning("rep sign-in code not sent", code_id=issued.row.id, error=type(error).__name__)
        return _sign_in_page(503, "The code could not be emailed just now. Please try again in a few minutes.")
    issued.row.ses_message_id = ses_id
    db.commit()
    session[REP_KEY] = {**_rep_value(), PENDING_CODE: {"id": issued.row.id, "verifier": pkce.verifier}}
    return redirect("/rep/sign-in/code", code=303)


def _code_page(status: int = 200, problem: str | None = None) -> Response | tuple[str, int]:
    pending = _rep_value().get(PENDING_CODE)
    if not isinstance(pending, dict):
        return redirect("/rep/sign-in", code=303)
    wanted = _wanted()
    rep = wanted[1] if wanted is not None else None
    return render_page(
        "portal/sign_in_code.html",
        brand=brand_of(wanted[0] if wanted is not None else None),
        status=status,
        address=codes.mask(codes.normalise_address(rep.email)) if rep is not None else None,
        minutes=codes.CODE_MINUTES,
        digits=codes.CODE_DIGITS,
        problem=problem,
    )


@bp.get("/rep/sign-in/code")
def rep_code_form() -> Response | tuple[str, int]:
    return _code_page()


@bp.post("/rep/sign-in/code/verify")
@limiter.limit("10/minute")
def rep_verify_code() -> Response | tuple[str, int]:
    value = _rep_value()
    pending = value.get(PENDING_CODE)
    if not isinstance(pending, dict) or not isinstance(pending.get("id"), int):
        return _sign_in_page(400, "This browser did not ask for a code: ask for one here.")
    typed = "".join(request.form.get("code", "").split())
    if not typed.isdigit() or len(typed) != codes.CODE_DIGITS:
        return _code_page(400, f"Type the {codes.CODE_DIGITS}-digit code from the email (digits only).")
    db = current_session()
    try:
        row = codes.redeem(db, pending["id"], code=typed, verifier=str(pending.get("verifier", "")))
    except codes.CodeRefused as refused:
        db.rollback()
        return _code_page(400, str(refused))
    message = db.get(models.EmailMessage, row.email_message_id) if row.email_message_id else None
    if message is None:
        return _sign_in_page(400, "Open the link in one of your renewal notices again.")
    open_rep_session(message, {"via": "code", "rep_id": row.rep_id, "address": row.address})
    return redirect("/rep", code=303)


@bp.post("/rep/sign-out")
def rep_sign_out() -> tuple[str, int]:
    session.pop(REP_KEY, None)
    return render_page("portal/signed_out.html", brand=brand_of(None))
