"""A crawl of the URL map: every console route refuses an anonymous request, refuses a viewer anything but
reading, and refuses a post without its CSRF token — for routes added later too, with no list to forget."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text as sqlalchemy_text
from werkzeug.routing import Rule

from email_actions.web.session_cookies import CUSTOMER_KEY, REP_KEY
from tests.email_actions.web.console.conftest import csrf_of

READ = {"GET", "HEAD"}


def console_rules(app: Flask) -> Iterator[Rule]:
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and rule.endpoint != "admin.login":
            yield rule


def url_of(rule: Rule) -> str:
    """The rule's path with a sample value in each variable (an id that may not exist: the answer must still
    be a refusal, never data)."""
    path = rule.rule
    for name, converter in rule._converters.items():
        sample = "1" if type(converter).__name__ == "IntegerConverter" else "sample"
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", sample, path)
    return path


def test_the_console_has_routes_of_every_section(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in console_rules(app)}
    for section in ("admin.operations", "admin.reports", "admin.mappings", "admin.settings", "admin.audit"):
        assert section in endpoints


@pytest.mark.parametrize("portal_sessions", [False, True], ids=["no-session", "portal-sessions"])
def test_every_console_route_refuses_an_anonymous_request(app: Flask, portal_sessions: bool) -> None:
    """Also from a browser holding a customer and a rep portal session (their own cookies): they open nothing
    in the console."""
    client = app.test_client()
    token = csrf_of(client)  # a genuine token: the refusal must come from the sign-in check, not CSRF
    if portal_sessions:
        now = int(time.time())
        with client.session_transaction() as flask_session:
            for key, kind in ((CUSTOMER_KEY, "customer"), (REP_KEY, "rep")):
                scope = {"kind": kind, "email_message_id": 1, "opened_at": now, "seen": now, "sid": "s"}
                flask_session[key] = scope
        assert client.get_cookie("renewals-portal") is not None and client.get_cookie("renewals-rep") is not None
    checked = 0
    for rule in console_rules(app):
        url = url_of(rule)
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            response = client.open(url, method=method, data={"csrf_token": token})
            body = response.get_data(as_text=True)
            if method in READ:
                assert response.status_code == 302, (method, url)
                assert response.headers["Location"].startswith("/admin/login"), (method, url)
            else:
                assert response.status_code == 401, (method, url, response.status_code)
            assert "<table" not in body and "csv" not in response.headers.get("Content-Type", ""), url
            checked += 1
    assert checked >= 6


def test_a_viewer_can_read_every_page_and_change_nothing(app: Flask, viewer_client: FlaskClient) -> None:
    token = csrf_of(viewer_client, "/admin/audit")
    for rule in console_rules(app):
        url = url_of(rule)
        for method in sorted((rule.methods or set()) - {"OPTIONS", "HEAD"}):
            response = viewer_client.open(url, method=method, data={"csrf_token": token})
            if method == "GET":
                assert response.status_code < 500, (url, response.status_code)
            elif rule.endpoint != "admin.logout":
                assert response.status_code == 403, (method, url, response.status_code)


@pytest.mark.parametrize("with_token", [False, True])
def test_an_admin_post_needs_its_csrf_token(app: Flask, admin_client: FlaskClient, with_token: bool) -> None:
    for rule in console_rules(app):
        if "POST" not in (rule.methods or set()) or rule.endpoint == "admin.logout":
            continue
        data = {"csrf_token": csrf_of(admin_client, "/admin/audit")} if with_token else {}
        response = admin_client.post(url_of(rule), data=data)
        if not with_token:
            assert response.status_code == 400, (rule.rule, response.status_code)
        else:
            assert response.status_code != 400 or "CSRF" not in response.get_data(as_text=True), rule.rule


def test_a_console_page_reading_does_not_hold_sqlite_s_write_lock(app: Flask, admin_client: FlaskClient) -> None:
    """While a console GET's transaction is open, another connection can still take the write lock at once."""
    import sqlite3

    from flask import g

    from sync_service.store.db import current_session

    database = app.extensions["renewals.database"]
    path = database.engine.url.database
    with app.test_request_context("/admin/audit", method="GET"):
        from email_actions.web.console.auth import guard

        g.admin_user = None
        guard()  # not signed in in this bare context: it redirects, after opening the reader's session
        current_session().execute(sqlalchemy_text("SELECT count(*) FROM contracts")).scalar()
        other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if the page held the lock
            other.execute("ROLLBACK")
        finally:
            other.close()
