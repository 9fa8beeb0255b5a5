"""A small, fixed org for SOQL tests: users, accounts, contacts, contracts, opportunities, tasks and files."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sync_service.devorg.catalogue import build_schema
from sync_service.devorg.ids import make_id
from sync_service.devorg.soql import QueryResult, execute


class DictSource:
    """RecordSource over plain dicts, grouped by object."""

    def __init__(self, records: dict[str, list[dict[str, Any]]]):
        self.records = records
        self.by_id = {r["Id"]: r for rows in records.values() for r in rows}

    def rows(self, sobject: str) -> Iterable[dict[str, Any]]:
        return self.records.get(sobject, [])

    def get(self, record_id: str) -> dict[str, Any] | None:
        return self.by_id.get(record_id)


def rid(prefix: str, n: int) -> str:
    return make_id(prefix, n)


USER_ALICE, USER_BOB = rid("005", 1), rid("005", 2)
ACME, GLOBEX, OBRIEN = rid("001", 1), rid("001", 2), rid("001", 3)
CONTACT_ANN, CONTACT_BEN, CONTACT_CAL, CONTACT_GONE = (rid("003", n) for n in range(1, 5))
CONTRACT_1, CONTRACT_2, CONTRACT_3 = rid("800", 1), rid("800", 2), rid("800", 3)
OPP_1 = rid("006", 1)
TASK_ON_ACCOUNT, TASK_ON_CONTRACT, TASK_ON_NOTHING = rid("00T", 1), rid("00T", 2), rid("00T", 3)
DOC_1, VERSION_1, LINK_1 = rid("069", 1), rid("068", 1), rid("06A", 1)


def _rec(record_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "Id": record_id,
        "IsDeleted": False,
        "CreatedDate": "2026-01-05T09:00:00.000+0000",
        "SystemModstamp": "2026-01-05T09:00:00.000+0000",
        **fields,
    }


def sample_records() -> dict[str, list[dict[str, Any]]]:
    return {
        "User": [
            _rec(
                USER_ALICE,
                FirstName="Alice",
                LastName="Adams",
                Name="Alice Adams",
                Email="alice@example.com",
                IsActive=True,
                ManagerId=USER_BOB,
                Username="alice@example.com",
                Alias="aadam",
            ),
            _rec(
                USER_BOB,
                FirstName="Bob",
                LastName="Brown",
                Name="Bob Brown",
                Email="bob@example.com",
                IsActive=False,
                Username="bob@example.com",
                Alias="bbrow",
            ),
        ],
        "Account": [
            _rec(
                ACME,
                Name="Acme",
                Type="Customer",
                OwnerId=USER_ALICE,
                Industry="Technology",
                AnnualRevenue=1500.0,
                NumberOfEmployees=10,
                IsPartner=True,
            ),
            _rec(
                GLOBEX,
                Name="Globex",
                Type="Partner",
                OwnerId=USER_BOB,
                ParentId=ACME,
                Industry="Energy",
                AnnualRevenue=99.5,
                NumberOfEmployees=3,
                IsPartner=False,
            ),
            _rec(OBRIEN, Name="O'Brien Holdings", OwnerId=USER_ALICE, NumberOfEmployees=None, IsPartner=False),
        ],
        "Contact": [
            _rec(
                CONTACT_ANN,
                AccountId=ACME,
                FirstName="Ann",
                LastName="Able",
                Name="Ann Able",
                Email="ann@acme.example",
                OwnerId=USER_ALICE,
            ),
            _rec(CONTACT_BEN, AccountId=ACME, FirstName="Ben", LastName="Baker", Name="Ben Baker", OwnerId=USER_BOB),
            _rec(
                CONTACT_CAL, FirstName="Cal", LastName="Cole", Name="Cal Cole", Email="cal@xxxx.com", OwnerId=USER_ALICE
            ),
            {**_rec(CONTACT_GONE, AccountId=ACME, LastName="Gone", Name="Gone", OwnerId=USER_ALICE), "IsDeleted": True},
        ],
        "Contract": [
            _rec(
                CONTRACT_1,
                AccountId=ACME,
                ContractNumber="00000101",
                Status="Activated",
                StartDate="2025-12-01",
                EndDate="2026-11-30",
                ContractTerm=12,
                OwnerId=USER_ALICE,
                Auto_Renew__c=True,
                Total_Contract_Value__c=1200.0,
            ),
            _rec(
                CONTRACT_2,
                AccountId=GLOBEX,
                ContractNumber="00000102",
                Status="Draft",
                StartDate="2026-01-01",
                EndDate="2026-12-31",
                ContractTerm=12,
                OwnerId=USER_BOB,
                Auto_Renew__c=False,
                Total_Contract_Value__c=300.0,
            ),
            _rec(CONTRACT_3, ContractNumber="00000103", Status="Draft", OwnerId=USER_BOB, Auto_Renew__c=False),
        ],
        "Opportunity": [
            _rec(
                OPP_1,
                AccountId=ACME,
                Name="Acme renewal",
                StageName="Prospecting",
                CloseDate="2026-12-15",
                Amount=1000.0,
                IsClosed=False,
                OwnerId=USER_ALICE,
            ),
        ],
        "Task": [
            _rec(
                TASK_ON_ACCOUNT,
                Subject="Call Acme",
                WhatId=ACME,
                WhoId=CONTACT_ANN,
                AccountId=ACME,
                Status="Not Started",
                Priority="Normal",
                ActivityDate="2026-01-10",
                OwnerId=USER_ALICE,
            ),
            _rec(
                TASK_ON_CONTRACT,
                Subject="Renewal reminder",
                WhatId=CONTRACT_1,
                Status="Completed",
                Priority="High",
                OwnerId=USER_BOB,
            ),
            _rec(TASK_ON_NOTHING, Subject="Loose end", Status="Not Started", Priority="Low", OwnerId=USER_BOB),
        ],
        "ContentDocument": [_rec(DOC_1, Title="Order Form", LatestPublishedVersionId=VERSION_1, FileType="PDF")],
        "ContentVersion": [
            _rec(VERSION_1, Title="Order Form", ContentDocumentId=DOC_1, IsLatest=True, PathOnClient="form.pdf")
        ],
        "ContentDocumentLink": [_rec(LINK_1, LinkedEntityId=CONTRACT_1, ContentDocumentId=DOC_1, ShareType="V")],
    }


def sample_source() -> DictSource:
    return DictSource(sample_records())


SCHEMA = build_schema()
NOW = datetime(2026, 3, 15, 18, 30, tzinfo=UTC)  # 11:30 on 15 March in Los Angeles
TZ = ZoneInfo("America/Los_Angeles")


def run(soql: str, source: DictSource | None = None, **kwargs: Any) -> QueryResult:
    """Execute against the sample org (or `source`) at NOW in TZ."""
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("tz", TZ)
    return execute(soql, SCHEMA, source or sample_source(), **kwargs)


def ids_of(result: QueryResult) -> list[str]:
    return [r["Id"] for r in result.records]
