"""Fixtures for the stand-in org: a real `renewals devorg serve` process over TLS, and the real
simple-salesforce client connected to it through the service's own transport."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from sync_service.salesforce.client import Connection, connect


class RunningOrg:
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


def start_org(tmp: Path, *args: str) -> RunningOrg:
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("renewals")), "devorg", "serve", "--port", "0", "--data", str(tmp), *args],
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
    org.process.terminate()
    try:
        org.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        org.process.kill()
        org.process.wait(timeout=10)
    if org.process.stdout is not None:
        org.process.stdout.close()
    org.http.close()


@pytest.fixture(scope="session")
def devorg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    """One seeded Salesforce CPQ org for the whole session. Tests that change faults reset them."""
    org = start_org(tmp_path_factory.mktemp("devorg"), "--seed-contracts", "120", "--flavour", "salesforce_cpq")
    yield org
    stop_org(org)


@pytest.fixture
def org(devorg: RunningOrg) -> Iterator[RunningOrg]:
    """The session org with faults and settings put back after the test."""
    yield devorg
    devorg.faults()
    devorg.admin(
        "PUT",
        "settings",
        {"session_seconds": 7200, "upsert_update_status": 204, "daily_api_limit": 100000, "bulk_delay_seconds": 0.2},
    )


@pytest.fixture
def sf(org: RunningOrg) -> Salesforce:
    return connect(org.connection("password"))
