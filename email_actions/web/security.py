"""The web app's protections, in one place: security headers, CSRF, rate limits, cookies, trusted hosts.

- **Headers** on every response: a CSP that loads nothing from elsewhere (`default-src 'self'`, no objects,
  no framing), `X-Content-Type-Options: nosniff`, `Referrer-Policy` (`no-referrer` and `Cache-Control:
  no-store` on pages reached through a token or a token's session, where a URL or page is personal), and
  HSTS when the app is served over https. A view that sets its own CSP keeps it.
- **CSRF** (Flask-WTF) on every POST, except views that carry their own proof: the email actions (the signed
  link plus a signed per-page form token), RFC 8058 one-click unsubscribe (no cookies by design) and the SNS
  endpoint (signature verification). Those call :func:`csrf_exempt`.
- **Rate limits** (Flask-Limiter, counters in Redis so every web worker shares them), keyed by client
  address; token views add limits keyed by the decoded email id (:func:`limit_key_for_message`), never by
  the token string (it has several spellings).
- **Cookies**: the session cookie is `__Host-renewals` (Secure, Path=/, no Domain) when the public URL is
  https; HttpOnly and SameSite=Lax always. The customer portal, the rep portal and the admin console each keep
  their session in a cookie of its own beside it (`-portal`, `-rep`, `-admin` appended to that name), with
  their own limits (:mod:`~email_actions.web.session_cookies`).
- **Hosts**: only the public URL's host (and localhost, for health checks) is answered; link URLs come from
  settings, never from the request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from config.settings import Settings
from email_actions.web.session_cookies import SplitCookieSessions, parts_of

F = TypeVar("F", bound=Callable[..., Any])

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# Pages reached with a token in the URL: never cached, never referred (the URL is the credential).
TOKEN_PREFIXES = ("/a/", "/u/", "/q/", "/o/", "/rep/", "/links/")
# Pages of a session a token opened: personal, never cached; their URLs hold no secret, and their forms need
# a same-origin Referer for Flask-WTF's strict HTTPS check.
SESSION_PREFIXES = ("/portal", "/rep/contracts/", "/admin")
SESSION_PATHS = ("/rep",)
MAX_CONTENT_LENGTH = 1024 * 1024

csrf = CSRFProtect()
# No X-RateLimit-* headers: they cost a Redis read of the window on every limited response and no client of ours
# reads them; a refused request still says when to come back (Retry-After, see `init_app`).
limiter = Limiter(key_func=get_remote_address, strategy="moving-window", headers_enabled=False)


def csrf_exempt(view: F) -> F:
    """Mark a view that proves its requests another way (see the module docstring)."""
    return csrf.exempt(view)


def limit_key_for_message() -> str:
    """Rate-limit key of a token view: the decoded email id the view stored in `g`, else the address."""
    message_id = g.get("email_message_id")
    return f"message:{message_id}" if message_id is not None else f"ip:{get_remote_address()}"


def init_app(app: Flask, settings: Settings) -> None:
    public = urlsplit(settings.public_base_url)
    https = public.scheme == "https"
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        TRUSTED_HOSTS=sorted({public.hostname or "localhost", "localhost", "127.0.0.1"}),
        SESSION_COOKIE_NAME="__Host-renewals" if https else "renewals",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The base cookie (CSRF token, notices) lives as long as the longest session beside it.
        PERMANENT_SESSION_LIFETIME=max(part.lifetime for part in parts_of(settings)),
        PREFERRED_URL_SCHEME=public.scheme,
        WTF_CSRF_TIME_LIMIT=3600,
        WTF_CSRF_SSL_STRICT=https,
        RATELIMIT_STORAGE_URI=settings.redis_url,
        RATELIMIT_STRATEGY="moving-window",
        RATELIMIT_HEADERS_ENABLED=False,
        RATELIMIT_SWALLOW_ERRORS=True,  # Redis down: serve the page rather than fail it
    )
    if settings.web_proxy_hops:
        # Exactly the configured number of proxies: a larger count would let clients spoof their address.
        hops = settings.web_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)  # type: ignore[method-assign]
    app.session_interface = SplitCookieSessions(parts_of(settings))
    csrf.init_app(app)
    limiter.init_app(app)

    @app.after_request
    def retry_after(response: Response) -> Response:
        """A request past a limit is told when the window frees (the one Redis read, only when refused)."""
        if response.status_code == 429 and "Retry-After" not in response.headers:
            limit = limiter.current_limit
            if limit is not None and limit.breached:
                # Never more than the window: the store keeps whole seconds, so the reset can read a second late.
                wait = min(math.ceil(limit.reset_at - time.time()), limit.limit.get_expiry())
                response.headers["Retry-After"] = str(max(1, wait))
        return response

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        path = request.path
        if path.startswith(SESSION_PREFIXES) or path in SESSION_PATHS:
            response.headers["Referrer-Policy"] = "same-origin"
            response.headers["Cache-Control"] = "no-store"
        elif path.startswith(TOKEN_PREFIXES):
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
        else:
            response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if https:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response
