"""A contract renewed in Salesforce is not renewed again from the email or the portal (issue 13), on SQLite and
PostgreSQL: the customer opens both confirm pages while the contract is renewable; a rep then wins its renewal
opportunity in the org, and the incremental pull marks it renewed there (``renewed_via = 'salesforce'``). The
forms taken before are posted (the email's Renew and the portal's renew page): each is told the contract was
already renewed with the account manager, in Salesforce; no renewal row, no outbox write, no API call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync_service.store import models
from tests.email_actions.web.act.test_actions import renew_form, text
from tests.email_actions.web.org_scene import OrgScene, cpq_scene
from tests.email_actions.web.portal.portal_site import CSRF

QUOTE_TOTAL = re.compile(r'name="quote_total_seen" value="([^"]+)"')


@pytest.fixture
def scene(tmp_path: Path, store: sessionmaker[Session], redis_url: str) -> Iterator[OrgScene]:
    """A CPQ org of the test's own (a renewal is won there), pulled into a fresh store of each backend."""
    with cpq_scene(tmp_path, store, redis_url) as running:
        yield running


def test_renew_from_the_email_or_the_portal_is_refused_once_salesforce_renewed_the_contract(scene: OrgScene) -> None:
    open_renewals = {
        row["Id"]: row["SBQQ__RenewalOpportunity__c"]
        for row in scene.sf.query_all(
            "SELECT Id, SBQQ__RenewalOpportunity__c FROM Contract WHERE SBQQ__RenewalOpportunity__c != null "
            "AND SBQQ__RenewalOpportunity__r.IsWon = false"
        )["records"]
    }
    contract_id = scene.renewable_contract(set(open_renewals))
    opportunity = open_renewals[scene.contract(contract_id).sf_id]
    status = scene.quote(contract_id).status
    reminder, _ = scene.emails(contract_id)

    # The customer opens both confirm pages while the contract is renewable.
    email = scene.client()
    email_path = scene.path("renew", reminder)
    email_form = renew_form(email, email_path)
    portal = scene.client()
    portal.get(scene.path("review", reminder))
    portal_path = f"/portal/contracts/{contract_id}/renew"
    page = portal.get(portal_path).get_data(as_text=True)
    csrf, total = CSRF.search(page), QUOTE_TOTAL.search(page)
    assert csrf is not None and total is not None
    portal_form = {"csrf_token": csrf.group(1), "quote_total_seen": total.group(1)}

    # A rep wins the renewal opportunity in Salesforce; the next incremental pull brings it.
    scene.org.advance_clock(2)
    scene.change_in_org("Opportunity", opportunity, {"StageName": "Closed Won"})
    scene.pull()
    contract = scene.contract(contract_id)
    assert (contract.renewed_via, contract.renewed_in_org) == ("salesforce", True) and contract.renewed_at
    assert scene.quote(contract_id).status == status  # the quote itself still says renewable
    before, api_before = scene.counts(), scene.org.api_used()

    from_email = email.post(email_path, data=email_form)
    from_portal = portal.post(portal_path, data=portal_form)

    assert from_email.status_code == 200 and "Already renewed" in text(from_email)
    assert "in Salesforce" in text(from_email) and "nothing was ordered twice" in text(from_email)
    assert from_portal.status_code == 200 and "is already renewed" in text(from_portal)
    assert "in Salesforce" in text(from_portal)
    assert scene.counts() == before == {"renewals": 0, "outbox_items": 0, "renewal_intents": 0}
    assert scene.org.api_used() == api_before
    with scene.sessions() as session:
        assert session.scalars(select(models.EmailMessage.kind)).all() == ["reminder", "rep_notice"]
        assert session.get_one(models.Contract, contract_id).renewed_via == "salesforce"
