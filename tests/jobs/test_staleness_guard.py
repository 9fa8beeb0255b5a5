"""The staleness guard in the jobs, the console and /healthz: past the freshness limit since the active mapping's
last successful pull, the planning job plans nothing and the send jobs hold reminders and rep notices back
(a contact-request notice still goes), with the reason on the console's Operations page and in /healthz; a
successful pull resumes both."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from config.settings import Settings
from email_actions.web.app import create_app
from jobs.email import send_batch_job, send_due_job
from jobs.planning import plan_reminders_job
from sync_service.store import models
from sync_service.store.db import current_database
from sync_service.store.models import utcnow
from tests.conftest import sent_emails
from tests.email_actions.web.console.conftest import add_user, sign_in
from tests.factories import make_contract, make_email, make_reminder
from tests.paths import SALESFORCE_CPQ_PRESET

STALE_FOR = timedelta(hours=7)


@pytest.fixture
def sending_app(settings: Settings, ses_endpoint: str) -> Iterator[Flask]:
    app = create_app(
        dataclasses.replace(settings, ses_endpoint_url=ses_endpoint, ses_max_send_rate=50.0, ses_daily_quota=1000)
    )
    app.config["TESTING"] = True
    yield app
    app.extensions["renewals.database"].dispose()


def record_pull(app: Flask, ended_ago: timedelta, *, status: str = "succeeded") -> None:
    """A pull of the active mapping as `pull_all` records it, ended `ended_ago`."""
    ended = utcnow() - ended_ago
    with app.app_context(), current_database().session_scope() as session:
        session.add(
            models.SyncRun(
                mapping_name="cpq",
                kind="incremental",
                status=status,
                started_at=ended - timedelta(minutes=1),
                finished_at=ended,
            )
        )


def scene(app: Flask) -> dict[str, int]:
    """An active mapping; a contract whose 90-days-before stage is due; a queued reminder with its rep notice
    for another contract; a queued contact-request notice."""
    with app.app_context(), current_database().session_scope() as session:
        session.add(
            models.MappingVersion(
                name="cpq", version=1, yaml=SALESFORCE_CPQ_PRESET.read_text(), author="t", is_active=True
            )
        )
        make_contract(session, end_date=utcnow().date() + timedelta(days=80))
        other = make_contract(session, end_date=utcnow().date() + timedelta(days=30), email="other@customer.example")
        reminder = make_reminder(session, other, offset_days=-30, due_on=utcnow().date())
        customer = make_email(session, other, kind="reminder", status="queued", reminder=reminder)
        rep = make_email(session, other, kind="rep_notice", status="queued", reminder=reminder)
        notice = make_email(session, other, kind="contact_request", status="queued", data={"message": "Call me"})
        return {"reminder": customer.id, "rep_notice": rep.id, "contact_request": notice.id}


def statuses(app: Flask) -> dict[str, str]:
    with app.app_context(), current_database().session_scope() as session:
        return {row.kind: row.status for row in session.scalars(select(models.EmailMessage))}


def planned(app: Flask) -> int:
    with app.app_context(), current_database().session_scope() as session:
        return len(session.scalars(select(models.Reminder).where(models.Reminder.status == "planned")).all())


def test_stale_data_pauses_planning_and_reminders_and_a_successful_pull_resumes_them(
    sending_app: Flask, ses_endpoint: str
) -> None:
    """Bad input: the last successful pull ended 7 h ago (limit 6 h), and a failed pull since."""
    ids = scene(sending_app)
    record_pull(sending_app, STALE_FOR)
    record_pull(sending_app, timedelta(minutes=3), status="failed")

    with sending_app.app_context():
        plan = plan_reminders_job()
        due = send_due_job()
        sent = send_batch_job(list(ids.values()))
    assert plan["planned"] == 0
    assert plan["paused"].startswith("paused: data is 7 h old, last pull ")
    assert planned(sending_app) == 1  # only the reminder queued before: nothing new was planned
    assert due["stale_pause"] == plan["paused"]
    assert (due["reminders"], due["queued"]) == (0, 1)  # the contact-request notice alone is fanned out
    assert (sent["sent"], sent["waiting"], sent["stale"]) == (1, 2, plan["paused"])
    assert statuses(sending_app) == {"reminder": "queued", "rep_notice": "queued", "contact_request": "sent"}
    assert len(sent_emails(ses_endpoint)) == 1

    record_pull(sending_app, timedelta(seconds=5))  # a pull succeeded: the data is fresh again
    with sending_app.app_context():
        plan = plan_reminders_job()
        sent = send_batch_job([ids["reminder"], ids["rep_notice"]])
    assert (plan["planned"], plan["paused"]) == (1, None)
    assert (sent["sent"], sent["waiting"], sent["stale"]) == (2, 0, None)
    assert statuses(sending_app) == {"reminder": "sent", "rep_notice": "sent", "contact_request": "sent"}


def test_the_console_and_healthz_say_which_mapping_is_stale_since_when(app: Flask) -> None:
    """Bad input: the only successful pull ended 7 h ago."""
    with app.app_context(), current_database().session_scope() as session:
        session.add(
            models.MappingVersion(
                name="cpq", version=1, yaml=SALESFORCE_CPQ_PRESET.read_text(), author="t", is_active=True
            )
        )
    record_pull(app, STALE_FOR)
    add_user(app, "alice", "admin")
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 302

    page = client.get("/admin/operations")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="stale-cpq"' in text and "Reminders paused: data is 7 h old, last pull " in text

    health = client.get("/healthz")
    assert health.status_code == 200  # stale data is reported, not an unhealthy web app
    body = health.json
    assert body is not None and body["status"] == "ok"
    [stale] = body["stale_mappings"]
    assert stale["mapping"] == "cpq" and stale["age_hours"] == 7.0 and stale["limit_hours"] == 6.0
    assert stale["reason"].startswith("paused: data is 7 h old")
    assert stale["stale_since"] is not None and stale["last_pull_at"] is not None

    record_pull(app, timedelta(seconds=5))
    assert client.get("/healthz").json["stale_mappings"] == []  # type: ignore[index]
    assert 'id="stale-cpq"' not in client.get("/admin/operations").get_data(as_text=True)
