"""The HTTP session every Salesforce call goes through (reference 1.3).

simple-salesforce takes a `requests.Session` and uses it for REST, Bulk 2.0 and login; this module gives
it one transport adapter that (1) imposes a default timeout, which simple-salesforce cannot pass on writes,
(2) adds an extra certificate authority to the system's trust store without ever turning verification off,
immune to REQUESTS_CA_BUNDLE overriding Session.verify, and (3) optionally sends the login hosts
(`*.salesforce.com`) to another base URL — the stand-in org — since simple-salesforce hard-codes them.
"""

from __future__ import annotations

import re
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass
class ApiMeter:
    """API requests this session made, and the org's usage as the last `Sforce-Limit-Info` reported it.

    simple-salesforce keeps the header on whichever object made the call (and never for Bulk calls), so
    the transport reads it once for all of them.
    """

    calls: int = 0
    org_used: int | None = None
    org_limit: int | None = None
    # A pull reads its next page in a thread while it writes: two threads can count at once.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_call(self) -> None:
        with self._lock:
            self.calls += 1

    @property
    def org_remaining(self) -> int | None:
        if self.org_used is None or self.org_limit is None:
            return None
        return self.org_limit - self.org_used


class SalesforceAdapter(HTTPAdapter):
    def __init__(self, *, timeout: float, ca_bundle: Path | None = None, login_base_url: str | None = None):
        self.timeout = timeout
        self.ca_bundle = ca_bundle
        self.login_target = urlsplit(login_base_url) if login_base_url else None
        self.meter = ApiMeter()
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self.ca_bundle is not None:
            context = ssl.create_default_context()
            context.load_verify_locations(cafile=str(self.ca_bundle))
            kwargs["ssl_context"] = context
        super().init_poolmanager(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if self.ca_bundle is not None:
            # The pool's SSL context already trusts the extra CA; keep the environment from swapping it out.
            kwargs["verify"] = True
        if self.login_target is not None and request.url:
            parts = urlsplit(request.url)
            if parts.hostname and parts.hostname.endswith(".salesforce.com"):
                request.url = urlunsplit(
                    (self.login_target.scheme, self.login_target.netloc, parts.path, parts.query, parts.fragment)
                )
        response = super().send(request, **kwargs)
        if "/services/data/" in (request.url or ""):
            self.meter.count_call()
            match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
            if match:
                self.meter.org_used, self.meter.org_limit = int(match.group(1)), int(match.group(2))
        return response


def make_session(
    *, timeout: float, ca_bundle: Path | None = None, login_base_url: str | None = None
) -> requests.Session:
    """A session for simple-salesforce. `login_base_url` is only for a login host outside salesforce.com."""
    session = requests.Session()
    adapter = SalesforceAdapter(timeout=timeout, ca_bundle=ca_bundle, login_base_url=login_base_url)
    session.mount("https://", adapter)
    return session


def meter_of(session: requests.Session) -> ApiMeter:
    """The API meter of a session made by `make_session` (simple-salesforce keeps it as `sf.session`)."""
    adapter = session.get_adapter("https://")
    if not isinstance(adapter, SalesforceAdapter):
        raise TypeError("this session was not made by make_session()")
    return adapter.meter
