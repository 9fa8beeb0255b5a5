"""Each error shape the org gives, mapped by simple-salesforce to its exception class."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sync_service.devorg import ids
from sync_service.salesforce.client import connect
from tests.standin_org import RunningOrg

LEGACY_KEY = "Legacy_Key__c"


def test_unknown_record_is_resource_not_found(sf: Salesforce) -> None:
    missing = ids.make_id("800", 999_999)
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Contract.get(missing)
    assert caught.value.status == 404
    assert caught.value.content == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contract.update(missing, {"Description": "x"})
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contract.delete(missing)


def test_unknown_object_is_resource_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nonexistent__c.describe()
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nonexistent__c.create({"Name": "x"})


@pytest.fixture(scope="module")
def legacy_key_field(devorg: RunningOrg) -> str:
    """A custom external id on Contact that is not unique, added through the schema hook."""
    devorg.admin(
        "POST",
        "schema",
        {"op": "add", "object": "Contact", "field": LEGACY_KEY, "type": "string", "external_id": True, "unique": False},
    )
    return LEGACY_KEY


def test_ambiguous_external_id_is_more_than_one_record(sf: Salesforce, legacy_key_field: str) -> None:
    field = sf.Contact.describe()["fields"]
    described = next(f for f in field if f["name"] == legacy_key_field)
    assert described["externalId"] is True and described["unique"] is False

    value = f"legacy-{uuid.uuid4().hex[:8]}"
    first = sf.Contact.create({"LastName": "Twin", legacy_key_field: value})["id"]
    second = sf.Contact.create({"LastName": "Twin", legacy_key_field: value})["id"]

    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.Contact.get_by_custom_id(legacy_key_field, value)
    assert caught.value.status == 300
    assert sorted(caught.value.content) == sorted(
        f"/services/data/v59.0/sobjects/Contact/{record_id}" for record_id in (first, second)
    )

    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Contact.upsert(f"{legacy_key_field}/{value}", {"LastName": "Changed"})
    names = sf.query(f"SELECT LastName FROM Contact WHERE {legacy_key_field} = '{value}'")["records"]
    assert [r["LastName"] for r in names] == ["Twin", "Twin"]  # nothing written


def test_request_limit_exceeded_is_refused_request(org: RunningOrg, sf: Salesforce) -> None:
    org.admin("PUT", "settings", {"daily_api_limit": org.api_used() + 1})
    sf.query("SELECT COUNT() FROM Contract")  # the last call allowed
    used = org.api_used()
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT COUNT() FROM Contract")
    assert caught.value.status == 403
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    with pytest.raises(SalesforceRefusedRequest):
        sf.Task.create({"Subject": "over the limit"})
    assert org.api_used() == used  # refused calls are not counted


@pytest.mark.parametrize(("error", "status", "code"), [("503", 503, "SERVER_UNAVAILABLE"), ("500", 500, None)])
def test_server_errors_are_general_errors(org: RunningOrg, sf: Salesforce, error: str, status: int, code: Any) -> None:
    org.faults(rules=[{"route": "query", "error": error, "count": 1}])
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM Contract LIMIT 1")
    assert caught.value.status == status
    assert caught.value.content[0]["errorCode"] == (code or "UNKNOWN_EXCEPTION")
    assert sf.query("SELECT Id FROM Contract LIMIT 1")["totalSize"] == 1


@pytest.fixture(scope="module")
def refs(devorg: RunningOrg) -> dict[str, str]:
    sf = connect(devorg.connection("password"))
    user = sf.query("SELECT Id FROM User LIMIT 1")["records"][0]["Id"]
    account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    return {"user": user, "account": account}


CREATE_ERRORS = [
    ("Contract", {"Status": "Draft"}, "REQUIRED_FIELD_MISSING", ["AccountId"]),
    ("Task", {"Subject": "x", "IsClosed": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsClosed"]),
    ("Task", {"Subject": "x", "TaskSubtype": "Fax"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["TaskSubtype"]),
    ("Task", {"Subject": "x", "WhatId": ids.make_id("800", 999_998)}, "INVALID_CROSS_REFERENCE_KEY", ["WhatId"]),
    ("Task", {"Subject": "x", "WhatId": "800-not-an-id"}, "MALFORMED_ID", ["WhatId"]),
    ("Task", {"Subject": "x", "WhatId": "{user}"}, "FIELD_INTEGRITY_EXCEPTION", ["WhatId"]),
    ("Task", {"Subject": "x", "ActivityDate": "abc"}, "JSON_PARSER_ERROR", None),
    ("Task", {"Subject": "x", "ActivityDate": "2026-02-30"}, "JSON_PARSER_ERROR", None),
    ("Task", {"Subject": "x", "ActivityDate": "2026-01-01garbage"}, "JSON_PARSER_ERROR", None),
    ("Task", {"Subject": "x", "IsReminderSet": "maybe"}, "JSON_PARSER_ERROR", None),
    ("Task", {"Subject": {"nested": 1}}, "JSON_PARSER_ERROR", None),
    ("Task", {"Subject": "x", "Nope__c": 1}, "INVALID_FIELD", ["Nope__c"]),
    ("Task", {"Subject": "x" * 256}, "STRING_TOO_LONG", ["Subject"]),
    ("Task", {"Subject": "x", "Id": ids.make_id("00T", 5)}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["Id"]),
    ("Contract", {"AccountId": "{account}", "ContractTerm": "twelve"}, "JSON_PARSER_ERROR", None),
    ("Contract", {"AccountId": "{account}", "ContractTerm": 1e12}, "NUMBER_OUTSIDE_VALID_RANGE", ["ContractTerm"]),
    ("Contract", {"AccountId": "{account}", "ContractTerm": 1.5}, "JSON_PARSER_ERROR", None),
    ("Contract", {"AccountId": "{account}", "Total_Contract_Value__c": "Infinity"}, "JSON_PARSER_ERROR", None),
    (
        "Contract",
        {"AccountId": "{account}", "Total_Contract_Value__c": 1e300},
        "NUMBER_OUTSIDE_VALID_RANGE",
        ["Total_Contract_Value__c"],
    ),
    (
        "Contract",
        {"AccountId": "{account}", "StartDate": "9999-12-01", "ContractTerm": 12},
        "FIELD_INTEGRITY_EXCEPTION",
        ["ContractTerm"],
    ),
    ("Contract", {"AccountId": "{account}", "EndDate": "2030-01-01"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["EndDate"]),
]


@pytest.mark.parametrize(("sobject", "values", "code", "fields"), CREATE_ERRORS)
def test_bad_creates_are_400_with_salesforce_codes(
    sf: Salesforce, refs: dict[str, str], sobject: str, values: dict[str, Any], code: str, fields: Any
) -> None:
    body = {k: v.format(**refs) if isinstance(v, str) and v.startswith("{") else v for k, v in values.items()}
    before = sf.query(f"SELECT COUNT() FROM {sobject}")["totalSize"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.__getattr__(sobject).create(body)
    assert caught.value.status == 400
    (error,) = caught.value.content
    assert error["errorCode"] == code and error["message"]
    if fields is not None:
        assert error["fields"] == fields
    assert sf.query(f"SELECT COUNT() FROM {sobject}")["totalSize"] == before


def test_bad_update_is_400_and_changes_nothing(sf: Salesforce) -> None:
    task_id = sf.Task.create({"Subject": "keep me"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Task.update(task_id, {"Subject": "changed", "TaskSubtype": "Email"})  # create-only field
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.Task.get(task_id)["Subject"] == "keep me"


def test_malformed_record_id_in_the_path(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contract.get("not-an-id")
    assert caught.value.content[0]["errorCode"] == "MALFORMED_ID"
