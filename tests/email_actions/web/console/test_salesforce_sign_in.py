"""The admin console's "Sign in with Salesforce" (email_actions.web.console.salesforce_sign_in): the web server flow
with PKCE against a stand-in org of this module over TLS — our login route, the org's login and approval pages
followed as a browser would, our callback — then the user's profile and permission sets read with the service's
own integration connection, and the console's rules deciding the role; each refusal by name, and the rules'
settings page (checked, audited, admins only)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from config.settings import Settings
from config.settings.secret import Secret
from email_actions.web.app import create_app
from email_actions.web.console import auth
from email_actions.web.console.salesforce_sign_in import NO_ROLE
from email_actions.web.session_cookies import ADMIN_KEY
from sync_service import console_settings as cs
from sync_service.store import models
from tests.email_actions.web.console.conftest import add_user, csrf_of, post_form, sign_in
from tests.org_quotes import org_settings
from tests.standin_org import RunningOrg, sign_in_at_org, start_org, stop_org

BASE = "http://localhost:5000"
CALLBACK = BASE + "/admin/auth/salesforce/callback"
SETTINGS_PAGE = "/admin/settings/salesforce-sign-in"


@pytest.fixture(scope="module")
def sso_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    """A small seeded org whose connected app lists the console's callback."""
    org = start_org(
        tmp_path_factory.mktemp("org-console-sso"),
        *("--seed-contracts", "3", "--flavour", "standard", "--callback-url", CALLBACK),
    )
    try:
        yield org
    finally:
        stop_org(org)


@pytest.fixture(scope="module")
def people(sso_org: RunningOrg) -> dict[str, dict[str, Any]]:
    """The seeded admin (System Administrator, permission set Renewals_Admin) and two reps (Standard User)."""
    sf = sso_org.salesforce()
    admin = sf.query("SELECT Id, Username FROM User WHERE Username LIKE 'admin@%'")["records"][0]
    reps = sf.query(
        "SELECT Id, Username FROM User WHERE Profile.Name = 'Standard User' AND ManagerId != null "
        "ORDER BY Username LIMIT 2"
    )["records"]
    return {"admin": dict(admin), "rep": dict(reps[0]), "other_rep": dict(reps[1])}


def sso_settings(settings: Settings, org: RunningOrg) -> Settings:
    """`settings` with the integration connection to `org` and its connected app, public at BASE."""
    return dataclasses.replace(
        org_settings(settings, org),
        public_base_url=BASE,
        salesforce_client_id=org.info["client_id"],
        salesforce_client_secret=Secret(org.info["client_secret"]),
    )


@pytest.fixture
def app(settings: Settings, sso_org: RunningOrg) -> Iterator[Flask]:
    app = create_app(sso_settings(settings, sso_org))
    app.config["TESTING"] = True
    yield app
    app.extensions["renewals.database"].dispose()


# --- the browser at the org ------------------------------------------------------------------------------------


def at_org(org: RunningOrg, authorize: str, username: str, password: str | None = None) -> dict[str, str]:
    return sign_in_at_org(org, authorize, username, CALLBACK, password)


def start(client: FlaskClient, next_path: str | None = None) -> str:
    response = client.get("/admin/auth/salesforce/login", query_string={"next": next_path} if next_path else {})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def callback(client: FlaskClient, params: dict[str, str]) -> TestResponse:
    return client.get("/admin/auth/salesforce/callback", query_string=params)


def salesforce_sign_in(app: Flask, org: RunningOrg, person: dict[str, Any]) -> tuple[FlaskClient, TestResponse]:
    """A fresh browser signing `person` in with Salesforce: the client and our callback's answer."""
    client = app.test_client()
    return client, callback(client, at_org(org, start(client), person["Username"]))


def set_rules(app: Flask, text: str) -> None:
    with app.extensions["renewals.database"].session_scope() as session:
        cs.store(session, cs.SALESFORCE_ROLES, cs.check_salesforce_roles(text), actor="test")


def account_of(app: Flask, sf_id: str) -> models.AdminUser | None:
    with app.extensions["renewals.database"].session_scope() as session:
        return session.scalar(select(models.AdminUser).where(models.AdminUser.salesforce_user_id == sf_id))


def role_shown(client: FlaskClient) -> str | None:
    page = client.get("/admin/settings")
    if page.status_code != 200:
        return None
    return str(lxml.html.fromstring(page.get_data(as_text=True)).cssselect(".who .role")[0].text_content())


# --- tests -----------------------------------------------------------------------------------------------------


def test_the_sign_in_page_offers_salesforce_only_with_a_connected_app(app: Flask) -> None:
    page = app.test_client().get("/admin/login?next=/admin/reports").get_data(as_text=True)
    link = lxml.html.fromstring(page).get_element_by_id("salesforce-sign-in")
    assert link.get("href") == "/admin/auth/salesforce/login?next=/admin/reports"
    app.extensions["renewals.settings"] = dataclasses.replace(
        app.extensions["renewals.settings"], salesforce_client_id=None
    )
    assert "Sign in with Salesforce" not in app.test_client().get("/admin/login").get_data(as_text=True)
    assert app.test_client().get("/admin/auth/salesforce/login").status_code == 404


def test_a_permission_set_rule_signs_in_an_admin_with_an_account_of_its_own(
    app: Flask, sso_org: RunningOrg, people: dict[str, dict[str, Any]]
) -> None:
    set_rules(app, "profile System Administrator viewer\npermission_set Renewals_Admin admin")
    client = app.test_client()
    authorize = start(client, "/admin/reports")
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(sso_org.url + "/services/oauth2/authorize?")
    assert (
        query["scope"] == ["id"] and query["redirect_uri"] == [CALLBACK] and query["code_challenge_method"] == ["S256"]
    )
    params = at_org(sso_org, authorize, people["admin"]["Username"])
    landed = callback(client, params)
    assert landed.status_code == 303 and landed.headers["Location"] == "/admin/reports"
    assert role_shown(client) == "admin"
    # The admin changes things: a settings form saved with its CSRF token.
    saved = post_form(
        client, "/admin/settings/api-budget", "/admin/settings/api-budget", {"daily_budget": "900", "reserve": "5"}
    )
    assert saved.status_code == 302
    account = account_of(app, people["admin"]["Id"])
    assert account is not None and account.username == people["admin"]["Username"].lower()
    assert account.role == "admin" and account.password_hash is None and account.last_login_at is not None
    with app.extensions["renewals.database"].session_scope() as session:
        entries = session.scalars(select(models.AuditEntry).order_by(models.AuditEntry.id)).all()
        usage = session.scalar(select(models.ApiUsage.calls).where(models.ApiUsage.job_name == "console_sign_in"))
    actor = f"admin:{account.username}"
    assert [(e.actor, e.action) for e in entries] == [(actor, "user.create"), (actor, "settings.api_budget.save")]
    assert entries[0].after["salesforce_user_id"] == people["admin"]["Id"] and "Renewals_Admin" in str(
        entries[0].reason
    )
    assert usage == 3  # the org's id, the user, the permission sets (integration connection, once per process)
    # Nothing of the flow stays in the cookie; the callback again finds no sign-in under way.
    with client.session_transaction() as flask_session:
        assert set(flask_session[ADMIN_KEY]) == {"t", "seen"}
    assert callback(client, params).status_code == 400
    # No password signs this account in.
    assert sign_in(app.test_client(), account.username, "").status_code == 401
    with app.extensions["renewals.database"].session_scope() as session, pytest.raises(auth.UserError):
        auth.set_password(session, account.username, "a long enough password")


def test_a_profile_rule_gives_a_viewer_who_changes_nothing(
    app: Flask, sso_org: RunningOrg, people: dict[str, dict[str, Any]]
) -> None:
    set_rules(app, "profile standard user viewer\npermission_set Renewals_Admin admin")
    client, landed = salesforce_sign_in(app, sso_org, people["rep"])
    assert landed.status_code == 303 and landed.headers["Location"] == "/admin/"
    assert role_shown(client) == "viewer"
    refused = post_form(client, SETTINGS_PAGE, SETTINGS_PAGE, {"rules": "profile Standard User admin"})
    assert refused.status_code == 403
    assert client.get(SETTINGS_PAGE).status_code == 200  # viewers read


def test_a_user_no_rule_matches_is_refused(app: Flask, sso_org: RunningOrg, people: dict[str, dict[str, Any]]) -> None:
    set_rules(app, "permission_set Renewals_Admin admin")
    client, refused = salesforce_sign_in(app, sso_org, people["rep"])
    assert refused.status_code == 403 and NO_ROLE.replace("'", "&#39;") in refused.get_data(as_text=True)
    assert account_of(app, people["rep"]["Id"]) is None
    assert client.get("/admin/").status_code == 302  # to the sign-in page: no session


def test_a_user_id_rule_wins_over_the_profile_and_role_changes_apply_at_the_next_sign_in(
    app: Flask, sso_org: RunningOrg, people: dict[str, dict[str, Any]]
) -> None:
    rep_id = people["other_rep"]["Id"]
    set_rules(app, f"profile Standard User admin\nuser {rep_id[:15]} viewer")
    first, _ = salesforce_sign_in(app, sso_org, people["other_rep"])
    assert role_shown(first) == "viewer"
    # An admin makes the rep an admin through the settings page.
    add_user(app, "alice", "admin")
    admin = app.test_client()
    sign_in(admin, "alice")
    saved = post_form(admin, SETTINGS_PAGE, SETTINGS_PAGE, {"rules": f"user {rep_id} admin", "reason": "on call"})
    assert saved.status_code == 302
    assert role_shown(first) == "viewer"  # the open session keeps its role
    second, _ = salesforce_sign_in(app, sso_org, people["other_rep"])
    assert role_shown(second) == "admin"
    with app.extensions["renewals.database"].session_scope() as session:
        changed = session.scalars(select(models.AuditEntry).where(models.AuditEntry.action == "user.set_role")).one()
        assert (changed.before["role"], changed.after["role"]) == ("viewer", "admin")
        # Disabled in the console: the session ends, and Salesforce does not sign the user in again.
        auth.set_disabled(session, changed.after["username"], True)
    assert role_shown(second) is None
    _, refused = salesforce_sign_in(app, sso_org, people["other_rep"])
    assert refused.status_code == 403 and "disabled" in refused.get_data(as_text=True)


def test_a_state_mismatch_a_reused_state_and_a_late_answer_are_refused(
    app: Flask, sso_org: RunningOrg, people: dict[str, dict[str, Any]]
) -> None:
    set_rules(app, "permission_set Renewals_Admin admin")
    client = app.test_client()
    params = at_org(sso_org, start(client), people["admin"]["Username"])
    mismatch = callback(client, {**params, "state": params["state"] + "x"})
    assert mismatch.status_code == 400 and "does not match" in mismatch.get_data(as_text=True)
    reused = callback(client, params)  # the mismatch used the pending sign-in up
    assert reused.status_code == 400 and "not started in this browser" in reused.get_data(as_text=True)
    late = at_org(sso_org, start(client), people["admin"]["Username"])
    with client.session_transaction() as flask_session:
        flask_session[ADMIN_KEY]["sign_in"]["at"] -= 601
    expired = callback(client, late)
    assert expired.status_code == 400 and "took too long" in expired.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302 and account_of(app, people["admin"]["Id"]) is None


def test_a_user_of_another_org_is_refused(
    settings: Settings, sso_org: RunningOrg, tmp_path: Path, people: dict[str, dict[str, Any]]
) -> None:
    """The service works with `sso_org` (its integration connection), while the browser signs in at another org
    (number 2, seeded alike: its admin has the very id of `sso_org`'s admin, whom a rule makes an admin) whose
    connected app is the service's: its user's identity names the other org, and that refuses them."""
    shutil.copytree(Path(sso_org.info["data_dir"]) / "tls", tmp_path / "tls")  # one CA for both orgs
    other = start_org(
        tmp_path, *("--org-number", "2", "--seed-contracts", "1", "--flavour", "standard", "--callback-url", CALLBACK)
    )
    try:
        twin = other.salesforce().query(f"SELECT Id FROM User WHERE Username = '{people['admin']['Username']}'")
        assert [u["Id"] for u in twin["records"]] == [people["admin"]["Id"]]
        token = sso_org.salesforce().session_id
        configured = dataclasses.replace(
            sso_settings(settings, other),
            salesforce_auth="direct",
            salesforce_instance_url=sso_org.url,
            salesforce_access_token=Secret(token),
        )
        app = create_app(configured)
        app.config["TESTING"] = True
        set_rules(app, f"user {people['admin']['Id']} admin")
        client = app.test_client()
        params = at_org(other, start(client), people["admin"]["Username"])
        refused = callback(client, params)
        assert refused.status_code == 403 and "another org" in refused.get_data(as_text=True)
        assert client.get("/admin/").status_code == 302
        app.extensions["renewals.database"].dispose()
    finally:
        stop_org(other)


def test_the_rules_form_refuses_bad_lines_saves_good_ones_and_is_audited(app: Flask, admin_client: FlaskClient) -> None:
    page = admin_client.get(SETTINGS_PAGE).get_data(as_text=True)
    assert CALLBACK in page and "The connected app is configured" in page
    bad = "permission_set Renewals_Admin admin\nuser 005XYZ admin\nprofile Standard User owner"
    refused = post_form(admin_client, SETTINGS_PAGE, SETTINGS_PAGE, {"rules": bad})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Nothing was saved" in body
    assert "line 2 (&#39;user 005XYZ admin&#39;)" in body and "&#39;owner&#39; is not a role" in body
    assert "permission_set Renewals_Admin admin" in body  # what was typed is shown again
    with app.extensions["renewals.database"].session_scope() as session:
        assert cs.stored(session, cs.SALESFORCE_ROLES) is None
    good = "permission_set Renewals_Admin admin\nprofile Standard User viewer"
    assert post_form(admin_client, SETTINGS_PAGE, SETTINGS_PAGE, {"rules": good}).status_code == 302
    overview = admin_client.get("/admin/settings").get_data(as_text=True)
    assert "permission_set Renewals_Admin admin; profile Standard User viewer" in overview
    with app.extensions["renewals.database"].session_scope() as session:
        entry = session.scalars(select(models.AuditEntry)).one()
        assert (entry.actor, entry.action, entry.before) == (
            "admin:alice",
            "settings.salesforce_roles.save",
            {"rules": []},
        )
        assert [r["value"] for r in entry.after["rules"]] == ["Renewals_Admin", "Standard User"]
    reset = post_form(admin_client, SETTINGS_PAGE, "/admin/settings/reset/salesforce-sign-in", {})
    assert reset.status_code == 302
    with app.extensions["renewals.database"].session_scope() as session:
        assert cs.salesforce_roles(session) == ()


def test_a_csrf_less_post_and_a_viewers_post_save_nothing(app: Flask, viewer_client: FlaskClient) -> None:
    assert viewer_client.post(SETTINGS_PAGE, data={"rules": "profile Standard User admin"}).status_code in (400, 403)
    assert (
        post_form(viewer_client, SETTINGS_PAGE, SETTINGS_PAGE, {"rules": "profile Standard User admin"}).status_code
        == 403
    )
    assert csrf_of(viewer_client, SETTINGS_PAGE)
    with app.extensions["renewals.database"].session_scope() as session:
        assert cs.stored(session, cs.SALESFORCE_ROLES) is None
