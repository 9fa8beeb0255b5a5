"""Composite requests: `@{ref.field}` references, allOrNone, one API call, and what composite refuses."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.standin_org import RunningOrg

BASE = "/services/data/v59.0"


def _composite(sf: Salesforce, subrequests: list[dict[str, Any]], all_or_none: bool = False) -> list[dict[str, Any]]:
    body = {"allOrNone": all_or_none, "compositeRequest": subrequests}
    return list(sf.restful("composite", method="POST", json=body)["compositeResponse"])


def test_references_in_url_and_body_in_one_api_call(org: RunningOrg, sf: Salesforce) -> None:
    name = f"Composite {uuid.uuid4().hex[:8]}"
    before = org.api_used()
    responses = _composite(
        sf,
        [
            {"method": "POST", "url": f"{BASE}/sobjects/Account/", "referenceId": "acct", "body": {"Name": name}},
            {
                "method": "POST",
                "url": f"{BASE}/sobjects/Contract/",
                "referenceId": "contract",
                "body": {"AccountId": "@{acct.id}", "StartDate": "2026-05-01", "ContractTerm": 12},
            },
            {"method": "GET", "url": f"{BASE}/sobjects/Contract/@{{contract.id}}", "referenceId": "read"},
            {
                "method": "POST",
                "url": f"{BASE}/sobjects/Task/",
                "referenceId": "task",
                "body": {"Subject": "Renewal due @{read.EndDate}", "WhatId": "@{read.Id}"},
            },
            {
                "method": "GET",
                "url": f"{BASE}/query/?q=SELECT+Id,Account.Name+FROM+Contract+WHERE+Id='@{{contract.id}}'",
                "referenceId": "q",
            },
        ],
    )
    assert org.api_used() - before == 1
    assert [r["httpStatusCode"] for r in responses] == [201, 201, 200, 201, 200]
    assert [r["referenceId"] for r in responses] == ["acct", "contract", "read", "task", "q"]
    account_id = responses[0]["body"]["id"]
    contract_id = responses[1]["body"]["id"]
    assert responses[0]["httpHeaders"]["Location"] == f"{BASE}/sobjects/Account/{account_id}"
    assert responses[2]["body"]["AccountId"] == account_id
    assert responses[2]["body"]["EndDate"] == "2027-04-30"
    task = sf.Task.get(responses[3]["body"]["id"])
    assert task["Subject"] == "Renewal due 2027-04-30" and task["WhatId"] == contract_id
    assert responses[4]["body"]["records"][0]["Account"]["Name"] == name


def test_all_or_none_rolls_back_and_halts(sf: Salesforce) -> None:
    name = f"Rolled back {uuid.uuid4().hex[:8]}"
    responses = _composite(
        sf,
        [
            {"method": "POST", "url": f"{BASE}/sobjects/Account/", "referenceId": "acct", "body": {"Name": name}},
            {"method": "POST", "url": f"{BASE}/sobjects/Contract/", "referenceId": "bad", "body": {"Status": "Draft"}},
            {"method": "POST", "url": f"{BASE}/sobjects/Task/", "referenceId": "later", "body": {"Subject": name}},
        ],
        all_or_none=True,
    )
    assert [r["httpStatusCode"] for r in responses] == [400, 400, 400]
    assert responses[0]["body"][0]["errorCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert responses[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert responses[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Name = '{name}'")["totalSize"] == 0
    assert sf.query(f"SELECT COUNT() FROM Task WHERE Subject = '{name}'")["totalSize"] == 0


def test_without_all_or_none_successes_stay(sf: Salesforce) -> None:
    name = f"Kept {uuid.uuid4().hex[:8]}"
    responses = _composite(
        sf,
        [
            {"method": "POST", "url": f"{BASE}/sobjects/Account/", "referenceId": "acct", "body": {"Name": name}},
            {"method": "POST", "url": f"{BASE}/sobjects/Contract/", "referenceId": "bad", "body": {"Status": "Draft"}},
        ],
    )
    assert [r["httpStatusCode"] for r in responses] == [201, 400]
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Name = '{name}'")["totalSize"] == 1


def test_a_reference_to_a_failed_subrequest(sf: Salesforce) -> None:
    responses = _composite(
        sf,
        [
            {"method": "POST", "url": f"{BASE}/sobjects/Contract/", "referenceId": "bad", "body": {"Status": "Draft"}},
            {"method": "GET", "url": f"{BASE}/sobjects/Contract/@{{bad.id}}", "referenceId": "after"},
        ],
    )
    assert [r["httpStatusCode"] for r in responses] == [400, 400]
    assert responses[1]["body"][0]["errorCode"]


def test_blob_retrieval_is_refused_inside_composite(sf: Salesforce) -> None:
    document_id = sf.query("SELECT Id FROM Document LIMIT 1")["records"][0]["Id"]
    responses = _composite(
        sf,
        [
            {"method": "GET", "url": f"{BASE}/sobjects/Document/{document_id}/Body", "referenceId": "blob"},
            {"method": "GET", "url": f"{BASE}/sobjects/Document/{document_id}", "referenceId": "row"},
        ],
    )
    assert responses[0]["httpStatusCode"] == 400
    assert responses[0]["body"][0]["errorCode"]
    assert responses[1]["httpStatusCode"] == 200 and responses[1]["body"]["Id"] == document_id


def test_more_than_25_subrequests_is_refused(sf: Salesforce) -> None:
    subrequests = [{"method": "GET", "url": f"{BASE}/limits/", "referenceId": f"r{i}"} for i in range(26)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        _composite(sf, subrequests)
    assert caught.value.content[0]["errorCode"]


def test_collections_inside_composite(org: RunningOrg, sf: Salesforce) -> None:
    subject = f"inner {uuid.uuid4().hex[:8]}"
    records = [{"attributes": {"type": "Task"}, "Subject": subject} for _ in range(3)]
    before = org.api_used()
    responses = _composite(
        sf,
        [
            {"method": "POST", "url": f"{BASE}/composite/sobjects", "referenceId": "c", "body": {"records": records}},
            {"method": "GET", "url": f"{BASE}/sobjects/Task/@{{c[0].id}}", "referenceId": "first"},
        ],
    )
    assert org.api_used() - before == 1
    assert responses[0]["httpStatusCode"] == 200 and len(responses[0]["body"]) == 3
    assert responses[1]["body"]["Subject"] == subject
