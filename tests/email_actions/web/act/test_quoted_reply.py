"""Issue 14, part 5: the contact-request notice to the rep keeps Reply-To on the customer (reps reply to it), and
since no rep email carries a link that can act without a sign-in, a customer holding the rep's quoted reply can
change nothing with it. The notice is built by the real pipeline (Composer: brand, render, MIME) from a real
Contact rep POST; every link in it is then opened in a fresh browser (no cookies: the customer's), each page's
forms posted, and the store is compared — only click events may be added."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage as MimeMessage
from urllib.parse import urlsplit

import lxml.html
import pytest
from sqlalchemy import select

from config.settings import Settings
from email_actions.mail.sending.pipeline import Composer
from sync_service.store import models
from tests.email_actions.web.act.test_actions import Site, contact_form, open_site, seed
from tests.email_actions.web.portal.portal_site import CSRF
from tests.standin_org import RunningOrg

URL = re.compile(r"https?://[^\s<>\"']+")


@pytest.fixture
def site(settings: Settings, cpq_org: RunningOrg) -> Iterator[Site]:
    running = open_site(settings, settings.database_url, cpq_org)
    yield running
    running.app.extensions["renewals.database"].dispose()


def the_notice(site: Site) -> tuple[MimeMessage, int]:
    """The customer asks to be contacted; the rep's notice, as SES would be handed it, and the contract id."""
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "contact")
    assert client.post(path, data=contact_form(client, path, message="Call me about seats")).status_code == 200
    with site.sessions() as session:
        notice = session.scalars(select(models.EmailMessage).where(models.EmailMessage.kind == "contact_request")).one()
        prepared = Composer(site.settings).prepare(session, notice, use_reseller_brand=False)
    return message_from_bytes(prepared.raw, policy=policy.default), seeded.contract_id


def links_in(mail: MimeMessage) -> set[str]:
    found: set[str] = set()
    for part in mail.walk():
        if part.get_content_maintype() == "text":
            found.update(URL.findall(part.get_content()))
    return {url.rstrip(".,)") for url in found}


def state(site: Site) -> dict[str, object]:
    """What a change would touch: every contract's rep controls, the outbox, the audit log, renewals, requests."""
    with site.sessions() as session:
        return {
            "contracts": [
                (c.id, c.is_held, c.status_flags, c.price_adjustment_pct, c.price_override, c.renewed_at)
                for c in session.scalars(select(models.Contract).order_by(models.Contract.id))
            ],
            "outbox": len(session.scalars(select(models.OutboxItem)).all()),
            "audit": len(session.scalars(select(models.AuditEntry)).all()),
            "renewals": len(session.scalars(select(models.Renewal)).all()),
            "contact_requests": len(session.scalars(select(models.ContactRequest)).all()),
            "suppressions": len(session.scalars(select(models.EmailSuppression)).all()),
            "codes": len(session.scalars(select(models.RepSignInCode)).all()),
        }


def test_a_quoted_reply_to_the_reps_notice_leaks_nothing_that_can_act(site: Site) -> None:
    mail, contract_id = the_notice(site)
    with site.sessions() as session:
        contract = session.get_one(models.Contract, contract_id)
        customer = contract.contact.email if contract.contact is not None else None
    assert mail["Reply-To"] == customer  # replies go to the customer...
    links = links_in(mail)
    rep_links = {url for url in links if urlsplit(url).path.startswith("/rep/")}
    assert rep_links, "the notice carries the rep's portal link"
    before = state(site)
    for url in sorted(links):
        browser = site.client()  # ...who opens every link of the quoted notice in a browser of their own
        path = urlsplit(url).path
        response = browser.get(path, follow_redirects=True)
        if not response.content_type.startswith("text/html"):
            continue  # the pixel, a quote PDF
        if path.startswith("/rep/"):
            assert response.request.path == "/rep/sign-in"
            page = response.get_data(as_text=True)
            assert "Sign in" in page and (contract.number or "") not in page
        token = CSRF.search(response.get_data(as_text=True))
        csrf = token.group(1) if token else ""
        # Every form of the page reached, and the rep's controls by URL, posted with what an attacker would send.
        for form in lxml.html.fromstring(response.get_data(as_text=True) or "<p/>").forms:
            action = form.action or response.request.path
            if action.startswith("/rep/sign-in/code"):
                continue  # asks for a code to the rep's own address: the customer never sees it
            browser.post(action, data={**dict(form.fields), "csrf_token": csrf})
        for action, data in (
            ("hold", {"note": "x"}),
            ("controls", {"price_adjustment_pct": "-100", "price_override": "1", "price_override_reason": "x"}),
        ):
            refused = browser.post(f"/rep/contracts/{contract_id}/{action}", data={**data, "csrf_token": csrf})
            assert refused.status_code == 403, (url, action)
    assert state(site) == before
