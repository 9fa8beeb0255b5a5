"""SOQL compiled from mappings: the field paths selected, the query text, and that the org runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mappings.loader import load, preset
from mappings.model import PULL_ORDER
from mappings.soql import compile_query, field_value, select_for, soql_datetime
from sync_service.salesforce.client import connect
from tests.mappings.helpers import FLAVOURS, cpq_yaml
from tests.standin_org import RunningOrg


def test_select_for_lists_id_modstamp_and_every_mapped_path_once() -> None:
    mapping = preset("conga_cpq")
    assert select_for(mapping, "quote_line") == [
        "Id",
        "SystemModstamp",
        "Apttus_Proposal__Proposal__c",
        "Apttus_Proposal__Product__r.Name",
        "Apttus_Proposal__Product__r.Family",
        "Apttus_Proposal__Quantity__c",
        "Apttus_QPConfig__NetUnitPrice__c",
        "Apttus_QPConfig__NetPrice__c",
    ]
    # `Type` feeds is_reseller; constants select nothing.
    account = load(
        cpq_yaml(
            ("      currency: CurrencyIsoCode\n      is_reseller", "      currency: {constant: EUR}\n      is_reseller")
        )
    )
    assert select_for(account, "account") == ["Id", "SystemModstamp", "Name", "Type"]


def test_select_for_adds_the_lookups_the_write_back_names() -> None:
    mapping = preset("salesforce_cpq")
    assert select_for(mapping, "renewal_quote")[-1] == "SBQQ__Opportunity2__c"
    assert "SBQQ__Opportunity2__c" not in select_for(mapping, "contract")
    # Named twice (a write-back record and the Tasks' WhatId), selected once.
    what = load(
        cpq_yaml(
            ("    what: contract", "    what: contract.SBQQ__RenewalOpportunity__c"),
            (
                "      set: {SBQQ__Status__c: Accepted}\n",
                "      set: {SBQQ__Status__c: Accepted}\n"
                "    - object: Opportunity\n      record: contract.SBQQ__RenewalOpportunity__c\n"
                "      set: {StageName: Closed Won}\n",
            ),
        )
    )
    assert select_for(what, "contract")[-1] == "SBQQ__RenewalOpportunity__c"
    assert select_for(what, "contract").count("SBQQ__RenewalOpportunity__c") == 1


def test_select_for_drops_paths_that_differ_only_in_case() -> None:
    mapping = load(
        cpq_yaml(
            ("      number: Name\n", "      number: name\n"), ("      status: SBQQ__Status__c", "      status: Id")
        )
    )
    paths = select_for(mapping, "renewal_quote")
    assert [p.lower() for p in paths].count("id") == 1


def test_compile_query_text() -> None:
    mapping = preset("standard")
    since = datetime(2026, 11, 22, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert compile_query(mapping, "renewal_quote", since=since, extra_where="ContractId != null") == (
        "SELECT Id, SystemModstamp, ContractId, Name, StageName, Amount, CurrencyIsoCode FROM Opportunity "
        "WHERE (Type = 'Renewal') AND SystemModstamp >= 2026-11-22T10:00:00Z AND (ContractId != null)"
    )
    assert compile_query(mapping, "quote_line") == (
        "SELECT Id, SystemModstamp, OpportunityId, Product2.Name, Product2.Family, Quantity, UnitPrice, TotalPrice "
        "FROM OpportunityLineItem"
    )


def test_datetime_literals_are_utc_and_refuse_naive_times() -> None:
    assert soql_datetime(datetime(2026, 11, 22, 10, 0, tzinfo=UTC)) == "2026-11-22T10:00:00Z"
    with pytest.raises(ValueError, match="naive"):
        soql_datetime(datetime(2026, 11, 22, 10, 0))  # noqa: DTZ001 — the point of the test


def test_select_for_refuses_an_unknown_entity() -> None:
    with pytest.raises(KeyError, match="unknown entity 'quote'"):
        select_for(preset("standard"), "quote")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_every_compiled_query_runs_in_the_org(flavour: str, flavour_orgs: dict[str, RunningOrg]) -> None:
    sf = connect(flavour_orgs[flavour].connection())
    mapping = preset(flavour)
    past, future = datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1)
    for entity in PULL_ORDER:
        everything = sf.query_all(compile_query(mapping, entity))
        assert everything["totalSize"] > 0, entity
        since_past = sf.query_all(compile_query(mapping, entity, since=past, extra_where="Id != null"))
        assert since_past["totalSize"] == everything["totalSize"]
        assert sf.query(compile_query(mapping, entity, since=future))["totalSize"] == 0
        row = everything["records"][0]
        for path in select_for(mapping, entity):
            # Every selected path comes back (null or not), so the pull can tell a null from a missing field.
            head = path.split(".")[0]
            assert head in row, f"{entity}: {path} missing from the result"


def test_field_value_follows_nested_parents() -> None:
    row = {"Id": "1", "Account": {"Owner": {"Email": "a@b.c"}}, "Reseller__r": None}
    assert field_value(row, "Account.Owner.Email") == "a@b.c"
    assert field_value(row, "Reseller__r.Name") is None
    assert field_value(row, "Id") == "1"
