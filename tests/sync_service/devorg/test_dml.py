"""sObject rows through SFType: create, get, update, delete, upsert by external id, and id forms."""

from __future__ import annotations

import time
import uuid

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound
from simple_salesforce.format import format_external_id

from sync_service.devorg import ids
from tests.standin_org import RunningOrg

KEY = "Renewals_Event_Key__c"


def _key() -> str:
    return f"rnw-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def contract_id(sf: Salesforce) -> str:
    return str(sf.query("SELECT Id FROM Contract ORDER BY ContractNumber LIMIT 1")["records"][0]["Id"])


def test_create_get_update_delete(sf: Salesforce, contract_id: str) -> None:
    created = sf.Task.create({"Subject": "Call about renewal", "WhatId": contract_id, "Priority": "High"})
    assert created["success"] is True and created["errors"] == []
    task_id = created["id"]
    assert len(task_id) == 18 and task_id.startswith("00T") and ids.is_id(task_id)

    record = sf.Task.get(task_id)
    assert record["attributes"] == {"type": "Task", "url": f"/services/data/v59.0/sobjects/Task/{task_id}"}
    assert record["Id"] == task_id
    assert record["Subject"] == "Call about renewal"
    assert record["WhatId"] == contract_id
    assert record["Status"] == "Not Started"  # picklist default
    assert record["IsHighPriority"] is True  # derived
    assert record["AccountId"] == sf.Contract.get(contract_id)["AccountId"]  # derived from WhatId
    assert record["IsDeleted"] is False
    assert record["OwnerId"].startswith("005") and record["CreatedById"] == record["OwnerId"]
    assert record["Description"] is None  # every field present, null when empty

    assert sf.Task.update(task_id, {"Status": "Completed"}) == 204
    updated = sf.Task.get(task_id)
    assert updated["Status"] == "Completed" and updated["IsClosed"] is True

    assert sf.Task.delete(task_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Task.get(task_id)
    assert caught.value.content[0]["errorCode"] == "NOT_FOUND"


def test_get_with_a_field_list(sf: Salesforce, contract_id: str) -> None:
    record = sf.Contract.get(contract_id, params={"fields": "Id,ContractNumber,EndDate"})
    assert list(record) == ["attributes", "Id", "ContractNumber", "EndDate"]


def test_fifteen_character_ids_are_accepted(sf: Salesforce) -> None:
    task_id = sf.Task.create({"Subject": "short id"})["id"]
    short = task_id[:15]
    assert sf.Task.get(short)["Id"] == task_id
    assert sf.Task.update(short, {"Subject": "short id, updated"}) == 204
    assert sf.query(f"SELECT Subject FROM Task WHERE Id = '{short}'")["records"][0]["Subject"] == "short id, updated"
    assert sf.Task.delete(short) == 204


def test_system_fields_advance_on_update(sf: Salesforce) -> None:
    task_id = sf.Task.create({"Subject": "stamps"})["id"]
    first = sf.Task.get(task_id)
    assert first["CreatedDate"] == first["LastModifiedDate"] == first["SystemModstamp"]
    assert first["CreatedDate"].endswith("+0000") and "T" in first["CreatedDate"]
    time.sleep(0.005)  # stamps have millisecond precision
    sf.Task.update(task_id, {"Subject": "stamps 2"})
    second = sf.Task.get(task_id)
    assert second["CreatedDate"] == first["CreatedDate"]
    assert second["LastModifiedDate"] > first["LastModifiedDate"]
    assert second["SystemModstamp"] > first["SystemModstamp"]


def test_contract_number_and_end_date_are_derived(sf: Salesforce) -> None:
    account_id = sf.Account.create({"Name": "Derived Fields Inc"})["id"]
    contract_id = sf.Contract.create({"AccountId": account_id, "StartDate": "2026-03-01", "ContractTerm": 12})["id"]
    contract = sf.Contract.get(contract_id)
    assert contract["EndDate"] == "2027-02-28"
    assert contract["ContractNumber"].isdigit() and len(contract["ContractNumber"]) == 8
    assert contract["Status"] == "Draft"


def test_upsert_creates_201_then_updates_204(sf: Salesforce) -> None:
    key = _key()
    assert sf.Task.upsert(f"{KEY}/{key}", {"Subject": "first"}) == 201
    assert sf.Task.upsert(f"{KEY}/{key}", {"Subject": "second"}) == 204
    record = sf.Task.get_by_custom_id(KEY, key)
    assert record["Subject"] == "second" and record[KEY] == key
    assert sf.query(f"SELECT COUNT() FROM Task WHERE {KEY} = '{key}'")["totalSize"] == 1


def test_upsert_bodies(org: RunningOrg, sf: Salesforce) -> None:
    key = _key()
    created = sf.Task.upsert(f"{KEY}/{key}", {"Subject": "a"}, raw_response=True)
    assert created.status_code == 201
    body = created.json()
    assert body["created"] is True and body["success"] is True and ids.is_id(body["id"])

    updated = sf.Task.upsert(f"{KEY}/{key}", {"Subject": "b"}, raw_response=True)
    assert updated.status_code == 204 and updated.content == b""

    org.admin("PUT", "settings", {"upsert_update_status": 200})
    again = sf.Task.upsert(f"{KEY}/{key}", {"Subject": "c"}, raw_response=True)
    assert again.status_code == 200
    assert again.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    assert sf.Task.upsert(f"{KEY}/{key}", {"Subject": "d"}) == 200


def test_external_id_with_slash_space_and_plus_is_one_record(sf: Salesforce) -> None:
    value = f"ext/{uuid.uuid4().hex[:8]} with space+plus"
    assert sf.Task.upsert(format_external_id(KEY, value), {"Subject": "odd key"}) == 201
    assert sf.Task.upsert(format_external_id(KEY, value), {"Subject": "odd key 2"}) == 204
    record = sf.Task.get_by_custom_id(KEY, value)
    assert record[KEY] == value and record["Subject"] == "odd key 2"
    soql = f"SELECT Id FROM Task WHERE {KEY} = '{value}'"
    assert sf.query(soql)["totalSize"] == 1


def test_upsert_on_a_field_that_is_not_an_external_id(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Task.upsert("Subject/abc", {"Description": "x"})
    assert caught.value.content[0]["errorCode"] == "NOT_FOUND"


def test_get_by_custom_id_without_a_match(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.get_by_custom_id(KEY, "no-such-key")


def test_duplicate_unique_external_id(sf: Salesforce) -> None:
    key = _key()
    sf.Task.create({"Subject": "one", KEY: key})
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Task.create({"Subject": "two", KEY: key})
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    assert caught.value.content[0]["fields"] == [KEY]


def test_update_or_delete_of_a_deleted_record(sf: Salesforce) -> None:
    task_id = sf.Task.create({"Subject": "gone"})["id"]
    sf.Task.delete(task_id)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Task.update(task_id, {"Subject": "back"})
    assert caught.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceMalformedRequest):
        sf.Task.delete(task_id)


def test_wrong_object_for_an_id_is_not_found(sf: Salesforce, contract_id: str) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.get(contract_id)
