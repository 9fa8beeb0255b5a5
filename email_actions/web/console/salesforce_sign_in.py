"""The admin console's "Sign in with Salesforce" (issue 14, part 2): ``/admin/auth/salesforce/login`` and its
callback, beside the console's local accounts.

The flow is the reps' (:mod:`email_actions.web.rep_sign_in`) with the console's own state: the pending sign-in
(state, PKCE verifier, the console page to return to, time) waits in the console's own cookie value
(:data:`~email_actions.web.session_cookies.ADMIN_KEY`, beside a session it may hold) and is used once, within 10
minutes (:mod:`email_actions.web.salesforce_redirect`); the authorize page asks for scope ``id`` only. The callback
has :mod:`sync_service.salesforce.web_sign_in` exchange the code and read the identity (the token is revoked
there; nothing of it is kept). Then, with the service's own integration connection
(:mod:`sync_service.salesforce.org_users`), it checks that the user belongs to the org the service is connected to
and reads their profile and permission sets; the console's rules (:mod:`sync_service.console_settings.
salesforce_roles`) give the role, or refuse ("your Salesforce user has no role in this console; ask an admin").

The user's console account is the :class:`~sync_service.store.models.AdminUser` linked by Salesforce user id,
made at the first sign-in and named after the Salesforce username (lower case; a local account already holding
that name keeps it, and the Salesforce user's is suffixed ``-sf``: a Salesforce user never takes over a local
account). It has no password. Its role is recomputed at every sign-in with Salesforce (audited when it changes);
a session already open keeps its role until it ends (12 hours at most; disable the user to end it at once). A
disabled account stays disabled. The session is the console's usual one (:func:`~email_actions.web.console.auth.
start_session`): idle limit, 12 hours, sign-out, disabling all work as for local accounts.

The routes live in a blueprint of their own so that the console's guard, which sends anyone without a session to
the sign-in page, does not apply to the sign-in itself. The callback is a GET that signs in (and may create the
account): OAuth's redirect is a GET, and only the browser holding the pending state can complete it, so a link
scanner replaying the URL changes nothing. Codes, tokens and verifiers are never logged; the access log shows the
callback without its query (``config/commands/web.py``).
"""

from __future__ import annotations

import secrets
import threading
from typing import cast

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.settings import Settings
from email_actions.web import salesforce_redirect
from email_actions.web.console.auth import normalise_username, safe_next, start_session
from email_actions.web.session_cookies import ADMIN_KEY
from sync_service import console_settings as cs
from sync_service.salesforce.org_users import OrgUnavailable, OrgUser, OrgUsers
from sync_service.salesforce.web_sign_in import SignInRefused, SignInUnavailable, identify
from sync_service.store.db import current_database, use_writer_session
from sync_service.store.models import AdminUser, AuditEntry

LOGIN_PATH = "/admin/auth/salesforce/login"
CALLBACK_PATH = "/admin/auth/salesforce/callback"
NO_ROLE = "Your Salesforce user has no role in this console; ask an admin."
ORG_USERS_KEY = "renewals.org_users"
_lock = threading.Lock()

blueprint = Blueprint("admin_salesforce", __name__, url_prefix="/admin/auth/salesforce")


def _settings() -> Settings:
    return cast(Settings, current_app.extensions["renewals.settings"])


def configured(settings: Settings) -> bool:
    """Whether the connected app is configured (the sign-in page then offers Sign in with Salesforce)."""
    return bool(settings.salesforce_client_id) and settings.salesforce_client_secret is not None


def callback_url(settings: Settings) -> str:
    """This service's callback, to be listed among the connected app's callback URLs."""
    return settings.public_base_url.rstrip("/") + CALLBACK_PATH


def org_users() -> OrgUsers:
    """The app's reader of the connected org's users, made on first use (it signs in on first need)."""
    extensions = current_app.extensions
    with _lock:
        if ORG_USERS_KEY not in extensions:
            extensions[ORG_USERS_KEY] = OrgUsers(_settings())
        return cast(OrgUsers, extensions[ORG_USERS_KEY])


def _refuse(code: int, message: str) -> ResponseReturnValue:
    """The console's sign-in page with why Salesforce's sign-in was refused (nothing changed)."""
    page = render_template(
        "admin/login.html",
        next_path=None,
        expired=False,
        error=message,
        username="",
        salesforce=configured(_settings()),
    )
    return page, code


@blueprint.get("/login")
def login() -> ResponseReturnValue:
    try:
        return salesforce_redirect.begin(
            ADMIN_KEY, redirect_uri=callback_url(_settings()), next_path=safe_next(request.args.get("next"))
        )
    except SignInUnavailable:
        return _refuse(404, "Sign in with Salesforce is not set up for this console; sign in with your password.")


@blueprint.get("/callback")
def callback() -> ResponseReturnValue:
    try:
        answered = salesforce_redirect.answer(ADMIN_KEY)
    except salesforce_redirect.CallbackRefused as refused:
        return _refuse(refused.status, refused.message)
    settings = _settings()
    try:
        identity = identify(
            settings, code=answered.code, verifier=answered.verifier, redirect_uri=callback_url(settings)
        )
    except SignInUnavailable:
        return _refuse(404, "Sign in with Salesforce is not set up for this console; sign in with your password.")
    except SignInRefused as refused:
        return _refuse(400, str(refused))
    # Ask the org before touching the store: its reads count API usage in sessions of their own.
    sessions = current_database().sessionmaker
    reader = org_users()
    try:
        if not reader.same_org(sessions, identity.organization_id):
            return _refuse(403, "Your Salesforce user belongs to another org than the one this service works with.")
        user = reader.read(sessions, identity.user_id)
    except OrgUnavailable as exc:
        return _refuse(503, f"Your Salesforce user could not be looked up ({exc}); try again, or use your password.")
    if user is None:
        return _refuse(403, "The org this service works with has no such user.")
    if not user.active or not identity.active:
        return _refuse(403, "Your Salesforce user is inactive; ask an admin.")
    db = use_writer_session()  # a GET by protocol that signs in: it writes the account and its session
    rule = cs.role_for(
        cs.salesforce_roles(db), user_id=user.id, profile=user.profile, permission_sets=user.permission_sets
    )
    if rule is None:
        return _refuse(403, NO_ROLE)
    try:
        account = _account(db, user, rule)
        if account.is_disabled:
            db.rollback()
            return _refuse(403, "Your console account is disabled; ask an admin.")
        start_session(db, account, get_remote_address())
        db.commit()
    except IntegrityError:  # the same user's first sign-in in another browser at the same moment made the account
        db.rollback()
        return _refuse(409, "Another sign-in of yours was under way at the same moment: start again.")
    flash(f"Signed in with Salesforce as {account.username} ({account.role}, by the rule “{rule.text}”).")
    return redirect(answered.next_path or url_for("admin.index"), code=303)


def _account(db: Session, user: OrgUser, rule: cs.RoleRule) -> AdminUser:
    """The console account linked to `user`, made on the first sign-in; its role set by `rule` (changes audited)."""
    account = db.scalar(select(AdminUser).where(AdminUser.salesforce_user_id == user.id))
    reason = f"Sign in with Salesforce: rule “{rule.text}”"
    if account is None:
        account = AdminUser(
            username=_free_username(db, user), password_hash=None, salesforce_user_id=user.id, role=rule.role
        )
        db.add(account)
        db.flush()
        after = {"username": account.username, "role": rule.role, "salesforce_user_id": user.id}
        db.add(
            AuditEntry(actor=f"admin:{account.username}", action="user.create", before={}, after=after, reason=reason)
        )
    elif account.role != rule.role:
        before = {"username": account.username, "role": account.role}
        account.role = rule.role
        after = {"username": account.username, "role": rule.role}
        db.add(
            AuditEntry(
                actor=f"admin:{account.username}", action="user.set_role", before=before, after=after, reason=reason
            )
        )
    return account


def _free_username(db: Session, user: OrgUser) -> str:
    """The Salesforce username in lower case, unless another account holds it (a local account keeps its name)."""
    wanted = normalise_username(user.username)[:80] or user.id.lower()
    for candidate in (wanted, f"{wanted[:77]}-sf", f"sf-{user.id.lower()}"):
        if db.scalar(select(AdminUser.id).where(AdminUser.username == candidate)) is None:
            return candidate
    return f"sf-{user.id.lower()}-{secrets.token_hex(4)}"


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
