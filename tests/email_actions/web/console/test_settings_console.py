"""The console's Settings section: each setting saved through its form is what the jobs and the web app use
next (the planning job, the push job, the classifier of link hits, the emails and pages); a bad value is refused
with its reason beside the field and nothing is saved; reset brings the default back; every change is in the
audit log; a viewer changes nothing and a post without its CSRF token is refused."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select
from werkzeug.test import TestResponse

from config.settings import Settings, load_settings
from email_actions.mail import brand_settings
from email_actions.mail.brands import load_brands
from email_actions.mail.links import Links
from email_actions.mail.sending.pipeline import EmailSender, queue_due, queued_ids
from email_actions.web.app import create_app
from jobs.planning import plan_reminders_job
from jobs.push import push_job
from jobs.worker import render_inputs
from mappings.loader import load
from sync_service import console_settings as cs
from sync_service.outbox.record import event_key, record_task
from sync_service.salesforce.client import connect
from sync_service.store import models
from sync_service.store.db import current_database, current_session
from sync_service.store.models import utcnow
from tests.conftest import TEST_SECRET_KEY, sent_emails
from tests.email_actions.emails_helpers import make_message
from tests.email_actions.mail.test_brand_settings import png
from tests.email_actions.web.console.conftest import add_user, csrf_of, post_form, sign_in
from tests.email_actions.web.hits import drain
from tests.factories import make_contract, make_reminder
from tests.paths import SALESFORCE_CPQ_PRESET
from tests.standin_org import RunningOrg, start_org, stop_org

FIELD_ERROR = re.compile(r'<p class="field-error" id="error-([^"]+)" role="alert">(.*?)</p>', re.S)
PRESET = SALESFORCE_CPQ_PRESET
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari"
NORTHWIND = {
    "name": "Northwind Software",
    "colours.primary": "#1f4e79",
    "colours.accent": "#b35c00",
    "colours.text": "#1a1a1a",
    "colours.background": "#ffffff",
    "sender": "Northwind Renewals <renewals@northwind.example>",
    "reply_to": "",
    "footer": "Northwind Software Ltd · 1 Harbour Street · Bristol BS1 4QA · United Kingdom",
    "legal": "Renewal is subject to the Northwind Software subscription terms.",
    "resellers": "",
    "purchase_order_field": "on",
}
BOT_RULES = {"ranges": "", "agent_substrings": "", "too_soon_seconds": "5", "burst_seconds": "5", "burst_links": "3"}


def errors_of(response: TestResponse) -> dict[str, str]:
    """The reasons shown beside the fields of a refused form, by field (dots as the page writes them: -)."""
    return {field: html.unescape(reason) for field, reason in FIELD_ERROR.findall(response.get_data(as_text=True))}


def shows_typed(response: TestResponse, field: str, typed: str) -> bool:
    """Whether the page shows `typed` in the control of `field` (an input's value or a textarea's text), to be
    corrected rather than typed again."""
    body, name, text = response.get_data(as_text=True), re.escape(field), re.escape(html.escape(typed))
    return bool(re.search(f'name="{name}"[^>]*value="{text}"', body) or re.search(f'name="{name}"[^>]*>{text}<', body))


def stored(app: Flask, name: str) -> dict[str, Any] | None:
    with app.app_context():
        return cs.stored(current_session(), name)


def audit(app: Flask) -> list[models.AuditEntry]:
    with app.app_context():
        return list(current_session().scalars(select(models.AuditEntry).order_by(models.AuditEntry.id)))


# --- overview ----------------------------------------------------------------------------------------------


def test_the_overview_shows_each_settings_value_source_and_who_changed_it(
    app: Flask, admin_client: FlaskClient
) -> None:
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    for name in ("cadence", "brands", "api_budget", "bot_rules"):
        assert f'data-setting="{name}"' in page
    assert "default: -90, -60, -30, -7, +7, +30" in page
    assert "10,000 calls a day" in page and "admin:alice" not in page
    assert "file " + str(app.extensions["renewals.settings"].cadence_file) in page

    post_form(
        admin_client,
        "/admin/settings/api-budget",
        "/admin/settings/api-budget",
        {"daily_budget": "2500", "reserve": "0"},
    )
    page = admin_client.get("/admin/settings").get_data(as_text=True)
    row = page[page.index('data-setting="api_budget"') :].split("</tr>")[0]
    assert "2,500 calls a day" in row and "admin console" in row and "admin:alice" in row


# --- cadence -----------------------------------------------------------------------------------------------


def add_contract(app: Flask, ends_in_days: int) -> int:
    with app.app_context(), current_database().session_scope() as session:
        contract = make_contract(session, end_date=datetime.now(UTC).date() + timedelta(days=ends_in_days))
        session.flush()
        return contract.id


def stages(before: str = "90, 60, 30, 7", after: str = "7, 30", catch_up: str = "30", **more: str) -> dict[str, str]:
    return {
        "segment": "default",
        "default.days_before_end": before,
        "default.days_after_end": after,
        "catch_up_days": catch_up,
        **more,
    }


def test_stages_saved_in_the_console_are_what_the_planning_job_plans(app: Flask, admin_client: FlaskClient) -> None:
    response = post_form(
        admin_client,
        "/admin/settings/cadence",
        "/admin/settings/cadence/stages",
        stages("85, 20", "", reason="Q3 plan"),
    )
    assert response.status_code == 302
    page = admin_client.get("/admin/settings/cadence").get_data(as_text=True)
    assert "Cadence saved" in page and "85 days before the end date · 20 days before the end date" in page

    contract_id = add_contract(app, ends_in_days=80)  # the file's cadence would plan its 90-days stage
    with app.app_context():
        assert plan_reminders_job()["planned"] == 1
        planned = current_session().execute(select(models.Reminder.contract_id, models.Reminder.offset_days)).all()
    assert [tuple(row) for row in planned] == [(contract_id, -85)]

    [entry] = audit(app)
    assert (entry.actor, entry.action, entry.reason) == ("admin:alice", "settings.cadence.save", "Q3 plan")
    assert entry.before["source"] == "file" and "days_before_end: [90, 60, 30, 7]" in entry.before["yaml"]
    assert "- 85" in entry.after["yaml"]


def bad_stages() -> list[tuple[Any, ...]]:
    return [
        (stages("90, soon"), "default-days_before_end", "'soon': write whole numbers of days"),
        (stages("400"), "default-days_before_end", "400 is outside 0 to 365 days"),
        (stages("", ""), "default-days_before_end", "no stages"),
        (stages("30, 30"), "default-days_before_end", "30 appears twice"),
        (stages(catch_up="-3"), "catch_up_days", "must be from 0"),
    ]


def test_bad_stages_are_refused_beside_their_field_and_nothing_is_saved(app: Flask, admin_client: FlaskClient) -> None:
    for form, field, reason in bad_stages():
        response = post_form(admin_client, "/admin/settings/cadence", "/admin/settings/cadence/stages", form)
        assert response.status_code == 422, form
        errors = errors_of(response)
        assert list(errors) == [field] and reason in errors[field]
        body = response.get_data(as_text=True)
        typed = form.get("default.days_before_end", "")
        assert f'name="default.days_before_end" value="{typed}"' in body  # what was typed stays, to correct it
        assert 'aria-invalid="true"' in body and re.search(f'aria-describedby="[^"]*error-{field}"', body)
        assert stored(app, cs.CADENCE) is None and audit(app) == []


SEGMENTED = """\
default:
  days_before_end: [60, 14]
segments:
  - name: enterprise
    when: {amount_at_least: 50000}
    days_before_end: [120, 60]
"""


def test_the_yaml_editor_saves_segments_and_refuses_a_broken_cadence(app: Flask, admin_client: FlaskClient) -> None:
    response = post_form(admin_client, "/admin/settings/cadence", "/admin/settings/cadence/yaml", {"yaml": SEGMENTED})
    assert response.status_code == 302
    page = admin_client.get("/admin/settings/cadence").get_data(as_text=True)
    assert 'name="enterprise.days_before_end" value="120, 60"' in page
    assert "amount ≥ 50000" in page

    broken = SEGMENTED.replace("[120, 60]", "[120, 60]\n    days_before_end: [30]")
    response = post_form(admin_client, "/admin/settings/cadence", "/admin/settings/cadence/yaml", {"yaml": broken})
    assert response.status_code == 422
    assert "the key 'days_before_end' is given twice" in errors_of(response)["yaml"]
    assert html.escape(broken, quote=False) in response.get_data(as_text=True)  # shown again as typed
    assert stored(app, cs.CADENCE) == {"yaml": SEGMENTED}

    # The per-stage form changes the segment's stages and keeps its rule.
    form = {**stages("60, 14"), "segment": ["default", "enterprise"], "enterprise.days_before_end": "180, 90"}
    assert post_form(admin_client, "/admin/settings/cadence", "/admin/settings/cadence/stages", form).status_code == 302  # type: ignore[arg-type]
    with app.app_context():
        cadence = cs.cadence(current_session(), app.extensions["renewals.settings"])
    assert [(s.name, s.offsets) for s in cadence.segments] == [
        ("enterprise", (-180, -90)),
        ("default", (-60, -14, 7, 30)),
    ]
    assert cadence.segments[0].rule is not None and cadence.segments[0].rule.amount_at_least == 50000


def test_reset_brings_the_file_cadence_back_and_is_audited(app: Flask, admin_client: FlaskClient) -> None:
    post_form(admin_client, "/admin/settings/cadence", "/admin/settings/cadence/yaml", {"yaml": SEGMENTED})
    response = post_form(admin_client, "/admin/settings/cadence", "/admin/settings/reset/cadence", {"reason": "back"})
    assert response.status_code == 302
    assert stored(app, cs.CADENCE) is None
    page = admin_client.get("/admin/settings/cadence").get_data(as_text=True)
    assert "Cadence: reset" in page and 'value="90, 60, 30, 7"' in page
    assert "Reset cadence" not in page  # nothing left to reset
    actions = [(e.action, e.reason) for e in audit(app)]
    assert actions == [("settings.cadence.save", None), ("settings.cadence.reset", "back")]
    assert audit(app)[-1].before == {"yaml": SEGMENTED}

    # Resetting again changes nothing and logs nothing.
    post_form(admin_client, "/admin/settings/cadence", "/admin/settings/reset/cadence", {})
    assert len(audit(app)) == 2
    assert (
        admin_client.post(
            "/admin/settings/reset/nothing", data={"csrf_token": csrf_of(admin_client, "/admin/settings")}
        ).status_code
        == 404
    )


# --- API budget --------------------------------------------------------------------------------------------


@pytest.fixture
def org(tmp_path: Path) -> Iterator[RunningOrg]:
    running = start_org(tmp_path / "org", "--seed-contracts", "3")
    yield running
    stop_org(running)


def test_the_budget_saved_is_what_the_push_job_keeps_to(settings: Settings, org: RunningOrg) -> None:
    info = org.info
    app = create_app(
        load_settings(
            {
                "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
                "RENEWALS_DATABASE_URL": settings.database_url,
                "RENEWALS_REDIS_URL": settings.redis_url,
                "RENEWALS_PUBLIC_BASE_URL": "http://renewals.test",
                "RENEWALS_SALESFORCE_AUTH": "password",
                "RENEWALS_SALESFORCE_LOGIN_URL": org.url,
                "RENEWALS_SALESFORCE_USERNAME": info["username"],
                "RENEWALS_SALESFORCE_PASSWORD": info["password"],
                "RENEWALS_SALESFORCE_SECURITY_TOKEN": info["security_token"],
                "RENEWALS_SALESFORCE_CA_BUNDLE": str(org.ca),
            }
        )
    )
    try:
        add_user(app, "alice")
        client = app.test_client()
        sign_in(client, "alice")
        what_id = str(connect(org.connection("password")).query("SELECT Id FROM Contract LIMIT 1")["records"][0]["Id"])
        with app.app_context(), current_database().session_scope() as session:
            session.add(
                models.MappingVersion(name="cpq", version=1, yaml=PRESET.read_text(), author="t", is_active=True)
            )
            session.add(models.ApiUsage(day=datetime.now(UTC).date(), job_name="pull", calls=40))
            record_task(
                session,
                key=event_key("budget", 1),
                what_id=what_id,
                who_id=None,
                owner_id=None,
                subject="Renewal email opened",
                description="Opened.",
                event_at=datetime.now(UTC),
                conventions=load(PRESET.read_text()).write_back.tasks,
            )

        form = {"daily_budget": "40", "reserve": "0"}
        assert post_form(client, "/admin/settings/api-budget", "/admin/settings/api-budget", form).status_code == 302
        with app.app_context():
            summary = push_job()
        assert summary["status"] == "paused"
        assert "used 40 of its 40 API calls today (the API budget: admin console settings" in summary["error"]

        form = {"daily_budget": "1000", "reserve": "0"}
        assert post_form(client, "/admin/settings/api-budget", "/admin/settings/api-budget", form).status_code == 302
        with app.app_context():
            assert push_job()["done"] == 1
        entries = [(e.action, e.before, e.after) for e in audit(app)]
        assert entries == [
            ("settings.api_budget.save", {"daily_budget": 10000, "reserve": 5000}, {"daily_budget": 40, "reserve": 0}),
            ("settings.api_budget.save", {"daily_budget": 40, "reserve": 0}, {"daily_budget": 1000, "reserve": 0}),
        ]
    finally:
        app.extensions["renewals.database"].dispose()


def bad_budgets() -> list[tuple[Any, ...]]:
    return [
        ({"daily_budget": "0", "reserve": "0"}, {"daily_budget": "must be from 1 to 100,000,000, not 0"}),
        (
            {"daily_budget": "lots", "reserve": "-1"},
            {"daily_budget": "'lots' is not a whole number", "reserve": "must be from 0 to 100,000,000, not -1"},
        ),
        ({"daily_budget": "", "reserve": "5"}, {"daily_budget": "required"}),
    ]


def test_a_bad_budget_is_refused_beside_its_field_and_nothing_is_saved(app: Flask, admin_client: FlaskClient) -> None:
    for form, errors in bad_budgets():
        response = post_form(admin_client, "/admin/settings/api-budget", "/admin/settings/api-budget", form)
        assert response.status_code == 422, form
        assert errors_of(response) == errors
        assert f'name="daily_budget" type="text" value="{form["daily_budget"]}"' in response.get_data(as_text=True)
        assert stored(app, cs.API_BUDGET) is None and audit(app) == []


# --- bot rules ---------------------------------------------------------------------------------------------


def hit_pixel(app: Flask, ip: str, agent: str = BROWSER) -> list[str]:
    """Open a reminder sent an hour ago from `ip` with `agent`; the reasons it was labelled machine ([] human)."""
    with app.app_context():
        session = current_session()
        message = make_message(session)
        message.status, message.sent_at = "sent", utcnow() - timedelta(hours=1)
        session.commit()
        message_id, nonce = message.id, message.nonce
    path = (
        Links(app.extensions["renewals.settings"]).url("open", message_id, nonce).removeprefix("http://renewals.test")
    )
    response = app.test_client().get(path, headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": ip})
    assert response.status_code == 200
    drain(app)
    with app.app_context():
        event = (
            current_session()
            .scalars(select(models.EmailEvent).where(models.EmailEvent.email_message_id == message_id))
            .one()
        )
        return list(event.reasons or [])


def test_the_bot_rules_saved_are_what_the_classifier_uses_on_the_next_hit(
    app: Flask, admin_client: FlaskClient
) -> None:
    assert hit_pixel(app, "203.0.113.9") == []
    assert hit_pixel(app, "198.51.100.7", f"{BROWSER} LinkGuard/3.1") == []

    form = {**BOT_RULES, "ranges": "203.0.113.0/24\n2001:db8::/32", "agent_substrings": "LinkGuard"}
    assert post_form(admin_client, "/admin/settings/bot-rules", "/admin/settings/bot-rules", form).status_code == 302
    assert hit_pixel(app, "203.0.113.9") == ["address 203.0.113.9 in a configured scanner range"]
    assert hit_pixel(app, "198.51.100.7", f"{BROWSER} LinkGuard/3.1") == ["configured scanner user agent (LinkGuard)"]

    page = admin_client.get("/admin/settings/bot-rules").get_data(as_text=True)
    assert "203.0.113.0/24\n2001:db8::/32</textarea>" in page
    [entry] = audit(app)
    assert entry.action == "settings.bot_rules.save" and entry.before["ranges"] == []
    assert entry.after["ranges"] == ["203.0.113.0/24", "2001:db8::/32"]

    post_form(admin_client, "/admin/settings/bot-rules", "/admin/settings/reset/bot-rules", {})
    assert hit_pixel(app, "203.0.113.9") == []


def bad_bot_rules() -> list[tuple[Any, ...]]:
    return [
        ({"ranges": "203.0.113.0/24\n203.0.113.300/32"}, "ranges", "'203.0.113.300/32': not an address range"),
        ({"ranges": "0.0.0.0/0"}, "ranges", "too wide"),
        ({"agent_substrings": "Chrome"}, "agent_substrings", "part of ordinary browsers' user agents"),
        ({"burst_links": "1"}, "burst_links", "must be from 2 to 20"),
        ({"too_soon_seconds": "a while"}, "too_soon_seconds", "is not a number of seconds"),
    ]


def test_bad_bot_rules_are_refused_beside_their_field_and_nothing_is_saved(
    app: Flask, admin_client: FlaskClient
) -> None:
    for changes, field, reason in bad_bot_rules():
        response = post_form(
            admin_client, "/admin/settings/bot-rules", "/admin/settings/bot-rules", {**BOT_RULES, **changes}
        )
        assert response.status_code == 422, changes
        errors = errors_of(response)
        assert list(errors) == [field] and reason in errors[field]
        assert all(shows_typed(response, name, typed) for name, typed in {**BOT_RULES, **changes}.items())
        assert stored(app, cs.BOT_RULES) is None and audit(app) == []


# --- brands ------------------------------------------------------------------------------------------------


def test_a_brand_saved_shows_on_the_pages_and_its_uploaded_logo_is_served(
    app: Flask, admin_client: FlaskClient
) -> None:
    logo = png(8, 2)
    form = {
        **NORTHWIND,
        "name": "Northwind Cloud",
        "footer": "Northwind Cloud Ltd · Bristol",
        "logo": (io.BytesIO(logo), "logo.png"),
    }
    response = post_form(admin_client, "/admin/settings/brands/northwind", "/admin/settings/brands/northwind", form)  # type: ignore[arg-type]
    assert response.status_code == 302

    page = app.test_client().get("/a/renew/not-a-token")  # the "link not valid" page carries the default brand
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert 'alt="Northwind Cloud"' in text and "Northwind Cloud Ltd · Bristol" in text
    served = app.test_client().get("/brand/northwind/logo.png")
    assert served.status_code == 200 and served.data == logo
    # The partner brand's shipped logo was copied into the store with the first change and is still served.
    assert app.test_client().get("/brand/partner/logo.png").data.startswith(b"\x89PNG")

    [entry] = audit(app)
    assert entry.action == "settings.brands.edit" and entry.before["brand"] == "northwind"
    assert entry.before["value"]["name"] == "Northwind Software" and entry.after["value"]["name"] == "Northwind Cloud"
    assert entry.after["value"]["logo"] == "sha256:" + hashlib.sha256(logo).hexdigest()


def test_a_brand_saved_is_what_the_next_email_carries(
    app: Flask, admin_client: FlaskClient, redis: Redis, ses_endpoint: str
) -> None:
    today = date(2026, 11, 22)
    form = {**NORTHWIND, "footer": "Northwind Software Ltd · 9 New Quay · Bristol"}
    assert (
        post_form(
            admin_client, "/admin/settings/brands/northwind", "/admin/settings/brands/northwind", form
        ).status_code
        == 302
    )
    database = app.extensions["renewals.database"]
    with database.session_scope() as session:
        contract = make_contract(session, end_date=today + timedelta(days=30))
        make_reminder(session, contract, offset_days=-30, due_on=today)
    with database.session_scope() as session:
        queue_due(session, today=today)
    with database.session_scope() as session:
        ids = queued_ids(session)
    settings = app.extensions["renewals.settings"]
    sender_settings = load_settings(
        {
            "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
            "RENEWALS_DATABASE_URL": settings.database_url,
            "RENEWALS_REDIS_URL": settings.redis_url,
            "RENEWALS_PUBLIC_BASE_URL": "http://renewals.test",
            "RENEWALS_SES_ENDPOINT_URL": ses_endpoint,
            "RENEWALS_SES_MAX_SEND_RATE": "200",
            "RENEWALS_SES_DAILY_QUOTA": "1000",
        }
    )
    summary = EmailSender(database.sessionmaker, sender_settings, redis, today=today).send(ids)
    assert summary.sent == 2
    raws = [raw["raw_data"] for raw in sent_emails(ses_endpoint)]
    assert all("9 New Quay" in raw for raw in raws)


def bad_brands() -> list[tuple[Any, ...]]:
    return [
        (
            {"colours.primary": "#dddddd"},
            {"colours-primary": "white button text on primary has contrast 1.36:1, below 4.5:1 (WCAG AA)"},
        ),
        (
            {"colours.accent": "orange", "name": ""},
            {"name": "required", "colours-accent": "'orange' is not a colour written #rrggbb"},
        ),
        (
            {"sender": "renewals"},
            {"sender": "'renewals' is not an email address such as 'Renewals <renewals@example.com>'"},
        ),
        ({"resellers": "*"}, {"resellers": "every other reseller (*) is listed under brand 'partner' already"}),
        (
            {"logo": (io.BytesIO(b"<svg></svg>"), "logo.svg")},
            {"logo": "not a PNG file (mail clients do not all show SVG, JPEG is not accepted either)"},
        ),
    ]


def test_a_bad_brand_is_refused_beside_its_field_and_nothing_is_saved(app: Flask, admin_client: FlaskClient) -> None:
    for changes, errors in bad_brands():
        form = {**NORTHWIND, **changes}
        response = post_form(admin_client, "/admin/settings/brands/northwind", "/admin/settings/brands/northwind", form)
        assert response.status_code == 422, changes
        assert errors_of(response) == errors
        assert "Nothing was saved" in response.get_data(as_text=True)
        typed = {name: text for name, text in form.items() if isinstance(text, str) and name != "purchase_order_field"}
        assert all(shows_typed(response, name, text) for name, text in typed.items()), changes
        assert 'name="purchase_order_field" checked' in response.get_data(as_text=True)
        assert stored(app, cs.BRANDS) is None and audit(app) == []
        assert app.test_client().get("/a/renew/not-a-token").get_data(as_text=True).count("Northwind Software Ltd") == 1


def test_a_reseller_brand_is_added_made_default_and_removed(app: Flask, admin_client: FlaskClient) -> None:
    form = {
        **NORTHWIND,
        "key": "acme-it",
        "name": "Acme IT",
        "sender": "Acme IT <renewals@acme-it.example>",
        "resellers": "Acme IT Ltd\n0015g00000AbCdEAAZ",
        "logo_from": "partner",
    }
    response = post_form(admin_client, "/admin/settings/new-brand", "/admin/settings/new-brand", form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/settings/brands/acme-it")
    with app.app_context():
        book = brand_settings.brands(current_session(), app.extensions["renewals.settings"])
    assert book.for_reseller(sf_id="0015g00000AbCdEAAZ", name=None).name == "Acme IT"

    again = post_form(admin_client, "/admin/settings/new-brand", "/admin/settings/new-brand", {**form, "resellers": ""})
    assert again.status_code == 422 and errors_of(again) == {"key": "there is a brand 'acme-it' already"}

    remove_default = post_form(admin_client, "/admin/settings/brands", "/admin/settings/brands/northwind/remove", {})
    assert remove_default.status_code == 422
    assert "the default brand cannot be removed" in errors_of(remove_default)["remove"]

    post_form(admin_client, "/admin/settings/brands", "/admin/settings/default-brand", {"default": "acme-it"})
    assert 'alt="Acme IT"' in app.test_client().get("/a/renew/not-a-token").get_data(as_text=True)
    post_form(admin_client, "/admin/settings/brands", "/admin/settings/default-brand", {"default": "northwind"})
    assert (
        post_form(admin_client, "/admin/settings/brands", "/admin/settings/brands/acme-it/remove", {}).status_code
        == 302
    )
    assert admin_client.get("/admin/settings/brands/acme-it").status_code == 404
    actions = [e.action for e in audit(app)]
    assert actions == [
        "settings.brands.add",
        "settings.brands.default",
        "settings.brands.default",
        "settings.brands.remove",
    ]

    post_form(admin_client, "/admin/settings/brands", "/admin/settings/reset/brands", {})
    assert stored(app, cs.BRANDS) is None
    assert audit(app)[-1].action == "settings.brands.reset" and "logos" not in audit(app)[-1].before


def test_the_brands_pages_show_each_brand_with_its_problems(app: Flask, admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/settings/brands").get_data(as_text=True)
    assert 'data-brand="northwind"' in page and 'data-brand="partner"' in page
    assert 'style="background: #1f4e79"' in page
    edit = admin_client.get("/admin/settings/brands/partner").get_data(as_text=True)
    assert 'name="colours.primary" value="#2d5f3f"' in edit and "white on primary" in edit
    assert admin_client.get("/admin/settings/brands/nobody").status_code == 404


# --- who may change what -----------------------------------------------------------------------------------

POSTS = [
    ("/admin/settings/cadence", "/admin/settings/cadence/stages", stages("30")),
    ("/admin/settings/cadence", "/admin/settings/cadence/yaml", {"yaml": SEGMENTED}),
    ("/admin/settings/cadence", "/admin/settings/reset/cadence", {}),
    ("/admin/settings/api-budget", "/admin/settings/api-budget", {"daily_budget": "5", "reserve": "0"}),
    ("/admin/settings/bot-rules", "/admin/settings/bot-rules", BOT_RULES),
    ("/admin/settings/brands", "/admin/settings/default-brand", {"default": "partner"}),
    ("/admin/settings/brands/northwind", "/admin/settings/brands/northwind", NORTHWIND),
    ("/admin/settings/new-brand", "/admin/settings/new-brand", {**NORTHWIND, "key": "x", "logo_from": "partner"}),
    ("/admin/settings/brands/partner", "/admin/settings/brands/partner/remove", {}),
]


def test_a_viewer_reads_the_settings_and_changes_nothing(app: Flask, viewer_client: FlaskClient) -> None:
    for page, action, form in POSTS:
        shown = viewer_client.get(page)
        assert shown.status_code == 200
        assert "<fieldset disabled>" in shown.get_data(as_text=True)
        assert post_form(viewer_client, page, action, form).status_code == 403, action
    with app.app_context():
        assert current_session().scalars(select(models.ConsoleSetting)).all() == []
    assert audit(app) == []


def test_a_post_without_its_csrf_token_is_refused(app: Flask, admin_client: FlaskClient) -> None:
    for _, action, form in POSTS:
        response = admin_client.post(action, data=form)
        assert response.status_code == 400, action
    with app.app_context():
        assert current_session().scalars(select(models.ConsoleSetting)).all() == []
    assert audit(app) == []


def test_a_worker_starting_warms_the_brands_in_force(app: Flask, admin_client: FlaskClient) -> None:
    settings = app.extensions["renewals.settings"]
    assert render_inputs(app, settings)[0] is load_brands(settings.brands_file)
    form = {**NORTHWIND, "name": "Northwind Cloud"}
    assert (
        post_form(
            admin_client, "/admin/settings/brands/northwind", "/admin/settings/brands/northwind", form
        ).status_code
        == 302
    )
    book, _ = render_inputs(app, settings)
    assert book is not None and book.default.name == "Northwind Cloud"


def test_logos_and_pages_fall_back_to_the_brands_file_when_the_store_cannot_be_read(
    settings: Settings, tmp_path: Path
) -> None:
    unmigrated = dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    app = create_app(unmigrated)
    try:
        logo = app.test_client().get("/brand/northwind/logo.png")
        assert logo.status_code == 200 and logo.data == load_brands(settings.brands_file).default.logo_bytes()
    finally:
        app.extensions["renewals.database"].dispose()
