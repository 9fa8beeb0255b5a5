"""Bad input never gets a 500 or a stack trace: a 4xx in Salesforce's shape, a JSON list of errors."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from simple_salesforce import Salesforce

from sync_service.devorg import ids
from sync_service.salesforce.client import connect
from tests.standin_org import RunningOrg

CONTRACT = "{contract}"
ACCOUNT = "{account}"


def _records(n: int) -> str:
    return json.dumps({"records": [{"attributes": {"type": "Task"}, "Subject": "x"}] * n})


def _subrequests(n: int) -> str:
    return json.dumps(
        {
            "compositeRequest": [
                {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{i}"} for i in range(n)
            ]
        }
    )


# (method, path below /services/data/v59.0/, body, expected status)
CASES: list[tuple[str, str, Any, int]] = [
    # bodies that are not JSON, or not the JSON expected
    ("POST", "sobjects/Task/", "not json", 400),
    ("POST", "sobjects/Task/", b"\xff\xfe\x00 binary", 400),
    ("POST", "sobjects/Task/", "[]", 400),
    ("POST", "sobjects/Task/", "42", 400),
    ("POST", "sobjects/Task/", "null", 400),
    ("POST", "sobjects/Task/", "", 400),
    ("POST", "sobjects/Task/", "[" * 100_000 + "]" * 100_000, 400),
    ("POST", "sobjects/Task/", '{"a":' * 50_000 + "1" + "}" * 50_000, 400),
    ("POST", "sobjects/Task/", '{"Subject": {"nested": [1, 2]}}', 400),
    ("POST", "sobjects/Task/", '{"Subject": "x", "IsReminderSet": [true]}', 400),
    ("POST", "sobjects/Contract/", '{"AccountId": "{account}", "ContractTerm": 1e400}', 400),
    ("POST", "sobjects/Contract/", '{"AccountId": "{account}", "Total_Contract_Value__c": NaN}', 400),
    ("POST", "sobjects/Contract/", '{"AccountId": "{account}", "Total_Contract_Value__c": 1' + "0" * 400 + "}", 400),
    ("POST", "sobjects/Contract/", '{"AccountId": "{account}", "ContractTerm": 1' + "0" * 400 + "}", 400),
    (
        "POST",
        "sobjects/Contract/",
        '{"AccountId": "{account}", "ContractTerm": 99999999, "StartDate": "2020-01-01"}',
        400,
    ),
    ("POST", "sobjects/Contract/", '{"AccountId": "{account}", "StartDate": "2020-13-45"}', 400),
    ("POST", "sobjects/ContentVersion/", '{"Title": "x", "PathOnClient": "x", "VersionData": "!!not base64"}', 400),
    ("POST", "sobjects/ContentVersion/", '{"Title": "x", "PathOnClient": "x", "VersionData": 5}', 400),
    ("PATCH", "sobjects/Contract/{contract}", "[1, 2]", 400),
    ("PATCH", "sobjects/Contract/{contract}", '"text"', 400),
    ("PATCH", "sobjects/Task/Renewals_Event_Key__c/k1", "[]", 400),
    # collections and composite
    ("POST", "composite/sobjects", "[]", 400),
    ("POST", "composite/sobjects", '{"records": "x"}', 400),
    ("POST", "composite/sobjects", _records(201), 400),
    ("POST", "composite/sobjects", _records(5000), 400),
    ("PATCH", "composite/sobjects", '{"records": {}}', 400),
    ("DELETE", "composite/sobjects", None, 400),
    ("GET", "composite/sobjects/Contract", None, 400),
    ("GET", "composite/sobjects/Contract?ids={contract}&fields=Nope", None, 400),
    ("PATCH", "composite/sobjects/Task/Renewals_Event_Key__c", '{"records": 5}', 400),
    ("POST", "composite", "[]", 400),
    ("POST", "composite", '{"compositeRequest": "x"}', 400),
    ("POST", "composite", '{"compositeRequest": []}', 400),
    ("POST", "composite", _subrequests(26), 400),
    ("POST", "composite", "{", 400),
    # bulk
    ("POST", "jobs/ingest", "garbage", 400),
    ("POST", "jobs/ingest", '{"operation": "explode", "object": "Task"}', 400),
    ("POST", "jobs/ingest", '{"operation": "insert", "object": "Task", "columnDelimiter": "EMOJI"}', 400),
    ("POST", "jobs/query", '{"operation": "query"}', 400),
    ("POST", "jobs/query", '{"operation": "query", "query": "SELEC Id FROM"}', 400),
    ("POST", "jobs/query", '{"operation": "query", "query": "SELECT Id FROM Contract OFFSET 5"}', 400),
    ("PUT", "jobs/ingest/750000000000000AAA/batches", "a,b", 404),
    ("GET", "jobs/query/not-a-job/results", None, 404),
    # queries
    ("GET", "query", None, 400),
    ("GET", "query/?q=", None, 400),
    ("GET", "query/?q=DELETE+FROM+Contract", None, 400),
    ("GET", "query/?q=SELECT+Id+FROM+Contract+WHERE+" + "(" * 5000 + "Id=null" + ")" * 5000, None, 400),
    ("GET", "query/?q=SELECT+Id+FROM+Contract+LIMIT+99999999999999999999999", None, 400),
    ("GET", "query/?q=%00%ff%fe", None, 400),
    ("GET", "query/01gNOTALOCATOR-2000", None, 400),
    ("GET", "queryAll/01g5e0000000001-notanumber", None, 400),
    # unknown things and wrong methods
    ("GET", "nothing/here", None, 404),
    ("GET", "sobjects/Nope__c/describe", None, 404),
    ("POST", "sobjects/Nope__c/", '{"Name": "x"}', 404),
    ("GET", "sobjects/Contract/{contract}/Nope/Deeper", None, 404),
    ("GET", "sobjects/Contract/not-an-id", None, 400),
    ("GET", "sobjects/Task/Subject/abc", None, 404),
    ("PUT", "sobjects/Contract/{contract}", "{}", 405),
    ("POST", "sobjects/Contract/{contract}", "{}", 405),
    ("DELETE", "query/?q=SELECT+Id+FROM+Task", None, 405),
    ("POST", "limits/", "{}", 405),
    ("GET", "composite", None, 405),
    ("PUT", "composite/sobjects", "{}", 405),
]


@pytest.fixture(scope="module")
def refs(devorg: RunningOrg) -> dict[str, str]:
    """A session token and record ids, shared by the module: these requests change no settings."""
    sf = connect(devorg.connection("password"))
    return {
        "token": sf.session_id,
        "contract": sf.query("SELECT Id FROM Contract LIMIT 1")["records"][0]["Id"],
        "account": sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"],
    }


def _fill(text: Any, refs: dict[str, str]) -> Any:
    if isinstance(text, str):
        return text.replace(CONTRACT, refs["contract"]).replace(ACCOUNT, refs["account"])
    return text


@pytest.mark.parametrize(("method", "path", "body", "status"), CASES, ids=[f"{c[0]} {c[1][:50]}" for c in CASES])
def test_bad_requests_get_salesforce_errors(
    devorg: RunningOrg, refs: dict[str, str], method: str, path: str, body: Any, status: int
) -> None:
    response = devorg.rest(
        method,
        _fill(path, refs),
        refs["token"],
        data=_fill(body, refs),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text[:300]
    errors = response.json()
    assert isinstance(errors, list) and errors
    assert all(isinstance(e["errorCode"], str) and isinstance(e["message"], str) for e in errors)
    assert "Traceback" not in response.text


def test_no_request_in_the_bad_input_run_got_a_5xx(org: RunningOrg, sf: Salesforce) -> None:
    since = time.time()
    for method, path, body, _ in CASES[:20]:
        org.rest(method, path.replace(CONTRACT, ids.make_id("800", 1)), sf.session_id, data=body)
    assert all(e["status"] < 500 for e in org.requests_since(since))


@pytest.mark.parametrize(
    "subrequest",
    [
        {"method": "GET", "url": 5, "referenceId": "a"},
        {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": "a", "httpHeaders": "x"},
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Task/@{missing.id}", "referenceId": "a"},
        {"method": "TELEPORT", "url": "/services/data/v59.0/limits", "referenceId": "a"},
        {"method": "GET", "url": "https://elsewhere.example.com/x", "referenceId": "a"},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Task/", "referenceId": "a", "body": [1]},
        "not an object",
    ],
)
def test_bad_composite_subrequests_fail_alone(org: RunningOrg, sf: Salesforce, subrequest: Any) -> None:
    good = {"method": "GET", "url": "/services/data/v59.0/limits/", "referenceId": "good"}
    response = org.rest("POST", "composite", sf.session_id, json={"compositeRequest": [subrequest, good]})
    assert response.status_code == 200
    first, second = response.json()["compositeResponse"]
    assert 400 <= first["httpStatusCode"] < 500 and first["body"][0]["errorCode"]
    assert second["httpStatusCode"] == 200


def test_collections_records_that_are_not_records(sf: Salesforce) -> None:
    records = [1, {"attributes": "x"}, {"attributes": {"type": "Nope__c"}}, {"Subject": "no attributes"}]
    results = sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert [r["success"] for r in results] == [False] * 4
    assert all(r["errors"][0]["statusCode"] for r in results)


def test_missing_or_bad_tokens_are_invalid_session(org: RunningOrg) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        response = org.http.get(f"{org.url}/services/data/v59.0/limits/", headers=headers)
        assert response.status_code == 401
        assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_unknown_service_paths_are_404_lists(org: RunningOrg) -> None:
    # "/" is the login page of the web server flow (test_oauth_web_flow.py), as on a real login host.
    paths = ("/services/oauth2/nothing", "/services/data/vX/limits", "/services/apexrest/anything")
    for path in (*paths, "/services/async/59.0/job"):
        response = org.http.get(f"{org.url}{path}")
        assert response.status_code == 404
        assert response.json()[0]["errorCode"] == "NOT_FOUND"


def test_bad_login_requests(org: RunningOrg) -> None:
    token_url = f"{org.url}/services/oauth2/token"
    for data, headers in (
        (b"\xff\xfe", {}),
        ({"grant_type": "refresh_token"}, {}),
        ({"grant_type": "client_credentials"}, {"Authorization": "Basic !!!"}),
        ({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}, {}),
    ):
        response = org.http.post(token_url, data=data, headers=headers)
        assert response.status_code == 400
        assert set(response.json()) == {"error", "error_description"}
    soap = org.http.post(f"{org.url}/services/Soap/u/59.0", data=b"<not-xml", headers={"Content-Type": "text/xml"})
    assert soap.status_code == 500  # what Salesforce answers a bad SOAP login with: a SOAP fault
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in soap.text
