"""Injected faults as the client meets them: per-record lock errors, latency, broken JSON, error rules."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)
from werkzeug.test import Client

from sync_service.devorg.org import Org
from sync_service.devorg.server import app as server_app
from sync_service.devorg.server.app import DevOrgApp
from sync_service.salesforce.client import connect
from tests.standin_org import RunningOrg

QUERY = "SELECT Id FROM Contract LIMIT 1"


def _tasks(subject: str, n: int) -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Task"}, "Subject": subject} for _ in range(n)]


def test_record_lock_errors_per_record_in_collections(org: RunningOrg, sf: Salesforce) -> None:
    subject = f"locks {uuid.uuid4().hex[:8]}"
    org.faults(record_lock_rate=0.5, seed=7)
    results = sf.restful("composite/sobjects", method="POST", json={"records": _tasks(subject, 40)})
    failed = [r for r in results if not r["success"]]
    assert 0 < len(failed) < 40
    for result in failed:
        assert result["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
        assert "unable to obtain exclusive access" in result["errors"][0]["message"]
    count = sf.query(f"SELECT COUNT() FROM Task WHERE Subject = '{subject}'")["totalSize"]
    assert count == 40 - len(failed)


def test_record_lock_errors_in_bulk_ingest(org: RunningOrg, sf: Salesforce) -> None:
    org.faults(record_lock_rate=1.0)
    (summary,) = sf.bulk2.Task.insert(records=[{"Subject": "bulk lock"}] * 3, wait=0.1)
    assert summary["numberRecordsFailed"] == 3
    failures = sf.bulk2.Task.get_all_ingest_records(summary["job_id"])["failedRecords"]
    assert all(f["sf__Error"].startswith("UNABLE_TO_LOCK_ROW:") for f in failures)


def test_request_level_lock_error_is_a_malformed_request(org: RunningOrg, sf: Salesforce) -> None:
    org.faults(rules=[{"route": "sobjects", "error": "UNABLE_TO_LOCK_ROW", "count": 1}])
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Task.create({"Subject": "locked"})
    assert caught.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert sf.Task.create({"Subject": "not locked"})["success"] is True


def test_latency_is_added_before_each_answer_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    # In process, with the app's sleeps recorded instead of slept: what is checked is the delay the org adds,
    # never how long a request happened to take on this machine.
    org = Org(None)
    slept: list[float] = []
    clock = SimpleNamespace(sleep=slept.append, monotonic=time.monotonic, time=time.time)
    monkeypatch.setattr(server_app, "time", clock)
    client = Client(DevOrgApp(org))
    headers = {"Authorization": f"Bearer {org.open_session().token}"}

    org.faults.configure({"latency_ms": 250})
    assert client.get("/services/data/v59.0/query?q=SELECT+Id+FROM+Account", headers=headers).status_code == 200
    assert slept == [0.25]
    org.faults.configure({})
    assert client.get("/services/data/v59.0/query?q=SELECT+Id+FROM+Account", headers=headers).status_code == 200
    assert slept == [0.25]


def test_a_client_gets_its_answers_through_added_latency(org: RunningOrg, sf: Salesforce) -> None:
    org.faults(latency_ms=50)
    assert org.admin("GET", "faults")["latency_ms"] == 50
    assert sf.query(QUERY)["totalSize"] == 1


def test_malformed_json_makes_the_client_raise_then_recovers(org: RunningOrg, sf: Salesforce) -> None:
    org.faults(rules=[{"route": "query", "error": "malformed_json", "count": 1}])
    with pytest.raises(requests.exceptions.JSONDecodeError):
        sf.query(QUERY)
    assert sf.query(QUERY)["totalSize"] == 1


def test_count_rules_fire_on_their_route_only(org: RunningOrg, sf: Salesforce) -> None:
    contract_id = sf.query(QUERY)["records"][0]["Id"]
    org.faults(rules=[{"route": "query", "error": "503", "count": 2}])
    assert sf.Contract.get(contract_id)["Id"] == contract_id  # sobjects route unaffected
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError):
            sf.query(QUERY)
    assert sf.query(QUERY)["totalSize"] == 1


def test_rate_rules(org: RunningOrg, sf: Salesforce) -> None:
    org.faults(rules=[{"route": "*", "error": "503", "rate": 1.0}])
    with pytest.raises(SalesforceGeneralError):
        sf.query(QUERY)
    with pytest.raises(SalesforceGeneralError):
        sf.limits()
    org.faults(rules=[{"route": "*", "error": "503", "rate": 0.5}], seed=3)
    outcomes = []
    for _ in range(20):
        try:
            sf.query(QUERY)
            outcomes.append(True)
        except SalesforceGeneralError:
            outcomes.append(False)
    assert 0 < outcomes.count(False) < 20


def test_request_limit_fault_is_refused(org: RunningOrg, sf: Salesforce) -> None:
    org.faults(rules=[{"route": "composite", "error": "REQUEST_LIMIT_EXCEEDED", "count": 1}])
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.restful("composite", method="POST", json={"compositeRequest": []})
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_invalid_session_fault_triggers_a_relogin(org: RunningOrg, sf: Salesforce) -> None:
    since = time.time()
    org.faults(rules=[{"route": "query", "error": "INVALID_SESSION_ID", "count": 1}])
    assert sf.query(QUERY)["totalSize"] == 1
    assert org.logins_since(since) == 1


def test_login_faults(org: RunningOrg) -> None:
    org.faults(rules=[{"route": "login", "error": "503", "count": 1}])
    with pytest.raises(SalesforceAuthenticationFailed):
        connect(org.connection("password"))
    assert connect(org.connection("password")).query(QUERY)["totalSize"] == 1


def test_validation_rules(org: RunningOrg, sf: Salesforce) -> None:
    org.faults(validation_rules=[{"object": "Task", "field": "Subject", "equals": "blocked", "message": "Not today"}])
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Task.create({"Subject": "blocked"})
    assert caught.value.content[0] == {
        "message": "Not today",
        "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "fields": [],
    }
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [{"attributes": {"type": "Task"}, "Subject": s} for s in ("fine", "blocked")]},
    )
    assert results[0]["success"] is True
    assert results[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


@pytest.mark.parametrize(
    "config",
    [
        {"rules": [{"route": "nowhere", "error": "503", "rate": 1}]},
        {"rules": [{"route": "*", "error": "418", "rate": 1}]},
        {"rules": [{"route": "*", "error": "503", "rate": 2}]},
        {"record_lock_rate": -1},
        {"latency_ms": "NaN"},
        {"latency_ms": "inf"},
        {"rules": [{"surprise": True}]},
        {"rules": "503"},
        [{"route": "*", "error": "503"}],
    ],
)
def test_bad_fault_configs_are_refused_and_change_nothing(org: RunningOrg, sf: Salesforce, config: Any) -> None:
    response = org.http.put(
        f"{org.url}/_devorg/admin/faults", json=config, headers={"X-Devorg-Admin": org.info["admin_token"]}
    )
    assert response.status_code == 400
    assert org.admin("GET", "faults")["rules"] == []
    assert sf.query(QUERY)["totalSize"] == 1


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("POST", "schema", [1]),
        ("POST", "sessions/expire", [1]),
        ("PUT", "settings", [1]),
        ("PUT", "settings", {"session_seconds": "NaN"}),
        ("PUT", "settings", {"session_seconds": 0}),
        ("PUT", "settings", {"bulk_delay_seconds": "inf"}),
        ("PUT", "settings", {"upsert_update_status": 201}),
        ("GET", "requests?since=yesterday", None),
    ],
)
def test_bad_admin_requests_are_400(org: RunningOrg, sf: Salesforce, method: str, action: str, body: Any) -> None:
    before = org.admin("GET", "settings")
    response = org.http.request(
        method, f"{org.url}/_devorg/admin/{action}", json=body, headers={"X-Devorg-Admin": org.info["admin_token"]}
    )
    assert response.status_code == 400 and response.json()["error"]
    assert org.admin("GET", "settings") == {**before, "api_used": org.api_used()}
    assert sf.query(QUERY)["totalSize"] == 1
