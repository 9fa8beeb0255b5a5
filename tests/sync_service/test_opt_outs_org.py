"""Opt-outs both ways against the stand-in org, on SQLite and PostgreSQL: an unsubscribe sets the contact's
HasOptedOutOfEmail in the org and leaves a Task there (after the push); HasOptedOutOfEmail set in the org stops
that contact's reminders at the next pull (skipped at send time, not planned again); an admin's lift writes it
back to false. Before the first successful pull the store's data counts as stale, and the pull resumes
planning."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from simple_salesforce import Salesforce
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, load_settings
from email_actions.mail.links import Links
from email_actions.mail.sending.pipeline import SKIP_OPTED_OUT, EmailSender, queue_due, queued_ids
from email_actions.web.app import create_app
from jobs.push import push_job
from sync_service import console_settings
from sync_service.freshness import reminders_paused
from sync_service.planning.planner import CANCEL_OPTED_OUT, plan_reminders
from sync_service.pull.service import pull_all
from sync_service.store import models
from sync_service.store.db import Database
from tests.email_actions.web.console.conftest import add_user, csrf_of, sign_in
from tests.factories import make_email
from tests.standin_org import RunningOrg, start_seeded_copy, stop_org
from tests.sync_service.pull.conftest import activate_preset, org_environment


@pytest.fixture
def opt_out_org(tmp_path: Path) -> Iterator[RunningOrg]:
    """A small org of each test's own: the tests change contacts' opt-outs and leave Tasks on them."""
    org = start_seeded_copy(tmp_path / "org", "--seed-contracts", "12", "--flavour", "salesforce_cpq")
    yield org
    stop_org(org)


class Scene:
    def __init__(self, org: RunningOrg, store: sessionmaker[Session], redis_url: str):
        self.org = org
        self.store = store
        self.url = store.kw["bind"].url.render_as_string(hide_password=False)
        activate_preset(self.url)
        self.settings: Settings = load_settings(
            {
                **org_environment(org, self.url),
                "RENEWALS_REDIS_URL": redis_url,
                "RENEWALS_PUBLIC_BASE_URL": "http://renewals.test",
            }
        )
        self.db = Database(self.url)
        self.sf: Salesforce = org.salesforce()

    def pull(self, *, full: bool = False) -> None:
        [result] = pull_all(self.db, self.settings, full=full)
        assert getattr(result, "status", None) == "succeeded", result

    def plan(self) -> None:
        with self.store.begin() as session:
            cadence = console_settings.cadence(session, self.settings)
            plan_reminders(session, today=datetime.now(UTC).date(), cadence=cadence)

    def org_opt_out(self, contact_sf_id: str) -> bool:
        record = self.sf.restful(f"sobjects/Contact/{contact_sf_id}")
        assert record is not None
        return bool(record["HasOptedOutOfEmail"])

    def set_org_opt_out(self, contact_sf_id: str, value: bool) -> None:
        """What a rep does in Salesforce: tick (or untick) Email Opt Out on the contact."""
        self.sf.restful(f"sobjects/Contact/{contact_sf_id}", method="PATCH", json={"HasOptedOutOfEmail": value})

    def app(self) -> Flask:
        app = create_app(self.settings)
        app.config["TESTING"] = True
        return app


@pytest.fixture
def scene(opt_out_org: RunningOrg, store: sessionmaker[Session], redis_url: str) -> Iterator[Scene]:
    running = Scene(opt_out_org, store, redis_url)
    yield running
    running.db.dispose()


def planned_contact(session: Session) -> tuple[models.Reminder, models.Contact]:
    """A planned reminder and its contract's contact."""
    reminder = session.scalars(select(models.Reminder).where(models.Reminder.status == "planned")).first()
    assert reminder is not None, "the seeded org has a contract with a stage due today"
    contact = reminder.contract.contact
    assert contact is not None and contact.email
    return reminder, contact


def test_an_opt_out_set_in_salesforce_stops_that_contacts_reminders_at_the_next_pull(
    scene: Scene, redis: Redis
) -> None:
    """Bad input: a reminder queued for the contact before the pull that brings the opt-out."""
    with scene.store() as session:
        assert reminders_paused(session, scene.settings) is not None  # never pulled: stale, nothing planned
    scene.pull(full=True)
    with scene.store() as session:
        assert reminders_paused(session, scene.settings) is None  # the pull resumed planning and sending
    scene.plan()
    with scene.store.begin() as session:
        reminder, contact = planned_contact(session)
        contact_id, contact_sf_id, reminder_id = contact.id, contact.sf_id, reminder.id
        queue_due(session, today=datetime.now(UTC).date())
    with scene.store() as session:
        email_id = session.scalar(
            select(models.EmailMessage.id).where(
                models.EmailMessage.reminder_id == reminder_id, models.EmailMessage.kind == "reminder"
            )
        )
        assert email_id in queued_ids(session)

    scene.set_org_opt_out(contact_sf_id, True)
    scene.org.advance_clock(2)
    scene.pull()
    with scene.store() as session:
        assert session.get_one(models.Contact, contact_id).email_opted_out is True

    # Send time: the reminder queued before the pull is skipped, saying why, and nothing reaches SES.
    summary = EmailSender(scene.store, scene.settings, redis).send([email_id]).as_dict()
    assert (summary["sent"], summary["skipped_reasons"]) == (0, {SKIP_OPTED_OUT: 1})
    with scene.store() as session:
        email = session.get_one(models.EmailMessage, email_id)
        assert (email.status, email.error) == ("skipped", SKIP_OPTED_OUT)

    # Planning: nothing planned for that contact's contracts again.
    scene.plan()
    with scene.store() as session:
        live = session.scalars(
            select(models.Reminder)
            .join(models.Contract)
            .where(models.Contract.contact_id == contact_id, models.Reminder.status == "planned")
        ).all()
        assert live == []
        settled = session.get_one(models.Reminder, reminder_id)
        assert (settled.status, settled.reason) == ("skipped", SKIP_OPTED_OUT)  # settled by the send step
        # The planner's own word for it (CANCEL_OPTED_OUT) is the same reason: one wording wherever it shows.
        assert CANCEL_OPTED_OUT == SKIP_OPTED_OUT


def unsubscribe_path(settings: Settings, message: models.EmailMessage) -> str:
    url = Links(settings).url("unsubscribe", message.id, message.nonce)
    return url.removeprefix("http://renewals.test")


def test_an_unsubscribe_sets_the_opt_out_in_salesforce_with_a_task_and_an_admin_lift_clears_it(scene: Scene) -> None:
    scene.pull(full=True)
    with scene.store.begin() as session:
        contract = session.scalars(
            select(models.Contract)
            .join(models.Contact, models.Contract.contact_id == models.Contact.id)
            .where(models.Contact.email.is_not(None), models.Contact.email_opted_out.is_(False))
            .order_by(models.Contract.id)
        ).first()
        assert contract is not None and contract.contact is not None
        message = make_email(session, contract, kind="reminder", status="sent", to_address=contract.contact.email)
        contact_sf_id, address = contract.contact.sf_id, contract.contact.email
        path = unsubscribe_path(scene.settings, message)
    assert scene.org_opt_out(contact_sf_id) is False

    app = scene.app()
    try:
        client = app.test_client(use_cookies=False)
        response = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
        with app.app_context():
            pushed: dict[str, Any] = push_job()
        assert (pushed["status"], pushed["done"], pushed["dead"]) == ("succeeded", 2, 0), pushed
        assert scene.org_opt_out(contact_sf_id) is True
        tasks = scene.sf.query(
            f"SELECT Id, Subject, Status FROM Task WHERE WhoId = '{contact_sf_id}' "
            "AND Subject LIKE '%unsubscribed from renewal reminders%'"
        )["records"]
        assert len(tasks) == 1

        # The admin lifts the unsubscribe, with a reason: the org's opt-out goes back to false, with a Task.
        scene.org.advance_clock(2)
        scene.pull()
        add_user(app, "alice", "admin")
        admin = app.test_client()
        assert sign_in(admin, "alice").status_code == 302
        with scene.store() as session:
            suppression_id = session.scalar(
                select(models.EmailSuppression.id).where(models.EmailSuppression.address == address)
            )
        page = "/admin/operations/suppressions"
        lifted = admin.post(
            page + "/lift",
            data={"csrf_token": csrf_of(admin, page), "suppression": str(suppression_id), "reason": "Asked again"},
        )
        assert lifted.status_code == 302
        with app.app_context():
            pushed = push_job()
        assert (pushed["status"], pushed["done"], pushed["dead"]) == ("succeeded", 2, 0), pushed
        assert scene.org_opt_out(contact_sf_id) is False
        lift_tasks = scene.sf.query(
            f"SELECT Id, Description FROM Task WHERE WhoId = '{contact_sf_id}' AND Subject LIKE '%opt-out lifted%'"
        )["records"]
        assert len(lift_tasks) == 1 and "Reason: Asked again" in lift_tasks[0]["Description"]
    finally:
        app.extensions["renewals.database"].dispose()
