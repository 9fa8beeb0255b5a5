"""Renew from the customer portal (email_actions.web.portal.renew): through its confirmation page, once, at
the total shown, and only where a renewal is possible. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from redis import Redis
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from sync_service.store import models
from tests.email_actions.web.portal.portal_site import CSRF, Portal, seed, sibling, start_portal
from tests.org_quotes import reprice
from tests.processes import free_port
from tests.standin_org import RunningOrg

# --- Renew from the portal ---------------------------------------------------------------------------------------


def test_renew_from_the_portal_goes_through_its_confirmation(site: Portal, redis: Redis) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    page = site.client.get(f"/portal/contracts/{data.due_soon}/renew")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Product of A-DUESOON" in html and "$1,000.00" in html
    assert 'name="quote_total_seen" value="1000.00"' in html
    assert 'name="purchase_order"' in html  # the default brand asks for one
    assert site.contract(data.due_soon).renewed_at is None
    token = CSRF.search(html)
    assert token is not None
    response = site.client.post(
        f"/portal/contracts/{data.due_soon}/renew",
        data={"csrf_token": token.group(1), "quote_total_seen": "1000.00", "purchase_order": "PO-4711"},
    )
    assert response.status_code == 200
    assert "contract A-DUESOON is renewed" in response.get_data(as_text=True)
    [renewal] = site.rows(models.Renewal)
    assert (renewal.contract_id, renewal.source, renewal.purchase_order) == (data.due_soon, "portal", "PO-4711")
    assert renewal.amount == Decimal("1000.00")
    assert site.contract(data.due_soon).renewed_at is not None
    assert {item.sobject for item in site.rows(models.OutboxItem)} >= {"SBQQ__Quote__c", "Opportunity"}
    confirmations = [m for m in site.rows(models.EmailMessage) if m.kind == "confirmation"]
    assert [m.contract_id for m in confirmations] == [data.due_soon]
    assert Queue("push", connection=redis).count == 1
    assert Queue("email", connection=redis).count == 1

    # A second POST (a double click, the back button) renews nothing twice.
    again = site.client.post(
        f"/portal/contracts/{data.due_soon}/renew", data={"csrf_token": token.group(1), "quote_total_seen": "1000.00"}
    )
    assert again.status_code == 200
    assert "already renewed" in again.get_data(as_text=True)
    assert len(site.rows(models.Renewal)) == 1
    listing = site.client.get("/portal").get_data(as_text=True)
    assert f'href="/portal/contracts/{data.due_soon}/renew"' not in listing


def test_the_emailed_contract_renewed_from_the_portal_carries_its_email(site: Portal) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    token = site.csrf(f"/portal/contracts/{data.emailed}/renew")
    response = site.client.post(
        f"/portal/contracts/{data.emailed}/renew", data={"csrf_token": token, "quote_total_seen": "12500.00"}
    )
    assert response.status_code == 200
    [renewal] = site.rows(models.Renewal)
    assert renewal.email_message_id == data.customer_message


def test_a_quote_repriced_in_salesforce_is_shown_again_and_nothing_is_renewed(site: Portal) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    token = site.csrf(f"/portal/contracts/{data.live}/renew")
    assert site.org is not None
    with site.sessions.begin() as session:
        quote = session.scalars(select(models.RenewalQuote).where(models.RenewalQuote.contract_id == data.live)).one()
        reprice(site.org, quote.sf_id, Decimal("1100.00"))  # a rep re-prices the quote in Salesforce
    response = site.client.post(
        f"/portal/contracts/{data.live}/renew", data={"csrf_token": token, "quote_total_seen": "1000.00"}
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "The renewal quote changed" in html and "$1,100.00" in html
    assert site.rows(models.Renewal) == [] and site.contract(data.live).renewed_at is None


def test_contracts_that_cannot_be_renewed_say_so(site: Portal) -> None:
    data = seed(site)
    with site.sessions.begin() as session:
        emailed = session.get(models.Contract, data.emailed)
        assert emailed is not None
        noquote = sibling(session, emailed, "A-NOQUOTE", 30, quote=False)
    site.open_customer(data.customer_message)
    assert "was cancelled" in site.client.get(f"/portal/contracts/{data.cancelled}/renew").get_data(as_text=True)
    assert "already renewed" in site.client.get(f"/portal/contracts/{data.renewed}/renew").get_data(as_text=True)
    assert "no renewal quote" in site.client.get(f"/portal/contracts/{noquote.id}/renew").get_data(as_text=True)
    token = site.csrf(f"/portal/contracts/{data.live}/renew")
    response = site.client.post(
        f"/portal/contracts/{data.cancelled}/renew", data={"csrf_token": token, "quote_total_seen": "1000.00"}
    )
    assert response.status_code == 409
    response = site.client.post(
        f"/portal/contracts/{data.live}/renew",
        data={"csrf_token": token, "quote_total_seen": "1000.00", "purchase_order": "P" * 81},
    )
    assert response.status_code == 400
    assert "at most 80 characters" in response.get_data(as_text=True)
    assert site.rows(models.Renewal) == []


def test_redis_being_down_only_delays_the_push_and_the_confirmation(
    settings: Settings, store: sessionmaker[Session], cpq_org: RunningOrg
) -> None:
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    site = start_portal(dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"), url, cpq_org)
    try:
        data = seed(site)
        site.open_customer(data.customer_message)
        token = site.csrf(f"/portal/contracts/{data.due_soon}/renew")
        response = site.client.post(
            f"/portal/contracts/{data.due_soon}/renew", data={"csrf_token": token, "quote_total_seen": "1000.00"}
        )
        assert response.status_code == 200
        assert "contract A-DUESOON is renewed" in response.get_data(as_text=True)
        # The sweeps find what was committed: the outbox rows to push, the confirmation to send.
        assert {item.status for item in site.rows(models.OutboxItem)} == {"pending"}
        [confirmation] = [m for m in site.rows(models.EmailMessage) if m.kind == "confirmation"]
        assert confirmation.status == "queued"
    finally:
        site.app.extensions["renewals.database"].dispose()
