"""The seeded org: deterministic, realistic in its spreads, and with a complete renewal graph per flavour."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdf
import pytest

from sync_service.devorg.catalogue import build_schema
from sync_service.devorg.seed import FLAVOURS, SeedSummary, seed_org
from sync_service.devorg.store import OrgStore

TODAY = date(2026, 11, 22)
API_USER = "integration@standin.example.com"
CONTRACTS = 150


def _clock() -> datetime:
    return datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def _seed(
    flavour: str,
    contracts: int = CONTRACTS,
    *,
    seed: int = 1,
    path: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[OrgStore, SeedSummary]:
    store = OrgStore(build_schema(), path, clock=_clock)
    summary = seed_org(
        store, contracts=contracts, flavour=flavour, seed=seed, today=TODAY, api_username=API_USER, progress=progress
    )
    return store, summary


def _snapshot(store: OrgStore) -> dict[str, Any]:
    """Every record and every blob, keyed so two orgs compare with one `==`."""
    records = {obj.name: sorted(store.rows(obj.name), key=lambda r: r["Id"]) for obj in store.schema}
    blobs = {}
    for sobject, field_name in (("Document", "Body"), ("ContentVersion", "VersionData")):
        for row in store.rows(sobject):
            blobs[row["Id"]] = store.blob(row["Id"], field_name)
    return {"records": records, "blobs": blobs}


@pytest.fixture(scope="module", params=FLAVOURS)
def seeded(request: pytest.FixtureRequest) -> tuple[str, OrgStore, SeedSummary]:
    store, summary = _seed(request.param)
    return request.param, store, summary


def _contracts(flavour: str, store: OrgStore) -> list[dict[str, Any]]:
    """The flavour's contracts in one shape: id, end date, currency, reseller, cancelled."""
    out = []
    if flavour == "conga_cpq":
        for row in store.rows("Apttus__APTS_Agreement__c"):
            out.append(
                {
                    "id": row["Id"],
                    "end": date.fromisoformat(row["Apttus__Contract_End_Date__c"]),
                    "currency": row["CurrencyIsoCode"],
                    "reseller": row["APTS_Reseller__c"],
                    "cancelled": row["Apttus__Status__c"] in ("Terminated", "Cancelled Request"),
                    "auto_renew": row["Apttus__Auto_Renewal__c"],
                }
            )
    else:
        for row in store.rows("Contract"):
            out.append(
                {
                    "id": row["Id"],
                    "end": date.fromisoformat(row["EndDate"]),
                    "currency": row["CurrencyIsoCode"],
                    "reseller": row["Reseller__c"],
                    "cancelled": row["Cancelled__c"],
                    "auto_renew": row["Auto_Renew__c"],
                }
            )
    return out


def _children(store: OrgStore, sobject: str, field_name: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in store.rows(sobject):
        out.setdefault(row[field_name], []).append(row)
    return out


def _pdf_text(data: bytes | None) -> str:
    assert data is not None and data.startswith(b"%PDF-")
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data), strict=True).pages)


def _money(amount: float, currency: str) -> str:
    """An amount as the quote PDFs print it."""
    return f"{currency} {amount:,.0f}" if currency == "JPY" else f"{currency} {amount:,.2f}"


def _file_on(store: OrgStore, record_id: str) -> tuple[dict[str, Any], bytes | None]:
    """The latest version of the one File linked to `record_id`, followed the way a client would."""
    links = [r for r in store.rows("ContentDocumentLink") if r["LinkedEntityId"] == record_id]
    assert len(links) == 1
    document = store.get(links[0]["ContentDocumentId"])
    assert document is not None
    version = store.get(document["LatestPublishedVersionId"])
    assert version is not None
    return version, store.blob(version["Id"], "VersionData")


# ---------------------------------------------------------------------------------------------- arguments


def test_unknown_flavour_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="salesforce_cpq, conga_cpq, standard"):
        _seed("apttus", 5)


def test_refuses_an_org_that_already_has_users() -> None:
    store, _ = _seed("standard", 3)
    with pytest.raises(ValueError, match="empty org"):
        seed_org(store, contracts=3, flavour="standard", today=TODAY, api_username=API_USER)


def test_progress_reports_contracts_done_per_batch() -> None:
    calls: list[int] = []
    _, summary = _seed("standard", 1203, progress=calls.append)
    assert calls == sorted(calls) and calls[-1] == 1203 and len(calls) >= 3
    assert summary.contracts == 1203 and summary.counts["Contract"] == 1203


# ---------------------------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_same_arguments_give_identical_orgs(flavour: str) -> None:
    first, first_summary = _seed(flavour, 60)
    second, second_summary = _seed(flavour, 60)
    assert first_summary == second_summary
    assert _snapshot(first) == _snapshot(second)


def test_another_seed_gives_another_org() -> None:
    first, _ = _seed("salesforce_cpq", 40, seed=1)
    second, _ = _seed("salesforce_cpq", 40, seed=2)
    names = {r["Name"] for r in first.rows("Account")}
    assert names != {r["Name"] for r in second.rows("Account")}


# ---------------------------------------------------------------------------------------------- every flavour


def test_counts_match_the_store(seeded: tuple[str, OrgStore, SeedSummary]) -> None:
    _, store, summary = seeded
    assert summary.counts == {o.name: store.count(o.name) for o in store.schema if store.count(o.name)}
    assert summary.total == sum(summary.counts.values())
    assert len(_contracts(seeded[0], store)) == CONTRACTS


def test_every_reference_resolves(seeded: tuple[str, OrgStore, SeedSummary]) -> None:
    _, store, _ = seeded
    for obj in store.schema:
        refs = [f for f in obj.fields.values() if f.type == "reference"]
        for row in store.rows(obj.name):
            assert not row["IsDeleted"]
            for f in refs:
                value = row.get(f.name)
                if value is None:
                    continue
                target = store.get(value)
                assert target is not None and not target["IsDeleted"], (obj.name, f.name, value)
                assert store.object_of(value) in f.reference_to, (obj.name, f.name, value)


def test_people_and_organization(seeded: tuple[str, OrgStore, SeedSummary]) -> None:
    _, store, _ = seeded
    users = list(store.rows("User"))
    assert users[0]["Username"] == API_USER and store.default_user_id() == users[0]["Id"]
    assert users[0]["CreatedById"] == users[0]["Id"]
    assert [r["Name"] for r in store.rows("Organization")] == ["Stand-in Org"]
    internal = [u for u in users if u["UserType"] == "Standard"]
    assert any(u["Username"].startswith("admin@") for u in internal)
    reps = [u for u in internal if u["ManagerId"] is not None]
    assert len(reps) >= 5
    assert len({u["TimeZoneSidKey"] for u in reps}) >= 2 and all(u["Email"] and u["LocaleSidKey"] for u in reps)
    assert len({u["Username"].lower() for u in users}) == len(users)


def test_resellers_have_their_own_partner_reps(seeded: tuple[str, OrgStore, SeedSummary]) -> None:
    _, store, _ = seeded
    partners = {r["Id"]: r for r in store.rows("Account") if r["Type"] in ("Reseller", "Distributor")}
    assert len(partners) >= 3 and all(r["IsPartner"] for r in partners.values())
    assert {r["Type"] for r in partners.values()} == {"Reseller", "Distributor"}
    partner_users = [u for u in store.rows("User") if u["UserType"] == "PowerPartner"]
    assert {u["AccountId"] for u in partner_users} == set(partners)
    for user in partner_users:
        contact = store.get(user["ContactId"])
        assert contact is not None and contact["Email"] == user["Email"] == user["Username"]
        assert contact["AccountId"] == user["AccountId"] and contact["Title"] == user["Title"]


def test_contacts_have_distinct_addresses_on_their_account_domain(seeded: tuple[str, OrgStore, SeedSummary]) -> None:
    _, store, _ = seeded
    contacts = list(store.rows("Contact"))
    customers = [r for r in store.rows("Account") if r["Type"] == "Customer"]
    per_account = Counter(c["AccountId"] for c in contacts)
    assert all(1 <= per_account[a["Id"]] <= 3 for a in customers)
    assert len({c["Email"] for c in contacts}) == len(contacts)
    domains: dict[str, set[str]] = {}
    for c in contacts:
        assert c["Preferred_Locale__c"] and c["Email"].endswith(".example.com")
        domains.setdefault(c["Email"].split("@")[1], set()).add(c["AccountId"])
    assert all(len(accounts) == 1 for accounts in domains.values())
    assert len(customers) == pytest.approx(CONTRACTS / 3, rel=0.35)


def test_end_dates_spread_over_past_soon_and_far_future(seeded: tuple[str, OrgStore, SeedSummary]) -> None:
    flavour, store, _ = seeded
    ends = [c["end"] for c in _contracts(flavour, store)]
    past = [d for d in ends if d < TODAY]
    soon = [d for d in ends if TODAY <= d <= TODAY + timedelta(days=90)]
    far = [d for d in ends if d > TODAY + timedelta(days=90)]
    assert len(past) >= 0.1 * len(ends) and len(far) >= 0.2 * len(ends)
    assert len(soon) >= 0.3 * len(ends)  # the due-soon renewals are what the product works on
    assert min(ends) >= TODAY - timedelta(days=372) and max(ends) <= TODAY + timedelta(days=737)


def test_currencies_resellers_cancellations_and_auto_renewals(seeded: tuple[str, OrgStore, SeedSummary]) -> None:
    flavour, store, _ = seeded
    contracts = _contracts(flavour, store)
    assert len({c["currency"] for c in contracts}) >= 4
    resold = sum(1 for c in contracts if c["reseller"]) / len(contracts)
    assert 0.2 <= resold <= 0.47
    cancelled = sum(1 for c in contracts if c["cancelled"]) / len(contracts)
    assert 0 < cancelled <= 0.12
    assert 0 < sum(1 for c in contracts if c["auto_renew"]) <= 0.2 * len(contracts)


# ---------------------------------------------------------------------------------------------- per flavour


def test_salesforce_cpq_renewal_graph() -> None:
    store, _ = _seed("salesforce_cpq", 100)
    subs = _children(store, "SBQQ__Subscription__c", "SBQQ__Contract__c")
    lines = _children(store, "SBQQ__QuoteLine__c", "SBQQ__Quote__c")
    docs = _children(store, "SBQQ__QuoteDocument__c", "SBQQ__Quote__c")
    statuses: Counter[str] = Counter()
    for contract in store.rows("Contract"):
        cid = contract["Id"]
        assert contract["Status"] == "Activated" and contract["ActivatedDate"]
        assert contract["SBQQ__RenewalForecast__c"] and contract["SBQQ__RenewalQuoted__c"]
        assert 1 <= len(subs[cid]) <= 5 and contract["Total_Contract_Value__c"] > 0
        opp = store.get(contract["SBQQ__RenewalOpportunity__c"])
        assert opp is not None and opp["Type"] == "Renewal" and opp["SBQQ__Renewal__c"] and not opp["IsClosed"]
        assert opp["SBQQ__RenewedContract__c"] == cid and opp["CloseDate"] == contract["EndDate"]
        quote = store.get(opp["SBQQ__PrimaryQuote__c"])
        assert quote is not None and quote["SBQQ__Type__c"] == "Renewal" and quote["SBQQ__Primary__c"]
        assert quote["SBQQ__MasterContract__c"] == cid and quote["SBQQ__Opportunity2__c"] == opp["Id"]
        assert quote["SBQQ__PrimaryContact__c"] and quote["SBQQ__SalesRep__c"] == contract["OwnerId"]
        assert quote["SBQQ__Partner__c"] == contract["Reseller__c"]
        expected_start = date.fromisoformat(contract["EndDate"]) + timedelta(days=1)
        assert quote["SBQQ__StartDate__c"] == expected_start.isoformat()
        assert quote["SBQQ__SubscriptionTerm__c"] == contract["ContractTerm"] and quote["SBQQ__ExpirationDate__c"]
        statuses[quote["SBQQ__Status__c"]] += 1
        quote_lines = lines[quote["Id"]]
        assert len(quote_lines) == len(subs[cid])
        assert {line["SBQQ__RenewedSubscription__c"] for line in quote_lines} == {s["Id"] for s in subs[cid]}
        for line in quote_lines:
            assert line["SBQQ__NetPrice__c"] > 0 and line["SBQQ__ListPrice__c"] >= line["SBQQ__CustomerPrice__c"]
        assert quote["SBQQ__NetAmount__c"] == pytest.approx(opp["Amount"])
        (doc,) = docs[quote["Id"]]
        assert doc["SBQQ__DocumentId__c"].startswith("015")
        document = store.get(doc["SBQQ__DocumentId__c"])
        assert document is not None and document["FolderId"] == store.default_user_id()
        assert document["ContentType"] == "application/pdf" and document["Type"] == "pdf"
        body = store.blob(document["Id"], "Body")
        assert body is not None and body.startswith(b"%PDF-") and document["BodyLength"] == len(body)
    assert set(statuses) == {"Draft", "Presented", "Approved"}
    # The PDF shows what the quote record says.
    quote = next(iter(store.rows("SBQQ__Quote__c")))
    (doc,) = docs[quote["Id"]]
    text = _pdf_text(store.blob(doc["SBQQ__DocumentId__c"], "Body"))
    assert quote["Name"] in text
    assert f"Total: {_money(quote['SBQQ__NetAmount__c'], quote['CurrencyIsoCode'])}" in text


def test_conga_renewal_graph() -> None:
    store, _ = _seed("conga_cpq", 100)
    assets = _children(store, "Apttus_Config2__AssetLineItem__c", "Apttus_CMConfig__AgreementId__c")
    proposals = _children(store, "Apttus_Proposal__Proposal__c", "Apttus_QPComply__MasterAgreementId__c")
    lines = _children(store, "Apttus_Proposal__Proposal_Line_Item__c", "Apttus_Proposal__Proposal__c")
    stages: Counter[str] = Counter()
    for agreement in store.rows("Apttus__APTS_Agreement__c"):
        aid = agreement["Id"]
        if agreement["Apttus__Status__c"] == "Activated":
            assert agreement["Apttus__Status_Category__c"] == "In Effect"
            assert {a["Apttus_Config2__AssetStatus__c"] for a in assets[aid]} == {"Activated"}
        assert agreement["Apttus__Term_Months__c"] in (12, 24, 36) and agreement["Apttus__Total_Contract_Value__c"]
        assert agreement["OwnerId"] and agreement["Apttus__Primary_Contact__c"]
        assert 1 <= len(assets[aid]) <= 5
        (proposal,) = proposals[aid]
        assert proposal["APTS_Proposal_Type__c"] == "Renewal" and proposal["Apttus_Proposal__Primary__c"]
        assert proposal["Apttus_Proposal__Account__c"] == agreement["Apttus__Account__c"]
        end = date.fromisoformat(agreement["Apttus__Contract_End_Date__c"])
        assert proposal["Apttus_Proposal__ExpectedStartDate__c"] == (end + timedelta(days=1)).isoformat()
        opp = store.get(proposal["Apttus_Proposal__Opportunity__c"])
        assert opp is not None and opp["Type"] == "Renewal" and opp["CloseDate"] == end.isoformat()
        stages[proposal["Apttus_Proposal__Approval_Stage__c"]] += 1
        proposal_lines = lines[proposal["Id"]]
        assert len(proposal_lines) == len(assets[aid])
        total = sum(line["Apttus_QPConfig__NetPrice__c"] for line in proposal_lines)
        assert proposal["Apttus_Proposal__Amount__c"] == pytest.approx(total)
        version, data = _file_on(store, proposal["Id"])
        assert version["PathOnClient"] == f"{proposal['Name']}.pdf" and version["FileExtension"] == "pdf"
        assert data is not None and data.startswith(b"%PDF-")
    assert set(stages) == {"Draft", "Presented", "Approved"}
    proposal = next(iter(store.rows("Apttus_Proposal__Proposal__c")))
    text = _pdf_text(_file_on(store, proposal["Id"])[1])
    assert proposal["Name"] in text
    assert f"Total: {_money(proposal['Apttus_Proposal__Amount__c'], proposal['CurrencyIsoCode'])}" in text


def test_standard_renewal_graph() -> None:
    store, _ = _seed("standard", 100)
    opps = _children(store, "Opportunity", "ContractId")
    items = _children(store, "OpportunityLineItem", "OpportunityId")
    entries = {r["Id"]: r for r in store.rows("PricebookEntry")}
    for contract in store.rows("Contract"):
        assert contract["Status"] == "Activated" and contract["Total_Contract_Value__c"] > 0
        (opp,) = opps[contract["Id"]]
        assert opp["Type"] == "Renewal" and opp["CloseDate"] == contract["EndDate"] and not opp["IsClosed"]
        opp_items = items[opp["Id"]]
        assert 1 <= len(opp_items) <= 5
        for item in opp_items:
            entry = entries[item["PricebookEntryId"]]
            assert entry["Product2Id"] == item["Product2Id"] and entry["CurrencyIsoCode"] == opp["CurrencyIsoCode"]
            assert item["Quantity"] > 0 and item["UnitPrice"] > 0
        assert opp["Amount"] == pytest.approx(sum(i["TotalPrice"] for i in opp_items))
        version, data = _file_on(store, opp["Id"])
        assert version["FileType"] == "PDF" and data is not None and data.startswith(b"%PDF-")
    opp = next(iter(store.rows("Opportunity")))
    text = _pdf_text(_file_on(store, opp["Id"])[1])
    renewed = store.get(opp["ContractId"])
    assert renewed is not None and f"RQ-{renewed['ContractNumber']}" in text
    assert f"Total: {_money(opp['Amount'], opp['CurrencyIsoCode'])}" in text


# ---------------------------------------------------------------------------------------------- persistence


def test_seeded_org_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "org.sqlite"
    store, summary = _seed("salesforce_cpq", 60, path=path)
    before = _snapshot(store)
    store.close()
    reopened = OrgStore(build_schema(), path, clock=_clock)
    try:
        assert {o.name: reopened.count(o.name) for o in reopened.schema if reopened.count(o.name)} == summary.counts
        assert _snapshot(reopened) == before
        # Sequences persisted too: the next record does not reuse an id.
        with reopened.transaction():
            account = reopened.insert("Account", {"Name": "After reopen"})
        assert account["Id"] not in {r["Id"] for r in before["records"]["Account"]}
    finally:
        reopened.close()
