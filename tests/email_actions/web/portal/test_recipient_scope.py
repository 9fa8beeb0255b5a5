"""Portals scoped to the email's recipient (email_actions.web.portal.scope): the end customer's own contact sees
every contract of the account; a reseller's buyer (the quote's contact at the reseller) only that reseller's
deals of the customer, by list and by URL; a partner rep only their reseller's deals. On SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from email_actions.web.session_cookies import CUSTOMER_KEY, REP_KEY
from sync_service.store import models
from tests.email_actions.web.portal.portal_site import TODAY, Portal, message_for, numbers_in_order, sibling
from tests.factories import make_contract, sf_id


@dataclass
class Deals:
    direct: int  # the end customer's direct deal
    first: int  # through reseller R1
    second: int  # through reseller R1
    other: int  # through reseller R2
    r1_elsewhere: int  # through R1, another customer's
    buyer_message: int  # a reminder to R1's buyer about `first`
    customer_message: int  # a reminder to the end customer's own contact
    partner_message: int  # a rep notice to R1's partner rep about `first`


def seed_deals(site: Portal) -> Deals:
    with site.sessions.begin() as session:
        direct = make_contract(session, end_date=TODAY + timedelta(days=30), number="DIRECT")
        customer = direct.account
        r1 = models.Account(sf_id=sf_id("001"), name="Reseller One", is_reseller=True)
        r2 = models.Account(sf_id=sf_id("001"), name="Reseller Two", is_reseller=True)
        buyer = models.Contact(sf_id=sf_id("003"), account=r1, email="buyer@reseller-one.example", first_name="Bo")
        partner = models.Rep(sf_id=sf_id("005"), name="Pat Partner", email="pat@reseller-one.example")
        partner.reseller_account = r1
        # The partner rep owns every deal at the customer in Salesforce: their reseller still bounds what they see.
        direct.rep = partner
        first = sibling(session, direct, "VIA-R1-A", 40, reseller_account=r1)
        second = sibling(session, direct, "VIA-R1-B", 60, reseller_account=r1)
        other = sibling(session, direct, "VIA-R2", 50, reseller_account=r2)
        elsewhere = make_contract(session, end_date=TODAY + timedelta(days=20), number="ELSEWHERE", rep=partner)
        elsewhere.reseller_account = r1
        assert direct.account is customer
        buyer_message = message_for(session, first)
        buyer_message.contact, buyer_message.to_address = buyer, buyer.email
        customer_message = message_for(session, first)
        partner_message = message_for(session, first, kind="rep_notice")
        session.flush()
        return Deals(
            direct.id,
            first.id,
            second.id,
            other.id,
            elsewhere.id,
            buyer_message.id,
            customer_message.id,
            partner_message.id,
        )


def test_a_resellers_buyer_sees_exactly_that_resellers_contracts_of_the_customer(site: Portal) -> None:
    deals = seed_deals(site)
    assert site.open_customer(deals.buyer_message).status_code == 303
    page = site.client.get("/portal")
    assert page.status_code == 200
    assert sorted(numbers_in_order(page.get_data(as_text=True))) == ["VIA-R1-A", "VIA-R1-B"]
    for contract_id in (deals.first, deals.second):
        assert site.client.get(f"/portal/contracts/{contract_id}/renew").status_code == 200
    # The customer's direct deal, another reseller's and the reseller's deal with another customer: 404 by URL.
    for contract_id in (deals.direct, deals.other, deals.r1_elsewhere):
        for path in (f"/portal/contracts/{contract_id}/renew", f"/portal/contracts/{contract_id}/quote"):
            assert site.client.get(path).status_code == 404, path
        refused = site.client.post(
            f"/portal/contracts/{contract_id}/renew",
            data={"csrf_token": site.csrf(f"/portal/contracts/{deals.first}/renew"), "quote_total_seen": "1000.00"},
        )
        assert refused.status_code == 404
    assert all(contract.renewed_at is None for contract in site.rows(models.Contract))


def test_the_end_customers_own_contact_sees_every_contract_of_the_account(site: Portal) -> None:
    deals = seed_deals(site)
    site.open_customer(deals.customer_message)
    numbers = numbers_in_order(site.client.get("/portal").get_data(as_text=True))
    assert sorted(numbers) == ["DIRECT", "VIA-R1-A", "VIA-R1-B", "VIA-R2"]
    assert site.client.get(f"/portal/contracts/{deals.direct}/renew").status_code == 200


def test_a_partner_rep_sees_only_their_resellers_contracts(site: Portal) -> None:
    deals = seed_deals(site)
    assert site.open_rep(deals.partner_message).status_code == 303
    numbers = numbers_in_order(site.client.get("/rep").get_data(as_text=True))
    assert sorted(numbers) == ["VIA-R1-A", "VIA-R1-B"]
    csrf = site.csrf("/rep")
    for contract_id in (deals.direct, deals.other):
        assert site.client.get(f"/rep/contracts/{contract_id}/quote").status_code == 404
        assert site.client.post(f"/rep/contracts/{contract_id}/hold", data={"csrf_token": csrf}).status_code == 404
    assert site.rows(models.AuditEntry) == []


def test_an_email_whose_recipient_is_unknown_opens_no_portal(site: Portal) -> None:
    deals = seed_deals(site)
    with site.sessions.begin() as session:
        session.get_one(models.EmailMessage, deals.buyer_message).contact = None
    response = site.open_customer(deals.buyer_message)
    assert response.status_code == 403
    assert site.rows(models.EmailEvent) == []
    with site.client.session_transaction() as flask_session:
        assert CUSTOMER_KEY not in flask_session and REP_KEY not in flask_session
