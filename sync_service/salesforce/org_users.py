"""Who a Salesforce user is in the org the service is connected to: their profile and permission sets, for the
admin console's "Sign in with Salesforce" (issue 14, part 2).

The signing-in user grants the service the ``id`` scope only (:mod:`sync_service.salesforce.web_sign_in`), which
says who they are and nothing about their access. So the service asks **with its own integration connection**
(``RENEWALS_SALESFORCE_*``, the connection pulls use), never with the user's token:

- ``SELECT Id FROM Organization`` once per process: which org that connection is in. A user of any other org is
  refused before anything else is read (an org's user id means nothing in another org).
- ``SELECT Id, Username, Name, Email, IsActive, ProfileId, Profile.Name FROM User WHERE Id = '<id>'``;
- ``SELECT PermissionSet.Name FROM PermissionSetAssignment WHERE AssigneeId = '<id>' AND
  PermissionSet.IsOwnedByProfile = false``: the permission sets assigned to the user, by API name, without the
  one every profile owns (its name is an id, not something an admin would write a rule for).

The id is checked to be a Salesforce id before it is written into a query, and quoted by simple-salesforce's
``format_soql``. A sign-in costs two API calls (three on a process's first), counted in the day's usage as job
``console_sign_in``. The API budget is not checked first: an admin must be able to sign in to raise it, and two
calls per sign-in are far below what the reserve exists for.

Failures are one exception, :class:`OrgUnavailable`, whose message says what failed and Salesforce's error code,
never a token or a stack trace. Nothing here retries, except signing in again once when the integration session
expired.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import structlog
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from simple_salesforce.format import format_soql
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from sync_service.salesforce.budget import add_api_usage
from sync_service.salesforce.connect_settings import SignedInClient, SignInFailed
from sync_service.salesforce.ids import normalise_id
from sync_service.salesforce.transport import meter_of

log = structlog.get_logger(__name__)

API_JOB = "console_sign_in"


class OrgUnavailable(Exception):
    """The connected org could not be asked who the user is; the message says why."""


@dataclass(frozen=True)
class OrgUser:
    """A user as the connected org describes them."""

    id: str  # 18 characters
    username: str
    name: str
    email: str
    active: bool
    profile: str | None
    permission_sets: tuple[str, ...]


def _error_text(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or f"HTTP {exc.status}")
    return f"HTTP {exc.status}"


class OrgUsers:
    """Reads users of the connected org; keep one per process (it holds the signed-in client and the org's id)."""

    def __init__(self, settings: Settings) -> None:
        self._client = SignedInClient(settings)
        self._org_id: str | None = None
        self._lock = threading.Lock()

    def same_org(self, sessions: sessionmaker[Session], organization_id: str) -> bool:
        """Whether `organization_id` (15 or 18 characters) is the connected org's."""
        return len(organization_id) >= 15 and organization_id[:15] == self.org_id(sessions)[:15]

    def org_id(self, sessions: sessionmaker[Session]) -> str:
        """The connected org's id (asked once per process)."""
        with self._lock:
            if self._org_id is None:
                rows = self._query(sessions, lambda sf: sf.query("SELECT Id FROM Organization")["records"])
                if not rows or not isinstance(rows[0].get("Id"), str):
                    raise OrgUnavailable("the connected org did not say its id")
                self._org_id = str(rows[0]["Id"])
            return self._org_id

    def read(self, sessions: sessionmaker[Session], user_id: str) -> OrgUser | None:
        """The user with this id in the connected org, with their profile and permission sets; None when the org
        has no such user."""
        normal = normalise_id(user_id)
        if normal is None or not normal.startswith("005"):
            return None
        users = self._query(
            sessions,
            lambda sf: sf.query(
                format_soql(
                    "SELECT Id, Username, Name, Email, IsActive, ProfileId, Profile.Name FROM User WHERE Id = {}",
                    normal,
                )
            )["records"],
        )
        if not users:
            return None
        user = users[0]
        assignments = self._query(
            sessions,
            lambda sf: sf.query_all(
                format_soql(
                    "SELECT PermissionSet.Name FROM PermissionSetAssignment "
                    "WHERE AssigneeId = {} AND PermissionSet.IsOwnedByProfile = false",
                    normal,
                )
            )["records"],
        )
        profile = user.get("Profile")
        return OrgUser(
            id=normalise_id(str(user.get("Id") or "")) or normal,
            username=str(user.get("Username") or ""),
            name=str(user.get("Name") or ""),
            email=str(user.get("Email") or ""),
            active=user.get("IsActive") is True,
            profile=str(profile["Name"]) if isinstance(profile, dict) and profile.get("Name") else None,
            permission_sets=tuple(
                sorted(
                    str(row["PermissionSet"]["Name"])
                    for row in assignments
                    if isinstance(row.get("PermissionSet"), dict) and row["PermissionSet"].get("Name")
                )
            ),
        )

    def _query(self, sessions: sessionmaker[Session], ask: Callable[[Salesforce], list[dict[str, Any]]]) -> list[Any]:
        sf = self._signed_in()
        meter = meter_of(sf.session)
        calls, start = 0, meter.calls
        try:
            try:
                return ask(sf)
            except SalesforceExpiredSession:
                # The integration session expired or was revoked: sign in again, once.
                calls += meter.calls - start
                sf = self._signed_in(fresh=True)
                meter = meter_of(sf.session)
                start = meter.calls
                return ask(sf)
        except requests.RequestException as exc:
            raise OrgUnavailable(f"the connection to Salesforce failed: {exc.__class__.__name__}") from exc
        except SalesforceError as exc:
            raise OrgUnavailable(f"Salesforce refused the service's query: {_error_text(exc)}") from exc
        finally:
            if not add_api_usage(sessions, API_JOB, calls + meter.calls - start):
                log.warning("could not record the Salesforce API calls of a console sign-in")

    def _signed_in(self, *, fresh: bool = False) -> Salesforce:
        try:
            return self._client.get(fresh=fresh)
        except SignInFailed as exc:
            raise OrgUnavailable(f"the service could not sign in to Salesforce ({exc})") from exc
