"""The push job: idle (no sign-in, no API call) when nothing is due; with an active mapping and a stand-in
org it drains the outbox into the org with the mapping's Task conventions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from config.settings import Settings, load_settings
from email_actions.web.app import create_app
from jobs.push import push_job
from mappings.loader import load
from sync_service.outbox.record import event_key, record_task
from sync_service.salesforce.client import connect
from sync_service.store import models
from sync_service.store.db import current_database
from tests.conftest import TEST_SECRET_KEY
from tests.paths import SALESFORCE_CPQ_PRESET
from tests.standin_org import RunningOrg, start_org, stop_org

PRESET = SALESFORCE_CPQ_PRESET


def test_an_empty_outbox_costs_nothing(app: Flask) -> None:
    with app.app_context():
        assert push_job() == {"status": "idle"}


@pytest.fixture
def org(tmp_path: Path) -> Iterator[RunningOrg]:
    running = start_org(tmp_path / "org", "--seed-contracts", "3")
    yield running
    stop_org(running)


def test_the_job_pushes_with_the_active_mapping(settings: Settings, org: RunningOrg) -> None:
    info = org.info
    with_org = load_settings(
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
    app = create_app(with_org)
    sf = connect(org.connection("password"))
    what_id = str(sf.query("SELECT Id FROM Contract LIMIT 1")["records"][0]["Id"])
    with app.app_context():
        with current_database().session_scope() as session:
            session.add(
                models.MappingVersion(name="cpq", version=1, yaml=PRESET.read_text(), author="t", is_active=True)
            )
            mapping_tasks = load(PRESET.read_text()).write_back.tasks
            record_task(
                session,
                key=event_key("job", 1),
                what_id=what_id,
                who_id=None,
                owner_id=None,
                subject="Renewal email opened",
                description="Opened.",
                event_at=datetime.now(UTC),
                conventions=mapping_tasks,
            )
        summary = push_job()
    assert (summary["status"], summary["done"]) == ("succeeded", 1)
    marker = f"%[{event_key('job', 1)}]"
    found = sf.query(f"SELECT Id, TaskSubtype, Renewals_Event_Key__c FROM Task WHERE Subject LIKE '{marker}'")
    [task] = found["records"]
    assert task["Renewals_Event_Key__c"] == event_key("job", 1)
    with app.app_context(), current_database().session_scope() as session:
        [run] = session.scalars(select(models.SyncRun).where(models.SyncRun.kind == "push")).all()
        assert (run.mapping_name, run.status, run.rows["done"], run.error) == ("salesforce_cpq", "succeeded", 1, None)
