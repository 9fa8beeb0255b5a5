"""Signing in to the console: Argon2id hashes, rate-limited failures, sessions that end, roles, CSRF."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from email_actions.web.console import auth
from email_actions.web.console.auth import UserError, create_user
from sync_service.store.models import AdminSession, AdminUser, AuditEntry
from tests.email_actions.web.console.conftest import PASSWORD, add_user, post_form, sign_in


def _db(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["renewals.database"]


def test_passwords_are_stored_as_argon2id_hashes_only(app: Flask) -> None:
    add_user(app, "Alice", "admin")
    with _db(app).session_scope() as session:
        user = session.scalars(select(AdminUser)).one()
        assert user.username == "alice"
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("a", PASSWORD, "admin", "user name"),
        ("bob smith", PASSWORD, "admin", "user name"),
        ("bob", "short", "admin", "at least 12"),
        ("bob", PASSWORD, "owner", "role"),
    ],
)
def test_bad_users_are_refused_with_the_reason(
    app: Flask, username: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(UserError, match=message), _db(app).session_scope() as session:
        create_user(session, username, password, role)
    with _db(app).session_scope() as session:
        assert session.scalars(select(AdminUser)).all() == []


def test_a_second_user_of_the_same_name_is_refused(app: Flask) -> None:
    add_user(app, "alice")
    with pytest.raises(UserError, match="already exists"), _db(app).session_scope() as session:
        create_user(session, "ALICE", PASSWORD, "viewer")


def test_sign_in_redirects_to_the_console_and_sign_out_ends_the_session(app: Flask) -> None:
    add_user(app, "alice")
    client = app.test_client()
    response = sign_in(client, "alice")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/audit").status_code == 200
    cookie = client.get_cookie("renewals")
    assert cookie is not None
    assert post_form(client, "/admin/audit", "/admin/logout", {}).status_code == 302
    assert client.get("/admin/audit").status_code == 302
    # The old cookie, replayed after sign-out, signs nobody in: the session row has ended.
    replay = app.test_client()
    replay.set_cookie("renewals", cookie.value)
    assert replay.get("/admin/audit").status_code == 302
    with _db(app).session_scope() as session:
        assert session.scalars(select(AdminSession.ended_at)).one() is not None


def test_a_wrong_password_or_unknown_user_is_401_and_shows_nothing(app: Flask) -> None:
    add_user(app, "alice")
    client = app.test_client()
    for username, password in (("alice", "wrong password!"), ("nobody", PASSWORD)):
        response = sign_in(client, username, password)
        assert response.status_code == 401
        assert "Wrong user name or password." in response.get_data(as_text=True)
    assert client.get("/admin/audit").status_code == 302


def test_a_disabled_user_cannot_sign_in_and_is_signed_out(app: Flask, admin_client: FlaskClient) -> None:
    with _db(app).session_scope() as session:
        auth.set_disabled(session, "alice", True)
    assert admin_client.get("/admin/audit").status_code == 302
    assert sign_in(app.test_client(), "alice").status_code == 401


def test_failed_sign_ins_are_rate_limited_per_user_name(app: Flask) -> None:
    add_user(app, "alice")
    client = app.test_client()
    for _ in range(10):
        assert sign_in(client, "alice", "not the password").status_code == 401
    # Even the right password is refused now: the limit holds until the window passes.
    assert sign_in(client, "alice").status_code == 429


def test_successful_sign_ins_do_not_count_against_the_limit(app: Flask) -> None:
    add_user(app, "alice")
    for _ in range(12):
        assert sign_in(app.test_client(), "alice").status_code == 302


def test_a_session_ends_after_the_idle_timeout(app: Flask, admin_client: FlaskClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert admin_client.get("/admin/audit").status_code == 200
    later = time.time() + 31 * 60
    monkeypatch.setattr(auth, "_clock", lambda: later)
    response = admin_client.get("/admin/audit")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    assert "Your session ended" in admin_client.get(response.headers["Location"]).get_data(as_text=True)


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(app: Flask) -> None:
    add_user(app, "alice")
    client = app.test_client()
    first = client.get("/admin/audit?action=mapping")
    assert first.headers["Location"] == "/admin/login?next=/admin/audit?action%3Dmapping"
    assert sign_in(client, "alice", next="/admin/audit?action=mapping").headers["Location"] == (
        "/admin/audit?action=mapping"
    )
    for target in ("https://evil.example/admin", "//evil.example/admin", "/portal", "/admin\\..\\x"):
        assert sign_in(app.test_client(), "alice", next=target).headers["Location"] == "/admin/"


def test_a_post_without_the_csrf_token_is_refused(app: Flask, admin_client: FlaskClient) -> None:
    response = admin_client.post("/admin/logout")
    assert response.status_code == 400
    assert admin_client.get("/admin/audit").status_code == 200  # still signed in: nothing happened
    anonymous = app.test_client()
    response = anonymous.post("/admin/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400


def test_a_viewer_reads_but_any_change_is_403(viewer_client: FlaskClient) -> None:
    assert viewer_client.get("/admin/audit").status_code == 200
    # Signing out is the one thing a viewer may post.
    assert post_form(viewer_client, "/admin/audit", "/admin/logout", {}).status_code == 302


def test_console_pages_are_private_and_never_cached(admin_client: FlaskClient) -> None:
    response = admin_client.get("/admin/audit")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_audit_log_lists_changes_and_exports_them(app: Flask, admin_client: FlaskClient) -> None:
    with _db(app).session_scope() as session:
        session.add(AuditEntry(actor="admin:alice", action="mapping.activate", before={"v": 1}, after={"v": 2}))
        session.add(AuditEntry(actor="admin:bob", action="settings.cadence", before={}, after={"stages": "=1+1"}))
    page = admin_client.get("/admin/audit?action=mapping").get_data(as_text=True)
    assert "mapping.activate" in page and "settings.cadence" not in page
    csv = admin_client.get("/admin/audit.csv").get_data(as_text=True)
    assert csv.splitlines()[0] == "at,actor,action,contract_id,before,after,reason"
    assert "admin:bob" in csv and "mapping.activate" in csv
