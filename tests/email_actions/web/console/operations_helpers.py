"""What the Operations tests share: the section's URLs, a store with a little of everything its pages show,
readers of its pages and CSVs, and a job that failed for good (run by a real worker)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from jobs.base import get_queue
from jobs.queues import PUSH
from jobs.worker import make_worker
from sync_service.store import models

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()
OVERVIEW = "/admin/operations"
OUTBOX = "/admin/operations/outbox"
JOBS = "/admin/operations/jobs"
EMAILS = "/admin/operations/emails"
SUPPRESSIONS = "/admin/operations/suppressions"
PULLS = "/admin/operations/pulls"


@contextmanager
def db(app: Flask) -> Iterator[Session]:
    with app.extensions["renewals.database"].session_scope() as session:
        yield session


def page(client: FlaskClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return lxml.html.fromstring(response.get_data(as_text=True))


def text_of(tree: Any, element_id: str) -> str:
    found = tree.get_element_by_id(element_id)
    return " ".join(found.text_content().split())


def table(tree: Any, table_id: str) -> list[list[str]]:
    """The body rows of a table, each cell's text squeezed."""
    rows = tree.get_element_by_id(table_id).xpath("./tbody/tr")
    return [[" ".join(cell.text_content().split()) for cell in row.xpath("./th|./td")] for row in rows]


def csv_of(client: FlaskClient, path: str) -> list[dict[str, str]]:
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def outbox_item(session: Session, key: str, status: str, **extra: Any) -> models.OutboxItem:
    item = models.OutboxItem(key=key, kind="task", sobject="Task", status=status, **extra)
    session.add(item)
    session.flush()
    return item


_contract_counter = iter(range(1, 10**6))


def contract(session: Session) -> models.Contract:
    n = next(_contract_counter)
    account = models.Account(sf_id=f"001A{n:014d}", name=f"Account {n}")
    session.add(account)
    session.flush()
    row = models.Contract(sf_id=f"800A{n:014d}", account_id=account.id, status="Activated", end_date=TODAY)
    session.add(row)
    session.flush()
    return row


def emails(session: Session, contract_id: int, statuses: dict[str, int], start: int = 0) -> None:
    n = start
    for status, count in statuses.items():
        for _ in range(count):
            n += 1
            session.add(
                models.EmailMessage(
                    key=f"reminder:{contract_id}:{n}",
                    kind="reminder",
                    contract_id=contract_id,
                    to_address=f"person{n}@example.com",
                    subject=f"Your renewal {n}",
                    nonce=f"nonce{contract_id}x{n}",
                    status=status,
                    created_at=NOW - timedelta(minutes=n),
                    error="Address blacklisted" if status == "failed" else None,
                )
            )


def seed(session: Session) -> dict[str, Any]:
    """A store with a little of everything the Operations pages show."""
    session.add_all(
        [
            models.MappingVersion(name="cpq", version=1, yaml="x", author="t", is_active=True),
            models.MappingVersion(name="legacy", version=1, yaml="x", author="t", is_active=False),
        ]
    )
    session.add_all(
        [
            models.SyncRun(
                mapping_name="cpq",
                kind="full",
                status="succeeded",
                started_at=NOW - timedelta(hours=30),
                finished_at=NOW - timedelta(hours=30) + timedelta(seconds=125),
                rows={"contract": 600, "account": 40},
                api_calls=12,
            ),
            models.SyncRun(
                mapping_name="cpq",
                kind="incremental",
                status="failed",
                started_at=NOW - timedelta(hours=1),
                finished_at=NOW - timedelta(hours=1) + timedelta(seconds=7),
                rows={"contract": 5, "contract_skipped": 2},
                api_calls=3,
                error="INVALID_FIELD: No such column 'Renewal_Term__c' on entity 'Contract'",
            ),
            # A push is newer, but it is not a pull.
            models.SyncRun(
                mapping_name="cpq",
                kind="push",
                status="succeeded",
                started_at=NOW - timedelta(minutes=5),
                finished_at=NOW - timedelta(minutes=5),
                rows={"done": 4, "retrying": 0, "dead": 1},
                api_calls=2,
            ),
        ]
    )
    session.add_all(
        [
            models.ApiUsage(day=TODAY, job_name="pull:cpq", calls=120),
            models.ApiUsage(day=TODAY, job_name="push", calls=30),
            models.ApiUsage(day=TODAY - timedelta(days=3), job_name="pull:cpq", calls=500),
            models.ApiUsage(day=TODAY - timedelta(days=40), job_name="pull:cpq", calls=999),  # out of the window
        ]
    )
    for n in range(3):
        outbox_item(session, f"pending-{n}", "pending")
    dead = [
        outbox_item(
            session,
            f"dead-{n}",
            "dead",
            attempts=5,
            last_error=f"FIELD_CUSTOM_VALIDATION_EXCEPTION: Closed contracts cannot change ({n})",
        )
        for n in range(2)
    ]
    outbox_item(session, "done-0", "done", done_at=NOW)
    outbox_item(session, "gone-0", "discarded")
    c = contract(session)
    emails(session, c.id, {"sent": 4, "delivered": 3, "bounced": 2, "complained": 1, "unknown": 1, "failed": 1})
    session.add_all(
        [
            models.EmailSuppression(address="b@example.com", reason="bounce", scope="all", detail="550 5.1.1"),
            models.EmailSuppression(address="=cmd@example.com", reason="complaint", scope="all"),
            models.EmailSuppression(address="u@example.com", reason="unsubscribe", scope="reminders"),
        ]
    )
    session.flush()
    return {"dead": [d.id for d in dead], "contract": c.id}


def audit_entries(app: Flask, action: str) -> list[models.AuditEntry]:
    with db(app) as session:
        return list(session.scalars(select(models.AuditEntry).where(models.AuditEntry.action == action)).all())


def statuses(app: Flask, ids: list[int]) -> list[str]:
    with db(app) as session:
        rows = session.execute(
            select(models.OutboxItem.id, models.OutboxItem.status).where(models.OutboxItem.id.in_(ids))
        )
        found = dict(rows.all())
    return [found[i] for i in ids]


def failed_job(settings: Settings, redis: Redis) -> Job:
    """A job that failed for good: no retries left, run by a real worker."""
    job = get_queue(PUSH, redis).enqueue_call("tests.jobs.sample_jobs.fail")
    make_worker(settings, (PUSH,)).work(burst=True)
    assert job.get_status() == "failed"
    return job
