"""Separate sessions (email_actions.web.session_cookies): the admin console, the customer portal and the rep
portal each keep their session in a cookie of their own, side by side in one browser, each ending by its own
settings' limits; signing in, signing out or opening a link of one never ends another. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser

from config.settings import SettingsError, load_settings
from email_actions.web.console.auth import create_user
from email_actions.web.session_cookies import ADMIN_KEY, CUSTOMER_KEY, REP_KEY
from tests.email_actions.web.portal.portal_site import Portal, numbers_in_order, seed
from tests.processes import serve_wsgi

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_on(site: Portal, path: str) -> str:
    match = CSRF.search(site.client.get(path).get_data(as_text=True))
    assert match is not None, f"no CSRF token on {path}"
    return match.group(1)


def sign_in_admin(site: Portal, *, create: bool = True) -> None:
    if create:
        with site.app.extensions["renewals.database"].session_scope() as session:
            create_user(session, "alice", PASSWORD, "admin")
    data = {"csrf_token": csrf_on(site, "/admin/login"), "username": "alice", "password": PASSWORD}
    assert site.client.post("/admin/login", data=data).status_code == 302


def status(site: Portal) -> tuple[int, int, int]:
    """What the admin console, the customer portal and the rep portal answer now."""
    return (
        site.client.get("/admin/operations").status_code,
        site.client.get("/portal").status_code,
        site.client.get("/rep").status_code,
    )


def age(site: Portal, key: str, field: str, seconds: float) -> None:
    """Move one session's clock `seconds` into the past."""
    with site.client.session_transaction() as flask_session:
        flask_session[key] = {**flask_session[key], field: int(flask_session[key][field] - seconds)}


def test_admin_customer_and_rep_sessions_side_by_side_do_not_end_each_other(site: Portal) -> None:
    data = seed(site)
    sign_in_admin(site)
    opened = site.open_customer(data.customer_message)
    # Opening the link writes the portal's cookie (and the base one), never the console's.
    written = {c.split("=")[0] for c in opened.headers.getlist("Set-Cookie")}
    assert "renewals-portal" in written and not written & {"renewals-admin", "renewals-rep"}
    site.open_rep(data.rep_message)
    assert status(site) == (200, 200, 200)
    # Three cookies beside the base one (CSRF token): one per kind of session.
    for name in ("renewals-admin", "renewals-portal", "renewals-rep"):
        assert site.client.get_cookie(name) is not None, name
    # Opening another customer link replaces only the customer's scope.
    site.open_customer(data.other_message)
    assert status(site) == (200, 200, 200)
    assert "B-ONLY" in numbers_in_order(site.client.get("/portal").get_data(as_text=True))
    # Signing in again (a fresh console session), then out, ends only the console's session.
    sign_in_admin(site, create=False)
    assert status(site) == (200, 200, 200)
    logout = site.client.post("/admin/logout", data={"csrf_token": csrf_on(site, "/admin/operations")})
    assert logout.status_code in (302, 303)
    assert status(site) == (302, 200, 200)


def test_a_rep_change_appears_in_the_admin_audit_log_with_the_reps_address_and_session(site: Portal) -> None:
    data = seed(site)
    sign_in_admin(site)
    site.open_rep(data.rep_message)
    with site.client.session_transaction() as flask_session:
        session_id = flask_session[REP_KEY]["sid"]
    held = site.client.post(
        f"/rep/contracts/{data.emailed}/hold", data={"csrf_token": csrf_on(site, "/rep"), "note": "On a call"}
    )
    assert held.status_code == 303
    html = site.client.get("/admin/audit?actor=rep:" + data.rep_sf_id).get_data(as_text=True)
    assert "rep.hold" in html and "riley.rep@vendor.example" in html and session_id in html


def test_each_kind_ends_by_its_own_idle_limit(site: Portal) -> None:
    data = seed(site)
    sign_in_admin(site)
    site.open_customer(data.customer_message)
    site.open_rep(data.rep_message)
    settings = site.settings
    # The customer portal idle past its own limit (while the admin and rep limits are untouched by it).
    age(site, CUSTOMER_KEY, "seen", settings.portal_idle_minutes * 60 + 1)
    assert status(site) == (200, 403, 200)
    age(site, REP_KEY, "seen", settings.rep_idle_minutes * 60 + 1)
    assert status(site)[2] == 303  # a lapsed rep session: back to the sign-in
    assert site.client.get("/admin/operations").status_code == 200
    age(site, ADMIN_KEY, "seen", settings.admin_idle_minutes * 60 + 1)
    assert site.client.get("/admin/operations").status_code == 302


def test_each_portal_ends_by_its_own_absolute_limit_however_active(site: Portal) -> None:
    data = seed(site)
    site.open_customer(data.customer_message)
    site.open_rep(data.rep_message)
    age(site, REP_KEY, "opened_at", site.settings.rep_max_hours * 3600 - 60)
    assert status(site)[1:] == (200, 200)
    age(site, REP_KEY, "opened_at", 61)
    assert status(site)[1:] == (200, 303)  # a lapsed rep session: back to the sign-in
    age(site, CUSTOMER_KEY, "opened_at", site.settings.portal_max_hours * 3600 + 1)
    assert status(site)[1:] == (403, 303)


def test_the_portal_limits_come_from_their_own_settings() -> None:
    settings = load_settings(
        {
            "RENEWALS_SECRET_KEYS": "k" * 64,
            "RENEWALS_ADMIN_IDLE_MINUTES": "240",
            "RENEWALS_PORTAL_IDLE_MINUTES": "15",
            "RENEWALS_PORTAL_MAX_HOURS": "2",
            "RENEWALS_REP_IDLE_MINUTES": "45",
            "RENEWALS_REP_MAX_HOURS": "9",
        }
    )
    assert (settings.admin_idle_minutes, settings.portal_idle_minutes, settings.portal_max_hours) == (240, 15, 2)
    assert (settings.rep_idle_minutes, settings.rep_max_hours) == (45, 9)
    defaults = load_settings({"RENEWALS_SECRET_KEYS": "k" * 64})
    assert (defaults.portal_idle_minutes, defaults.portal_max_hours) == (30, 4)
    assert (defaults.rep_idle_minutes, defaults.rep_max_hours) == (30, 4)


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("PORTAL_IDLE_MINUTES", "0", "RENEWALS_PORTAL_IDLE_MINUTES must be at least 1."),
        ("PORTAL_MAX_HOURS", "-2", "RENEWALS_PORTAL_MAX_HOURS must be at least 1."),
        ("REP_IDLE_MINUTES", "half an hour", "RENEWALS_REP_IDLE_MINUTES='half an hour' is not a whole number."),
        ("REP_MAX_HOURS", "1.5", "RENEWALS_REP_MAX_HOURS='1.5' is not a whole number."),
    ],
)
def test_a_bad_session_limit_is_named(name: str, raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"RENEWALS_SECRET_KEYS": "k" * 64, f"RENEWALS_{name}": raw})
    assert message in str(caught.value)


def rep_cookie(site: Portal, message_id: int) -> str:
    """The value of a rep cookie signed in as the email's rep (what a sign-in leaves), signed with the app's key."""
    client = site.app.test_client()
    site.sign_in_rep(message_id, client)
    cookie = client.get_cookie("renewals-rep")
    assert cookie is not None
    return cookie.value


def test_in_one_chromium_context_the_three_sessions_do_not_end_each_other(site: Portal, chromium: Browser) -> None:
    data = seed(site)
    context = chromium.new_context()
    page = context.new_page()
    try:
        with site.app.extensions["renewals.database"].session_scope() as session:
            create_user(session, "alice", PASSWORD, "admin")
        with serve_wsgi(site.app) as base:
            page.goto(f"{base}/admin/login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.press("input[name=password]", "Enter")
            page.wait_for_url(re.compile(r".*/admin/operations.*"))
            page.goto(f"{base}/a/review/{site.token('review', data.customer_message)}")
            assert page.url == f"{base}/portal" and "A-EMAILED" in page.content()
            # The rep's browser is signed in as the rep (the sign-ins have their own Chromium tests).
            page.context.add_cookies(
                [{"name": "renewals-rep", "value": rep_cookie(site, data.rep_message), "url": base}]
            )
            page.goto(f"{base}/rep/{site.token('rep', data.rep_message)}")
            assert page.url == f"{base}/rep" and "A-EMAILED" in page.content()
            for path in ("/admin/operations", "/portal", "/rep"):
                response = page.goto(f"{base}{path}")
                assert response is not None and response.status == 200, path
                assert page.url == f"{base}{path}"
            names = {cookie["name"] for cookie in page.context.cookies()}
            assert {"renewals-admin", "renewals-portal", "renewals-rep"} <= names
    finally:
        context.close()
