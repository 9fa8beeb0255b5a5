"""Renewal quotes the stand-in org holds as the store does: the Renew POST reads the quote live from the org
(sync_service.renewal_live), so a test that renews a factory-made contract puts its quote into a running
salesforce_cpq org first, with the same status, total, currency and expiration date.

The org computes a CPQ quote's net amount from its lines (SBQQ__NetAmount__c is a roll-up, read-only): the
quote gets one line whose net price is the total, and :func:`reprice` changes that line, as a rep re-pricing
the quote in Salesforce would.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

from simple_salesforce import Salesforce

from config.settings import Settings, load_settings
from sync_service.store import models
from tests.standin_org import RunningOrg

_clients: dict[str, Salesforce] = {}


def org_settings(settings: Settings, org: RunningOrg) -> Settings:
    """`settings` signed in to `org` (the password flow), as the web app and the jobs use them."""
    signed = load_settings({"RENEWALS_SECRET_KEYS": "s" * 64, **org.salesforce_env()})
    return dataclasses.replace(
        settings,
        **{f.name: getattr(signed, f.name) for f in dataclasses.fields(signed) if f.name.startswith("salesforce_")},
    )


def client(org: RunningOrg) -> Salesforce:
    # Keyed by the org's admin token too: an org a test started may reuse the port of one that stopped.
    key = f"{org.url} {org.info['admin_token']}"
    if key not in _clients:
        _clients[key] = org.salesforce()
    return _clients[key]


def _sobject(org: RunningOrg, name: str) -> Any:
    """simple-salesforce's handle of one object (typed loosely: its attribute access is dynamic)."""
    return getattr(client(org), name)


def put_quote(org: RunningOrg, quote: models.RenewalQuote) -> str:
    """Create `quote` in the org (status, total, currency, expiration) and give the store's row its id."""
    values: dict[str, Any] = {
        "SBQQ__Type__c": "Renewal",
        "SBQQ__Primary__c": True,
        "SBQQ__Status__c": quote.status or "Draft",
        "SBQQ__ExpirationDate__c": quote.valid_until.isoformat() if quote.valid_until else None,
        "CurrencyIsoCode": quote.currency,
    }
    created = _sobject(org, "SBQQ__Quote__c").create(values)
    quote_id = str(created["id"])
    if quote.total is not None:
        _sobject(org, "SBQQ__QuoteLine__c").create(
            {"SBQQ__Quote__c": quote_id, "SBQQ__Quantity__c": 1, "SBQQ__NetPrice__c": float(quote.total)}
        )
    quote.sf_id = quote_id
    return quote_id


def reprice(org: RunningOrg, quote_sf_id: str, total: Decimal) -> None:
    """Change the quote's lines so its net amount becomes `total` (a rep re-pricing it in Salesforce): the first
    line takes the whole total at quantity 1, any other line (a seeded quote has several) is priced at 0."""
    soql = f"SELECT Id FROM SBQQ__QuoteLine__c WHERE SBQQ__Quote__c = '{quote_sf_id}' ORDER BY Id"
    first, *others = client(org).query(soql)["records"]
    lines = _sobject(org, "SBQQ__QuoteLine__c")
    for line in others:
        lines.update(line["Id"], {"SBQQ__NetPrice__c": 0})
    lines.update(first["Id"], {"SBQQ__NetPrice__c": float(total), "SBQQ__Quantity__c": 1})


def set_quote(org: RunningOrg, quote_sf_id: str, *, status: str | None = None, expires: date | None = None) -> None:
    """Change the quote's status or expiration date in the org (a rep editing it in Salesforce)."""
    values: dict[str, Any] = {}
    if status is not None:
        values["SBQQ__Status__c"] = status
    if expires is not None:
        values["SBQQ__ExpirationDate__c"] = expires.isoformat()
    _sobject(org, "SBQQ__Quote__c").update(quote_sf_id, values)


def org_quote(org: RunningOrg, quote_sf_id: str) -> dict[str, Any]:
    return dict(_sobject(org, "SBQQ__Quote__c").get(quote_sf_id))
