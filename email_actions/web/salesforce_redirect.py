"""The browser's half of "Sign in with Salesforce", shared by the rep portal (:mod:`email_actions.web.rep_sign_in`)
and the admin console (:mod:`email_actions.web.console.salesforce_sign_in`).

:func:`begin` keeps a random ``state``, a fresh PKCE verifier, the page to return to and the time under ``sign_in``
in one session cookie's value (the rep's or the console's, beside whatever session that value holds) and sends
the browser to the org's authorize page. :func:`answer` takes that pending sign-in out of the cookie first —
whatever the outcome, so a state is used at most once — and checks the callback against it: the state, its age
(``PENDING_SECONDS``; the org's code lives 15 minutes, 10 is plenty for a login), an error from the org, a code.
What each caller then does with the code (exchange it with the verifier, match the user) is its own.

The verifier sits in a signed (not encrypted) cookie: only the browser that started the sign-in holds it, which is
what PKCE asks; codes, tokens and verifiers are never logged.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

from flask import current_app, redirect, request, session
from werkzeug.wrappers import Response

from config.settings import Settings
from sync_service.salesforce.web_sign_in import authorize_url, new_pkce

PENDING = "sign_in"
PENDING_SECONDS = 600


class CallbackRefused(Exception):
    """The callback does not complete a sign-in this browser started; ``status`` and ``message`` say why."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Answered:
    """A callback that matches this browser's pending sign-in: the code to exchange, with its verifier."""

    code: str
    verifier: str
    next_path: str | None


def settings() -> Settings:
    return cast(Settings, current_app.extensions["renewals.settings"])


def _value(key: str) -> dict[str, Any]:
    raw = session.get(key)
    return dict(raw) if isinstance(raw, dict) else {}


def begin(key: str, *, redirect_uri: str, next_path: str | None) -> Response:
    """Remember a new pending sign-in under session key `key` and send the browser to the org's authorize page.
    Raises SignInUnavailable when no connected app is configured (nothing is remembered then)."""
    pkce = new_pkce()
    state = secrets.token_urlsafe(24)
    target = authorize_url(settings(), redirect_uri=redirect_uri, state=state, challenge=pkce.challenge)
    pending = {"state": state, "verifier": pkce.verifier, "next": next_path, "at": int(time.time())}
    session[key] = {**_value(key), PENDING: pending}
    return redirect(target, code=303)


def answer(key: str) -> Answered:
    """The callback's code if it answers the pending sign-in under `key` (which is used up either way); else
    CallbackRefused."""
    value = _value(key)
    pending = value.pop(PENDING, None)
    if pending is not None:  # single use: gone from the cookie whatever happens next
        if value:
            session[key] = value
        else:
            session.pop(key, None)
    if not isinstance(pending, dict):
        raise CallbackRefused(400, "This sign-in was not started in this browser (or was used already): start again.")
    state = request.args.get("state")
    if not state or not secrets.compare_digest(state, str(pending.get("state", ""))):
        raise CallbackRefused(400, "The sign-in answer does not match this browser's sign-in: start again.")
    if not 0 <= time.time() - int(pending.get("at", 0)) <= PENDING_SECONDS:
        raise CallbackRefused(400, "The sign-in took too long: start again.")
    if request.args.get("error"):
        raise CallbackRefused(403, "Salesforce did not sign you in; nothing was changed.")
    code = request.args.get("code")
    if not code:
        raise CallbackRefused(400, "Salesforce sent no sign-in code: start again.")
    next_path = pending.get("next")
    return Answered(code, str(pending.get("verifier", "")), next_path if isinstance(next_path, str) else None)
