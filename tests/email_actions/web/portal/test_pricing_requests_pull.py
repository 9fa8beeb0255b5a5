"""A rep's pricing request answered by a real pull (issue 13, part 4), on SQLite and PostgreSQL: the rep sets an
override in the rep portal, the customer's Renew (the email's) waits; a pull that brings the quote unchanged
answers nothing; once the quote's owner re-prices it in Salesforce, the next incremental pull brings the new
total and closes the request, and the customer renews at the quote's new total (never at the rep's figure).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync_service.store import models
from tests.email_actions.web.act.test_actions import renew_form, text
from tests.email_actions.web.org_scene import OrgScene, cpq_scene
from tests.email_actions.web.portal.portal_site import CSRF, mark_rep_signed_in
from tests.org_quotes import reprice


@pytest.fixture
def scene(tmp_path: Path, store: sessionmaker[Session], redis_url: str) -> Iterator[OrgScene]:
    """A CPQ org of the test's own (it re-prices a quote there), pulled into a fresh store of each backend."""
    with cpq_scene(tmp_path, store, redis_url) as running:
        yield running


def test_a_pricing_request_is_answered_by_the_pull_that_brings_the_repriced_quote(scene: OrgScene) -> None:
    contract_id = scene.renewable_contract()
    reminder, rep_copy = scene.emails(contract_id)
    quote = scene.quote(contract_id)
    assert quote.total is not None
    new_total = quote.total + Decimal("-750.00")
    customer = scene.client()
    renew_path = scene.path("renew", reminder)
    before_request = renew_form(customer, renew_path)  # the confirm page, taken before the rep's request
    assert before_request["total_seen"] == f"{quote.total:.2f}"

    rep = scene.client()
    mark_rep_signed_in(rep, scene.sessions, rep_copy)
    assert rep.get(scene.path("rep", rep_copy)).status_code == 303
    token = CSRF.search(rep.get("/rep").get_data(as_text=True))
    assert token is not None
    controls = rep.post(
        f"/rep/contracts/{contract_id}/controls",
        data={"csrf_token": token.group(1), "price_override": "9000", "price_override_reason": "Multi-year deal"},
    )
    assert controls.status_code == 303
    assert scene.contract(contract_id).pricing_requested_at is not None

    # The customer's Renew waits: the page says so and a POST of the form taken before renews nothing.
    waiting = customer.get(renew_path)
    assert "Your rep is updating your quote" in text(waiting) and 'name="total_seen"' not in waiting.get_data(
        as_text=True
    )
    api_before = scene.org.api_used()
    posted = customer.post(renew_path, data=before_request)
    assert posted.status_code == 409 and "Your rep is updating your quote" in text(posted)
    assert scene.org.api_used() == api_before  # refused from the store, no live read
    assert scene.counts()["renewals"] == 0

    # A pull that brings nothing new about the quote leaves the request open.
    scene.org.advance_clock(2)
    scene.pull()
    assert scene.contract(contract_id).pricing_requested_at is not None

    # The quote's owner re-prices it in Salesforce; the next incremental pull brings it and answers the request.
    scene.org.advance_clock(2)
    reprice(scene.org, quote.sf_id, new_total)
    scene.pull()
    contract = scene.contract(contract_id)
    assert contract.pricing_requested_at is None and contract.pricing_quote_stamp is None
    assert scene.quote(contract_id).total == new_total

    # The form taken before the request (the old total) is refused; the page's new total renews.
    assert customer.post(renew_path, data=before_request).status_code == 409
    form = renew_form(customer, renew_path)
    assert form["total_seen"] == f"{new_total:.2f}"
    done = customer.post(renew_path, data=form)
    assert done.status_code == 200 and "your contract is renewed" in text(done)
    with scene.sessions() as session:
        [renewal] = session.scalars(select(models.Renewal))
        assert (renewal.contract_id, renewal.amount) == (contract_id, new_total)
        assert session.get_one(models.Contract, contract_id).renewed_via == "email"
