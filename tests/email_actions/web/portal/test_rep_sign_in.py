"""Reps "Sign in with Salesforce" (email_actions.web.rep_sign_in, sync_service.salesforce.web_sign_in): the whole
web server flow with PKCE against the session's CPQ stand-in org over TLS — our login route, the org's login and
approval pages followed as a browser would, our callback — and each refusal by name. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from config.settings.secret import Secret
from email_actions.web.rep_sign_in import safe_next
from email_actions.web.session_cookies import REP_KEY
from tests.email_actions.web.portal.portal_site import TODAY, Portal, start_portal
from tests.factories import make_contract, make_email, make_rep
from tests.standin_org import RunningOrg, sign_in_at_org

BASE = "http://localhost:5000"  # the connected app's default callback is this base's /auth/salesforce/callback
CALLBACK = BASE + "/auth/salesforce/callback"
DEMO_PASSWORD = "Renewals-demo-1"


@pytest.fixture(scope="module")
def sf_user(cpq_org: RunningOrg) -> dict[str, Any]:
    """A seeded in-house rep of the org (a Standard user other than the API user)."""
    rows = cpq_org.salesforce().query(
        "SELECT Id, Username FROM User "
        f"WHERE UserType = 'Standard' AND Username != '{cpq_org.info['username']}' ORDER BY Username LIMIT 1"
    )["records"]
    return dict(rows[0])


@pytest.fixture
def site(settings: Settings, store: sessionmaker[Session], cpq_org: RunningOrg) -> Iterator[Portal]:
    """The app on each backend with the org's connected app (client id and secret) and our public base URL."""
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    configured = dataclasses.replace(settings, public_base_url=BASE)
    running = start_portal(configured, url, cpq_org)
    running.app.extensions["renewals.settings"] = dataclasses.replace(
        running.app.extensions["renewals.settings"],
        salesforce_client_id=cpq_org.info["client_id"],
        salesforce_client_secret=Secret(cpq_org.info["client_secret"]),
    )
    yield running
    running.app.extensions["renewals.database"].dispose()


def add_rep(site: Portal, sf_id: str, *, active: bool = True, emailed: bool = True) -> str:
    """A rep with Salesforce user id `sf_id`, owning a contract, sent a rep notice about it; its number."""
    with site.sessions() as session:
        rep = make_rep(session, is_active=active)
        rep.sf_id = sf_id
        contract = make_contract(session, end_date=TODAY + timedelta(days=30), rep=rep, number="C-SSO-1")
        if emailed:
            make_email(session, contract, kind="rep_notice")
        session.commit()
        return str(contract.number)


def start(site: Portal, next_path: str = "/rep") -> str:
    """Our login route: the org's authorize URL it sends the browser to."""
    response = site.client.get("/auth/salesforce/login", query_string={"next": next_path})
    assert response.status_code == 303
    return response.headers["Location"]


def at_org(org: RunningOrg, authorize: str, username: str) -> dict[str, str]:
    return sign_in_at_org(org, authorize, username, CALLBACK, DEMO_PASSWORD)


def callback(site: Portal, params: dict[str, str]) -> Any:
    return site.client.get("/auth/salesforce/callback", query_string=params)


def test_authorize_request_carries_the_app_callback_state_and_s256_challenge(site: Portal, cpq_org: RunningOrg) -> None:
    query = parse_qs(urlsplit(start(site)).query)
    assert start(site).startswith(cpq_org.url + "/services/oauth2/authorize?")
    assert query["response_type"] == ["code"] and query["client_id"] == [cpq_org.info["client_id"]]
    assert query["redirect_uri"] == [CALLBACK] and query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 32 and len(query["code_challenge"][0]) == 43


def test_a_rep_signs_in_with_salesforce_and_lands_in_the_rep_portal(
    site: Portal, cpq_org: RunningOrg, sf_user: dict[str, Any]
) -> None:
    number = add_rep(site, sf_user["Id"])
    params = at_org(cpq_org, start(site, "/rep?from=sso"), sf_user["Username"])
    landed = callback(site, params)
    assert landed.status_code == 303 and landed.headers["Location"] == "/rep?from=sso"
    portal = site.client.get("/rep")
    assert portal.status_code == 200 and number in portal.get_data(as_text=True)
    with site.client.session_transaction() as flask_session:
        rep_session = flask_session[REP_KEY]
    # The session records the sign-in; nothing of the flow (state, verifier, code, token) stays in the cookie.
    assert rep_session["signed_in"]["via"] == "salesforce" and rep_session["signed_in"]["sf_user_id"] == sf_user["Id"]
    assert "sign_in" not in rep_session and params["code"] not in str(rep_session)
    # The same callback again: its state was single use.
    again = callback(site, params)
    assert again.status_code == 400 and "not started in this browser" in again.get_data(as_text=True)


def test_a_state_mismatch_is_refused_and_opens_no_session(
    site: Portal, cpq_org: RunningOrg, sf_user: dict[str, Any]
) -> None:
    add_rep(site, sf_user["Id"])
    params = at_org(cpq_org, start(site), sf_user["Username"])
    refused = callback(site, {**params, "state": params["state"] + "x"})
    assert refused.status_code == 400 and "does not match this browser" in refused.get_data(as_text=True)
    missing = callback(site, {"code": params["code"]})
    assert missing.status_code == 400  # the mismatch used up the pending sign-in as well
    assert site.client.get("/rep").status_code != 200


def test_a_reused_code_is_refused(site: Portal, cpq_org: RunningOrg, sf_user: dict[str, Any]) -> None:
    add_rep(site, sf_user["Id"])
    params = at_org(cpq_org, start(site), sf_user["Username"])
    assert callback(site, params).status_code == 303
    # A fresh sign-in started in this browser, answered with the code already exchanged.
    fresh_state = parse_qs(urlsplit(start(site)).query)["state"][0]
    reused = callback(site, {"code": params["code"], "state": fresh_state})
    assert reused.status_code == 400
    assert "Sign-in refused" in reused.get_data(as_text=True)
    assert "expired authorization code" in reused.get_data(as_text=True)


def test_an_unknown_salesforce_user_is_refused(site: Portal, cpq_org: RunningOrg, sf_user: dict[str, Any]) -> None:
    add_rep(site, "005000000000000AAA")  # a rep, but not this Salesforce user
    refused = callback(site, at_org(cpq_org, start(site), sf_user["Username"]))
    assert refused.status_code == 403 and "Not a rep here" in refused.get_data(as_text=True)
    assert site.client.get("/rep").status_code != 200


def test_an_inactive_rep_is_refused(site: Portal, cpq_org: RunningOrg, sf_user: dict[str, Any]) -> None:
    add_rep(site, sf_user["Id"], active=False)
    refused = callback(site, at_org(cpq_org, start(site), sf_user["Username"]))
    assert refused.status_code == 403 and "Rep inactive" in refused.get_data(as_text=True)


def test_a_rep_never_emailed_is_told_so(site: Portal, cpq_org: RunningOrg, sf_user: dict[str, Any]) -> None:
    add_rep(site, sf_user["Id"], emailed=False)
    refused = callback(site, at_org(cpq_org, start(site), sf_user["Username"]))
    assert refused.status_code == 403 and "Nothing to show yet" in refused.get_data(as_text=True)


def test_without_a_connected_app_the_sign_in_is_unavailable(site: Portal) -> None:
    site.app.extensions["renewals.settings"] = dataclasses.replace(
        site.app.extensions["renewals.settings"], salesforce_client_id=None
    )
    response = site.client.get("/auth/salesforce/login")
    assert response.status_code == 404 and "Sign-in unavailable" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/rep?x=1", "/rep?x=1"),
        ("/portal", "/portal"),
        ("https://evil.example/", "/rep"),
        ("//evil.example/", "/rep"),
        ("/\\evil.example", "/rep"),
        ("rep", "/rep"),
        (None, "/rep"),
    ],
)
def test_next_is_only_a_same_site_relative_path(given: str | None, kept: str) -> None:
    assert safe_next(given) == kept
