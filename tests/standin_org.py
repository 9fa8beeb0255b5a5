"""The stand-in org as tests and benchmarks run it: a `renewals devorg serve` process on a port it picks, and
`RunningOrg`, what its first line of output says (URL, credentials, CA, admin token) with helpers for its
admin hooks (faults, settings, the request log, the clock). It never imports the org's code: tests talk to
it over HTTPS as the service does."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import lxml.html
import requests
from simple_salesforce import Salesforce

from sync_service.salesforce.client import Connection, connect
from tests.processes import renewals_command, stop_process


class RunningOrg:
    """A `renewals devorg serve` process and what its first line of output says (URL, credentials, CA,
    admin token), with helpers for its admin hooks."""

    def __init__(self, info: dict[str, Any], process: subprocess.Popen[str]):
        self.info = info
        self.process = process
        self.url: str = info["instance_url"]
        self.ca = Path(info["ca_cert"])
        self.http = requests.Session()
        self.http.verify = str(self.ca)
        self.http.trust_env = False

    def connection(self, auth: str = "password", **overrides: Any) -> Connection:
        base: dict[str, Any] = {
            "auth": auth,
            "login_url": self.url,
            "username": self.info["username"],
            "password": self.info["password"],
            "security_token": self.info["security_token"],
            "client_id": self.info["client_id"],
            "client_secret": self.info["client_secret"],
            "private_key_file": Path(self.info["jwt_private_key"]),
            "ca_bundle": self.ca,
            "timeout": 60.0,
        }
        base.update(overrides)
        return Connection(**base)

    def salesforce(self, auth: str = "password", **overrides: Any) -> Salesforce:
        """simple-salesforce signed in to this org through the service's own transport."""
        return connect(self.connection(auth, **overrides))

    def salesforce_env(self) -> dict[str, str]:
        """The RENEWALS_SALESFORCE_* variables that sign the service in to this org (password flow)."""
        return {
            "RENEWALS_SALESFORCE_AUTH": "password",
            "RENEWALS_SALESFORCE_LOGIN_URL": self.url,
            "RENEWALS_SALESFORCE_USERNAME": self.info["username"],
            "RENEWALS_SALESFORCE_PASSWORD": self.info["password"],
            "RENEWALS_SALESFORCE_SECURITY_TOKEN": self.info["security_token"],
            "RENEWALS_SALESFORCE_CA_BUNDLE": self.info["ca_cert"],
        }

    def admin(self, method: str, action: str, body: Any = None) -> Any:
        response = self.http.request(
            method,
            f"{self.url}/_devorg/admin/{action}",
            json=body,
            headers={"X-Devorg-Admin": self.info["admin_token"]},
        )
        response.raise_for_status()
        return response.json()

    def faults(self, **config: Any) -> None:
        self.admin("PUT", "faults", config)

    def advance_clock(self, seconds: float) -> None:
        """Move the org's clock forward: records written next carry stamps `seconds` later than real time
        would give them (how tests step over second-resolution SystemModstamp watermarks without sleeping)."""
        self.admin("POST", "clock", {"advance_seconds": seconds})

    def api_used(self) -> int:
        return int(self.admin("GET", "settings")["api_used"])

    def rest(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        """A raw REST request below /services/data/v59.0/, for what the client cannot send."""
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.url}/services/data/v59.0/{path}", headers=headers, **kwargs)

    def requests_since(self, since: float) -> list[dict[str, Any]]:
        return list(self.admin("GET", f"requests?since={since}"))

    def logins_since(self, since: float) -> int:
        """Successful SOAP and OAuth logins in the request log since `since` (epoch seconds)."""
        return sum(
            1
            for entry in self.requests_since(since)
            if entry["method"] == "POST"
            and entry["status"] == 200
            and (entry["path"].startswith("/services/Soap/u/") or entry["path"].startswith("/services/oauth2/token"))
        )

    def stop(self, timeout: float = 30.0) -> None:
        stop_process(self.process, timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.http.close()

    def __enter__(self) -> RunningOrg:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_org(data: Path, *args: str) -> RunningOrg:
    """`renewals devorg serve` on a port it picks, with its data in `data` (seeded on first start when
    `args` ask for it, e.g. "--seed-contracts", "40"); returns once it has printed how to reach it."""
    process = subprocess.Popen(
        [renewals_command(), "devorg", "serve", "--port", "0", "--data", str(data), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise RuntimeError(f"the stand-in org did not start (exit {process.returncode})")
    return RunningOrg(json.loads(line), process)


def stop_org(org: RunningOrg) -> None:
    org.stop()


# Orgs seeded once per process, by their `start_org` arguments: `start_seeded_copy` starts copies of them.
_seeded: dict[tuple[str, ...], Path] = {}
_seeded_root: tempfile.TemporaryDirectory[str] | None = None


def start_seeded_copy(data: Path, *args: str) -> RunningOrg:
    """`start_org(data, *args)` for an empty `data`, without seeding it: `data` becomes a copy of an org this
    process seeded with the same arguments (seeded on first use, then never started again). The seed is
    deterministic, so the copy is the org a fresh seed would give (its keys and certificates shared with the
    other copies); seeding was most of the start of an org of the tests' size."""
    global _seeded_root
    template = _seeded.get(args)
    if template is None:
        if _seeded_root is None:
            _seeded_root = tempfile.TemporaryDirectory(prefix="renewals-seeded-orgs-")
        template = Path(_seeded_root.name) / str(len(_seeded))
        stop_org(start_org(template, *args))
        _seeded[args] = template
    shutil.copytree(template, data)
    return start_org(data, *args)


# --- A browser at the org's login and approval pages ----------------------------------------------------------


def org_browser(org: RunningOrg) -> requests.Session:
    """A requests session that trusts the org's test CA (and nothing from the environment)."""
    http = requests.Session()
    http.verify = str(org.ca)
    http.trust_env = False
    return http


def submit_form(
    http: requests.Session, page: requests.Response, button: str, *, follow: bool = False, **fields: str
) -> requests.Response:
    """Post the page's first form as a browser would after clicking the button with id `button`, with `fields`
    typed in; redirects are followed only when `follow`."""
    doc = lxml.html.fromstring(page.text)
    form = doc.forms[0]
    data = {
        element.name: element.value or ""
        for element in form.inputs
        if element.name and element.get("type", "text") in ("hidden", "text", "email", "password")
    }
    pressed = doc.get_element_by_id(button)
    if pressed.get("name"):
        data[str(pressed.get("name"))] = pressed.get("value") or ""
    data.update(fields)
    return http.post(urljoin(page.url, form.get("action") or page.url), data=data, allow_redirects=follow, timeout=30)


def sign_in_at_org(
    org: RunningOrg, authorize: str, username: str, callback: str, password: str | None = None
) -> dict[str, str]:
    """A browser at the org: `authorize` → the login page (`password` defaults to the seeded users') → the approval
    page the first time a user signs in to the app → the query parameters the org sends to `callback`."""
    http = org_browser(org)
    first = http.get(authorize, allow_redirects=False)
    assert first.status_code == 302, first.text
    login_page = http.get(urljoin(org.url, first.headers["Location"]))
    typed = password or org.info["user_password"]
    signed_in = submit_form(http, login_page, "Login", username=username, password=typed)
    assert signed_in.status_code == 302, signed_in.text
    answer = http.get(urljoin(org.url, signed_in.headers["Location"]), allow_redirects=False)
    if answer.status_code != 302:
        answer = submit_form(http, answer, "oaapprove")
    location = answer.headers["Location"]
    assert location.startswith(callback + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
