"""Result shapes as Salesforce REST renders them."""

from __future__ import annotations

from typing import Any

from sync_service.devorg.soql import parse, prepare
from tests.sync_service.devorg.soql import records as r
from tests.sync_service.devorg.soql.records import SCHEMA, ids_of, run, sample_records, sample_source


def _by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rec["Id"]: rec for rec in records}


def test_attributes_then_fields_in_select_order_with_canonical_case() -> None:
    result = run(f"select enddate, ID, contractnumber from CONTRACT where id = '{r.CONTRACT_1}'")
    assert result.total_size == 1
    record = result.records[0]
    assert list(record) == ["attributes", "EndDate", "Id", "ContractNumber"]
    assert record["attributes"] == {
        "type": "Contract",
        "url": f"/services/data/v59.0/sobjects/Contract/{r.CONTRACT_1}",
    }


def test_null_fields_are_present_as_null() -> None:
    record = run(f"SELECT Id, StartDate, Name FROM Contract WHERE Id = '{r.CONTRACT_3}'").records[0]
    assert record["StartDate"] is None and record["Name"] is None


def test_parent_paths_nest_and_empty_lookups_render_null() -> None:
    result = run("SELECT Id, Account.Name, Account.Owner.Email, Owner.Name FROM Contract ORDER BY ContractNumber")
    first, second, third = result.records
    assert first["Account"] == {
        "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{r.ACME}"},
        "Name": "Acme",
        "Owner": {
            "attributes": {"type": "User", "url": f"/services/data/v59.0/sobjects/User/{r.USER_ALICE}"},
            "Email": "alice@example.com",
        },
    }
    assert list(first) == ["attributes", "Id", "Account", "Owner"]
    assert second["Account"]["Name"] == "Globex"
    assert third["Account"] is None
    assert third["Owner"]["Name"] == "Bob Brown"


def test_five_level_parent_path_and_api_version_in_urls() -> None:
    result = run(
        f"SELECT Parent.Name, Parent.Owner.Manager.Name FROM Account WHERE Id = '{r.GLOBEX}'", api_version="61.0"
    )
    parent = result.records[0]["Parent"]
    assert parent["attributes"]["url"].startswith("/services/data/v61.0/sobjects/Account/")
    assert parent["Owner"]["Manager"]["Name"] == "Bob Brown"


def test_alias_and_object_name_qualifiers() -> None:
    result = run("SELECT u.Name FROM User u WHERE u.IsActive = true AND User.Email LIKE 'alice%'")
    assert [rec["Name"] for rec in result.records] == ["Alice Adams"]


def test_child_subquery_shape_and_null_without_children() -> None:
    result = run(
        "SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName DESC LIMIT 5) FROM Account ORDER BY Name"
    )
    acme, globex, obrien = result.records
    assert acme["Contacts"]["totalSize"] == 2
    assert acme["Contacts"]["done"] is True
    assert [c["LastName"] for c in acme["Contacts"]["records"]] == ["Baker", "Able"]
    assert acme["Contacts"]["records"][0]["attributes"]["type"] == "Contact"
    assert globex["Contacts"] is None and obrien["Contacts"] is None


def test_child_subquery_where_limit_and_deleted_children() -> None:
    source = sample_source()
    query = "SELECT Id, (SELECT Id FROM Contacts WHERE LastName != 'Able' LIMIT 1) FROM Account WHERE Name = 'Acme'"
    assert run(query, source).records[0]["Contacts"]["records"] == [
        {
            "attributes": {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{r.CONTACT_BEN}"},
            "Id": r.CONTACT_BEN,
        }
    ]
    all_rows = run(
        "SELECT Id, (SELECT Id FROM Contacts) FROM Account WHERE Name = 'Acme'", source, include_deleted=True
    )
    assert all_rows.records[0]["Contacts"]["totalSize"] == 3


def test_polymorphic_what_and_who() -> None:
    result = run("SELECT Subject, What.Name, What.Type, Who.Name, WhatId FROM Task ORDER BY Subject")
    by_subject = {rec["Subject"]: rec for rec in result.records}
    on_account = by_subject["Call Acme"]
    assert on_account["What"] == {
        "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{r.ACME}"},
        "Name": "Acme",
        "Type": "Account",
    }
    assert on_account["Who"]["attributes"]["type"] == "Contact"
    on_contract = by_subject["Renewal reminder"]
    assert on_contract["What"]["Type"] == "Contract"
    assert on_contract["What"]["Name"] == "00000101"  # no Name: the auto-number stands in
    assert by_subject["Loose end"]["What"] is None


def test_polymorphic_filter_on_type_and_name() -> None:
    assert ids_of(run("SELECT Id FROM Task WHERE What.Type = 'contract'")) == [r.TASK_ON_CONTRACT]
    assert ids_of(run("SELECT Id FROM Task WHERE What.Name = 'ACME'")) == [r.TASK_ON_ACCOUNT]


def test_count_query() -> None:
    result = run("SELECT COUNT() FROM Contact WHERE AccountId != null")
    assert (result.total_size, result.records) == (2, [])
    assert run("SELECT COUNT() FROM Contact", include_deleted=True).total_size == 4
    assert run("select count() from Contact limit 1").total_size == 1


def test_aggregate_with_group_by_aliases_and_expr_numbering() -> None:
    result = run(
        "SELECT OwnerId, COUNT(Id) n, MAX(EndDate), SUM(Total_Contract_Value__c) FROM Contract "
        "GROUP BY OwnerId ORDER BY COUNT(Id) DESC"
    )
    assert result.records == [
        {
            "attributes": {"type": "AggregateResult"},
            "OwnerId": r.USER_BOB,
            "n": 2,
            "expr0": "2026-12-31",
            "expr1": 300.0,
        },
        {
            "attributes": {"type": "AggregateResult"},
            "OwnerId": r.USER_ALICE,
            "n": 1,
            "expr0": "2026-11-30",
            "expr1": 1200.0,
        },
    ]


def test_aggregate_without_group_by_and_having() -> None:
    one = run("SELECT COUNT(Id), AVG(AnnualRevenue), MIN(Name), COUNT_DISTINCT(OwnerId) FROM Account")
    assert one.records == [
        {"attributes": {"type": "AggregateResult"}, "expr0": 3, "expr1": 799.75, "expr2": "Acme", "expr3": 2}
    ]
    empty = run("SELECT COUNT(Id) c, SUM(AnnualRevenue) s FROM Account WHERE Name = 'nobody'")
    assert empty.records == [{"attributes": {"type": "AggregateResult"}, "c": 0, "s": None}]
    having = run("SELECT AccountId, COUNT(Id) FROM Contact GROUP BY AccountId HAVING COUNT(Id) > 1")
    assert having.records == [{"attributes": {"type": "AggregateResult"}, "AccountId": r.ACME, "expr0": 2}]


def test_group_by_parent_field_renders_flat_field_name() -> None:
    result = run(
        "SELECT Account.Name, COUNT(Id) FROM Contract WHERE AccountId != null "
        "GROUP BY Account.Name ORDER BY Account.Name"
    )
    assert [(rec["Name"], rec["expr0"]) for rec in result.records] == [("Acme", 1), ("Globex", 1)]


def test_deleted_rows_hidden_unless_query_all() -> None:
    assert r.CONTACT_GONE not in ids_of(run("SELECT Id FROM Contact"))
    assert r.CONTACT_GONE in ids_of(run("SELECT Id FROM Contact", include_deleted=True))
    assert ids_of(run("SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True)) == [r.CONTACT_GONE]


def test_base64_fields_render_as_blob_url() -> None:
    result = run(
        f"SELECT ContentDocument.LatestPublishedVersion.VersionData, Id FROM ContentDocumentLink "
        f"WHERE LinkedEntityId = '{r.CONTRACT_1}'"
    )
    version = result.records[0]["ContentDocument"]["LatestPublishedVersion"]
    assert version["VersionData"] == f"/services/data/v59.0/sobjects/ContentVersion/{r.VERSION_1}/VersionData"


def test_columns_and_flatten() -> None:
    soql = "SELECT Id, account.name, Account.Owner.Email, Owner.Name FROM Contract ORDER BY ContractNumber"
    prepared = prepare(parse(soql), SCHEMA, soql)
    assert prepared.columns == ["Id", "Account.Name", "Account.Owner.Email", "Owner.Name"]
    assert (prepared.sobject, prepared.is_count, prepared.is_aggregate, prepared.has_subqueries) == (
        "Contract",
        False,
        False,
        False,
    )
    result = prepared.run(sample_source(), now=r.NOW, tz=r.TZ)
    assert prepared.flatten(result.records[0]) == [r.CONTRACT_1, "Acme", "alice@example.com", "Alice Adams"]
    assert prepared.flatten(result.records[2]) == [r.CONTRACT_3, None, None, "Bob Brown"]


def test_prepared_flags() -> None:
    for soql, flags in [
        ("SELECT COUNT() FROM Account", (True, False, False)),
        ("SELECT Type, COUNT(Id) FROM Account GROUP BY Type", (False, True, False)),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", (False, False, True)),
    ]:
        prepared = prepare(parse(soql), SCHEMA, soql)
        assert (prepared.is_count, prepared.is_aggregate, prepared.has_subqueries) == flags
    aggregate = prepare(parse("SELECT Type t, COUNT(Id) FROM Account GROUP BY Type"), SCHEMA, "")
    assert aggregate.columns == ["t", "expr0"]


def test_prepared_query_runs_repeatedly_against_changing_data() -> None:
    soql = "SELECT Id FROM Account WHERE Name LIKE 'A%'"
    prepared = prepare(parse(soql), SCHEMA, soql)
    data = sample_records()
    assert prepared.run(r.DictSource(data), now=r.NOW, tz=r.TZ).total_size == 1
    data["Account"].append({"Id": r.rid("001", 9), "IsDeleted": False, "Name": "Apex"})
    assert prepared.run(r.DictSource(data), now=r.NOW, tz=r.TZ).total_size == 2


def test_field_qualified_by_its_own_object_name() -> None:
    result = run("SELECT Account.Name FROM Account WHERE Account.Type = 'Customer'")
    assert result.records[0]["Name"] == "Acme"
    assert list(result.records[0]) == ["attributes", "Name"]


def test_by_id_helper_is_consistent() -> None:
    assert set(_by_id(run("SELECT Id FROM Account").records)) == {r.ACME, r.GLOBEX, r.OBRIEN}
