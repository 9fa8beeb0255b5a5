"""Global and per-object describe, and the admin schema hooks that add, rename and delete custom fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sync_service.salesforce.client import connect
from tests.standin_org import RunningOrg, start_org, stop_org


def _field(describe: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((f for f in describe["fields"] if f["name"] == name), None)


def test_global_describe_lists_objects_with_key_prefixes(sf: Salesforce) -> None:
    described = sf.describe()
    assert described["encoding"] == "UTF-8" and described["maxBatchSize"] == 200
    objects = {o["name"]: o for o in described["sobjects"]}
    expected = {
        "Account": "001",
        "Contact": "003",
        "User": "005",
        "Opportunity": "006",
        "Task": "00T",
        "Contract": "800",
        "Document": "015",
        "ContentVersion": "068",
        "ContentDocument": "069",
        "ContentDocumentLink": "06A",
    }
    for name, prefix in expected.items():
        assert objects[name]["keyPrefix"] == prefix
    for name in ("SBQQ__Quote__c", "SBQQ__QuoteLine__c", "SBQQ__Subscription__c", "Apttus__APTS_Agreement__c"):
        assert objects[name]["custom"] is True and len(objects[name]["keyPrefix"]) == 3
    assert all(len(o["keyPrefix"]) == 3 for o in objects.values())
    assert objects["Contract"]["urls"]["describe"] == "/services/data/v59.0/sobjects/Contract/describe"


def test_contract_describe(sf: Salesforce) -> None:
    described = sf.Contract.describe()
    assert described["name"] == "Contract" and described["keyPrefix"] == "800"
    fields = {f["name"]: f for f in described["fields"]}
    for f in fields.values():
        for key in ("name", "label", "type", "length", "externalId", "unique", "createable", "updateable", "nillable"):
            assert key in f
        assert isinstance(f["picklistValues"], list) and isinstance(f["referenceTo"], list)

    assert fields["Id"]["type"] == "id" and fields["Id"]["createable"] is False
    account = fields["AccountId"]
    assert account["type"] == "reference" and account["referenceTo"] == ["Account"]
    assert account["relationshipName"] == "Account" and account["nillable"] is False
    assert fields["Reseller__c"]["relationshipName"] == "Reseller__r" and fields["Reseller__c"]["custom"] is True
    assert fields["EndDate"]["type"] == "date" and fields["EndDate"]["updateable"] is False
    assert fields["StartDate"]["updateable"] is True
    assert fields["ContractNumber"]["autoNumber"] is True and fields["ContractNumber"]["createable"] is False
    assert {"Draft", "Activated"} <= {p["value"] for p in fields["Status"]["picklistValues"]}
    assert fields["SBQQ__RenewalQuoted__c"]["type"] == "boolean"
    assert fields["Total_Contract_Value__c"]["type"] == "currency"

    children = {c["relationshipName"]: c for c in described["childRelationships"]}
    assert children["SBQQ__Subscriptions__r"]["childSObject"] == "SBQQ__Subscription__c"
    assert children["SBQQ__Subscriptions__r"]["field"] == "SBQQ__Contract__c"
    assert children["Tasks"] == {**children["Tasks"], "childSObject": "Task", "field": "WhatId"}


def test_task_describe_has_the_external_id_and_restricted_subtype(sf: Salesforce) -> None:
    described = sf.Task.describe()
    key = _field(described, "Renewals_Event_Key__c")
    assert key is not None and key["externalId"] is True and key["unique"] is True and key["idLookup"] is True
    subtype = _field(described, "TaskSubtype")
    assert subtype is not None and subtype["restrictedPicklist"] is True and subtype["updateable"] is False
    what = _field(described, "WhatId")
    assert what is not None and "Contract" in what["referenceTo"] and what["polymorphicForeignKey"] is True
    metadata = sf.Task.metadata()
    assert metadata["objectDescribe"]["name"] == "Task"


def test_schema_hooks_add_rename_delete(org: RunningOrg, sf: Salesforce) -> None:
    contract_id = sf.query("SELECT Id FROM Contract ORDER BY ContractNumber LIMIT 1")["records"][0]["Id"]

    org.admin("POST", "schema", {"op": "add", "object": "Contract", "field": "Renewal_Notes__c", "type": "string"})
    added = _field(sf.Contract.describe(), "Renewal_Notes__c")
    assert added is not None and added["type"] == "string" and added["custom"] is True and added["updateable"]
    soql = f"SELECT Renewal_Notes__c FROM Contract WHERE Id = '{contract_id}'"
    assert sf.query(soql)["records"][0]["Renewal_Notes__c"] is None
    sf.Contract.update(contract_id, {"Renewal_Notes__c": "call in March"})

    org.admin(
        "POST",
        "schema",
        {"op": "rename", "object": "Contract", "field": "Renewal_Notes__c", "new_name": "Renewal_Comments__c"},
    )
    described = sf.Contract.describe()
    assert _field(described, "Renewal_Notes__c") is None
    assert _field(described, "Renewal_Comments__c") is not None
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    renamed = sf.query(f"SELECT Renewal_Comments__c FROM Contract WHERE Id = '{contract_id}'")["records"][0]
    assert renamed["Renewal_Comments__c"] == "call in March"  # values survive the rename
    assert sf.Contract.get(contract_id)["Renewal_Comments__c"] == "call in March"
    with pytest.raises(SalesforceMalformedRequest) as write:
        sf.Contract.update(contract_id, {"Renewal_Notes__c": "old name"})
    assert write.value.content[0]["errorCode"] == "INVALID_FIELD"

    org.admin("POST", "schema", {"op": "delete", "object": "Contract", "field": "Renewal_Comments__c"})
    assert _field(sf.Contract.describe(), "Renewal_Comments__c") is None
    with pytest.raises(SalesforceMalformedRequest) as gone:
        sf.query(f"SELECT Renewal_Comments__c FROM Contract WHERE Id = '{contract_id}'")
    assert gone.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "Renewal_Comments__c" not in sf.Contract.get(contract_id)


@pytest.mark.parametrize(
    "change",
    [
        {"op": "add", "object": "Contract", "field": "NoSuffix", "type": "string"},
        {"op": "add", "object": "Contract", "field": "X__c", "type": "blob"},
        {"op": "add", "object": "Nope", "field": "X__c", "type": "string"},
        {"op": "rename", "object": "Contract", "field": "EndDate", "new_name": "End__c"},
        {"op": "delete", "object": "Contract", "field": "AccountId"},
        {"op": "explode", "object": "Contract"},
    ],
)
def test_schema_hook_refuses_bad_changes(org: RunningOrg, change: dict[str, Any]) -> None:
    response = org.http.post(
        f"{org.url}/_devorg/admin/schema", json=change, headers={"X-Devorg-Admin": org.info["admin_token"]}
    )
    assert response.status_code == 400 and response.json()["error"]


def test_admin_hooks_need_the_admin_token(org: RunningOrg) -> None:
    response = org.http.get(f"{org.url}/_devorg/admin/settings", headers={"X-Devorg-Admin": "wrong"})
    assert response.status_code == 403


def test_task_without_the_external_id_field(tmp_path: Path) -> None:
    other = start_org(tmp_path, "--no-task-external-id")
    try:
        sf = connect(other.connection("password"))
        assert _field(sf.Task.describe(), "Renewals_Event_Key__c") is None
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.query("SELECT Renewals_Event_Key__c FROM Task")
        assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
        assert sf.Task.create({"Subject": "plain task"})["success"] is True
    finally:
        stop_org(other)


def test_conga_flavour_org(tmp_path: Path) -> None:
    other = start_org(tmp_path, "--seed-contracts", "5", "--flavour", "conga_cpq")
    try:
        sf = connect(other.connection("password"))
        agreements = sf.query("SELECT Id, Apttus__Account__r.Name FROM Apttus__APTS_Agreement__c ORDER BY Id LIMIT 5")[
            "records"
        ]
        assert agreements and all(isinstance(a["Apttus__Account__r"]["Name"], str) for a in agreements)
        assert sf.query("SELECT COUNT() FROM Apttus_Proposal__Proposal__c")["totalSize"] > 0
    finally:
        stop_org(other)
