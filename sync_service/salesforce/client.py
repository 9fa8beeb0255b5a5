"""Connecting to an org with the real simple-salesforce client, for each sign-in the settings allow.

Nothing here retries: transient failures are retried in one layer only, by the callers' job policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from sync_service.salesforce.transport import make_session


class SalesforceNotConfigured(Exception):
    """The settings lack what the chosen sign-in needs; the message names the variables."""


@dataclass(frozen=True)
class Connection:
    """Everything needed to sign in; built from settings, or by tests from the stand-in org's JSON line."""

    auth: str
    login_url: str = "https://login.salesforce.com"
    api_version: str = "59.0"
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    private_key_file: Path | None = None
    instance_url: str | None = None
    access_token: str | None = None
    ca_bundle: Path | None = None
    timeout: float = 30.0

    @property
    def _on_salesforce(self) -> bool:
        host = urlsplit(self.login_url).hostname or ""
        return host.endswith(".salesforce.com")

    @property
    def domain(self) -> str:
        """simple-salesforce's `domain`: `login`, `test` or a My Domain prefix such as `acme.my`."""
        host = urlsplit(self.login_url).hostname or ""
        if host.endswith(".salesforce.com"):
            return host.removesuffix(".salesforce.com")
        # A login host outside salesforce.com (the stand-in org) is reached by rewriting; client credentials
        # refuses the `login` and `test` domains, so give it a My Domain-shaped one.
        return "standin.my" if self.auth == "client_credentials" else "login"


def connect(conn: Connection) -> Salesforce:
    session = make_session(
        timeout=conn.timeout,
        ca_bundle=conn.ca_bundle,
        login_base_url=None if conn._on_salesforce else conn.login_url,
    )
    version = conn.api_version
    if conn.auth == "password":
        _need(conn, "username", "password", "security_token")
        return Salesforce(
            username=conn.username,
            password=conn.password,
            security_token=conn.security_token,
            domain=conn.domain,
            session=session,
            version=version,
        )
    if conn.auth == "jwt":
        _need(conn, "username", "client_id", "private_key_file")
        return Salesforce(
            username=conn.username,
            consumer_key=conn.client_id,
            privatekey_file=str(conn.private_key_file),
            domain=conn.domain,
            session=session,
            version=version,
        )
    if conn.auth == "client_credentials":
        _need(conn, "client_id", "client_secret")
        return Salesforce(
            consumer_key=conn.client_id,
            consumer_secret=conn.client_secret,
            domain=conn.domain,
            session=session,
            version=version,
        )
    if conn.auth == "direct":
        _need(conn, "instance_url", "access_token")
        return Salesforce(
            instance_url=conn.instance_url, session_id=conn.access_token, session=session, version=version
        )
    raise SalesforceNotConfigured(f"unknown Salesforce sign-in {conn.auth!r}")


def renew_session(sf: Salesforce) -> bool:
    """Sign in again as the client first did; False when it cannot (a session id given as is) or fails."""
    if getattr(sf, "_salesforce_login_partial", None) is None:
        return False
    try:
        sf._refresh_session()
    except (SalesforceError, requests.RequestException):
        return False
    return True


def _need(conn: Connection, *names: str) -> None:
    missing = [n for n in names if getattr(conn, n) in (None, "")]
    if missing:
        env = ", ".join(f"RENEWALS_SALESFORCE_{n.upper()}" for n in missing)
        raise SalesforceNotConfigured(f"Salesforce sign-in '{conn.auth}' needs {env}")
