"""The customer portal and the rep portal (email_actions.web.portal.views and .scope): the token opens a session
scoped to one account, the list shows every contract of that account (and only of it) by urgency with colour and
words, every route refuses another account's ids, every POST needs the CSRF token, and no GET changes anything.
On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from email_actions.web.portal.scope import SCOPE_KEY
from sync_service.store import models
from tests.email_actions.web.portal.portal_site import (
    CSRF,
    Portal,
    add_quote,
    numbers_in_order,
    seed,
    sibling,
    start_portal,
)
from tests.standin_org import RunningOrg

# --- Opening a session ---------------------------------------------------------------------------------------


def test_the_review_link_opens_a_session_scoped_to_the_account(site: Portal) -> None:
    data = seed(site)
    response = site.open_customer(data.customer_message)
    assert response.status_code == 303
    assert response.headers["Location"] == "/portal"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("renewals-portal=")  # the customer portal's own cookie
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert not any(part.startswith("domain=") for part in attributes)
    assert any(part.startswith("expires=") for part in attributes)  # permanent: bounded by the lifetime
    with site.client.session_transaction() as flask_session:
        scope = flask_session[SCOPE_KEY]
    assert scope["kind"] == "customer" and scope["email_message_id"] == data.customer_message
    events = site.rows(models.EmailEvent)
    assert [(e.kind, e.purpose, e.email_message_id) for e in events] == [("click", "review", data.customer_message)]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response.headers["Cache-Control"]


def test_on_https_the_cookie_is_host_prefixed_and_secure(
    settings: Settings, store: sessionmaker[Session], cpq_org: RunningOrg
) -> None:
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    site = start_portal(dataclasses.replace(settings, public_base_url="https://renewals.test"), url, cpq_org)
    try:
        data = seed(site)
        token = site.token("review", data.customer_message)
        response = site.client.get(f"/a/review/{token}", base_url="https://renewals.test")
        assert response.status_code == 303
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("__Host-renewals-portal=")
        attributes = [part.strip().lower() for part in cookie.split(";")]
        assert {"secure", "httponly", "path=/", "samesite=lax"} <= set(attributes)
        assert not any(part.startswith("domain=") for part in attributes)
        page = site.client.get("/portal", base_url="https://renewals.test")
        assert page.status_code == 200
        # The portal's pages let the browser send a same-origin Referer: on https the CSRF check needs it.
        assert '<meta name="referrer" content="same-origin">' in page.get_data(as_text=True)
        confirm = site.client.get(f"/portal/contracts/{data.due_soon}/renew", base_url="https://renewals.test")
        token_field = CSRF.search(confirm.get_data(as_text=True))
        assert token_field is not None
        # Without a Referer (what a no-referrer page would send) Flask-WTF's strict https check refuses.
        refused = site.client.post(
            f"/portal/contracts/{data.due_soon}/renew",
            data={"csrf_token": token_field.group(1), "quote_total_seen": "1000.00"},
            base_url="https://renewals.test",
        )
        assert refused.status_code == 400
        renewed = site.client.post(
            f"/portal/contracts/{data.due_soon}/renew",
            data={"csrf_token": token_field.group(1), "quote_total_seen": "1000.00"},
            base_url="https://renewals.test",
            headers={"Referer": "https://renewals.test/portal/contracts/1/renew"},
        )
        assert renewed.status_code == 200, renewed.get_data(as_text=True)
        assert site.contract(data.due_soon).renewed_at is not None
    finally:
        site.app.extensions["renewals.database"].dispose()


def test_a_bad_link_opens_nothing(site: Portal) -> None:
    data = seed(site)
    token = site.token("review", data.customer_message)
    assert site.client.get(f"/a/review/{token[:-3]}xyz").status_code == 404
    # A rep token is not a review token, and the reverse.
    assert site.client.get(f"/a/review/{site.token('rep', data.rep_message)}").status_code == 404
    assert site.client.get(f"/rep/{token}").status_code == 404
    assert site.client.get("/portal").status_code == 403
    assert site.rows(models.EmailEvent) == []


def test_without_a_session_the_pages_say_to_use_the_link_in_the_email(site: Portal) -> None:
    data = seed(site)
    for path in ("/portal", f"/portal/contracts/{data.emailed}/renew", f"/portal/contracts/{data.emailed}/quote"):
        response = site.client.get(path)
        assert response.status_code == 403
        assert "Please use the link in your email" in response.get_data(as_text=True)
    for path in ("/rep", f"/rep/contracts/{data.emailed}/quote"):  # a rep page without a signed-in rep
        response = site.client.get(path)
        assert response.status_code == 303 and response.headers["Location"] == "/rep/sign-in"


def test_one_kind_of_session_does_not_open_the_other_portal(site: Portal) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    assert site.client.get("/rep").status_code == 200
    assert site.client.get("/portal").status_code == 403
    site.open_customer(data.customer_message)
    assert site.client.get("/portal").status_code == 200
    # Each kind has its own cookie: opening the customer's link leaves the rep's session as it was.
    assert site.client.get("/rep").status_code == 200


def test_the_session_lapses_some_hours_after_the_link_was_opened(site: Portal) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    with site.client.session_transaction() as flask_session:
        flask_session[SCOPE_KEY] = {
            **flask_session[SCOPE_KEY],
            "opened_at": flask_session[SCOPE_KEY]["opened_at"] - site.settings.portal_max_hours * 3600 - 1,
        }
    assert site.client.get("/portal").status_code == 403


# --- The customer's list ---------------------------------------------------------------------------------------


def test_the_list_shows_every_contract_of_the_account_by_urgency_and_none_of_another(site: Portal) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    response = site.client.get("/portal")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert numbers_in_order(html) == [
        "A-EXPIRED",
        "A-OVERDUE",
        "A-OTHERREP",
        "A-EMAILED",
        "A-DUESOON",
        "A-LIVE",
        "A-RENEWED",
        "A-CANCELLED",
    ]
    assert "B-ONLY" not in html and "B-SAMEREP" not in html and "Globex" not in html
    assert "A-DELETED" not in html
    # Colour and words, always together.
    for label, colour in (
        ("Expired", "red"),
        ("Overdue", "red"),
        ("Due soon", "amber"),
        ("Live", "green"),
        ("Renewed", "green"),
        ("Cancelled", "black"),
    ):
        assert f'<span class="state state-{colour}">{label}</span>' in html
    assert "Ended 40 days ago." in html and "Ended 10 days ago. Renewal not received." in html
    assert "Ends in 45 days." in html and "Renewed on March 3, 2026" in html
    # The legend.
    assert "What the colours mean" in html
    assert "The end date has passed and the contract has not been renewed." in html
    # Renew only where a renewal is possible; a quote download for every contract with a document.
    renewable = {data.expired, data.overdue, data.due_soon, data.live, data.emailed, data.others}
    for contract_id in renewable:
        assert f'href="/portal/contracts/{contract_id}/renew"' in html
    for contract_id in (data.renewed, data.cancelled):
        assert f'href="/portal/contracts/{contract_id}/renew"' not in html
        assert f'href="/portal/contracts/{contract_id}/quote"' in html
    # Accessible and phone-friendly: a caption, header scopes, less important columns hidden when narrow.
    assert "<caption>" in html and '<th scope="col" class="hide-small">Products</th>' in html
    # Nothing from elsewhere.
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_amounts_follow_the_contacts_locale(site: Portal) -> None:
    data = seed(site, locale="de_DE", currency="EUR")
    site.open_customer(data.customer_message)
    html = site.client.get("/portal").get_data(as_text=True)
    assert "12.500,00\xa0€" in html


# --- Access control ----------------------------------------------------------------------------------------------


def test_every_customer_route_refuses_another_accounts_ids(site: Portal, served_quotes: list[tuple[int, str]]) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    token = site.csrf(f"/portal/contracts/{data.emailed}/renew")
    before = site.counts()
    for contract_id in (data.other_account, data.other_same_rep, data.deleted, 999_999):
        for path in (f"/portal/contracts/{contract_id}/quote", f"/portal/contracts/{contract_id}/renew"):
            response = site.client.get(path)
            assert response.status_code == 404, path
            assert "Contract not found" in response.get_data(as_text=True)
        response = site.client.post(
            f"/portal/contracts/{contract_id}/renew", data={"csrf_token": token, "quote_total_seen": "12500.00"}
        )
        assert response.status_code == 404
    assert site.counts() == before
    assert served_quotes == []
    assert site.contract(data.other_account).renewed_at is None


def test_every_rep_route_refuses_another_accounts_and_another_reps_ids(
    site: Portal, served_quotes: list[tuple[int, str]]
) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    token = site.csrf("/rep")
    before = site.counts()
    for contract_id in (data.other_account, data.other_same_rep, data.others, data.deleted, 999_999):
        assert site.client.get(f"/rep/contracts/{contract_id}/quote").status_code == 404
        for action in ("controls", "hold", "resume"):
            response = site.client.post(
                f"/rep/contracts/{contract_id}/{action}",
                data={"csrf_token": token, "status_flags": "consolidate", "price_adjustment_pct": "5"},
            )
            assert response.status_code == 404, (contract_id, action)
    # The customer's routes are not the rep's.
    assert site.client.get(f"/portal/contracts/{data.emailed}/renew").status_code == 403
    assert site.counts() == before
    assert served_quotes == []
    for contract_id in (data.other_account, data.other_same_rep, data.others):
        contract = site.contract(contract_id)
        assert not contract.is_held and contract.status_flags == [] and contract.price_adjustment_pct is None


def test_the_quote_download_serves_the_contracts_live_quote_after_the_ownership_check(
    site: Portal, served_quotes: list[tuple[int, str]]
) -> None:
    data = seed(site)
    with site.sessions.begin() as session:
        live = session.get(models.Contract, data.live)
        assert live is not None
        [old] = live.quotes
        newer = add_quote(session, live, Decimal("1200.00"), ["Renewed product"])
        session.flush()
        deleted = add_quote(session, live, Decimal("1300.00"), ["Deleted in the org"])
        deleted.is_deleted = True
        session.flush()
        old_id, newer_id = old.id, newer.id
        nodoc = sibling(session, live, "A-NODOC", 30)
        nodoc.quotes[0].documents.clear()
        nodoc_id = nodoc.id
    site.open_customer(data.customer_message)
    response = site.client.get(f"/portal/contracts/{data.live}/quote")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert served_quotes == [(newer_id, "northwind")] and old_id != newer_id
    for contract_id in (data.other_account, nodoc_id):
        response = site.client.get(f"/portal/contracts/{contract_id}/quote")
        assert response.status_code == 404
        assert response.headers["Cache-Control"] == "no-store"
    site.open_rep(data.rep_message)
    assert site.client.get(f"/rep/contracts/{data.emailed}/quote").status_code == 200
    assert site.client.get(f"/rep/contracts/{data.others}/quote").status_code == 404
    assert len(served_quotes) == 2


def test_a_post_without_the_csrf_token_is_refused_and_saves_nothing(site: Portal) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    before = site.counts()
    for action in ("controls", "hold"):
        response = site.client.post(f"/rep/contracts/{data.emailed}/{action}", data={"status_flags": "consolidate"})
        assert response.status_code == 400
    response = site.client.post(
        f"/rep/contracts/{data.emailed}/hold", data={"csrf_token": "forged"}, headers={"X-CSRFToken": ""}
    )
    assert response.status_code == 400
    site.open_customer(data.customer_message)
    response = site.client.post(f"/portal/contracts/{data.emailed}/renew", data={"quote_total_seen": "12500.00"})
    assert response.status_code == 400
    assert site.counts() == {**before, "EmailEvent": before["EmailEvent"] + 1}  # the review link's click
    contract = site.contract(data.emailed)
    assert not contract.is_held and contract.status_flags == [] and contract.renewed_at is None


def test_no_get_changes_anything(site: Portal, served_quotes: list[tuple[int, str]]) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    before = site.counts()
    paths = ["/portal", f"/portal/contracts/{data.emailed}/renew", f"/portal/contracts/{data.emailed}/quote"]
    paths += [f"/portal/contracts/{contract_id}/renew" for contract_id in (data.renewed, data.cancelled, data.live)]
    for path in paths:
        assert site.client.get(path).status_code in (200, 404)
        assert site.client.head(path).status_code in (200, 404)
    site.open_rep(data.rep_message)
    before = {**before, "EmailEvent": before["EmailEvent"] + 1}
    for path in ("/rep", f"/rep/contracts/{data.emailed}/quote"):
        site.client.get(path)
        site.client.head(path)
    for method in (site.client.get, site.client.head):
        for action in ("controls", "hold", "resume"):
            assert method(f"/rep/contracts/{data.emailed}/{action}").status_code == 405
    assert site.counts() == before
    contract = site.contract(data.emailed)
    assert contract.renewed_at is None and not contract.is_held
