"""A crawl of the URL map (issue 14): every rep-portal route requires a signed-in rep — a page goes to the
sign-in, a change is refused 403 — from a browser with no rep session, with a rep link opened but no sign-in,
with a rep scope of the old kind (no sign-in recorded), or signed in as another rep; and the sign-in routes
themselves answer what they require (a rep link opened first, a code asked for in this browser, CSRF, a connected
app). Routes added later are crawled too, with no list to forget."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from email_actions.web.session_cookies import REP_KEY
from tests.email_actions.web.console.conftest import csrf_of

# How a rep gets in: the link itself, the sign-in pages, sign-out, Sign in with Salesforce.
ENTRANCES = {
    "portal.open_rep_portal",
    "portal.rep_sign_in",
    "portal.rep_request_code",
    "portal.rep_code_form",
    "portal.rep_verify_code",
    "portal.rep_sign_out",
}
NOW = int(time.time())
COOKIES = {
    "no rep session": None,
    "a rep link opened, not signed in": {"wanted": {"email_message_id": 1, "at": NOW}},
    "a rep scope without a sign-in": {"kind": "rep", "email_message_id": 1, "opened_at": NOW, "seen": NOW, "sid": "s"},
    "signed in as another rep": {
        "kind": "rep",
        "email_message_id": 1,
        "opened_at": NOW,
        "seen": NOW,
        "sid": "s",
        "signed_in": {"via": "code", "rep_id": 999_999, "at": NOW},
    },
}


def rep_rules(app: Flask) -> Iterator[Rule]:
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/rep") and rule.endpoint not in ENTRANCES:
            yield rule


def url_of(rule: Rule) -> str:
    path = rule.rule
    for name, converter in rule._converters.items():
        sample = "1" if type(converter).__name__ == "IntegerConverter" else "sample"
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", sample, path)
    return path


@pytest.mark.parametrize("cookie", list(COOKIES), ids=list(COOKIES))
def test_every_rep_route_requires_a_signed_in_rep(app: Flask, cookie: str) -> None:
    client = app.test_client()
    token = csrf_of(client)  # a genuine token: the refusal must come from the sign-in check, not CSRF
    if COOKIES[cookie] is not None:
        with client.session_transaction() as flask_session:
            flask_session[REP_KEY] = COOKIES[cookie]
    checked = 0
    for rule in rep_rules(app):
        url = url_of(rule)
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            response = client.open(url, method=method, data={"csrf_token": token})
            if method in ("GET", "HEAD"):
                assert response.status_code == 303, (method, url, response.status_code)
                assert response.headers["Location"] == "/rep/sign-in", (method, url)
            else:
                assert response.status_code == 403, (method, url, response.status_code)
                assert "Nothing was changed" in response.get_data(as_text=True)
            checked += 1
    assert checked >= 6  # /rep, the quote, controls, hold, resume (GET and HEAD counted apart)


def test_the_sign_in_routes_answer_what_they_require(app: Flask, client: FlaskClient) -> None:
    token = csrf_of(client)
    page = client.get("/rep/sign-in")
    assert page.status_code == 200 and "Open the link in one of your renewal notices" in page.get_data(as_text=True)
    # No rep link opened in this browser: no code to ask for, none to verify.
    assert client.post("/rep/sign-in/code", data={"csrf_token": token}).status_code == 400
    assert client.get("/rep/sign-in/code").headers["Location"] == "/rep/sign-in"
    verify = client.post("/rep/sign-in/code/verify", data={"csrf_token": token, "code": "12345678"})
    assert verify.status_code == 400
    # Without the CSRF token every POST is refused before anything else.
    for path in ("/rep/sign-in/code", "/rep/sign-in/code/verify", "/rep/sign-out"):
        assert client.post(path, data={"code": "12345678"}).status_code == 400, path
    # Sign in with Salesforce without a connected app configured: not found, nothing started.
    assert client.get("/auth/salesforce/login").status_code == 404
    assert client.get("/auth/salesforce/callback?code=x&state=y").status_code == 400
    # A link that is not a rep link's token: refused, no session.
    assert client.get("/rep/not-a-token").status_code == 404
    with client.session_transaction() as flask_session:
        assert REP_KEY not in flask_session
