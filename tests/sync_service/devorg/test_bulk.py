"""Bulk API 2.0 as `sf.bulk2` drives it: query jobs with CSV pages, and ingest jobs with their results."""

from __future__ import annotations

import csv
import uuid

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from tests.standin_org import RunningOrg

KEY = "Renewals_Event_Key__c"
WAIT = 0.1  # seconds between polls; the org reports InProgress for bulk_delay_seconds (0.2 s)


def _rows(page: str) -> list[dict[str, str]]:
    return list(csv.DictReader(page.splitlines()))


def test_query_round_trip_matches_rest(sf: Salesforce) -> None:
    soql = "SELECT Id, ContractNumber, EndDate, Account.Name FROM Contract"
    pages = list(sf.bulk2.Contract.query(soql, max_records=50, wait=WAIT))
    rest = {r["Id"]: r for r in sf.query_all(soql)["records"]}
    assert len(pages) == -(-len(rest) // 50)
    rows = []
    for page in pages:
        assert page.splitlines()[0] == "Id,ContractNumber,EndDate,Account.Name"
        rows.extend(_rows(page))
    assert len(rows) == len(rest) == sf.query("SELECT COUNT() FROM Contract")["totalSize"]
    for row in rows:
        expected = rest[row["Id"]]
        assert row["ContractNumber"] == expected["ContractNumber"]
        assert row["EndDate"] == (expected["EndDate"] or "")
        assert row["Account.Name"] == expected["Account"]["Name"]


def test_query_all_includes_deleted_rows(sf: Salesforce) -> None:
    task_id = sf.Task.create({"Subject": "bulk queryAll"})["id"]
    sf.Task.delete(task_id)
    soql = f"SELECT Id, IsDeleted FROM Task WHERE Id = '{task_id}'"
    assert [_rows(p) for p in sf.bulk2.Task.query(soql, wait=WAIT)] == [[]]
    (page,) = sf.bulk2.Task.query_all(soql, wait=WAIT)
    assert _rows(page) == [{"Id": task_id, "IsDeleted": "true"}]


def test_query_results_before_completion_are_412(org: RunningOrg, sf: Salesforce) -> None:
    org.admin("PUT", "settings", {"bulk_delay_seconds": 30})
    job = org.rest("POST", "jobs/query", sf.session_id, json={"operation": "query", "query": "SELECT Id FROM Account"})
    assert job.status_code == 200 and job.json()["state"] in ("UploadComplete", "InProgress")
    early = org.rest("GET", f"jobs/query/{job.json()['id']}/results", sf.session_id)
    assert early.status_code == 412
    assert early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"


def test_query_job_with_a_subquery_is_refused(org: RunningOrg, sf: Salesforce) -> None:
    body = {"operation": "query", "query": "SELECT Id, (SELECT Id FROM Tasks) FROM Contract"}
    response = org.rest("POST", "jobs/query", sf.session_id, json=body)
    assert response.status_code == 400 and response.json()[0]["errorCode"]


def test_ingest_insert_reports_successes_and_failures(sf: Salesforce) -> None:
    contract_id = sf.query("SELECT Id FROM Contract LIMIT 1")["records"][0]["Id"]
    subject = f"bulk-{uuid.uuid4().hex[:8]}"
    records = [
        {"Subject": subject, "WhatId": contract_id, "TaskSubtype": "Task", "ActivityDate": "2026-12-01"},
        {"Subject": subject, "WhatId": contract_id, "TaskSubtype": "Fax", "ActivityDate": "2026-12-02"},
        {"Subject": subject, "WhatId": contract_id, "TaskSubtype": "Email", "ActivityDate": "2026-12-03"},
    ]
    (summary,) = sf.bulk2.Task.insert(records=records, wait=WAIT)
    assert summary["numberRecordsProcessed"] == 3
    assert summary["numberRecordsFailed"] == 1
    results = sf.bulk2.Task.get_all_ingest_records(summary["job_id"])
    successes, failures = results["successfulRecords"], results["failedRecords"]
    assert [s["ActivityDate"] for s in successes] == ["2026-12-01", "2026-12-03"]
    assert all(s["sf__Created"] == "true" and s["sf__Id"].startswith("00T") for s in successes)
    (failure,) = failures
    assert failure["TaskSubtype"] == "Fax" and failure["sf__Id"] == ""
    assert failure["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert results["unprocessedRecords"] == []

    rest = sf.query(f"SELECT Id, ActivityDate, WhatId FROM Task WHERE Subject = '{subject}' ORDER BY ActivityDate")
    assert [r["Id"] for r in rest["records"]] == [s["sf__Id"] for s in successes]


def test_ingest_upsert_by_external_id_then_delete(sf: Salesforce) -> None:
    keys = [f"rnw-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    existing = sf.Task.create({"Subject": "before bulk", KEY: keys[0]})["id"]
    records = [{KEY: key, "Subject": "after bulk", "Status": "Completed"} for key in keys]
    (summary,) = sf.bulk2.Task.upsert(records=records, external_id_field=KEY, wait=WAIT)
    assert summary["numberRecordsFailed"] == 0
    successes = sf.bulk2.Task.get_all_ingest_records(summary["job_id"])["successfulRecords"]
    created = {s[KEY]: s["sf__Created"] for s in successes}
    assert created == {keys[0]: "false", keys[1]: "true", keys[2]: "true"}
    assert next(s["sf__Id"] for s in successes if s[KEY] == keys[0]) == existing
    assert sf.Task.get(existing)["Subject"] == "after bulk"

    task_ids = [s["sf__Id"] for s in successes]
    (deleted,) = sf.bulk2.Task.delete(records=[{"Id": i} for i in task_ids], wait=WAIT)
    assert deleted["numberRecordsProcessed"] == 3 and deleted["numberRecordsFailed"] == 0
    id_list = ",".join(f"'{i}'" for i in task_ids)
    assert sf.query(f"SELECT COUNT() FROM Task WHERE Id IN ({id_list})")["totalSize"] == 0
    rows = sf.query_all(f"SELECT IsDeleted FROM Task WHERE Id IN ({id_list})", include_deleted=True)["records"]
    assert [r["IsDeleted"] for r in rows] == [True] * 3


def test_ingest_update_blank_cells_leave_values_and_na_clears(sf: Salesforce) -> None:
    task_id = sf.Task.create({"Subject": "keep", "Description": "clear me", "Type": "Call"})["id"]
    (summary,) = sf.bulk2.Task.update(
        records=[{"Id": task_id, "Subject": "", "Description": "#N/A", "Type": "Email"}], wait=WAIT
    )
    assert summary["numberRecordsFailed"] == 0
    task = sf.Task.get(task_id)
    assert (task["Subject"], task["Description"], task["Type"]) == ("keep", None, "Email")


def test_ingest_job_on_an_unknown_object(org: RunningOrg, sf: Salesforce) -> None:
    body = {"operation": "insert", "object": "Nope__c", "contentType": "CSV", "lineEnding": "LF"}
    response = org.rest("POST", "jobs/ingest", sf.session_id, json=body)
    assert 400 <= response.status_code < 500 and response.json()[0]["errorCode"]


@pytest.mark.parametrize("field", ["Subject", "Nope__c"])
def test_ingest_upsert_needs_an_external_id_field(org: RunningOrg, sf: Salesforce, field: str) -> None:
    body = {"operation": "upsert", "object": "Task", "externalIdFieldName": field, "contentType": "CSV"}
    response = org.rest("POST", "jobs/ingest", sf.session_id, json=body)
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALIDJOB"


def test_an_unknown_column_fails_the_whole_job(org: RunningOrg, sf: Salesforce) -> None:
    subject = f"bulk-bad-{uuid.uuid4().hex[:8]}"
    with pytest.raises(SalesforceOperationError, match="InvalidBatch : Field name not found : Nope__c"):
        sf.bulk2.Task.insert(records=[{"Subject": subject, "Nope__c": "y"}], wait=WAIT)
    assert sf.query(f"SELECT COUNT() FROM Task WHERE Subject = '{subject}'")["totalSize"] == 0


def test_a_duplicate_column_fails_the_whole_job(org: RunningOrg, sf: Salesforce) -> None:
    job = org.rest("POST", "jobs/ingest", sf.session_id, json={"operation": "insert", "object": "Task"}).json()
    upload = org.rest(
        "PUT",
        f"jobs/ingest/{job['id']}/batches",
        sf.session_id,
        data=b"Subject,subject\na,b\n",
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    closed = org.rest("PATCH", f"jobs/ingest/{job['id']}", sf.session_id, json={"state": "UploadComplete"}).json()
    assert closed["state"] == "Failed"
    assert closed["errorMessage"] == "InvalidBatch : Duplicate field name: subject"


def test_query_rows_read_parents_checkboxes_polymorphic_lookups_and_blobs_as_rest_renders_them(sf: Salesforce) -> None:
    """A Bulk row is the REST record flattened: a polymorphic parent's Name and Type, a checkbox as true/false,
    a missing parent as an empty cell, a blob field as the path to download it from."""
    contract = sf.query("SELECT Id, AccountId FROM Contract LIMIT 1")["records"][0]
    with_parents = sf.Task.create({"Subject": "bulk row shapes", "WhatId": contract["Id"]})["id"]
    without = sf.Task.create({"Subject": "bulk row shapes"})["id"]
    version = sf.ContentVersion.create({"Title": "shapes", "PathOnClient": "shapes.txt", "VersionData": "aGVsbG8="})
    cases = [
        f"SELECT Id, Subject, IsClosed, What.Name, What.Type, Who.Name, Owner.Name, Owner.IsActive FROM Task "
        f"WHERE Id IN ('{with_parents}', '{without}')",
        f"SELECT Id, Title, VersionData FROM ContentVersion WHERE Id = '{version['id']}'",
    ]
    for soql in cases:
        rest = {r["Id"]: r for r in sf.query_all(soql)["records"]}
        (page,) = sf.bulk2.Task.query(soql, wait=WAIT)
        rows = _rows(page)
        assert len(rows) == len(rest) > 0
        for row in rows:
            for column, cell in row.items():
                value: object = rest[row["Id"]]
                for key in column.split("."):
                    value = value.get(key) if isinstance(value, dict) else None
                expected = "" if value is None else ("true" if value is True else "false" if value is False else value)
                assert cell == str(expected), (soql, column)
