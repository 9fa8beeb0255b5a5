"""What the stand-in org remembers for the OAuth 2.0 web server flow: the connected app's callback URLs and
policies, pending authorization requests, authorization codes, refresh tokens, the scopes of each access token,
the users' browser sessions at the org and the approvals they gave. Only `server/web_auth.py` reads or writes it.

Everything but the connected app's configuration lives in memory, like the API sessions: a restarted stand-in
makes users sign in again. The configuration is kept with the org's data (meta `connected_app`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync_service.devorg.store import OrgStore

# The password every seeded user but the API user signs in with on the login page (the API user keeps the
# password printed on the first line). Local demo data only: documented in the README and printed as
# `user_password`.
DEMO_USER_PASSWORD = "Renewals-demo-1"  # noqa: S105
DEFAULT_CALLBACK_URLS = ("http://localhost:5000/auth/salesforce/callback",)
# `openid` is left out until the stand-in issues ID tokens (see server/web_auth.py).
APP_SCOPES = ("api", "refresh_token", "offline_access", "id", "profile", "email", "address", "phone", "web", "full")
CODE_SECONDS = 15 * 60  # reference 2.5


@dataclass
class ConnectedApp:
    callback_urls: list[str] = field(default_factory=lambda: list(DEFAULT_CALLBACK_URLS))
    require_pkce: bool = False  # "Require PKCE" off, as a new connected app comes (reference 2.4)
    require_secret: bool = True  # "Require Secret for Web Server Flow" on, its default (reference 2.6)

    def configure(self, body: dict[str, Any]) -> None:
        """Apply an admin update; a bad value is a ValueError naming it, and nothing changes."""
        unknown = set(body) - {"callback_urls", "require_pkce", "require_secret"}
        if unknown:
            raise ValueError(f"unknown connected app settings: {sorted(unknown)}")
        urls = body.get("callback_urls", self.callback_urls)
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and "://" in u for u in urls):
            raise ValueError(f"callback_urls must be a non-empty list of absolute URLs, not {urls!r}")
        flags = {k: body.get(k, getattr(self, k)) for k in ("require_pkce", "require_secret")}
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, not {value!r}")
        self.callback_urls = list(urls)
        self.require_pkce = flags["require_pkce"]
        self.require_secret = flags["require_secret"]


@dataclass
class Pending:
    """An authorize request waiting for the user to sign in and approve."""

    client_id: str
    redirect_uri: str
    state: str | None
    scopes: list[str]
    code_challenge: str | None
    prompt: set[str]
    login_hint: str
    created: float


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: list[str]
    code_challenge: str | None
    issued: float
    used: bool = False


@dataclass
class RefreshToken:
    client_id: str
    user_id: str
    scopes: list[str]
    access_tokens: set[str] = field(default_factory=set)


@dataclass
class BrowserSession:
    user_id: str
    logged_in: float


@dataclass
class OAuthState:
    app: ConnectedApp = field(default_factory=ConnectedApp)
    pending: dict[str, Pending] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    token_scopes: dict[str, list[str]] = field(default_factory=dict)
    browser: dict[str, BrowserSession] = field(default_factory=dict)
    approvals: set[tuple[str, str]] = field(default_factory=set)  # (user id, client id)

    @classmethod
    def load(cls, store: OrgStore) -> OAuthState:
        state = cls()
        stored = store.get_meta("connected_app")
        if stored:
            state.app.configure(json.loads(stored))
        return state

    def save_app(self, store: OrgStore) -> None:
        store.set_meta("connected_app", json.dumps(self.app.__dict__))
