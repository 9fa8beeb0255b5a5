"""The client side of "Sign in with Salesforce": the OAuth 2.0 web server flow with PKCE, for reps and for the
admin console (issue 14).

The web layer (:mod:`email_actions.web.rep_sign_in`, :mod:`email_actions.web.console.salesforce_sign_in`, each
with its own callback URL) sends the browser to :func:`authorize_url` and hands the callback's code to
:func:`identify`, which exchanges it (with the PKCE verifier), reads who signed in from the token's identity URL,
and revokes the token at once: the service needs the Salesforce user id, never the user's Salesforce session (what
the console needs beyond it, the profile and permission sets, it reads with its own integration connection:
:mod:`sync_service.salesforce.org_users`), so it keeps no token and asks only for the ``id`` scope
(shared/reference/salesforce-oauth-identity-conditional.md, sections 2-4).

Every call is plain ``requests`` through the service's Salesforce transport (its timeout and the extra CA of
``RENEWALS_SALESFORCE_CA_BUNDLE``, verification always on), to the login host of ``RENEWALS_SALESFORCE_LOGIN_URL``.
The identity URL is only followed on that host (or a ``*.salesforce.com`` one): a token is never sent elsewhere.
Codes, tokens and verifiers are never logged and never appear in an error's message.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from config.settings import Settings
from sync_service.salesforce.transport import make_session

SCOPE = "id"


class SignInUnavailable(Exception):
    """The connected app is not configured (RENEWALS_SALESFORCE_CLIENT_ID / _CLIENT_SECRET)."""


class SignInRefused(Exception):
    """Salesforce refused the code, or its answer could not be used; the message says what to do."""


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


@dataclass(frozen=True)
class Identity:
    """Who signed in, from the identity URL (reference 4.2)."""

    user_id: str
    organization_id: str
    username: str
    active: bool


def new_pkce() -> Pkce:
    """A fresh verifier (128 characters of base64url) and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(96)
    return Pkce(verifier, s256_challenge(verifier))


def s256_challenge(verifier: str) -> str:
    """The S256 challenge of a PKCE verifier (RFC 7636, section 4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _app(settings: Settings) -> tuple[str, str]:
    if not settings.salesforce_client_id or settings.salesforce_client_secret is None:
        raise SignInUnavailable(
            "Sign in with Salesforce is not set up: set RENEWALS_SALESFORCE_CLIENT_ID and "
            "RENEWALS_SALESFORCE_CLIENT_SECRET to the connected app's consumer key and secret."
        )
    return settings.salesforce_client_id, settings.salesforce_client_secret.reveal()


def _login_base(settings: Settings) -> str:
    return settings.salesforce_login_url.rstrip("/")


def authorize_url(settings: Settings, *, redirect_uri: str, state: str, challenge: str) -> str:
    """Where the browser starts: the login host's authorize endpoint (reference 2.1)."""
    client_id, _ = _app(settings)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{_login_base(settings)}/services/oauth2/authorize?{query}"


def _session(settings: Settings) -> requests.Session:
    http = make_session(timeout=settings.salesforce_timeout_seconds, ca_bundle=settings.salesforce_ca_bundle)
    http.trust_env = False
    return http


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _trusted_identity_url(settings: Settings, url: str) -> bool:
    login, target = urlsplit(_login_base(settings)), urlsplit(url)
    if target.scheme != "https" or not target.hostname:
        return False
    return target.netloc == login.netloc or target.hostname.endswith(".salesforce.com")


def identify(settings: Settings, *, code: str, verifier: str, redirect_uri: str) -> Identity:
    """Exchange the callback's code (single use at the org), read the identity URL, revoke the token."""
    client_id, client_secret = _app(settings)
    base = _login_base(settings)
    with _session(settings) as http:
        try:
            token_response = http.post(
                f"{base}/services/oauth2/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "redirect_uri": redirect_uri,
                    "code_verifier": verifier,
                },
                headers={"Accept": "application/json"},
            )
        except requests.RequestException as error:
            raise SignInRefused(f"Salesforce could not be reached ({type(error).__name__}); try again.") from None
        token = _json(token_response)
        if token_response.status_code != 200 or not isinstance(token.get("access_token"), str):
            reason = token.get("error_description") or token.get("error") or f"HTTP {token_response.status_code}"
            raise SignInRefused(f"Salesforce refused the sign-in ({reason}); start the sign-in again.")
        access_token: str = token["access_token"]
        try:
            id_url = token.get("id")
            if not isinstance(id_url, str) or not _trusted_identity_url(settings, id_url):
                raise SignInRefused("Salesforce's answer named no identity URL on its login host; sign-in refused.")
            try:
                identity_response = http.get(
                    id_url, headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
                )
            except requests.RequestException as error:
                raise SignInRefused(f"Salesforce could not be reached ({type(error).__name__}); try again.") from None
            identity = _json(identity_response)
            if identity_response.status_code != 200 or not isinstance(identity.get("user_id"), str):
                raise SignInRefused(
                    f"Salesforce did not say who signed in (HTTP {identity_response.status_code}); try again."
                )
            return Identity(
                user_id=identity["user_id"],
                organization_id=str(identity.get("organization_id") or ""),
                username=str(identity.get("username") or ""),
                active=identity.get("active") is not False,
            )
        finally:
            _revoke(http, base, access_token, token.get("refresh_token"))


def _revoke(http: requests.Session, base: str, access_token: str, refresh_token: Any) -> None:
    """Revoke what the exchange issued (a refresh token revokes its access tokens too, reference 3.3)."""
    for token in (refresh_token, access_token):
        if isinstance(token, str) and token:
            # If revoking fails the token still dies with the Salesforce session; it was never stored.
            with contextlib.suppress(requests.RequestException):
                http.post(f"{base}/services/oauth2/revoke", data={"token": token})
            return
