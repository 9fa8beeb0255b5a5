"""The web app's protections: security headers on every page, private headers on token pages, unknown hosts
refused, the session cookie's attributes, CSRF on session forms, and no admin-free route that changes state
on GET (a crawl of the URL map)."""

from __future__ import annotations

import dataclasses

from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from email_actions.web.app import create_app


def test_every_response_carries_the_security_headers(client: FlaskClient) -> None:
    for path in ("/", "/healthz", "/a/renew/not-a-token", "/no-such-page"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"]


def test_token_pages_are_never_cached_or_referred(client: FlaskClient) -> None:
    for path in ("/a/renew/x", "/a/contact/x", "/a/review/x", "/u/x", "/q/x", "/o/x.gif", "/rep/x"):
        response = client.get(path)
        assert response.status_code < 500, path
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert "no-store" in response.headers["Cache-Control"], path


def test_a_request_for_another_host_is_refused(client: FlaskClient) -> None:
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/healthz", headers={"Host": "localhost"}).status_code in (200, 503)


def test_over_https_the_session_cookie_is_host_prefixed_and_hsts_is_sent(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, public_base_url="https://renew.vendor.example"))
    app.config["TESTING"] = True
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-renewals"
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax" and app.config["SESSION_COOKIE_DOMAIN"] is None
    response = app.test_client().get("/", base_url="https://renew.vendor.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    app.extensions["renewals.database"].dispose()


def test_a_crawl_of_every_get_route_answers_without_error_and_changes_nothing(app: Flask, client: FlaskClient) -> None:
    """Every rule of the URL map that takes GET, with placeholder arguments: no 5xx, and no state table
    changes (the action tests do the same with genuine tokens)."""
    from sqlalchemy import func, select

    from sync_service.store import models
    from sync_service.store.db import current_database

    tables = (models.Renewal, models.ContactRequest, models.EmailSuppression, models.OutboxItem, models.AuditEntry)

    def counts() -> list[int]:
        with app.app_context(), current_database().session_scope() as session:
            return [int(session.scalar(select(func.count()).select_from(t)) or 0) for t in tables]

    before = counts()
    crawled = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint == "static":
            continue
        values = {arg: 1 if "int" in type(rule._converters[arg]).__name__.lower() else "x" for arg in rule.arguments}
        path = rule.build(values, append_unknown=False)
        assert path is not None
        url = path[1] if isinstance(path, tuple) else path
        for method in ("GET", "HEAD"):
            response = client.open(url, method=method)
            assert response.status_code < 500, f"{method} {url}: {response.status_code}"
        crawled += 1
    assert crawled >= 15
    assert counts() == before
