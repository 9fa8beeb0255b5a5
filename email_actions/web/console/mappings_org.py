"""The org as the mappings editor sees it: the objects and fields its pickers offer, validation of a mapping
against the org's describe(), and a preview of the records a mapping pulls.

- **One client per web process**, signed in on first need with the service's own settings
  (``RENEWALS_SALESFORCE_*``) and shared by the console's requests, which take turns (a lock): the console is
  used by a few admins, and taking turns keeps the count of API calls exact.
- **Describes are cached in the process for 10 minutes**, keyed by org and object
  (:class:`~mappings.describe_cache.DescribeCache`): a page of pickers costs nothing once its objects were
  described. Activation and rollback validate against fresh describes (the org as it is now); an admin can
  also drop the cache ("Refresh from the org").
- **Every API call is metered** like the pull's (the transport's `ApiMeter`), counted in the day's usage as
  job ``mappings_console``, and refused with the reason when the day's budget or the org's reserve is reached
  (:func:`sync_service.salesforce.budget.check_budget`).
- **Failures are said plainly**: :class:`OrgUnavailable` carries a message fit for the page — what failed and
  Salesforce's error code, never a stack trace or a secret. After a failure to reach or sign in to the org,
  pages do not try again for `RETRY_AFTER` seconds, so an org that is down does not make every page wait for
  its timeout.

Callers must not hold a write transaction on SQLite while calling here (the budget check and the usage count
use sessions of their own): the views commit the request's session before asking the org.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError, SalesforceResourceNotFound
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from mappings.describe_cache import GLOBAL, DescribeCache
from mappings.model import Mapping
from mappings.problems import MappingProblem
from mappings.validate import validate
from sync_service.console_settings import check_budget_in_force
from sync_service.pull.preview import Preview, preview
from sync_service.salesforce.budget import add_api_usage
from sync_service.salesforce.client import SalesforceNotConfigured, connect
from sync_service.salesforce.connect_settings import connection_from_settings
from sync_service.salesforce.errors import BudgetPaused, PullFailed, TransientError
from sync_service.salesforce.transport import ApiMeter, meter_of

API_JOB = "mappings_console"
DESCRIBE_TTL = 600.0
RETRY_AFTER = 30.0
EXTENSION_KEY = "renewals.mappings_org"


class OrgError(Exception):
    """The org answered, but not with what was asked (e.g. it refused the preview query)."""


class OrgUnavailable(OrgError):
    """The org could not be asked: not configured, unreachable, sign-in refused, or the API budget used up."""


@dataclass(frozen=True)
class OrgObject:
    name: str
    label: str


@dataclass(frozen=True)
class OrgField:
    name: str
    label: str
    type: str


def org_key(settings: Settings) -> str:
    """Which org, as which user: what a describe depends on (no secret is part of it)."""
    parts = (
        settings.salesforce_auth,
        settings.salesforce_login_url,
        settings.salesforce_instance_url or "",
        settings.salesforce_username or "",
        settings.salesforce_client_id or "",
    )
    return "|".join(parts)


def _error_text(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode')}: {str(content[0].get('message', '')).strip()}"[:300]
    return f"HTTP {exc.status}"


class ConsoleOrg:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        cache: DescribeCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.sessions = sessions
        self.key = org_key(settings)
        self.cache = cache or DescribeCache(DESCRIBE_TTL)
        self.clock = clock
        self._lock = threading.RLock()
        self._client: Salesforce | None = None
        self._depth = 0
        self._failure: str | None = None
        self._failed_until = 0.0

    @property
    def where(self) -> str:
        """The org, as pages name it: its login host."""
        return urlsplit(self.settings.salesforce_login_url).hostname or self.settings.salesforce_login_url

    # ------------------------------------------------------------------ the client

    def _signed_in(self) -> Salesforce:
        if self._client is None:
            if self._failed_until > self.clock() and self._failure:
                raise OrgUnavailable(self._failure)
            try:
                self._client = connect(connection_from_settings(self.settings))
            except SalesforceNotConfigured as exc:
                raise self._failed(f"Salesforce is not configured: {exc}") from None
            except SalesforceAuthenticationFailed as exc:
                raise self._failed(f"Salesforce refused the sign-in: {exc.code}: {exc.auth_message}") from None
            except SalesforceError as exc:
                raise self._failed(f"Salesforce refused the sign-in: {_error_text(exc)}") from None
            except (requests.RequestException, OSError) as exc:
                raise self._failed(f"the org at {self.where} could not be reached ({exc.__class__.__name__})") from None
        return self._client

    def _failed(self, message: str) -> OrgUnavailable:
        self._client = None
        self._failure = message
        self._failed_until = self.clock() + RETRY_AFTER
        return OrgUnavailable(message)

    @contextmanager
    def _org(self) -> Iterator[Salesforce]:
        """The signed-in client, for one operation. The outermost use checks the budget first and counts the
        calls made when it ends; Salesforce and transport errors become OrgError/OrgUnavailable."""
        with self._lock:
            outer = self._depth == 0
            sf = self._signed_in()
            meter = meter_of(sf.session)
            if outer:
                self._check_budget(meter)
            before = meter.calls
            self._depth += 1
            try:
                yield sf
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise self._failed(f"the org at {self.where} could not be reached ({exc.__class__.__name__})") from None
            except SalesforceError as exc:
                if exc.status == 401:
                    self._client = None  # signed out: sign in again next time
                raise OrgError(f"Salesforce answered an error: {_error_text(exc)}") from None
            except requests.RequestException as exc:
                raise OrgError(f"the request to the org failed ({exc.__class__.__name__})") from None
            finally:
                self._depth -= 1
                if outer:
                    self._count(meter.calls - before)

    def _check_budget(self, meter: ApiMeter) -> None:
        try:
            check_budget_in_force(self.sessions, meter, self.settings)
        except BudgetPaused as exc:
            raise OrgUnavailable(f"Salesforce API budget: {exc}") from None

    def _count(self, calls: int) -> None:
        """Add `calls` to today's usage of job `API_JOB` (several web workers may add at once)."""
        add_api_usage(self.sessions, API_JOB, calls)

    # ------------------------------------------------------------------ describes

    def _describe(self, name: str) -> dict[str, Any] | None:
        def fetch() -> dict[str, Any] | None:
            with self._org() as sf:
                try:
                    return dict(getattr(sf, name).describe())
                except SalesforceResourceNotFound:
                    return None

        return self.cache.get(self.key, name, fetch)

    def describe(self, name: str) -> dict[str, Any] | None:
        """The describe of object `name`, or None when the org has no such object (or it is not an API name:
        it is never sent)."""
        if not name.replace("_", "").isalnum() or not name[:1].isalpha():
            return None
        known = {o.name.lower() for o in self.objects()}
        return self._describe(name) if name.lower() in known else None

    def objects(self) -> list[OrgObject]:
        """The org's queryable objects, by name."""

        def fetch() -> dict[str, Any] | None:
            with self._org() as sf:
                described = sf.describe() or {}
            kept = [
                {"name": str(o["name"]), "label": str(o.get("label") or o["name"])}
                for o in described.get("sobjects", [])
                if o.get("queryable", True)
            ]
            return {"sobjects": kept}

        data = self.cache.get(self.key, GLOBAL, fetch) or {}
        return sorted((OrgObject(o["name"], o["label"]) for o in data.get("sobjects", [])), key=lambda o: o.name)

    def fields(self, object_name: str) -> list[OrgField] | None:
        """The fields of an object, by name; None when the org has no such object."""
        described = self.describe(object_name)
        if described is None:
            return None
        found = [
            OrgField(str(f["name"]), str(f.get("label") or f["name"]), str(f.get("type") or ""))
            for f in described.get("fields", [])
        ]
        return sorted(found, key=lambda f: f.name.lower())

    def refresh(self) -> None:
        """Forget what was described and any remembered failure: the next page asks the org again."""
        with self._lock:
            self.cache.forget(self.key)
            self._failure, self._failed_until = None, 0.0

    # ------------------------------------------------------------------ validation and preview

    def validate(self, mapping: Mapping, *, fresh: bool = False) -> list[MappingProblem]:
        """The problems of `mapping` in the org (empty: it fits). `fresh`: describe the org as it is now
        rather than as it was up to 10 minutes ago (for activation)."""
        with self._org() as sf:
            if fresh:
                self.cache.forget(self.key)
            names = [o.name for o in self.objects()]
            return validate(mapping, self._describe, object_names=names, run_query=sf.query)

    def preview(self, mapping: Mapping, entity: str) -> Preview:
        with self._org() as sf:
            try:
                return preview(sf, mapping, entity)
            except BudgetPaused as exc:
                raise OrgUnavailable(f"Salesforce API budget: {exc}") from None
            except TransientError as exc:
                raise OrgUnavailable(f"the preview could not be read: {exc}") from None
            except PullFailed as exc:
                raise OrgError(f"Salesforce refused the preview query: {exc}") from None


_create_lock = threading.Lock()


def console_org(extensions: dict[str, Any], settings: Settings, sessions: sessionmaker[Session]) -> ConsoleOrg:
    """The app's ConsoleOrg (`extensions` is `app.extensions`), made on first use."""
    with _create_lock:
        org = extensions.get(EXTENSION_KEY)
        if org is None:
            org = extensions[EXTENSION_KEY] = ConsoleOrg(settings, sessions)
        return cast(ConsoleOrg, org)
