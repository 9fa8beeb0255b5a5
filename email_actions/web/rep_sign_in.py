"""Reps "Sign in with Salesforce" (issue 14, part 1): ``/auth/salesforce/login`` and its callback.

The login route keeps a random ``state``, the PKCE verifier, the page to go to and the time in the rep's own
session cookie (``<base>-rep``, beside whatever rep session it holds) and sends the browser to the org's
authorize page. The callback takes that pending sign-in out of the cookie first — whatever the outcome, so a
state is used at most once — checks the state, has :mod:`sync_service.salesforce.web_sign_in` exchange the code
and read the identity (the token is revoked there; nothing of it is kept), matches the Salesforce user id to a
rep (``Rep.sf_id``) and opens the rep session for that rep.

Decisions where the issue is silent:

- The rep portal is scoped to one email's account (:mod:`email_actions.web.portal.scope`), so the sign-in opens
  the session for the email whose rep link this browser opened before signing in, when that email is the
  signed-in rep's; otherwise for the **latest sent email of that rep** (``EmailMessage.rep``); a rep with no
  sent email yet is told so (403). The session records the sign-in (``signed_in``: how, the rep, the Salesforce
  user id, when): rep pages require it (:func:`email_actions.web.portal.scope.current_scope`).
- A pending sign-in lapses after ``PENDING_SECONDS`` (the org's code lives 15 minutes; 10 is plenty for a login).
- ``next`` is honoured only as a same-site relative path (``/...``, not ``//host`` or ``/\\host``); otherwise the
  rep lands on ``/rep``.
- The verifier sits in a signed (not encrypted) cookie: only the browser that started the sign-in holds it, which
  is what PKCE asks; codes, tokens and verifiers are never logged.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, cast

from flask import Blueprint, Flask, current_app, redirect, render_template, request, session
from sqlalchemy import select
from werkzeug.wrappers import Response

from config.settings import Settings
from email_actions.web.portal.scope import open_rep_session, wanted_message
from email_actions.web.session_cookies import REP_KEY
from sync_service.salesforce.web_sign_in import (
    SignInRefused,
    SignInUnavailable,
    authorize_url,
    identify,
    new_pkce,
)
from sync_service.store import models
from sync_service.store.db import current_session

PENDING = "sign_in"
PENDING_SECONDS = 600
CALLBACK_PATH = "/auth/salesforce/callback"

blueprint = Blueprint("rep_sign_in", __name__)


def _settings() -> Settings:
    return cast(Settings, current_app.extensions["renewals.settings"])


def _redirect_uri(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + CALLBACK_PATH


def safe_next(value: str | None) -> str:
    """`value` if it is a same-site relative path, else the rep portal."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n"):
        return "/rep"
    return value


def _refuse(code: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", code=code, title=title, message=message), code


def _rep_value() -> dict[str, Any]:
    raw = session.get(REP_KEY)
    return dict(raw) if isinstance(raw, dict) else {}


@blueprint.get("/auth/salesforce/login")
def login() -> Response | tuple[str, int]:
    settings = _settings()
    pkce = new_pkce()
    state = secrets.token_urlsafe(24)
    try:
        target = authorize_url(settings, redirect_uri=_redirect_uri(settings), state=state, challenge=pkce.challenge)
    except SignInUnavailable:
        return _refuse(404, "Sign-in unavailable", "Sign in with Salesforce is not set up for this service.")
    pending = {
        "state": state,
        "verifier": pkce.verifier,
        "next": safe_next(request.args.get("next")),
        "at": int(time.time()),
    }
    session[REP_KEY] = {**_rep_value(), PENDING: pending}
    return redirect(target, code=303)


@blueprint.get(CALLBACK_PATH)
def callback() -> Response | tuple[str, int]:
    value = _rep_value()
    pending = value.pop(PENDING, None)
    if pending is not None:  # single use: gone from the cookie whatever happens next
        if value:
            session[REP_KEY] = value
        else:
            session.pop(REP_KEY, None)
    if not isinstance(pending, dict):
        return _refuse(400, "Sign-in not started here", "This sign-in was not started in this browser: start again.")
    state = request.args.get("state")
    if not state or not secrets.compare_digest(state, str(pending.get("state", ""))):
        return _refuse(400, "Sign-in state mismatch", "The sign-in answer does not match this browser: start again.")
    if not 0 <= time.time() - int(pending.get("at", 0)) <= PENDING_SECONDS:
        return _refuse(400, "Sign-in expired", "The sign-in took too long: start again.")
    if request.args.get("error"):
        return _refuse(403, "Sign-in cancelled", "Salesforce did not sign you in; nothing was changed.")
    code = request.args.get("code")
    if not code:
        return _refuse(400, "Sign-in incomplete", "Salesforce sent no sign-in code: start again.")
    settings = _settings()
    try:
        identity = identify(
            settings, code=code, verifier=str(pending.get("verifier", "")), redirect_uri=_redirect_uri(settings)
        )
    except SignInUnavailable:
        return _refuse(404, "Sign-in unavailable", "Sign in with Salesforce is not set up for this service.")
    except SignInRefused as refused:
        return _refuse(400, "Sign-in refused", str(refused))
    db = current_session()
    rep = db.scalars(select(models.Rep).where(models.Rep.sf_id == identity.user_id)).first()
    if rep is None:
        return _refuse(403, "Not a rep here", "Your Salesforce user is not a sales rep of this renewals service.")
    if not rep.is_active or not identity.active:
        return _refuse(403, "Rep inactive", "Your Salesforce user is inactive here; ask an admin.")
    wanted = wanted_message(db)
    if wanted is not None and (wanted.rep_id or wanted.contract.rep_id) == rep.id:
        message: models.EmailMessage | None = wanted
    else:
        message = db.scalars(
            select(models.EmailMessage)
            .where(models.EmailMessage.rep_id == rep.id, models.EmailMessage.sent_at.is_not(None))
            .order_by(models.EmailMessage.sent_at.desc(), models.EmailMessage.id.desc())
        ).first()
    if message is None:
        return _refuse(403, "Nothing to show yet", "No renewal email has been sent to you yet; your portal opens then.")
    open_rep_session(message, {"via": "salesforce", "rep_id": rep.id, "sf_user_id": identity.user_id})
    return redirect(str(pending.get("next") or "/rep"), code=303)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
