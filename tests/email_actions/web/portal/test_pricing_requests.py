"""A rep's pricing controls are a request to the quote's owner (issue 13, part 4): while one is open the
customer's Renew waits ("your rep is updating your quote"); a pull that brings the quote changed in Salesforce,
or the rep withdrawing the request, lets the customer renew again, at the quote's total. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from sync_service.pull.pricing_requests import settle_pricing_requests
from sync_service.store import models
from tests.email_actions.web.portal.portal_site import CSRF, Portal, post_rep_form, seed

STAMP = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def _stamp_quote(site: Portal, contract_id: int, stamp: datetime) -> None:
    """The quote as a pull landed it, last modified in Salesforce at `stamp`."""
    with site.sessions.begin() as session:
        quote = session.scalars(select(models.RenewalQuote).where(models.RenewalQuote.contract_id == contract_id)).one()
        quote.sf_system_modstamp = stamp


def _renew_page(site: Portal, message_id: int, contract_id: int) -> str:
    """The customer's renew page of `contract_id`, opened from the customer's email."""
    site.open_customer(message_id)
    return site.client.get(f"/portal/contracts/{contract_id}/renew").get_data(as_text=True)


def test_a_pricing_request_makes_renew_wait_until_the_quote_changes_in_salesforce(site: Portal) -> None:
    data = seed(site)
    _stamp_quote(site, data.emailed, STAMP)
    site.open_customer(data.customer_message)
    token = site.csrf(f"/portal/contracts/{data.emailed}/renew")  # the confirm page, taken before the request
    rep = site.app.test_client()  # the rep, in a browser of their own
    site.open_rep(data.rep_message, client=rep)
    match = CSRF.search(rep.get("/rep").get_data(as_text=True))
    assert match is not None
    response = rep.post(
        f"/rep/contracts/{data.emailed}/controls",
        data={"csrf_token": match.group(1), "price_override": "9000", "price_override_reason": "Multi-year commitment"},
    )
    assert response.status_code == 303
    contract = site.contract(data.emailed)
    assert contract.pricing_requested_at is not None and contract.pricing_quote_stamp == STAMP
    rep_page = rep.get("/rep").get_data(as_text=True)
    assert "the quote&#39;s owner" in rep_page or "the quote's owner" in rep_page
    assert "always sees and pays what the quote in Salesforce says" in rep_page

    page = site.client.get(f"/portal/contracts/{data.emailed}/renew").get_data(as_text=True)
    assert "Your rep is updating your quote" in page and 'name="quote_total_seen"' not in page
    assert "9,000" not in page and "9000" not in page  # the override is never shown to the customer as a price
    posted = site.client.post(
        f"/portal/contracts/{data.emailed}/renew", data={"csrf_token": token, "quote_total_seen": "12500.00"}
    )
    assert posted.status_code == 409 and "Your rep is updating your quote" in posted.get_data(as_text=True)
    assert site.rows(models.Renewal) == []

    # A pull that brings the quote unchanged answers nothing; one that brings it changed answers the request.
    with site.sessions.begin() as session:
        assert settle_pricing_requests(session) == 0
    _stamp_quote(site, data.emailed, STAMP + timedelta(minutes=5))
    with site.sessions.begin() as session:
        assert settle_pricing_requests(session) == 1
    assert site.contract(data.emailed).pricing_requested_at is None
    page = _renew_page(site, data.customer_message, data.emailed)
    assert 'name="quote_total_seen" value="12500.00"' in page


def test_withdrawing_the_request_lets_the_customer_renew_at_the_quote(site: Portal) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    path = f"/rep/contracts/{data.emailed}/controls"
    assert post_rep_form(site, path, price_adjustment_pct="-5").status_code == 303
    assert site.contract(data.emailed).pricing_requested_at is not None
    assert "Your rep is updating your quote" in _renew_page(site, data.customer_message, data.emailed)

    site.open_rep(data.rep_message)
    response = post_rep_form(site, path, price_adjustment_pct="")
    assert response.status_code == 303
    assert site.contract(data.emailed).pricing_requested_at is None
    assert 'name="quote_total_seen" value="12500.00"' in _renew_page(site, data.customer_message, data.emailed)


def test_changing_only_the_flags_opens_no_pricing_request(site: Portal) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    response = post_rep_form(site, f"/rep/contracts/{data.emailed}/controls", status_flags=["consolidate"])
    assert response.status_code == 303
    assert site.contract(data.emailed).pricing_requested_at is None
