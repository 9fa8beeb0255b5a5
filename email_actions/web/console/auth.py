"""Who may use the admin console, and how they sign in.

- **Users** are created on the command line (``renewals admin create-user``); there is no sign-up page.
  Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 parameters), re-hashed on sign-in when those
  parameters change, and must be at least 12 characters.
- **Sign-in** is rate limited per client address and per user name (only failures count), answers a wrong
  user name and a wrong password alike (and spends the same time on both), and starts a fresh session.
- **Sessions**: the browser's signed session cookie holds a random token and the time of the last request;
  the store keeps only the token's SHA-256 (:class:`~sync_service.store.models.AdminSession`). A session ends
  on sign-out, after ``RENEWALS_ADMIN_IDLE_MINUTES`` without a request, 12 hours after sign-in, or when the
  user is disabled.
- **Salesforce users** may sign in with Salesforce instead (:mod:`email_actions.web.console.salesforce_sign_in`):
  their account is linked by Salesforce user id and has no password, so a password never signs them in and none
  can be set; their session is the same as a local account's.
- **Roles**: ``admin`` may change things, ``viewer`` only reads. Every request to the console goes through
  :func:`guard`: without a session, a page redirects to the sign-in form and anything else is 401; a viewer's
  request that is not a GET or HEAD is 403. Views need no decorator, so none can be forgotten.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import cast
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from email_actions.web.session_cookies import ADMIN_KEY
from sync_service.store.db import current_session, use_read_only_session
from sync_service.store.models import ADMIN_ROLES, AdminSession, AdminUser, utcnow

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,79}$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
ABSOLUTE_LIFETIME = timedelta(hours=12)
COOKIE_KEY = ADMIN_KEY  # kept in a cookie of its own (email_actions.web.session_cookies)
# Views anyone may reach: the sign-in form itself.
PUBLIC_ENDPOINTS = frozenset({"admin.login"})
READ_METHODS = frozenset({"GET", "HEAD"})

_hasher = PasswordHasher()
_dummy_hash: str | None = None


class UserError(ValueError):
    """A user could not be created or changed; the message says why (and never contains the password)."""


@dataclass(frozen=True)
class SignedIn:
    """The console's user for this request."""

    id: int
    username: str
    role: str
    session_id: int

    @property
    def can_edit(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        """How the audit log names this user."""
        return f"admin:{self.username}"


def _clock() -> float:
    return time.time()


def normalise_username(username: str) -> str:
    return username.strip().lower()


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(session: Session, username: str, password: str, role: str) -> AdminUser:
    name = normalise_username(username)
    if not USERNAME.fullmatch(name):
        raise UserError(
            "a user name is 2 to 80 characters: letters, digits and . _ @ - (starting with a letter or digit)"
        )
    if role not in ADMIN_ROLES:
        raise UserError(f"the role must be one of {', '.join(ADMIN_ROLES)}, not {role!r}")
    check_password_rules(password)
    if session.scalar(select(AdminUser.id).where(AdminUser.username == name)) is not None:
        raise UserError(f"a user named {name!r} already exists")
    user = AdminUser(username=name, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, username: str) -> AdminUser:
    user = session.scalar(select(AdminUser).where(AdminUser.username == normalise_username(username)))
    if user is None:
        raise UserError(f"there is no user named {normalise_username(username)!r}")
    return user


def set_password(session: Session, username: str, password: str) -> AdminUser:
    """A new password; every session of the user ends. A Salesforce user gets none (they sign in there)."""
    user = find_user(session, username)
    if user.salesforce_user_id is not None:
        raise UserError(f"{user.username!r} signs in with Salesforce and has no password here")
    check_password_rules(password)
    user.password_hash = hash_password(password)
    end_all_sessions(session, user.id)
    return user


def set_role(session: Session, username: str, role: str) -> AdminUser:
    if role not in ADMIN_ROLES:
        raise UserError(f"the role must be one of {', '.join(ADMIN_ROLES)}, not {role!r}")
    user = find_user(session, username)
    user.role = role
    return user


def set_disabled(session: Session, username: str, disabled: bool) -> AdminUser:
    user = find_user(session, username)
    user.is_disabled = disabled
    if disabled:
        end_all_sessions(session, user.id)
    return user


def end_all_sessions(session: Session, user_id: int) -> None:
    for row in session.scalars(
        select(AdminSession).where(AdminSession.user_id == user_id, AdminSession.ended_at.is_(None))
    ):
        row.ended_at = utcnow()


def authenticate(session: Session, username: str, password: str) -> AdminUser | None:
    """The enabled user with this name and password, else None (after the same work either way)."""
    global _dummy_hash
    user = session.scalar(select(AdminUser).where(AdminUser.username == normalise_username(username)))
    if user is None or user.is_disabled or user.password_hash is None or len(password) > MAX_PASSWORD_LENGTH:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash, password[:MAX_PASSWORD_LENGTH])
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Session, user: AdminUser, ip: str | None) -> None:
    """Sign `user` in: a new session row, and a cookie that holds nothing from before (no fixation)."""
    token = secrets.token_urlsafe(32)
    db.add(AdminSession(token_hash=_token_hash(token), user_id=user.id, ip=ip))
    user.last_login_at = utcnow()
    # Only the console's own cookie starts afresh: a portal session beside it is another cookie and stays.
    session.pop(COOKIE_KEY, None)
    session[COOKIE_KEY] = {"t": token, "seen": _clock()}


def end_session(db: Session) -> None:
    """Sign out: the session row ends (its token no longer works anywhere) and the cookie forgets it."""
    data = session.pop(COOKIE_KEY, None)
    token = data.get("t") if isinstance(data, dict) else None
    if isinstance(token, str):
        row = db.scalar(select(AdminSession).where(AdminSession.token_hash == _token_hash(token)))
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()


def _idle_limit() -> float:
    settings = cast(Settings, current_app.extensions["renewals.settings"])
    return settings.admin_idle_minutes * 60.0


def load_signed_in(db: Session) -> SignedIn | None:
    """The user of this request's session, or None (and `g.admin_expired` when a session just timed out)."""
    data = session.get(COOKIE_KEY)
    if not isinstance(data, dict) or "t" not in data:  # none, or only a Salesforce sign-in under way
        return None
    token, seen = data.get("t"), data.get("seen")
    now = _clock()
    if not isinstance(token, str) or not isinstance(seen, int | float) or now - seen > _idle_limit():
        session.pop(COOKIE_KEY, None)
        g.admin_expired = True
        return None
    row = db.execute(
        select(AdminSession.id, AdminUser.id, AdminUser.username, AdminUser.role)
        .join(AdminUser, AdminUser.id == AdminSession.user_id)
        .where(
            AdminSession.token_hash == _token_hash(token),
            AdminSession.ended_at.is_(None),
            AdminSession.created_at > utcnow() - ABSOLUTE_LIFETIME,
            AdminUser.is_disabled.is_(False),
        )
    ).first()
    if row is None:
        session.pop(COOKIE_KEY, None)
        g.admin_expired = True
        return None
    if now - seen > 30:  # refresh the idle clock, without rewriting the cookie on every request
        session[COOKIE_KEY] = {**data, "t": token, "seen": now}
    session_id, user_id, username, role = row
    return SignedIn(id=user_id, username=username, role=role, session_id=session_id)


def current_user() -> SignedIn:
    """The signed-in user (views run only after :func:`guard` found one)."""
    return cast(SignedIn, g.admin_user)


def guard() -> ResponseReturnValue | None:
    """The console's `before_request`: see the module docstring."""

    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    # Console pages only read: on SQLite, a long report must not hold the write lock customers' clicks wait for.
    db = use_read_only_session() if request.method in READ_METHODS else current_session()
    user = load_signed_in(db)
    if user is None:
        if request.method in READ_METHODS:
            expired = 1 if g.get("admin_expired") else None
            return redirect(url_for("admin.login", next=safe_next(request.full_path), expired=expired))
        abort(401)
    g.admin_user = user
    if request.method not in READ_METHODS and not user.can_edit and request.endpoint != "admin.logout":
        abort(403)
    return None


def safe_next(target: str | None) -> str | None:
    """A path inside the console to return to after signing in; anything else (another site) is dropped."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target.rstrip("?")
