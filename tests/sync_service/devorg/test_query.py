"""query / queryAll through the real client: paging, result shapes, counts, date literals and errors."""

from __future__ import annotations

import csv
import math
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from simple_salesforce.format import format_soql

from sync_service.devorg.automation import add_months
from sync_service.salesforce.client import connect
from tests.standin_org import RunningOrg

PAGING_SUBJECT = "paging-5000"
PAGING_QUERY = f"SELECT Id, Subject FROM Task WHERE Subject = '{PAGING_SUBJECT}'"
ROWS = 5000


@pytest.fixture(scope="module")
def paging_tasks(devorg: RunningOrg) -> set[str]:
    """5,000 Tasks inserted with one Bulk 2.0 job; their ids."""
    sf = connect(devorg.connection("password"))
    what_id = sf.query("SELECT Id FROM Contract LIMIT 1")["records"][0]["Id"]
    records = [{"Subject": PAGING_SUBJECT, "WhatId": what_id, "Description": f"row {i}"} for i in range(ROWS)]
    (result,) = sf.bulk2.Task.insert(records=records, wait=0.1)
    assert result["numberRecordsProcessed"] == ROWS and result["numberRecordsFailed"] == 0
    successes = sf.bulk2.Task.get_all_ingest_records(result["job_id"])["successfulRecords"]
    return {row["sf__Id"] for row in successes}


def _org_today() -> date:
    """TODAY as the org evaluates it: in the API user's time zone."""
    return datetime.now(ZoneInfo("America/Los_Angeles")).date()


def test_query_all_iter_pages_5000_rows(org: RunningOrg, sf: Salesforce, paging_tasks: set[str]) -> None:
    before = org.api_used()
    ids = [record["Id"] for record in sf.query_all_iter(PAGING_QUERY)]
    calls = org.api_used() - before
    assert len(ids) == ROWS
    assert set(ids) == paging_tasks
    assert calls == math.ceil(ROWS / 2000)


def test_first_page_is_2000_with_a_root_relative_next_url(sf: Salesforce, paging_tasks: set[str]) -> None:
    page = sf.query(PAGING_QUERY)
    assert page["totalSize"] == ROWS
    assert page["done"] is False
    assert len(page["records"]) == 2000
    assert page["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    second = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert second["totalSize"] == ROWS and len(second["records"]) == 2000
    third = sf.query_more(second["nextRecordsUrl"], identifier_is_url=True)
    assert third["done"] is True and "nextRecordsUrl" not in third and len(third["records"]) == 1000
    seen = [r["Id"] for p in (page, second, third) for r in p["records"]]
    assert len(set(seen)) == ROWS


def test_batch_size_header_gives_pages_of_500(org: RunningOrg, sf: Salesforce, paging_tasks: set[str]) -> None:
    headers = {"Sforce-Query-Options": "batchSize=500"}
    page = sf.query(PAGING_QUERY, headers=headers)
    sizes = [len(page["records"])]
    while not page["done"]:
        assert page["nextRecordsUrl"].startswith("/services/")
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        sizes.append(len(page["records"]))
    assert sizes == [500] * 10

    before = org.api_used()
    ids = {r["Id"] for r in sf.query_all_iter(PAGING_QUERY, headers=headers)}
    assert ids == paging_tasks
    assert org.api_used() - before == 10


def test_batch_size_is_clamped_to_200(sf: Salesforce, paging_tasks: set[str]) -> None:
    page = sf.query(PAGING_QUERY, headers={"Sforce-Query-Options": "batchSize=10"})
    assert len(page["records"]) == 200


def test_query_all_pages_through_query_all_locators(sf: Salesforce, paging_tasks: set[str]) -> None:
    page = sf.query(PAGING_QUERY, include_deleted=True)
    assert page["nextRecordsUrl"].startswith("/services/data/v59.0/queryAll/")
    assert len(sf.query_all(PAGING_QUERY, include_deleted=True)["records"]) == ROWS


def test_query_all_collects_every_row(sf: Salesforce, paging_tasks: set[str]) -> None:
    result = sf.query_all(PAGING_QUERY)
    assert result["done"] is True and result["totalSize"] == ROWS
    assert {r["Id"] for r in result["records"]} == paging_tasks


@pytest.fixture
def fresh_contract(sf: Salesforce) -> dict[str, Any]:
    """An account and a contract of our own: no reseller, no subscriptions, one Task."""
    account_id = sf.Account.create({"Name": "Shape Test Ltd"})["id"]
    contract_id = sf.Contract.create({"AccountId": account_id, "StartDate": "2026-01-01", "ContractTerm": 12})["id"]
    task_id = sf.Task.create({"Subject": "shape task", "WhatId": contract_id})["id"]
    return {"account": account_id, "contract": contract_id, "task": task_id}


def test_parent_relationships_nest_with_attributes(sf: Salesforce, fresh_contract: dict[str, Any]) -> None:
    result = sf.query(
        "SELECT Id, ContractNumber, Account.Name, Account.Owner.Email, Reseller__r.Name "
        f"FROM Contract WHERE Id = '{fresh_contract['contract']}'"
    )
    (record,) = result["records"]
    assert list(record) == ["attributes", "Id", "ContractNumber", "Account", "Reseller__r"]
    assert record["attributes"] == {
        "type": "Contract",
        "url": f"/services/data/v59.0/sobjects/Contract/{fresh_contract['contract']}",
    }
    account = record["Account"]
    assert account["attributes"]["type"] == "Account"
    assert account["attributes"]["url"] == f"/services/data/v59.0/sobjects/Account/{fresh_contract['account']}"
    assert account["Name"] == "Shape Test Ltd"
    assert account["Owner"]["attributes"]["type"] == "User"
    assert account["Owner"]["Email"] == "integration@renewals.devorg"
    assert record["Reseller__r"] is None


def test_child_subqueries_are_query_results_or_none(sf: Salesforce, fresh_contract: dict[str, Any]) -> None:
    result = sf.query(
        "SELECT Id, (SELECT Id, Subject FROM Tasks), (SELECT Id FROM SBQQ__Subscriptions__r) "
        f"FROM Contract WHERE Id = '{fresh_contract['contract']}'"
    )
    (record,) = result["records"]
    tasks = record["Tasks"]
    assert tasks["totalSize"] == 1 and tasks["done"] is True
    assert tasks["records"][0]["attributes"]["type"] == "Task"
    assert tasks["records"][0]["Id"] == fresh_contract["task"]
    assert tasks["records"][0]["Subject"] == "shape task"
    assert record["SBQQ__Subscriptions__r"] is None


def test_seeded_contracts_have_subscription_subqueries(sf: Salesforce) -> None:
    result = sf.query(
        "SELECT Id, Account.Name, (SELECT Id, SBQQ__Quantity__c FROM SBQQ__Subscriptions__r) "
        "FROM Contract ORDER BY ContractNumber LIMIT 5"
    )
    with_children = [r for r in result["records"] if r["SBQQ__Subscriptions__r"] is not None]
    assert with_children
    for record in with_children:
        child = record["SBQQ__Subscriptions__r"]
        assert child["totalSize"] == len(child["records"]) > 0
        assert all(row["attributes"]["type"] == "SBQQ__Subscription__c" for row in child["records"])
        assert isinstance(record["Account"]["Name"], str)


def test_count_is_in_total_size(sf: Salesforce) -> None:
    counted = sf.query("SELECT COUNT() FROM Contract")
    assert counted["records"] == []
    assert counted["totalSize"] == len(sf.query_all("SELECT Id FROM Contract")["records"]) >= 120


def _start_for_end(end: date, term: int = 1) -> date:
    """A StartDate whose Contract.EndDate (start + term months - 1 day) is `end`."""
    for back in range(27, 33):
        start = end - timedelta(days=back)
        if add_months(start, term) - timedelta(days=1) == end:
            return start
    raise AssertionError(f"no start date ends on {end}")


def test_date_literal_today_finds_a_contract_ending_today(sf: Salesforce, fresh_contract: dict[str, Any]) -> None:
    today = _org_today()
    cid = fresh_contract["contract"]
    sf.Contract.update(cid, {"StartDate": _start_for_end(today).isoformat(), "ContractTerm": 1})
    assert sf.Contract.get(cid)["EndDate"] == today.isoformat()

    def found(where: str) -> bool:
        return sf.query(f"SELECT Id FROM Contract WHERE Id = '{cid}' AND {where}")["totalSize"] == 1

    assert found("EndDate = TODAY")
    assert found("EndDate = LAST_N_DAYS:1")
    assert found("EndDate >= TODAY AND EndDate <= NEXT_N_DAYS:90")
    assert found("EndDate = THIS_MONTH")
    assert not found("EndDate = YESTERDAY")
    assert not found("EndDate = TOMORROW")
    assert not found("EndDate = NEXT_N_DAYS:90")
    assert not found("EndDate > TODAY")


def test_query_all_sees_deleted_records(sf: Salesforce) -> None:
    task_id = sf.Task.create({"Subject": "to be deleted"})["id"]
    sf.Task.delete(task_id)
    soql = f"SELECT Id, IsDeleted FROM Task WHERE Id = '{task_id}'"
    assert sf.query(soql)["totalSize"] == 0
    (deleted,) = sf.query_all(soql, include_deleted=True)["records"]
    assert deleted["Id"] == task_id and deleted["IsDeleted"] is True
    assert sf.query(f"SELECT COUNT() FROM Task WHERE Id = '{task_id}'", include_deleted=True)["totalSize"] == 1


@pytest.mark.parametrize(
    ("soql", "code", "token"),
    [
        ("SELECT Id FROM Contract WHERE", "MALFORMED_QUERY", "<EOF>"),
        ("SELECT Id Contract", "MALFORMED_QUERY", "Contract"),
        ("SELECT Id, Nope__c FROM Contract", "INVALID_FIELD", "Nope__c"),
        ("SELECT Account.Nope FROM Contract", "INVALID_FIELD", "Nope"),
        ("SELECT Id FROM Contractz", "INVALID_TYPE", "Contractz"),
        ("SELECT Id, (SELECT Id FROM Nopes) FROM Contract", "INVALID_TYPE", "Nopes"),
    ],
)
def test_soql_errors_map_to_malformed_request(sf: Salesforce, soql: str, code: str, token: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    assert caught.value.status == 400
    (error,) = caught.value.content
    assert error["errorCode"] == code
    assert token in error["message"]
    assert "ERROR at Row:1:Column:" in error["message"]


def test_datetime_and_string_literals_from_format_soql(sf: Salesforce, fresh_contract: dict[str, Any]) -> None:
    created = sf.Contract.get(fresh_contract["contract"])["CreatedDate"]
    since = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%f%z") - timedelta(seconds=1)
    soql = format_soql(
        "SELECT Id FROM Contract WHERE CreatedDate > {} AND Account.Name = {} AND Id IN {}",
        since,
        "Shape Test Ltd",
        [fresh_contract["contract"]],
    )
    assert sf.query(soql)["totalSize"] == 1


def test_bulk_query_csv_matches_rest(sf: Salesforce, paging_tasks: set[str]) -> None:
    """The same 5,000 rows through Bulk 2.0, paged by maxRecords: every page has its header row."""
    pages = list(sf.bulk2.Task.query(PAGING_QUERY, max_records=2000, wait=0.1))
    assert len(pages) == 3
    ids: list[str] = []
    for page in pages:
        rows = list(csv.reader(page.splitlines()))
        assert rows[0] == ["Id", "Subject"]
        ids.extend(row[0] for row in rows[1:])
    assert len(ids) == ROWS and set(ids) == paging_tasks
