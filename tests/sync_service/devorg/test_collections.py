"""sObject Collections (`composite/sobjects`) through `sf.restful`: 200 records per call, one API call each."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from sync_service.devorg import ids
from tests.standin_org import RunningOrg

KEY = "Renewals_Event_Key__c"
ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"


def _marker() -> str:
    return f"coll-{uuid.uuid4().hex[:10]}"


def _tasks(subject: str, n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Task"}, "Subject": subject, "Description": f"#{i}", **extra} for i in range(n)]


def _count(sf: Salesforce, subject: str) -> int:
    return int(sf.query(f"SELECT COUNT() FROM Task WHERE Subject = '{subject}'")["totalSize"])


def test_create_update_delete_200_records_one_call_each(org: RunningOrg, sf: Salesforce) -> None:
    subject = _marker()

    before = org.api_used()
    created = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": _tasks(subject, 200)}
    )
    assert org.api_used() - before == 1
    assert len(created) == 200 and all(r["success"] and r["errors"] == [] for r in created)
    task_ids = [r["id"] for r in created]
    assert len(set(task_ids)) == 200 and all(ids.is_id(i) and i.startswith("00T") for i in task_ids)
    # results come back in request order
    rows = sf.query_all(f"SELECT Id, Description FROM Task WHERE Subject = '{subject}'")["records"]
    by_id = {r["Id"]: r["Description"] for r in rows}
    assert [by_id[i] for i in task_ids] == [f"#{i}" for i in range(200)]

    before = org.api_used()
    updates = [{"attributes": {"type": "Task"}, "id": i, "Status": "Completed"} for i in task_ids]
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": updates})
    assert org.api_used() - before == 1
    assert [r["id"] for r in updated] == task_ids and all(r["success"] for r in updated)
    soql = f"SELECT COUNT() FROM Task WHERE Subject = '{subject}' AND IsClosed = true"
    assert sf.query(soql)["totalSize"] == 200

    before = org.api_used()
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(task_ids)})
    assert org.api_used() - before == 1
    assert [r["id"] for r in deleted] == task_ids and all(r["success"] for r in deleted)
    assert _count(sf, subject) == 0


def test_per_record_errors_without_all_or_none(sf: Salesforce) -> None:
    subject = _marker()
    records = _tasks(subject, 3)
    records[1]["TaskSubtype"] = "Fax"
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [True, False, True]
    failed = results[1]
    assert failed["id"] is None
    assert failed["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert failed["errors"][0]["fields"] == ["TaskSubtype"] and failed["errors"][0]["message"]
    assert _count(sf, subject) == 2


def test_all_or_none_rolls_everything_back(sf: Salesforce) -> None:
    subject = _marker()
    records = _tasks(subject, 4)
    records[2]["ActivityDate"] = "not a date"
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert [r["success"] for r in results] == [False] * 4
    assert results[2]["errors"][0]["statusCode"] == "JSON_PARSER_ERROR"
    for sibling in (0, 1, 3):
        assert results[sibling]["id"] is None
        assert results[sibling]["errors"][0]["statusCode"] == ROLLED_BACK
    assert _count(sf, subject) == 0


def test_all_or_none_update_leaves_records_unchanged(sf: Salesforce) -> None:
    subject = _marker()
    created = sf.restful("composite/sobjects", method="POST", json={"records": _tasks(subject, 2)})
    first, second = (r["id"] for r in created)
    body = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Task"}, "id": first, "Description": "changed"},
            {"attributes": {"type": "Task"}, "id": second, "IsClosed": True},
        ],
    }
    results = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert results[0]["errors"][0]["statusCode"] == ROLLED_BACK
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.Task.get(first)["Description"] == "#0"


def test_more_than_200_records_is_refused(org: RunningOrg, sf: Salesforce) -> None:
    subject = _marker()
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST", json={"records": _tasks(subject, 201)})
    assert caught.value.status == 400
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert _count(sf, subject) == 0
    too_many = ",".join(ids.make_id("00T", n) for n in range(1, 202))
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite/sobjects", method="DELETE", params={"ids": too_many})


def test_mixed_types_in_one_create(sf: Salesforce) -> None:
    name = _marker()
    records = [
        {"attributes": {"type": "Account"}, "Name": name},
        {"attributes": {"type": "Contact"}, "LastName": name},
        {"attributes": {"type": "Task"}, "Subject": name},
    ]
    results = sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert [r["id"][:3] for r in results] == ["001", "003", "00T"]


def test_upsert_by_external_id_reports_created(org: RunningOrg, sf: Salesforce) -> None:
    keys = [f"rnw-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    first = [{"attributes": {"type": "Task"}, KEY: k, "Subject": "upserted"} for k in keys[:2]]
    before = org.api_used()
    results = sf.restful(f"composite/sobjects/Task/{KEY}", method="PATCH", json={"records": first})
    assert org.api_used() - before == 1
    assert [(r["success"], r["created"]) for r in results] == [(True, True), (True, True)]

    second = [{"attributes": {"type": "Task"}, KEY: k, "Subject": "upserted again"} for k in keys[1:]]
    results2 = sf.restful(f"composite/sobjects/Task/{KEY}", method="PATCH", json={"records": second})
    assert [r["created"] for r in results2] == [False, True]
    assert results2[0]["id"] == results[1]["id"]
    rows = sf.query(f"SELECT {KEY}, Subject FROM Task WHERE {KEY} IN ('{keys[0]}', '{keys[1]}', '{keys[2]}')")
    assert {r[KEY]: r["Subject"] for r in rows["records"]} == {
        keys[0]: "upserted",
        keys[1]: "upserted again",
        keys[2]: "upserted again",
    }


def test_upsert_on_an_unknown_external_id_field(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("composite/sobjects/Task/Subject", method="PATCH", json={"records": []})


def test_retrieve_by_ids_with_fields(sf: Salesforce) -> None:
    contracts = sf.query("SELECT Id, ContractNumber, EndDate FROM Contract ORDER BY ContractNumber LIMIT 3")["records"]
    wanted = [c["Id"] for c in contracts]
    missing = ids.make_id("800", 999_997)
    result = sf.restful(
        "composite/sobjects/Contract",
        params={"ids": ",".join([*wanted, missing, wanted[0][:15]]), "fields": "Id,ContractNumber,EndDate"},
    )
    assert len(result) == 5
    for got, expected in zip(result[:3], contracts, strict=True):
        assert got["attributes"]["type"] == "Contract"
        assert {k: got[k] for k in ("Id", "ContractNumber", "EndDate")} == {
            k: expected[k] for k in ("Id", "ContractNumber", "EndDate")
        }
        assert set(got) == {"attributes", "Id", "ContractNumber", "EndDate"}
    assert result[3] is None
    assert result[4]["Id"] == wanted[0]


def test_retrieve_with_an_unknown_field_is_400(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects/Contract", params={"ids": ids.make_id("800", 999_996), "fields": "Id,Nope"})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_delete_reports_each_id(sf: Salesforce) -> None:
    task_id = sf.Task.create({"Subject": "delete me"})["id"]
    missing = ids.make_id("00T", 999_995)
    results = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{task_id},{missing}"})
    assert results[0] == {"id": task_id, "success": True, "errors": []}
    assert results[1]["success"] is False and results[1]["errors"][0]["statusCode"]
    all_or_none = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{missing}", "allOrNone": "true"})
    assert all_or_none[0]["success"] is False
