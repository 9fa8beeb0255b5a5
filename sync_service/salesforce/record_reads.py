"""One record read live from the org: the sObject Rows GET (``sobjects/<object>/<id>?fields=…``) the Renew POST
makes to check the renewal quote against what the customer confirmed (and the job that completes a renewal
the org could not confirm at once).

One API call per read (plus a sign-in when the session is new or expired), checked against the API budget
first and counted in ``api_usage`` as job ``renewal_read``. The client is signed in on first need and kept,
one per process (web workers and job workers alike; nothing connects at import).

Failures are sorted for the caller, who decides what the customer sees:

- :class:`OrgUnavailable` — transient: the network, a timeout, a 5xx, a row lock, a session that cannot be
  renewed right now, the sign-in failing or not configured, the API budget or the org's daily limit reached.
  The read is worth trying again later (the Renew POST records an intent; the intents job retries it).
- :class:`RecordGone` — the org has no such record (404): it was deleted or merged.
- :class:`ReadRefused` — the org refused the request for good (a field the mapping names is gone, no access):
  an admin must fix the mapping or the integration user; retrying changes nothing.

Nothing here retries: the one layer that retries is the caller's (the intents job).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests
import structlog
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from sync_service import console_settings
from sync_service.salesforce.budget import add_api_usage
from sync_service.salesforce.connect_settings import SignedInClient, SignInFailed
from sync_service.salesforce.errors import BudgetPaused
from sync_service.salesforce.transport import meter_of

log = structlog.get_logger(__name__)

API_JOB = "renewal_read"
_TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "QUERY_TIMEOUT", "UNKNOWN_EXCEPTION"}


class OrgUnavailable(Exception):
    """The org could not be read now; trying again later may work. The message says why."""


class RecordGone(Exception):
    """The org has no record with that id (deleted or merged)."""


class ReadRefused(Exception):
    """The org refused the read for good; the message is Salesforce's own (e.g. INVALID_FIELD)."""


def _code_and_message(exc: SalesforceError) -> tuple[str, str]:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", "")).strip()
    return "", str(content)


class RecordReader:
    """Reads single records live; keep one per process (it holds the signed-in client)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client = SignedInClient(settings)

    def read(self, sessions: sessionmaker[Session], sobject: str, sf_id: str, fields: Sequence[str]) -> dict[str, Any]:
        """The record's `fields` as the org holds them now (Salesforce field name → JSON value)."""
        sf = self._signed_in()
        meter = meter_of(sf.session)
        try:
            console_settings.check_budget_in_force(sessions, meter, self.settings)
        except BudgetPaused as exc:
            raise OrgUnavailable(str(exc)) from exc
        path = f"sobjects/{sobject}/{sf_id}"
        params = {"fields": ",".join(fields)}
        calls, start = 0, meter.calls
        try:
            try:
                result = sf.restful(path, params=params)
            except SalesforceExpiredSession:
                # The session expired or was revoked: sign in again, once.
                calls += meter.calls - start
                sf = self._signed_in(fresh=True)
                meter = meter_of(sf.session)
                start = meter.calls
                result = sf.restful(path, params=params)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise OrgUnavailable(f"the connection to Salesforce failed: {exc.__class__.__name__}") from exc
        except SalesforceResourceNotFound as exc:
            raise RecordGone(f"Salesforce has no {sobject} {sf_id}") from exc
        except SalesforceExpiredSession as exc:
            raise OrgUnavailable("the Salesforce session expired and signing in again did not help") from exc
        except SalesforceRefusedRequest as exc:
            code, message = _code_and_message(exc)
            if code == "REQUEST_LIMIT_EXCEEDED":
                raise OrgUnavailable("the org's daily API limit is exhausted") from exc
            raise ReadRefused(f"Salesforce refused to read {sobject} {sf_id}: {code}: {message}") from exc
        except SalesforceError as exc:
            code, message = _code_and_message(exc)
            if exc.status >= 500 or code in _TRANSIENT_CODES:
                raise OrgUnavailable(f"Salesforce answered {exc.status}: {code or message}") from exc
            raise ReadRefused(f"Salesforce refused to read {sobject} {sf_id}: {code}: {message}") from exc
        finally:
            self._count(sessions, calls + meter.calls - start)
        if not isinstance(result, dict):
            raise OrgUnavailable(f"Salesforce answered no record for {sobject} {sf_id}")
        return {key: value for key, value in result.items() if key != "attributes"}

    def _signed_in(self, *, fresh: bool = False) -> Salesforce:
        try:
            return self._client.get(fresh=fresh)
        except SignInFailed as exc:
            raise OrgUnavailable(f"could not sign in to Salesforce: {exc}") from exc

    @staticmethod
    def _count(sessions: sessionmaker[Session], calls: int) -> None:
        if not add_api_usage(sessions, API_JOB, calls):
            log.warning("could not record the Salesforce API calls of live reads", calls=calls)
