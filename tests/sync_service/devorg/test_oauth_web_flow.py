"""The stand-in org's OAuth 2.0 web server flow with PKCE, as a browser and a client go through it over TLS with
`requests`: authorize, the login form, approval, the code exchange, refresh, identity URL, UserInfo and revoke,
and each refusal by name (shared/reference/salesforce-oauth-identity-conditional.md, sections 2-4)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import lxml.html
import pytest
import requests

from tests.processes import renewals_command
from tests.standin_org import RunningOrg, org_browser, start_org, submit_form

CALLBACK = "https://app.example.test/auth/salesforce/callback"
DEMO_PASSWORD = "Renewals-demo-1"


@dataclass
class Pkce:
    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(96)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return Pkce(verifier, challenge)


@pytest.fixture(scope="module")
def rep(devorg: RunningOrg) -> dict[str, Any]:
    """A seeded in-house rep (a Standard user other than the API user)."""
    sf = devorg.salesforce()
    rows = sf.query(
        "SELECT Id, Username, Email, FirstName, LastName FROM User "
        f"WHERE UserType = 'Standard' AND Username != '{devorg.info['username']}' ORDER BY Username LIMIT 1"
    )["records"]
    return dict(rows[0])


@pytest.fixture
def app_org(org: RunningOrg) -> Iterator[RunningOrg]:
    """The session org with our callback URL registered on its connected app, put back afterwards."""
    before = org.admin("GET", "connected-app")
    org.admin("PUT", "connected-app", {"callback_urls": [CALLBACK], "require_pkce": False, "require_secret": True})
    yield org
    org.admin("PUT", "connected-app", before)


def authorize_params(org: RunningOrg, pkce: Pkce | None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": org.info["client_id"],
        "redirect_uri": CALLBACK,
        "state": "st-" + secrets.token_hex(4),
        "scope": "api refresh_token id",
    }
    if pkce is not None:
        params.update(code_challenge=pkce.challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def callback_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in(
    org: RunningOrg, http: requests.Session, params: dict[str, str], username: str, password: str = DEMO_PASSWORD
) -> dict[str, str]:
    """Authorize → login page → approval page → the callback's query parameters."""
    start = http.get(f"{org.url}/services/oauth2/authorize", params=params, allow_redirects=False)
    assert start.status_code == 302
    assert (
        "/?ec=302&startURL=%2Fsetup%2Fsecur%2FRemoteAccessAuthorizationPage.apexp%3Fsource%3D"
        in start.headers["Location"]
    )
    login_page = http.get(urljoin(org.url, start.headers["Location"]))
    doc = lxml.html.fromstring(login_page.text)
    assert doc.get_element_by_id("username") is not None and doc.get_element_by_id("password") is not None
    assert doc.xpath("//input[@name='Login']")
    signed_in = submit_form(http, login_page, "Login", username=username, password=password)
    assert signed_in.status_code == 302, signed_in.text
    approval = http.get(urljoin(org.url, signed_in.headers["Location"]), allow_redirects=False)
    if approval.status_code == 302:  # approved before: straight back to the app
        return callback_params(approval)
    assert "oaapprove" in approval.text
    return callback_params(submit_form(http, approval, "oaapprove"))


def exchange(org: RunningOrg, code: str, pkce: Pkce | None, **overrides: str) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": org.info["client_id"],
        "client_secret": org.info["client_secret"],
        "redirect_uri": CALLBACK,
    }
    if pkce is not None:
        data["code_verifier"] = pkce.verifier
    data.update(overrides)
    return org.http.post(f"{org.url}/services/oauth2/token", data=data)


def fresh_code(org: RunningOrg, rep: dict[str, Any], pkce: Pkce | None = None, **extra: str) -> str:
    return sign_in(org, org_browser(org), authorize_params(org, pkce, **extra), rep["Username"])["code"]


def refresh(org: RunningOrg, refresh_token: str, **overrides: str) -> requests.Response:
    """The refresh_token grant with the connected app's credentials (`overrides` replace or add fields)."""
    body = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": org.info["client_id"],
        "client_secret": org.info["client_secret"],
        **overrides,
    }
    return org.http.post(f"{org.url}/services/oauth2/token", data=body)


def refused(response: requests.Response, error: str, description: str) -> None:
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


# ---------------------------------------------------------------------------------------------- the whole flow


def test_a_rep_signs_in_and_the_tokens_work(app_org: RunningOrg, rep: dict[str, Any]) -> None:
    org, pkce = app_org, new_pkce()
    params = authorize_params(org, pkce)
    back = sign_in(org, org_browser(org), params, rep["Username"])
    assert back["state"] == params["state"]
    assert back["code"].startswith("aPrx")

    answer = exchange(org, back["code"], pkce)
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert list(token) == [
        "access_token",
        "refresh_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    ]
    assert token["scope"] == "api refresh_token id"
    assert token["instance_url"] == org.url
    assert token["id"] == f"{org.url}/id/{org.info['org_id']}/{rep['Id']}"
    assert token["token_type"] == "Bearer"
    assert len(token["issued_at"]) == 13
    expected = hmac.digest(org.info["client_secret"].encode(), (token["id"] + token["issued_at"]).encode(), "sha256")
    assert base64.b64decode(token["signature"]) == expected
    assert token["access_token"].startswith(org.info["org_id"][:15] + "!")

    # The access token is a REST session of the rep.
    me = org.rest("GET", f"sobjects/User/{rep['Id']}", token["access_token"])
    assert me.status_code == 200 and me.json()["Username"] == rep["Username"]

    identity = org.http.get(token["id"], headers={"Authorization": f"Bearer {token['access_token']}"})
    assert identity.status_code == 200
    body = identity.json()
    assert list(body)[:8] == [
        "id",
        "asserted_user",
        "user_id",
        "organization_id",
        "username",
        "nick_name",
        "display_name",
        "email",
    ]
    assert body["asserted_user"] is True
    assert (body["user_id"], body["organization_id"], body["username"], body["email"]) == (
        rep["Id"],
        org.info["org_id"],
        rep["Username"],
        rep["Email"],
    )
    assert body["display_name"] == f"{rep['FirstName']} {rep['LastName']}"
    assert body["user_type"] == "STANDARD" and body["active"] is True
    assert body["urls"]["rest"] == f"{org.url}/services/data/v{{version}}/"
    assert body["urls"]["partner"].endswith("/" + org.info["org_id"][:15])
    versioned = org.http.get(token["id"], params={"oauth_token": token["access_token"], "version": "59.0"})
    assert versioned.json()["urls"]["rest"] == f"{org.url}/services/data/v59.0/"

    info = org.http.get(f"{org.url}/services/oauth2/userinfo", params={"oauth_token": token["access_token"]})
    assert info.status_code == 200
    user = info.json()
    assert list(user)[:7] == ["sub", "user_id", "organization_id", "preferred_username", "nickname", "name", "email"]
    assert (user["sub"], user["user_id"], user["preferred_username"], user["email"]) == (
        token["id"],
        rep["Id"],
        rep["Username"],
        rep["Email"],
    )

    # Refresh: a new access token, no new refresh token, signed the same way.
    refreshed = refresh(org, token["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    again = refreshed.json()
    assert "refresh_token" not in again
    assert again["access_token"] != token["access_token"]
    assert again["id"] == token["id"] and again["scope"] == token["scope"]
    assert org.rest("GET", "limits", again["access_token"]).status_code == 200


def test_the_login_page_prefills_login_hint_and_a_second_authorize_skips_login_and_approval(
    app_org: RunningOrg, rep: dict[str, Any]
) -> None:
    org, http = app_org, org_browser(app_org)
    start = http.get(
        f"{org.url}/services/oauth2/authorize",
        params=authorize_params(org, None, login_hint=rep["Username"]),
        allow_redirects=False,
    )
    page = http.get(urljoin(org.url, start.headers["Location"]))
    assert lxml.html.fromstring(page.text).get_element_by_id("username").value == rep["Username"]
    sign_in(org, http, authorize_params(org, None), rep["Username"])
    # Signed in at the org and approved before: the authorize request goes straight back with a code.
    again = http.get(f"{org.url}/services/oauth2/authorize", params=authorize_params(org, None), allow_redirects=False)
    assert again.headers["Location"].startswith("/setup/secur/RemoteAccessAuthorizationPage.apexp?source=")
    approved = http.get(urljoin(org.url, again.headers["Location"]), allow_redirects=False)
    assert "code" in callback_params(approved)
    # prompt=login asks for the password again.
    forced = http.get(
        f"{org.url}/services/oauth2/authorize",
        params=authorize_params(org, None, prompt="login"),
        allow_redirects=False,
    )
    assert forced.headers["Location"].startswith("/?ec=302&startURL=")


def test_immediate_succeeds_only_for_a_signed_in_user_who_approved_before(
    app_org: RunningOrg, rep: dict[str, Any]
) -> None:
    org, http = app_org, org_browser(app_org)
    url = f"{org.url}/services/oauth2/authorize"
    params = authorize_params(org, None, immediate="true")
    cold = callback_params(http.get(url, params=params, allow_redirects=False))
    assert cold == {
        "error": "immediate_unsuccessful",
        "error_description": "immediate authorization failed",
        "state": params["state"],
    }
    sign_in(org, http, authorize_params(org, None), rep["Username"])
    assert "code" in callback_params(http.get(url, params=params, allow_redirects=False))


# ---------------------------------------------------------------------------------------------- authorize refusals


def test_authorize_refusals_are_shown_on_the_page_or_redirected(app_org: RunningOrg) -> None:
    org, http = app_org, org_browser(app_org)
    url = f"{org.url}/services/oauth2/authorize"
    bad_client = http.get(url, params=authorize_params(org, None, client_id="3MVGnotours"), allow_redirects=False)
    assert bad_client.status_code == 400
    assert "error=invalid_client_id&amp;error_description=client%20identifier%20invalid" in bad_client.text
    bad_redirect = http.get(
        url, params=authorize_params(org, None, redirect_uri="https://evil.example.test/cb"), allow_redirects=False
    )
    assert bad_redirect.status_code == 400 and "Location" not in bad_redirect.headers
    assert "error=redirect_uri_mismatch&amp;error_description=redirect_uri%20must%20match%20configuration" in (
        bad_redirect.text
    )
    plain = http.get(
        url,
        params=authorize_params(org, None, code_challenge="x" * 43, code_challenge_method="plain"),
        allow_redirects=False,
    )
    assert callback_params(plain)["error"] == "invalid_request"
    bad_scope = http.get(url, params=authorize_params(org, None, scope="api openid"), allow_redirects=False)
    assert callback_params(bad_scope)["error"] == "invalid_scope"
    org.admin("PUT", "connected-app", {"require_pkce": True})
    params = authorize_params(org, None)
    missing = callback_params(http.get(url, params=params, allow_redirects=False))
    assert missing == {
        "error": "invalid_request",
        "error_description": "missing required code challenge",
        "state": params["state"],
    }


def test_a_wrong_password_or_a_partner_user_shows_the_form_again_and_deny_is_access_denied(
    app_org: RunningOrg, rep: dict[str, Any]
) -> None:
    org, http = app_org, org_browser(app_org)
    params = authorize_params(org, None, prompt="consent")
    start = http.get(f"{org.url}/services/oauth2/authorize", params=params, allow_redirects=False)
    page = http.get(urljoin(org.url, start.headers["Location"]))
    wrong = submit_form(http, page, "Login", username=rep["Username"], password="not-the-password")
    assert wrong.status_code == 200 and "Check your username and password" in wrong.text
    assert "Set-Cookie" not in wrong.headers
    partner = org.salesforce().query("SELECT Username FROM User WHERE UserType = 'PowerPartner' LIMIT 1")["records"]
    refused_partner = submit_form(http, page, "Login", username=partner[0]["Username"], password=DEMO_PASSWORD)
    assert refused_partner.status_code == 200 and "Check your username and password" in refused_partner.text
    signed_in = submit_form(http, page, "Login", username=rep["Username"], password=DEMO_PASSWORD)
    approval = http.get(urljoin(org.url, signed_in.headers["Location"]))
    denied = callback_params(submit_form(http, approval, "oadeny"))
    assert denied == {
        "error": "access_denied",
        "error_description": "end-user denied authorization",
        "state": params["state"],
    }


# ---------------------------------------------------------------------------------------------- token refusals


def test_code_exchange_refusals_are_named(app_org: RunningOrg, rep: dict[str, Any]) -> None:
    org = app_org
    pkce = new_pkce()
    refused(
        exchange(org, fresh_code(org, rep, pkce), pkce, redirect_uri=CALLBACK + "/other"),
        "redirect_uri_mismatch",
        "redirect_uri must match configuration",
    )
    refused(
        exchange(org, fresh_code(org, rep, pkce), pkce, code_verifier=new_pkce().verifier),
        "invalid_grant",
        "invalid code verifier",
    )
    missing = {"grant_type", "code", "client_id", "client_secret", "redirect_uri"}
    code = fresh_code(org, rep, pkce)
    no_verifier = org.http.post(
        f"{org.url}/services/oauth2/token",
        data={k: v for k, v in exchange_body(org, code).items() if k in missing},
    )
    refused(no_verifier, "invalid_grant", "invalid code verifier")
    refused(
        exchange(org, fresh_code(org, rep), None, code_verifier=pkce.verifier),
        "invalid_grant",
        "unexpected code verifier",
    )
    refused(
        exchange(org, fresh_code(org, rep, pkce), pkce, client_secret="0" * 64),
        "invalid_client",
        "invalid client credentials",
    )
    refused(
        exchange(org, fresh_code(org, rep, pkce), pkce, client_id="3MVGnotours"),
        "invalid_client_id",
        "client identifier invalid",
    )
    refused(exchange(org, "aPrxNeverIssued==", pkce), "invalid_grant", "invalid authorization code")


def exchange_body(org: RunningOrg, code: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": org.info["client_id"],
        "client_secret": org.info["client_secret"],
        "redirect_uri": CALLBACK,
    }


def test_a_code_is_single_use_and_expires_after_15_minutes(app_org: RunningOrg, rep: dict[str, Any]) -> None:
    org, pkce = app_org, new_pkce()
    code = fresh_code(org, rep, pkce)
    assert exchange(org, code, pkce).status_code == 200
    refused(exchange(org, code, pkce), "invalid_grant", "expired authorization code")

    late = fresh_code(org, rep, pkce)
    org.advance_clock(15 * 60 + 1)
    refused(exchange(org, late, pkce), "invalid_grant", "expired authorization code")


def test_client_authentication_by_http_basic_works(app_org: RunningOrg, rep: dict[str, Any]) -> None:
    org, pkce = app_org, new_pkce()
    code = fresh_code(org, rep, pkce)
    answer = org.http.post(
        f"{org.url}/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": pkce.verifier,
        },
        auth=(org.info["client_id"], org.info["client_secret"]),
    )
    assert answer.status_code == 200, answer.text


# ---------------------------------------------------------------------------------------------- revoke, bad tokens


def test_revoking_a_refresh_token_ends_its_access_tokens(app_org: RunningOrg, rep: dict[str, Any]) -> None:
    org, pkce = app_org, new_pkce()
    token = exchange(org, fresh_code(org, rep, pkce), pkce).json()
    second = refresh(org, token["refresh_token"]).json()["access_token"]
    revoked = org.http.post(f"{org.url}/services/oauth2/revoke", data={"token": token["refresh_token"]})
    assert revoked.status_code == 200
    for access in (token["access_token"], second):
        assert org.rest("GET", "limits", access).status_code == 401
        gone = org.http.get(f"{org.url}/services/oauth2/userinfo", headers={"Authorization": f"Bearer {access}"})
        assert (gone.status_code, gone.text) == (403, "Bad_OAuth_Token")
    refused(
        refresh(org, token["refresh_token"]),
        "invalid_grant",
        "expired access/refresh token",
    )
    refused(
        org.http.post(f"{org.url}/services/oauth2/revoke", data={"token": token["refresh_token"]}),
        "invalid_token",
        "token was invalid",
    )


def test_revoking_an_access_token_ends_only_it_and_refresh_refusals_are_named(
    app_org: RunningOrg, rep: dict[str, Any]
) -> None:
    org, pkce = app_org, new_pkce()
    token = exchange(org, fresh_code(org, rep, pkce), pkce).json()
    assert org.http.get(f"{org.url}/services/oauth2/revoke", params={"token": token["access_token"]}).status_code == 200
    assert org.rest("GET", "limits", token["access_token"]).status_code == 401
    identity = org.http.get(token["id"], params={"oauth_token": token["access_token"]})
    assert (identity.status_code, identity.text) == (403, "Bad_OAuth_Token")
    refreshed = refresh(org, token["refresh_token"])
    assert refreshed.status_code == 200
    refused(
        refresh(org, token["refresh_token"], client_secret="0" * 64),
        "invalid_client",
        "invalid client credentials",
    )
    refused(
        refresh(org, token["refresh_token"], code_verifier=pkce.verifier),
        "invalid_grant",
        "unexpected code verifier",
    )


def test_identity_url_refuses_unknown_tokens_and_ids(app_org: RunningOrg, rep: dict[str, Any]) -> None:
    org = app_org
    url = f"{org.url}/id/{org.info['org_id']}/{rep['Id']}"
    assert (org.http.get(url).status_code, org.http.get(url).text) == (403, "Bad_OAuth_Token")
    forged = org.http.get(url, params={"oauth_token": org.info["org_id"][:15] + "!AQforged"})
    assert forged.status_code == 403
    sf = org.salesforce()
    other_org = org.http.get(
        f"{org.url}/id/00D000000000002AAA/{rep['Id']}", headers={"Authorization": f"Bearer {sf.session_id}"}
    )
    assert (other_org.status_code, other_org.text) == (404, "Bad_Id")
    # The API user's token (scope api) may read the rep's identity, but it is not asserted for it.
    seen = org.http.get(url, headers={"Authorization": f"Bearer {sf.session_id}"})
    assert seen.status_code == 200 and seen.json()["asserted_user"] is False


def test_bad_connected_app_settings_are_named(app_org: RunningOrg) -> None:
    response = app_org.http.put(
        f"{app_org.url}/_devorg/admin/connected-app",
        json={"callback_urls": "not-a-list"},
        headers={"X-Devorg-Admin": app_org.info["admin_token"]},
    )
    assert response.status_code == 400
    assert "callback_urls must be a non-empty list of absolute URLs" in response.json()["error"]
    assert app_org.admin("GET", "connected-app")["callback_urls"] == [CALLBACK]


# ---------------------------------------------------------------------------------------------- in a browser


def test_a_rep_signs_in_on_the_login_page_in_chromium(app_org: RunningOrg, rep: dict[str, Any], chromium: Any) -> None:
    """Chromium goes through the pages by the ids real drivers use (#username, #password, Login, #oaapprove).
    The org's certificate comes from a CA generated for the test run, which this browser context is told to
    accept; the callback is answered in the browser (its host does not exist)."""
    org, pkce = app_org, new_pkce()
    params = authorize_params(org, pkce, prompt="consent")  # the rep may have approved the app in another test
    context = chromium.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        page.route(f"{CALLBACK}?**", lambda route: route.fulfill(status=200, body="signed in"))
        page.goto(f"{org.url}/services/oauth2/authorize?{urlencode(params)}")
        page.fill("#username", rep["Username"])
        page.fill("#password", DEMO_PASSWORD)
        page.click("[name=Login]")
        page.click("#oaapprove")
        page.wait_for_url(f"{CALLBACK}?**")
        back = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    finally:
        context.close()
    assert back["state"] == params["state"]
    answer = exchange(org, back["code"], pkce)
    assert answer.status_code == 200
    assert answer.json()["id"].endswith("/" + rep["Id"])


def test_serve_takes_callback_urls_and_names_a_bad_one(tmp_path: Path) -> None:
    with start_org(tmp_path / "org", "--callback-url", CALLBACK, "--callback-url", CALLBACK + "2") as org:
        assert org.info["callback_urls"] == [CALLBACK, CALLBACK + "2"]
        assert org.info["user_password"] == DEMO_PASSWORD
    bad = subprocess.run(
        [renewals_command(), "devorg", "serve", "--port", "0", "--data", str(tmp_path / "bad"), "--callback-url", "cb"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "'cb' is not an absolute http(s) URL" in bad.stderr
