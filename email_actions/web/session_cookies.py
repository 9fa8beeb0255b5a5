"""One cookie per kind of session: the customer portal, the rep portal and the admin console never share one.

Flask keeps one session dict per request; :class:`SplitCookieSessions` stores each of a few named keys of it in a
cookie of its own (``<base>-portal``, ``<base>-rep``, ``<base>-admin``, where ``<base>`` is the session cookie's
name) and everything else (the CSRF token, flashed notices) in the base cookie. So opening a customer's link, which
replaces the customer scope, leaves an admin's sign-in and a rep's session as they were, and each kind keeps its
own limits: the kind's code checks its idle and absolute ages from the times its value holds (never from another
kind's activity), and its cookie is signed with a maximum age of its absolute limit as a backstop.

A kind's cookie is written only when its value changed in the request (and deleted when its value went away),
so one kind's requests never refresh another's cookie. Values are signed with the app's keys (and their
rotation) like Flask's own session; a value found under another kind's cookie is ignored.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

from config.settings import Settings

# The session keys kept in cookies of their own (the console's sign-in uses ``ADMIN_KEY``).
CUSTOMER_KEY = "portal_scope"
REP_KEY = "rep_scope"
ADMIN_KEY = "admin"
# However active, an admin console sign-in ends this long after it started (the store checks it too).
ADMIN_ABSOLUTE = timedelta(hours=12)


@dataclass(frozen=True)
class Part:
    """A session key kept in a cookie of its own, named ``<base><suffix>``, signed to last at most `lifetime`."""

    key: str
    suffix: str
    lifetime: timedelta


class SplitSession(SecureCookieSession):
    """Flask's cookie session that remembers each part's value as it came in (to write only what changed)."""

    loaded_parts: dict[str, Any]


class SplitCookieSessions(SecureCookieSessionInterface):
    session_class = SplitSession

    def __init__(self, parts: tuple[Part, ...]) -> None:
        self.parts = parts

    def _loads(self, app: Flask, raw: str | None, max_age: timedelta) -> dict[str, Any]:
        serializer = self.get_signing_serializer(app)
        if raw is None or serializer is None:
            return {}
        try:
            value = serializer.loads(raw, max_age=int(max_age.total_seconds()))
        except BadSignature:
            return {}
        return value if isinstance(value, dict) else {}

    def open_session(self, app: Flask, request: Request) -> SplitSession | None:
        if self.get_signing_serializer(app) is None:
            return None
        name = self.get_cookie_name(app)
        part_keys = {part.key for part in self.parts}
        base = self._loads(app, request.cookies.get(name), app.permanent_session_lifetime)
        data = {key: value for key, value in base.items() if key not in part_keys}
        loaded: dict[str, Any] = {}
        for part in self.parts:
            value = self._loads(app, request.cookies.get(name + part.suffix), part.lifetime)
            if part.key in value:
                data[part.key] = value[part.key]
                loaded[part.key] = copy.deepcopy(value[part.key])
        session = self.session_class(data)
        session.loaded_parts = loaded
        return session

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        assert isinstance(session, SplitSession)
        serializer = self.get_signing_serializer(app)
        assert serializer is not None
        name = self.get_cookie_name(app)
        options: dict[str, Any] = {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "httponly": self.get_cookie_httponly(app),
            "samesite": self.get_cookie_samesite(app),
        }
        if session.accessed:
            response.vary.add("Cookie")
        now = datetime.now(UTC)
        for part in self.parts:
            cookie = name + part.suffix
            value = session.get(part.key)
            if value is None:
                if cookie in request.cookies:
                    response.delete_cookie(cookie, **options)
            elif value != session.loaded_parts.get(part.key) or cookie not in request.cookies:
                signed = serializer.dumps({part.key: value})
                response.set_cookie(cookie, signed, expires=now + part.lifetime, **options)
        part_keys = {part.key for part in self.parts}
        base = {key: value for key, value in session.items() if key not in part_keys}
        if not base:
            if session.modified and name in request.cookies:
                response.delete_cookie(name, **options)
            return
        if session.modified or (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            expires = self.get_expiration_time(app, session)
            response.set_cookie(name, serializer.dumps(base), expires=expires, **options)


def parts_of(settings: Settings) -> tuple[Part, ...]:
    """The customer portal's, the rep portal's and the admin console's cookies, each with its absolute limit."""
    return (
        Part(CUSTOMER_KEY, "-portal", timedelta(hours=settings.portal_max_hours)),
        Part(REP_KEY, "-rep", timedelta(hours=settings.rep_max_hours)),
        Part(ADMIN_KEY, "-admin", ADMIN_ABSOLUTE),
    )
