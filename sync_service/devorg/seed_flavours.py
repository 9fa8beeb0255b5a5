"""The per-contract renewal object graph of each seed flavour, written from a `ContractPlan`.

Each writer turns one planned contract (dates, lines, prices, people, chosen by `seed.py`) into the records
that flavour's org would hold: the contract or agreement with its installed lines, the open renewal
opportunity, the renewal quote or proposal with its lines, and the quote PDF where that product keeps it
(a classic Document for Salesforce CPQ, a File for Conga and for standard objects). Writers draw from the
shared random generator only in a fixed order, so the seed stays deterministic.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sync_service.devorg.automation import add_months
from sync_service.devorg.pdf import render_quote_pdf
from sync_service.devorg.seed_data import WHOLE_CURRENCIES
from sync_service.devorg.seed_model import ContractPlan, LinePlan, Renewal, SeedContext, money

# Opportunity stage and win probability that go with the renewal quote's status.
_STAGES = {
    "Draft": (("Qualification", 20.0), ("Needs Analysis", 30.0)),
    "Presented": (("Proposal/Price Quote", 60.0),),
    "Approved": (("Negotiation/Review", 80.0),),
}
_NEXT_STEPS = {
    "Draft": "Prepare renewal quote",
    "Presented": "Await customer decision",
    "Approved": "Send for signature",
}
_SIGNATURE = {"Draft": "Pending", "Presented": "Sent", "Approved": "Pending"}
_CONGA_APPROVAL = {"Draft": "Not Submitted", "Presented": "Approved", "Approved": "Approved"}


def _renewal(ctx: SeedContext, plan: ContractPlan) -> Renewal:
    # The uplift is a price increase for the new term: list, customer and net prices all rise by it, so the
    # customer's discount carries over unchanged.
    factor = 1 + plan.uplift / 100
    lines = []
    for line in plan.lines:
        list_price = money(line.list_price * factor, plan.currency)
        customer = money(line.customer_price * factor, plan.currency)
        discount = max(0.0, round(100 * (1 - customer / list_price), 2)) if list_price else 0.0
        net = money(line.net_price * factor, plan.currency)
        lines.append(LinePlan(line.product, line.quantity, list_price, customer, net, discount))
    start = plan.end + timedelta(days=1)
    # An overdue renewal's quote was re-issued: it is valid for 30 days from today rather than already expired.
    expires = plan.end if plan.end >= ctx.today else ctx.today + timedelta(days=30)
    return Renewal(start, add_months(start, plan.term) - timedelta(days=1), expires, lines)


def _fmt(amount: float, currency: str) -> str:
    return f"{currency} {amount:,.0f}" if currency in WHOLE_CURRENCIES else f"{currency} {amount:,.2f}"


def _pdf_base64(ctx: SeedContext, plan: ContractPlan, renewal: Renewal, *, number: str, contract: str) -> str:
    cur = plan.currency
    lines = [ctx.org_name, f"Quote number: {number}", "", f"Prepared for: {plan.account.name}"]
    lines.append(f"Attention: {plan.contact.name} <{plan.contact.email}>")
    if plan.reseller is not None:
        lines.append(f"Through partner: {plan.reseller.name}")
    lines += [
        f"Renews contract {contract}, ending {plan.end.isoformat()}",
        f"Renewal term: {renewal.start.isoformat()} to {renewal.end.isoformat()} ({plan.term} months)",
        f"Valid until: {renewal.expires.isoformat()}",
        "",
    ]
    for i, line in enumerate(renewal.lines, start=1):
        total = round(line.net_price * line.quantity, 2)
        lines.append(
            f"{i}. {line.product.spec.name} ({line.product.code}): {line.quantity:g} x "
            f"{_fmt(line.net_price, cur)} = {_fmt(total, cur)}"
        )
    lines += ["", f"Total: {_fmt(renewal.total, cur)}", "", f"Prepared by {plan.rep.name}, {plan.rep.email}"]
    pdf = render_quote_pdf(title=f"Renewal Quote {number}", lines=lines)
    return base64.b64encode(pdf).decode("ascii")


def _contract_values(plan: ContractPlan) -> dict[str, Any]:
    return {
        "AccountId": plan.account.id,
        "Name": f"{plan.account.name[:55]} Subscription {plan.start.year}",
        "Status": "Draft",
        "StartDate": plan.start.isoformat(),
        "ContractTerm": plan.term,
        "OwnerId": plan.rep.id,
        "CurrencyIsoCode": plan.currency,
        "CustomerSignedId": plan.contact.id,
        "CustomerSignedDate": plan.signed.isoformat(),
        "CompanySignedDate": (plan.signed + timedelta(days=2)).isoformat(),
        "OwnerExpirationNotice": plan.notice,
        "BillingCountry": plan.account.country.name,
        "Total_Contract_Value__c": plan.total_value,
        "Auto_Renew__c": plan.auto_renew,
        "Cancelled__c": plan.cancelled,
        "Cancellation_Reason__c": plan.cancel_reason,
        "Reseller__c": plan.reseller.id if plan.reseller else None,
    }


def _opportunity(ctx: SeedContext, plan: ContractPlan, contract: str, extra: dict[str, Any]) -> str:
    """The open renewal opportunity; its stage follows how far the renewal quote has got."""
    stage, probability = ctx.rng.choice(_STAGES[plan.quote_status])
    values = {
        "Name": f"Renewal: {plan.account.name[:80]} ({contract})",
        "AccountId": plan.account.id,
        "StageName": stage,
        "Probability": probability,
        "CloseDate": plan.end.isoformat(),
        "Type": "Renewal",
        "Pricebook2Id": ctx.pricebook_id,
        "OwnerId": plan.rep.id,
        "CurrencyIsoCode": plan.currency,
        "NextStep": _NEXT_STEPS[plan.quote_status],
        **extra,
    }
    return str(ctx.store.insert("Opportunity", values, ctx.api_user_id)["Id"])


def write_salesforce_cpq(ctx: SeedContext, plan: ContractPlan) -> None:
    """Contract + subscriptions, then what CPQ's "Renewal Quoted" leaves behind: renewal opportunity, primary
    renewal quote with lines copied from the subscriptions, and a generated quote document (classic Document)."""
    store, api = ctx.store, ctx.api_user_id
    values = _contract_values(plan) | {
        "SBQQ__RenewalTerm__c": plan.term,
        "SBQQ__RenewalUpliftRate__c": plan.uplift,
        "SBQQ__RenewalOwner__c": plan.rep.id,
        "SBQQ__AmendmentRenewalBehavior__c": "Latest End Date",
    }
    contract = store.insert("Contract", values, api)
    cid, number = contract["Id"], contract["ContractNumber"]
    subscriptions = []
    for line in plan.lines:
        sub = store.insert(
            "SBQQ__Subscription__c",
            {
                "SBQQ__Contract__c": cid,
                "SBQQ__Account__c": plan.account.id,
                "SBQQ__Product__c": line.product.id,
                "SBQQ__Quantity__c": line.quantity,
                "SBQQ__NetPrice__c": line.net_price,
                "SBQQ__StartDate__c": plan.start.isoformat(),
                "SBQQ__EndDate__c": plan.end.isoformat(),
                "SBQQ__SubscriptionType__c": "Renewable",
                "SBQQ__RenewalQuantity__c": line.quantity,
                "CurrencyIsoCode": plan.currency,
            },
            api,
        )
        subscriptions.append(sub["Id"])
    # Salesforce refuses a contract inserted as Activated: it is activated once its lines exist.
    store.update("Contract", cid, {"Status": "Activated"}, api)
    renewal = _renewal(ctx, plan)
    opp = _opportunity(
        ctx, plan, number, {"Amount": renewal.total, "SBQQ__Renewal__c": True, "SBQQ__RenewedContract__c": cid}
    )
    quote = store.insert(
        "SBQQ__Quote__c",
        {
            "SBQQ__Account__c": plan.account.id,
            "SBQQ__PrimaryContact__c": plan.contact.id,
            "SBQQ__Opportunity2__c": opp,
            "SBQQ__SalesRep__c": plan.rep.id,
            "SBQQ__Partner__c": plan.reseller.id if plan.reseller else None,
            "SBQQ__Primary__c": True,
            "SBQQ__Status__c": plan.quote_status,
            "SBQQ__Type__c": "Renewal",
            "SBQQ__StartDate__c": renewal.start.isoformat(),
            "SBQQ__EndDate__c": renewal.end.isoformat(),
            "SBQQ__SubscriptionTerm__c": plan.term,
            "SBQQ__ExpirationDate__c": renewal.expires.isoformat(),
            "SBQQ__MasterContract__c": cid,
            "SBQQ__PaymentTerms__c": "Net 30",
            "OwnerId": plan.rep.id,
            "CurrencyIsoCode": plan.currency,
        },
        api,
    )
    qid, quote_name = quote["Id"], quote["Name"]
    for index, (line, sub_id) in enumerate(zip(renewal.lines, subscriptions, strict=True), start=1):
        store.insert(
            "SBQQ__QuoteLine__c",
            {
                "SBQQ__Quote__c": qid,
                "SBQQ__Product__c": line.product.id,
                "SBQQ__Quantity__c": line.quantity,
                "SBQQ__ListPrice__c": line.list_price,
                "SBQQ__CustomerPrice__c": line.customer_price,
                "SBQQ__NetPrice__c": line.net_price,
                "SBQQ__Discount__c": line.discount,
                "SBQQ__StartDate__c": renewal.start.isoformat(),
                "SBQQ__EndDate__c": renewal.end.isoformat(),
                "SBQQ__RenewedSubscription__c": sub_id,
                "SBQQ__SubscriptionPricing__c": "Fixed Price",
                "SBQQ__Number__c": index,
                "CurrencyIsoCode": plan.currency,
            },
            api,
        )
    store.update("Opportunity", opp, {"SBQQ__PrimaryQuote__c": qid}, api)
    document = store.insert(
        "Document",
        {
            "Name": f"{quote_name} Renewal Quote - {plan.account.name}"[:255],
            "DeveloperName": f"Renewal_Quote_{quote_name.replace('-', '_')}",
            "Body": _pdf_base64(ctx, plan, renewal, number=quote_name, contract=number),
            "ContentType": "application/pdf",
            "Type": "pdf",
            "FolderId": api,
            "IsPublic": False,
        },
        api,
    )
    store.insert(
        "SBQQ__QuoteDocument__c",
        {
            "Name": f"{quote_name} Renewal Quote v1",
            "SBQQ__Quote__c": qid,
            "SBQQ__Opportunity__c": opp,
            "SBQQ__Version__c": 1,
            "SBQQ__OutputFormat__c": "PDF",
            "SBQQ__SignatureStatus__c": _SIGNATURE[plan.quote_status],
            "SBQQ__DocumentId__c": document["Id"],
            "CurrencyIsoCode": plan.currency,
        },
        api,
    )
    # CPQ links the renewal back to the contract once it has forecast and quoted it.
    store.update(
        "Contract",
        cid,
        {"SBQQ__RenewalOpportunity__c": opp, "SBQQ__RenewalForecast__c": True, "SBQQ__RenewalQuoted__c": True},
        api,
    )


def write_conga_cpq(ctx: SeedContext, plan: ContractPlan) -> None:
    """Agreement + asset lines, renewal opportunity, renewal proposal with lines, and the proposal PDF as a File."""
    store, api = ctx.store, ctx.api_user_id
    if plan.cancelled:
        category, status = ctx.rng.choice((("Terminated", "Terminated"), ("Cancelled", "Cancelled Request")))
    else:
        category, status = "In Effect", "Activated"
    agreement = store.insert(
        "Apttus__APTS_Agreement__c",
        {
            "Name": f"{plan.account.name[:55]} Subscription Agreement",
            "Apttus__Account__c": plan.account.id,
            "Apttus__Primary_Contact__c": plan.contact.id,
            "Apttus__Status_Category__c": category,
            "Apttus__Status__c": status,
            "Apttus__Contract_Start_Date__c": plan.start.isoformat(),
            "Apttus__Contract_End_Date__c": plan.end.isoformat(),
            "Apttus__Term_Months__c": plan.term,
            "Apttus__Auto_Renewal__c": plan.auto_renew,
            "Apttus__Auto_Renewal_Term__c": 12 if plan.auto_renew else None,
            "Apttus__Renewal_Notice_Date__c": (plan.end - timedelta(days=int(plan.notice))).isoformat(),
            "Apttus__Total_Contract_Value__c": plan.total_value,
            "APTS_Reseller__c": plan.reseller.id if plan.reseller else None,
            "Apttus__Description__c": f"Cancelled: {plan.cancel_reason}" if plan.cancelled else None,
            "OwnerId": plan.rep.id,
            "CurrencyIsoCode": plan.currency,
        },
        api,
    )
    aid, number = agreement["Id"], agreement["Apttus__FF_Agreement_Number__c"]
    for line in plan.lines:
        store.insert(
            "Apttus_Config2__AssetLineItem__c",
            {
                "Name": line.product.spec.name,
                "Apttus_Config2__AccountId__c": plan.account.id,
                "Apttus_Config2__ProductId__c": line.product.id,
                "Apttus_CMConfig__AgreementId__c": aid,
                "Apttus_Config2__AssetStatus__c": "Cancelled" if plan.cancelled else "Activated",
                "Apttus_Config2__StartDate__c": plan.start.isoformat(),
                "Apttus_Config2__EndDate__c": plan.end.isoformat(),
                "Apttus_Config2__Quantity__c": line.quantity,
                # Conga's asset NetPrice is the extended line amount, not a unit price.
                "Apttus_Config2__NetPrice__c": round(line.net_price * line.quantity, 2),
                "Apttus_Config2__LineType__c": "Product/Service",
                "Apttus_Config2__IsPrimaryLine__c": True,
                "OwnerId": plan.rep.id,
                "CurrencyIsoCode": plan.currency,
            },
            api,
        )
    renewal = _renewal(ctx, plan)
    opp = _opportunity(ctx, plan, number, {"Amount": renewal.total})
    proposal = store.insert(
        "Apttus_Proposal__Proposal__c",
        {
            "Apttus_Proposal__Proposal_Name__c": f"Renewal - {plan.account.name} ({number})",
            "Apttus_Proposal__Account__c": plan.account.id,
            "Apttus_Proposal__Opportunity__c": opp,
            "Apttus_Proposal__Primary_Contact__c": plan.contact.id,
            "Apttus_QPComply__MasterAgreementId__c": aid,
            "Apttus_Proposal__Approval_Stage__c": plan.quote_status,
            "Apttus_QPApprov__Approval_Status__c": _CONGA_APPROVAL[plan.quote_status],
            "Apttus_Proposal__Amount__c": renewal.total,
            "Apttus_Proposal__Valid_Until_Date__c": renewal.expires.isoformat(),
            "Apttus_Proposal__ExpectedStartDate__c": renewal.start.isoformat(),
            "Apttus_Proposal__ExpectedEndDate__c": renewal.end.isoformat(),
            "Apttus_Proposal__Primary__c": True,
            "APTS_Proposal_Type__c": "Renewal",
            "OwnerId": plan.rep.id,
            "CurrencyIsoCode": plan.currency,
        },
        api,
    )
    pid, name = proposal["Id"], proposal["Name"]
    for line in renewal.lines:
        store.insert(
            "Apttus_Proposal__Proposal_Line_Item__c",
            {
                "Apttus_Proposal__Proposal__c": pid,
                "Apttus_Proposal__Product__c": line.product.id,
                "Apttus_Proposal__Quantity__c": line.quantity,
                "Apttus_QPConfig__ListPrice__c": line.list_price,
                "Apttus_QPConfig__NetUnitPrice__c": line.net_price,
                "Apttus_QPConfig__NetPrice__c": round(line.net_price * line.quantity, 2),
                "Apttus_Proposal__Description__c": line.product.spec.name,
                "Apttus_QPConfig__StartDate__c": renewal.start.isoformat(),
                "Apttus_QPConfig__EndDate__c": renewal.end.isoformat(),
                "CurrencyIsoCode": plan.currency,
            },
            api,
        )
    store.insert(
        "ContentVersion",
        {
            "Title": name,
            "PathOnClient": f"{name}.pdf",
            "VersionData": _pdf_base64(ctx, plan, renewal, number=name, contract=number),
            "FirstPublishLocationId": pid,
            "Description": "Renewal proposal",
        },
        api,
    )


def write_standard(ctx: SeedContext, plan: ContractPlan) -> None:
    """Contract, renewal opportunity with products (no quote object), and the quote PDF as a File on it."""
    store, api = ctx.store, ctx.api_user_id
    contract = store.insert("Contract", _contract_values(plan), api)
    cid, number = contract["Id"], contract["ContractNumber"]
    store.update("Contract", cid, {"Status": "Activated"}, api)
    renewal = _renewal(ctx, plan)
    # Amount is left to the org's roll-up of the line items below.
    opp = _opportunity(ctx, plan, number, {"ContractId": cid})
    for line in renewal.lines:
        entry_id, _ = ctx.entries[(line.product.id, plan.currency)]
        store.insert(
            "OpportunityLineItem",
            {
                "OpportunityId": opp,
                "Product2Id": line.product.id,
                "PricebookEntryId": entry_id,
                "Quantity": line.quantity,
                "UnitPrice": line.net_price,
                "ServiceDate": renewal.start.isoformat(),
                "Description": f"Renewal of {line.product.spec.name}",
                "CurrencyIsoCode": plan.currency,
            },
            api,
        )
    title = f"Renewal Quote RQ-{number}"
    store.insert(
        "ContentVersion",
        {
            "Title": title,
            "PathOnClient": f"{title}.pdf",
            "VersionData": _pdf_base64(ctx, plan, renewal, number=f"RQ-{number}", contract=number),
            "FirstPublishLocationId": opp,
            "Description": "Renewal quote",
        },
        api,
    )


FLAVOUR_WRITERS: dict[str, Callable[[SeedContext, ContractPlan], None]] = {
    "salesforce_cpq": write_salesforce_cpq,
    "conga_cpq": write_conga_cpq,
    "standard": write_standard,
}
