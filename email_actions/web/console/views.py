"""Signing in and out of the console, and its front page."""

from __future__ import annotations

from typing import cast

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address

from config.settings import Settings
from email_actions.web.console.auth import authenticate, end_session, normalise_username, safe_next, start_session
from email_actions.web.console.blueprint import bp
from email_actions.web.console.salesforce_sign_in import configured
from email_actions.web.security import limiter
from sync_service.store.db import current_session

# Failed sign-ins allowed (only failures count): per client address, and per user name from any address.
LOGIN_LIMIT_PER_ADDRESS = "20 per 10 minutes"
LOGIN_LIMIT_PER_USER = "10 per 10 minutes"


def _username_key() -> str:
    return "admin-login:" + normalise_username(request.form.get("username", ""))[:80]


def _failed(response: object) -> bool:
    return getattr(response, "status_code", 200) == 401


def _salesforce() -> bool:
    """Whether the page offers Sign in with Salesforce (the connected app is configured)."""
    return configured(cast(Settings, current_app.extensions["renewals.settings"]))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_ADDRESS, methods=["POST"], deduct_when=_failed)
@limiter.limit(LOGIN_LIMIT_PER_USER, key_func=_username_key, methods=["POST"], deduct_when=_failed)
def login() -> ResponseReturnValue:
    next_path = safe_next(request.values.get("next"))
    if request.method == "GET":
        expired = g.get("admin_expired", False) or request.args.get("expired") == "1"
        return render_template(
            "admin/login.html",
            next_path=next_path,
            expired=expired,
            error=None,
            username="",
            salesforce=_salesforce(),
        )
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    db = current_session()
    user = authenticate(db, username, password)
    if user is None:
        db.rollback()
        page = render_template(
            "admin/login.html",
            next_path=next_path,
            expired=False,
            error="Wrong user name or password.",
            username=username[:80],
            salesforce=_salesforce(),
        )
        return page, 401
    start_session(db, user, get_remote_address())
    db.commit()
    return redirect(next_path or url_for("admin.index"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    db = current_session()
    end_session(db)
    db.commit()
    flash("You are signed out.")
    return redirect(url_for("admin.login"))


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("admin.operations"))
