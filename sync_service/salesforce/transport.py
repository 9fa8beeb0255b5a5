"""The HTTP session every Salesforce call goes through (reference 1.3).

simple-salesforce takes a `requests.Session` and uses it for REST, Bulk 2.0 and login; this module gives
it one transport adapter that (1) imposes a default timeout, which simple-salesforce cannot pass on writes,
(2) adds an extra certificate authority to the system's trust store without ever turning verification off,
immune to REQUESTS_CA_BUNDLE overriding Session.verify, and (3) optionally sends the login hosts
(`*.salesforce.com`) to another base URL — the stand-in org — since simple-salesforce hard-codes them.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


class SalesforceAdapter(HTTPAdapter):
    def __init__(self, *, timeout: float, ca_bundle: Path | None = None, login_base_url: str | None = None):
        self.timeout = timeout
        self.ca_bundle = ca_bundle
        self.login_target = urlsplit(login_base_url) if login_base_url else None
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
        return super().send(request, **kwargs)


def make_session(
    *, timeout: float, ca_bundle: Path | None = None, login_base_url: str | None = None
) -> requests.Session:
    """A session for simple-salesforce. `login_base_url` is only for a login host outside salesforce.com."""
    session = requests.Session()
    adapter = SalesforceAdapter(timeout=timeout, ca_bundle=ca_bundle, login_base_url=login_base_url)
    session.mount("https://", adapter)
    return session
