"""The daily planning job: plans today's reminders in the app's store and commits them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from config.settings import Settings
from email_actions.web.app import create_app
from jobs.planning import plan_reminders_job
from sync_service.planning.cadence import CadenceError
from sync_service.store.db import current_database
from sync_service.store.models import Account, Contact, Contract, Reminder


def add_contract(app: Flask, ends_in_days: int) -> int:
    with app.app_context(), current_database().session_scope() as session:
        account = Account(sf_id="001000000000000001", name="Customer")
        contact = Contact(sf_id="003000000000000001", account=account, email="buyer@example.com")
        contract = Contract(
            sf_id="800000000000000001",
            account=account,
            contact=contact,
            end_date=datetime.now(UTC).date() + timedelta(days=ends_in_days),
            status="Activated",
        )
        session.add(contract)
        session.flush()
        return contract.id


def test_the_job_plans_todays_reminders_and_commits_them(app: Flask) -> None:
    # 80 days left: the 90-days-before stage was due ten days ago, whatever the time of day the test runs.
    contract_id = add_contract(app, ends_in_days=80)
    with app.app_context():
        result = plan_reminders_job()
    assert result["planned"] == 1
    assert result["today"] == datetime.now(UTC).date().isoformat()

    # A new unit of work sees the rows: the job committed them.
    with app.app_context(), current_database().session_scope() as session:
        rows = session.execute(select(Reminder.contract_id, Reminder.offset_days, Reminder.status)).all()
    assert [tuple(row) for row in rows] == [(contract_id, -90, "planned")]

    with app.app_context():
        assert plan_reminders_job()["planned"] == 0


def test_the_job_reads_the_cadence_file_of_the_settings(settings: Settings, tmp_path: Path) -> None:
    cadence = tmp_path / "cadence.yaml"
    cadence.write_text("default: {days_before_end: [85]}\n", encoding="utf-8")
    app = create_app(dataclasses.replace(settings, cadence_file=cadence))
    try:
        add_contract(app, ends_in_days=80)
        with app.app_context():
            assert plan_reminders_job()["planned"] == 1
            with current_database().session_scope() as session:
                assert session.scalars(select(Reminder.offset_days)).all() == [-85]
    finally:
        app.extensions["renewals.database"].dispose()


def test_a_cadence_file_broken_since_start_fails_the_job_with_the_problem(settings: Settings, tmp_path: Path) -> None:
    cadence = tmp_path / "cadence.yaml"
    cadence.write_text("default: {days_before_end: [30]}\n", encoding="utf-8")
    app = create_app(dataclasses.replace(settings, cadence_file=cadence))
    cadence.write_text("default: {days_before_end: [30, 30]}\n", encoding="utf-8")
    try:
        with app.app_context(), pytest.raises(CadenceError, match="30 appears twice"):
            plan_reminders_job()
    finally:
        app.extensions["renewals.database"].dispose()
