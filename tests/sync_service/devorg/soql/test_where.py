"""WHERE semantics: operators, nulls, case rules, ids, LIKE escapes, semi-joins, ORDER BY, LIMIT/OFFSET."""

from __future__ import annotations

import pytest

from tests.sync_service.devorg.soql import records as r
from tests.sync_service.devorg.soql.records import DictSource, ids_of, run


def _names(soql: str, source: DictSource | None = None) -> list[str]:
    return [rec["Name"] for rec in run(soql, source).records]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'acme'", ["Acme"]),
        ("Name != 'ACME'", ["Globex", "O'Brien Holdings"]),
        ("Name <> 'acme'", ["Globex", "O'Brien Holdings"]),
        ("Type = null", ["O'Brien Holdings"]),
        ("Type != null", ["Acme", "Globex"]),
        ("Type != 'Customer'", ["Globex", "O'Brien Holdings"]),  # != matches nulls in SOQL
        ("Type NOT IN ('Customer')", ["Globex", "O'Brien Holdings"]),
        ("Type IN ('customer', 'PARTNER')", ["Acme", "Globex"]),
        ("Type IN ('Customer', null)", ["Acme", "O'Brien Holdings"]),
        ("NumberOfEmployees > 5", ["Acme"]),
        ("NumberOfEmployees <= 10", ["Acme", "Globex"]),
        ("NumberOfEmployees < 100", ["Acme", "Globex"]),  # null never orders
        ("AnnualRevenue >= 99.5", ["Acme", "Globex"]),
        ("AnnualRevenue = 1500", ["Acme"]),
        ("IsPartner = TRUE", ["Acme"]),
        ("IsPartner = false", ["Globex", "O'Brien Holdings"]),
        ("IsPartner = null", ["Globex", "O'Brien Holdings"]),  # a checkbox is never null: = null means false
        ("Name LIKE 'a%'", ["Acme"]),
        ("Name LIKE '%E_'", ["Globex"]),
        ("Name LIKE 'O\\'Brien%'", ["O'Brien Holdings"]),
        ("Name = 'O\\'Brien Holdings'", ["O'Brien Holdings"]),
        ("NOT Name LIKE '%o%'", ["Acme"]),
        ("Name > 'b'", ["Globex", "O'Brien Holdings"]),
        ("Owner.Email = 'alice@example.com'", ["Acme", "O'Brien Holdings"]),
        ("Parent.Name = 'Acme'", ["Globex"]),
        ("Parent.Name = null", ["Acme", "O'Brien Holdings"]),  # no parent at all counts as null
        ("(Type = 'Customer' OR Type = 'Partner') AND NumberOfEmployees > 5", ["Acme"]),
        ("Type = 'Customer' OR (Type = 'Partner' AND NumberOfEmployees > 5)", ["Acme"]),
        ("NOT (Type = 'Customer' OR Type = 'Partner')", ["O'Brien Holdings"]),
        ("Name = ''", []),  # '' is null for text
        ("CreatedDate > 2026-01-05T08:59:59Z", ["Acme", "Globex", "O'Brien Holdings"]),
        ("CreatedDate > 2026-01-05T09:00:00.000Z", []),
        ("CreatedDate = 2026-01-05T10:00:00+01:00", ["Acme", "Globex", "O'Brien Holdings"]),
        ("CreatedDate < 2026-01-05T04:00:00-05:00", []),
    ],
)
def test_account_filters(where: str, expected: list[str]) -> None:
    assert sorted(_names(f"SELECT Name FROM Account WHERE {where}")) == expected


def test_ids_compare_on_18_characters_and_accept_15() -> None:
    assert ids_of(run(f"SELECT Id FROM Account WHERE Id = '{r.ACME[:15]}'")) == [r.ACME]
    assert ids_of(run(f"SELECT Id FROM Contact WHERE AccountId IN ('{r.ACME[:15]}') ORDER BY Id")) == [
        r.CONTACT_ANN,
        r.CONTACT_BEN,
    ]
    recased = r.ACME[:3] + r.ACME[3:5].upper() + r.ACME[5:15]
    assert recased != r.ACME[:15]
    assert ids_of(run(f"SELECT Id FROM Account WHERE Id = '{recased}'")) == []  # 15-character ids are case-sensitive


def test_multipicklist_includes_excludes() -> None:
    from sync_service.devorg.schema import FieldDef

    schema = r.build_schema()
    schema.add_field("Account", FieldDef("Regions__c", "multipicklist", picklist=("EU", "US", "APAC")))
    data = r.sample_records()
    data["Account"][0]["Regions__c"] = "EU;US"
    data["Account"][1]["Regions__c"] = "APAC"
    source = DictSource(data)

    def names(where: str) -> list[str]:
        from sync_service.devorg.soql import execute

        result = execute(f"SELECT Name FROM Account WHERE {where}", schema, source, now=r.NOW, tz=r.TZ)
        return sorted(rec["Name"] for rec in result.records)

    assert names("Regions__c INCLUDES ('us')") == ["Acme"]
    assert names("Regions__c INCLUDES ('EU;US', 'APAC')") == ["Acme", "Globex"]
    assert names("Regions__c INCLUDES ('EU;APAC')") == []
    assert names("Regions__c EXCLUDES ('APAC')") == ["Acme", "O'Brien Holdings"]
    assert names("Regions__c = 'US;EU'") == ["Acme"]


def test_semi_join_and_anti_join() -> None:
    with_contacts = "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE Email != null)"
    assert _names(with_contacts) == ["Acme"]
    without = "SELECT Name FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact) ORDER BY Name"
    assert _names(without) == ["Globex", "O'Brien Holdings"]
    # the deleted contact of Acme must not make Acme match under query, only under queryAll
    data = r.sample_records()
    data["Contact"] = [c for c in data["Contact"] if c["Id"] == r.CONTACT_GONE]
    deleted_only = DictSource(data)
    assert _names("SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", deleted_only) == []
    assert [
        rec["Name"]
        for rec in run(
            "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", deleted_only, include_deleted=True
        ).records
    ] == ["Acme"]


def test_order_by_several_keys_nulls_and_parent_paths() -> None:
    assert _names("SELECT Name FROM Account ORDER BY Type NULLS FIRST") == ["O'Brien Holdings", "Acme", "Globex"]
    assert _names("SELECT Name FROM Account ORDER BY Type") == ["O'Brien Holdings", "Acme", "Globex"]
    assert _names("SELECT Name FROM Account ORDER BY NumberOfEmployees DESC") == ["Acme", "Globex", "O'Brien Holdings"]
    assert _names("SELECT Name FROM Account ORDER BY NumberOfEmployees DESC NULLS FIRST") == [
        "O'Brien Holdings",
        "Acme",
        "Globex",
    ]
    assert _names("SELECT Name FROM Account ORDER BY Owner.Name DESC, Name DESC") == [
        "Globex",
        "O'Brien Holdings",
        "Acme",
    ]
    numbers = [
        rec["ContractNumber"]
        for rec in run("SELECT ContractNumber FROM Contract ORDER BY Account.Name ASC NULLS LAST").records
    ]
    assert numbers == ["00000101", "00000102", "00000103"]


def test_text_sorts_case_insensitively_and_picklists_by_definition() -> None:
    data = r.sample_records()
    data["Account"][0]["Name"] = "acme"
    data["Account"][1]["Name"] = "Beta"
    assert _names("SELECT Name FROM Account ORDER BY Name", DictSource(data)) == ["acme", "Beta", "O'Brien Holdings"]
    # Account.Type values are defined Customer, ..., Partner: picklists sort by that order
    assert _names("SELECT Name FROM Account WHERE Type != null ORDER BY Type DESC") == ["Globex", "Acme"]


def test_limit_and_offset() -> None:
    query = "SELECT Name FROM Account ORDER BY Name"
    assert _names(query + " LIMIT 2") == ["Acme", "Globex"]
    assert _names(query + " LIMIT 2 OFFSET 1") == ["Globex", "O'Brien Holdings"]
    assert _names(query + " OFFSET 2") == ["O'Brien Holdings"]
    assert run(query + " LIMIT 0").total_size == 0


def test_with_and_for_clauses_are_ignored() -> None:
    for suffix in (
        "WITH SECURITY_ENFORCED",
        "WITH USER_MODE",
        "WITH SYSTEM_MODE ORDER BY Name",
        "FOR VIEW",
        "FOR UPDATE",
    ):
        assert run(f"SELECT Name FROM Account {suffix}").total_size == 3


def test_date_functions_in_where() -> None:
    data = r.sample_records()
    data["Account"][0]["CreatedDate"] = "2026-02-01T03:00:00.000+0000"  # 31 Jan evening in Los Angeles
    source = DictSource(data)
    assert _names("SELECT Name FROM Account WHERE DAY_ONLY(CreatedDate) = 2026-02-01", source) == ["Acme"]
    assert _names("SELECT Name FROM Account WHERE CALENDAR_MONTH(CreatedDate) = 2", source) == ["Acme"]
    assert _names("SELECT Name FROM Account WHERE DAY_IN_MONTH(CreatedDate) = 1", source) == ["Acme"]
    assert sorted(_names("SELECT Name FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2026", source)) == [
        "Acme",
        "Globex",
        "O'Brien Holdings",
    ]
    local = "SELECT Name FROM Account WHERE DAY_ONLY(convertTimezone(CreatedDate)) = 2026-01-31"
    assert _names(local, source) == ["Acme"]


def test_contract_dates_and_numbers() -> None:
    contracts = run("SELECT Id FROM Contract WHERE EndDate >= 2026-12-01 AND ContractTerm = 12")
    assert ids_of(contracts) == [r.CONTRACT_2]


def test_task_filters_from_the_corpus_shape() -> None:
    assert ids_of(run("SELECT Id FROM Task WHERE WhatId != null AND WhoId = null")) == [r.TASK_ON_CONTRACT]
    result = run(
        f"SELECT Id FROM Task WHERE (AccountId = '{r.ACME}' AND (Status = 'Completed' OR ActivityDate = NULL)) "
        f"OR Id IN ('{r.TASK_ON_NOTHING}')"
    )
    assert ids_of(result) == [r.TASK_ON_NOTHING]
