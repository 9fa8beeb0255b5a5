"""Renew only what Salesforce allows, at its live price (issue 13, parts 2 and 6), through the email's links
against the CPQ stand-in org: a quote the rules refuse gets no Renew button and no renewal; the POST reads the
quote live (one API call) and refuses what changed in Salesforce; an org that does not answer keeps the
renewal as an intent, which the intents job completes, or refuses with an email, once the org answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from email_actions.mail.brands import load_brands
from email_actions.mail.links import Links
from email_actions.mail.rendering.context import build_context
from email_actions.mail.rendering.render import default_renderer
from sync_service.outbox.record import event_key
from sync_service.outbox.tasks import active_mapping
from sync_service.renewal_intents import settle_intent
from sync_service.salesforce.record_reads import API_JOB, RecordReader
from sync_service.store import models
from sync_service.store.models import utcnow
from tests.email_actions.web.act.test_actions import Site, renew_form, seed, site, text
from tests.factories import make_email
from tests.org_quotes import org_quote, reprice, set_quote
from tests.standin_org import RunningOrg

TODAY = utcnow().date()
__all__ = ["site"]  # the app over the test's SQLite store, reading quotes from the CPQ org (a fixture)


@pytest.fixture
def org(cpq_org: RunningOrg) -> Iterator[RunningOrg]:
    """The session's CPQ org, its faults cleared after the test (other tests share it)."""
    yield cpq_org
    cpq_org.faults(rules=[])


def quote_of(site: Site, contract_id: int) -> models.RenewalQuote:
    with site.sessions() as session:
        [quote] = session.get_one(models.Contract, contract_id).quotes
        return quote


def counts(site: Site) -> dict[str, int]:
    found = site.counts()
    return {name: found[name] for name in ("renewals", "outbox_items", "email_messages")}


def reminder_links(site: Site, message_id: int) -> dict[str, str]:
    """The links the reminder email would carry if rendered now."""
    brand = next(iter(load_brands(site.settings.brands_file).brands.values()))
    with site.sessions() as session:
        message = session.get_one(models.EmailMessage, message_id)
        context = build_context(session, message, brand=brand, links=Links(site.settings), today=TODAY)
        return dict(context.links) | {"_refusal": context.renew_refusal or ""}


# --- Refused by the renewal rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quote", "says"),
    [
        pytest.param({"quote_status": "Draft"}, "not ready to be accepted yet (status: Draft)", id="draft"),
        pytest.param({"valid_until": TODAY - timedelta(days=10)}, "expired on", id="expired"),
    ],
)
def test_a_draft_or_expired_quote_has_no_renew_button_and_a_post_renews_nothing(
    site: Site, quote: dict[str, Any], says: str
) -> None:
    renewable = seed(site)
    refused = seed(site, **quote)
    assert "renew" in reminder_links(site, renewable.message_id)
    links = reminder_links(site, refused.message_id)
    assert "renew" not in links and "contact" in links and says in links["_refusal"]

    client = site.client()
    path = refused.path(site, "renew")
    page = client.get(path)
    assert page.status_code == 200 and says in text(page) and "Contact your account manager" in text(page)
    assert 'name="total_seen"' not in page.get_data(as_text=True)
    # A form of the page taken while the quote was renewable (the pull saw it change since), posted now.
    other_form = renew_form(client, renewable.path(site, "renew"))
    api_before = site.org.api_used() if site.org else 0
    before = counts(site)
    posted = client.post(path, data={**other_form, "total_seen": "12500.00"})
    assert posted.status_code in (400, 409)  # another page's form token is stale; either way nothing happens
    assert counts(site) == before
    assert site.org is not None and site.org.api_used() == api_before  # refused from the store: no API call


def test_a_quote_set_back_to_draft_in_salesforce_after_the_pull_is_refused_at_the_post(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path)
    assert site.org is not None
    set_quote(site.org, quote_of(site, seeded.contract_id).sf_id, status="Draft")
    before = counts(site)

    posted = client.post(path, data=form)

    assert posted.status_code == 409
    assert "not ready to be accepted yet (status: Draft)" in text(posted) and "Nothing has been renewed" in text(posted)
    assert counts(site) == before
    assert quote_of(site, seeded.contract_id).status == "Draft"  # the store took the org's status
    shown = client.get(path)
    assert "not ready to be accepted yet" in text(shown) and 'name="total_seen"' not in shown.get_data(as_text=True)


def test_a_quote_expired_in_salesforce_after_the_pull_is_refused_at_the_post(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path)
    assert site.org is not None
    set_quote(site.org, quote_of(site, seeded.contract_id).sf_id, expires=TODAY - timedelta(days=1))

    posted = client.post(path, data=form)

    assert posted.status_code == 409 and "expired on" in text(posted)
    assert counts(site)["renewals"] == 0


def test_a_post_at_an_old_total_after_a_reprice_is_refused_then_the_new_total_renews(site: Site) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    old = renew_form(client, path)
    assert site.org is not None
    reprice(site.org, quote_of(site, seeded.contract_id).sf_id, Decimal("11800.00"))

    assert client.post(path, data=old).status_code == 409
    shown = client.get(path)
    assert "$11,800.00" in text(shown)
    assert client.post(path, data=old).status_code == 409  # the old total again: still refused
    assert counts(site)["renewals"] == 0
    new = renew_form(client, path)
    assert new["total_seen"] == "11800.00"
    assert client.post(path, data=new).status_code == 200
    with site.sessions() as session:
        assert session.scalars(select(models.Renewal.amount)).one() == Decimal("11800.00")


# --- The live read: one API call, and a conditional write-back --------------------------------------------------


def test_a_renewal_from_the_email_reads_the_quote_with_one_api_call_and_writes_back_conditionally(
    site: Site,
) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path)
    assert site.org is not None
    quote = quote_of(site, seeded.contract_id)
    in_org = org_quote(site.org, quote.sf_id)
    client.post(path, data=form)  # signs the app in (not an API call); the renewal is the next test's
    api_before = site.org.api_used()
    with site.sessions() as session:
        counted_before = sum(session.scalars(select(models.ApiUsage.calls).where(models.ApiUsage.job_name == API_JOB)))

    other = seed(site)
    other_path = other.path(site, "renew")
    other_form = renew_form(client, other_path)
    api_seeding = site.org.api_used() - api_before  # seed created the quote and its line in the org
    response = client.post(other_path, data=other_form)

    assert response.status_code == 200 and "your contract is renewed" in text(response)
    assert site.org.api_used() - api_before - api_seeding == 1
    with site.sessions() as session:
        counted = sum(session.scalars(select(models.ApiUsage.calls).where(models.ApiUsage.job_name == API_JOB)))
        assert counted - counted_before == 1
        other_contract = session.get_one(models.Contract, other.contract_id)
        key = event_key("renew", other_contract.sf_id, "SBQQ__Quote__c", other_contract.quotes[0].sf_id)
        write = session.scalars(select(models.OutboxItem).where(models.OutboxItem.key == key)).one()
    # The quote's write is conditional on the status read live, as of the LastModifiedDate read.
    assert write.payload["values"] == {"SBQQ__Status__c": "Accepted"}
    assert write.payload["seen"] == {"SBQQ__Status__c": "Presented"}
    assert write.payload["seen_at"]
    assert in_org["SBQQ__Status__c"] == "Presented"


# --- The org does not answer ---------------------------------------------------------------------------------


def _settle(site: Site, reader: RecordReader) -> list[str]:
    statuses = []
    with site.sessions() as session:
        ids = list(session.scalars(select(models.RenewalIntent.id).where(models.RenewalIntent.status == "pending")))
    for intent_id in ids:
        with site.sessions() as session:
            settled = settle_intent(session, reader, site.sessions, intent_id, active_mapping(session))
            session.commit()
            statuses.append(settled.status)
    return statuses


def test_an_org_down_at_the_post_keeps_the_renewal_as_an_intent_that_completes_when_it_answers(
    site: Site, org: RunningOrg
) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path, purchase_order="PO-9")
    org.faults(rules=[{"route": "sobjects", "error": "503", "count": 1}])

    first = client.post(path, data=form)
    again = client.post(path, data=form)  # pressed again while it waits
    shown = client.get(path)

    for response in (first, again):
        assert response.status_code == 202
        assert "We'll confirm your renewal shortly" in text(response) and "Contact your account manager" in text(
            response
        )
    assert "We'll confirm your renewal shortly" in text(shown)
    with site.sessions() as session:
        [intent] = session.scalars(select(models.RenewalIntent))
        assert (intent.status, intent.quote_total_seen, intent.purchase_order, intent.source) == (
            "pending",
            Decimal("12500.00"),
            "PO-9",
            "email",
        )
        assert intent.email_message_id == seeded.message_id and "503" in (intent.reason or "")
    assert counts(site)["renewals"] == 0

    reader = RecordReader(site.settings)
    org.faults(rules=[{"route": "sobjects", "error": "503", "count": 1}])
    assert _settle(site, reader) == ["pending"]  # still down: kept, tried again next tick
    assert _settle(site, reader) == ["renewed"]
    assert _settle(site, reader) == []  # never twice
    with site.sessions() as session:
        [renewal] = session.scalars(select(models.Renewal))
        assert (renewal.amount, renewal.purchase_order, renewal.email_message_id) == (
            Decimal("12500.00"),
            "PO-9",
            seeded.message_id,
        )
        intent = session.scalars(select(models.RenewalIntent)).one()
        assert intent.status == "renewed" and intent.attempts == 2 and intent.settled_at is not None
        kinds = sorted(session.scalars(select(models.EmailMessage.kind)))
        assert kinds == ["confirmation", "reminder"]
    assert "already renewed" in text(client.get(path))


def test_an_intent_whose_quote_changed_meanwhile_is_refused_with_an_email_saying_why(
    site: Site, org: RunningOrg
) -> None:
    seeded = seed(site)
    client = site.client()
    path = seeded.path(site, "renew")
    form = renew_form(client, path)
    org.faults(rules=[{"route": "sobjects", "error": "503", "count": 1}])
    assert client.post(path, data=form).status_code == 202
    reprice(org, quote_of(site, seeded.contract_id).sf_id, Decimal("14000.00"))

    assert _settle(site, RecordReader(site.settings)) == ["refused"]

    assert counts(site)["renewals"] == 0
    with site.sessions() as session:
        intent = session.scalars(select(models.RenewalIntent)).one()
        assert intent.status == "refused" and "14000" in (intent.reason or "")
        [email] = session.scalars(select(models.EmailMessage).where(models.EmailMessage.kind == "renewal_refused"))
        assert email.status == "queued" and email.contact_id is not None
        assert "changed in the meantime" in email.data["reason"]
        assert session.get_one(models.Contract, seeded.contract_id).renewed_at is None
    # The customer can confirm the new total afterwards.
    fresh = renew_form(client, path)
    assert fresh["total_seen"] == "14000.00"
    assert client.post(path, data=fresh).status_code == 200


def test_the_renewal_refused_email_renders_with_the_reason_and_the_way_to_the_rep(site: Site) -> None:
    seeded = seed(site)
    brand = next(iter(load_brands(site.settings.brands_file).brands.values()))
    with site.sessions.begin() as session:
        contract = session.get_one(models.Contract, seeded.contract_id)
        message = make_email(
            session, contract, kind="renewal_refused", status="queued", data={"reason": "Your quote expired."}
        )
        context = build_context(session, message, brand=brand, links=Links(site.settings), today=TODAY)
        rendered = default_renderer().render(context)
    assert "Your quote expired." in rendered.text and "Your quote expired." in rendered.html
    assert "Contact your rep" in rendered.html and set(context.links) == {"contact", "review"}
    assert "Nothing has been renewed" in rendered.text
