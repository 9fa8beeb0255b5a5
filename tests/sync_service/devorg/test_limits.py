"""API accounting: `Sforce-Limit-Info` on every response, `sf.api_usage`, and `GET limits/`."""

from __future__ import annotations

from simple_salesforce import Salesforce

from tests.standin_org import RunningOrg


def _usage(holder: object) -> tuple[int, int]:
    usage = holder.api_usage["api-usage"]  # type: ignore[attr-defined]
    return usage.used, usage.total


def test_api_usage_follows_every_call(org: RunningOrg, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Contract LIMIT 1")
    assert _usage(sf) == (org.api_used(), 100_000)
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert _usage(sf) == (org.api_used(), 100_000)


def test_sftype_calls_record_usage_on_the_sftype(org: RunningOrg, sf: Salesforce) -> None:
    task_api = sf.Task
    task_id = task_api.create({"Subject": "usage"})["id"]
    assert _usage(task_api)[0] == org.api_used()
    task_api.get(task_id)
    assert _usage(task_api)[0] == org.api_used()


def test_collections_and_composite_count_once(org: RunningOrg, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Contract LIMIT 1")
    used, _ = _usage(sf)
    records = [{"attributes": {"type": "Task"}, "Subject": f"limits {i}"} for i in range(50)]
    sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert _usage(sf)[0] == used + 1
    subrequests = [{"method": "GET", "url": "/services/data/v59.0/limits/", "referenceId": f"r{i}"} for i in range(10)]
    sf.restful("composite", method="POST", json={"compositeRequest": subrequests})
    assert _usage(sf)[0] == used + 2 == org.api_used()


def test_limits_report_remaining_daily_requests(org: RunningOrg, sf: Salesforce) -> None:
    limits = sf.limits()
    daily = limits["DailyApiRequests"]
    assert daily["Max"] == 100_000
    assert daily["Remaining"] == daily["Max"] - org.api_used() == daily["Max"] - _usage(sf)[0]
    for name in ("DailyBulkApiRequests", "DailyBulkV2QueryJobs", "DataStorageMB", "FileStorageMB"):
        assert 0 <= limits[name]["Remaining"] <= limits[name]["Max"]


def test_a_lower_daily_limit_shows_in_header_and_limits(org: RunningOrg, sf: Salesforce) -> None:
    org.admin("PUT", "settings", {"daily_api_limit": org.api_used() + 50})
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == org.api_used() + 49
    assert limits["DailyApiRequests"]["Remaining"] == 49
    assert _usage(sf) == (org.api_used(), org.api_used() + 49)


def test_header_is_on_errors_too_but_not_on_the_versions_resource(org: RunningOrg, sf: Salesforce) -> None:
    response = org.rest("GET", "sobjects/Nope__c/describe", sf.session_id)
    assert response.status_code == 404
    assert response.headers["Sforce-Limit-Info"] == f"api-usage={org.api_used()}/100000"
    versions = org.http.get(f"{org.url}/services/data/")
    assert versions.status_code == 200
    assert "Sforce-Limit-Info" not in versions.headers
    assert {"version": "59.0", "label": "Winter '24", "url": "/services/data/v59.0"} in versions.json()
