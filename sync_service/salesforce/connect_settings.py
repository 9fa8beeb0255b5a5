"""The org connection the settings describe (RENEWALS_SALESFORCE_*), for commands and jobs."""

from __future__ import annotations

import threading

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from config.settings import Settings
from config.settings.secret import Secret
from sync_service.salesforce.client import Connection, SalesforceNotConfigured, connect


class SignInFailed(Exception):
    """Signing in to the org the settings describe failed (not configured, refused, or no answer)."""


class SignedInClient:
    """One signed-in simple-salesforce client per process for the web app's own org calls (live quote reads,
    quote downloads), made on first use and made again when a caller finds its session expired."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Salesforce | None = None
        self._lock = threading.Lock()

    def get(self, *, fresh: bool = False) -> Salesforce:
        with self._lock:
            if self._client is None or fresh:
                try:
                    self._client = connect(connection_from_settings(self.settings))
                except (SalesforceNotConfigured, SalesforceError, requests.RequestException, OSError) as exc:
                    raise SignInFailed(exc.__class__.__name__) from exc
            return self._client


def connection_from_settings(settings: Settings) -> Connection:
    """A `Connection` for `client.connect`. Secrets are revealed here, where they leave for the login call;
    what the chosen sign-in lacks is reported by `connect` (SalesforceNotConfigured), naming the variables."""
    return Connection(
        auth=settings.salesforce_auth,
        login_url=settings.salesforce_login_url,
        api_version=settings.salesforce_api_version,
        username=settings.salesforce_username,
        password=_reveal(settings.salesforce_password),
        security_token=_reveal(settings.salesforce_security_token),
        client_id=settings.salesforce_client_id,
        client_secret=_reveal(settings.salesforce_client_secret),
        private_key_file=settings.salesforce_private_key_file,
        instance_url=settings.salesforce_instance_url,
        access_token=_reveal(settings.salesforce_access_token),
        ca_bundle=settings.salesforce_ca_bundle,
        timeout=settings.salesforce_timeout_seconds,
    )


def _reveal(secret: Secret | None) -> str | None:
    return None if secret is None else secret.reveal()
