"""Reps "Sign in with Salesforce" (issue 14, part 1): ``/auth/salesforce/login`` and its callback.

The pending sign-in (state, PKCE verifier, next page, time) waits in the rep's own session cookie (``<base>-rep``)
and is used once (:mod:`email_actions.web.salesforce_redirect`). The callback has
:mod:`sync_service.salesforce.web_sign_in` exchange the code and read the identity (the token is revoked there;
nothing of it is kept), matches the Salesforce user id to a rep (``Rep.sf_id``) and opens the rep session for
that rep.

Decisions where the issue is silent:

- The rep portal is scoped to one email's account (:mod:`email_actions.web.portal.scope`), so the sign-in opens
  the session for the email whose rep link this browser opened before signing in, when that email is the
  signed-in rep's; otherwise for the **latest sent email of that rep** (``EmailMessage.rep``); a rep with no
  sent email yet is told so (403). The session records the sign-in (``signed_in``: how, the rep, the Salesforce
  user id, when): rep pages require it (:func:`email_actions.web.portal.scope.current_scope`).
- ``next`` is honoured only as a same-site relative path (``/...``, not ``//host`` or ``/\\host``); otherwise the
  rep lands on ``/rep``.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from config.settings import Settings
from email_actions.web import salesforce_redirect
from email_actions.web.portal.scope import open_rep_session, wanted_message
from email_actions.web.session_cookies import REP_KEY
from sync_service.salesforce.web_sign_in import SignInRefused, SignInUnavailable, identify
from sync_service.store import models
from sync_service.store.db import current_session

CALLBACK_PATH = "/auth/salesforce/callback"
UNAVAILABLE = "Sign in with Salesforce is not set up for this service."

blueprint = Blueprint("rep_sign_in", __name__)


def _redirect_uri(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + CALLBACK_PATH


def safe_next(value: str | None) -> str:
    """`value` if it is a same-site relative path, else the rep portal."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n"):
        return "/rep"
    return value


def _refuse(code: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", code=code, title=title, message=message), code


@blueprint.get("/auth/salesforce/login")
def login() -> Response | tuple[str, int]:
    settings = salesforce_redirect.settings()
    try:
        return salesforce_redirect.begin(
            REP_KEY, redirect_uri=_redirect_uri(settings), next_path=safe_next(request.args.get("next"))
        )
    except SignInUnavailable:
        return _refuse(404, "Sign-in unavailable", UNAVAILABLE)


@blueprint.get(CALLBACK_PATH)
def callback() -> Response | tuple[str, int]:
    try:
        answered = salesforce_redirect.answer(REP_KEY)
    except salesforce_redirect.CallbackRefused as refused:
        return _refuse(refused.status, "Sign-in not completed", refused.message)
    settings = salesforce_redirect.settings()
    try:
        identity = identify(
            settings, code=answered.code, verifier=answered.verifier, redirect_uri=_redirect_uri(settings)
        )
    except SignInUnavailable:
        return _refuse(404, "Sign-in unavailable", UNAVAILABLE)
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
    return redirect(answered.next_path or "/rep", code=303)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
