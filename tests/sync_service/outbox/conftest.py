"""Fixtures for outbox tests: a small stand-in org with and without the Task external-id field, a freshly
migrated store per test on SQLite and PostgreSQL, and helpers to record Task events and count Tasks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import TaskConventions
from sync_service.outbox.push import Pusher, PushResult
from sync_service.outbox.record import event_key, record_task
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.client import connect
from sync_service.salesforce.transport import SalesforceAdapter
from sync_service.store import models
from tests.standin_org import RunningOrg, start_org, stop_org

EXTERNAL_ID_FIELD = "Renewals_Event_Key__c"


@pytest.fixture(scope="module", params=["external_id", "no_external_id"])
def outbox_org(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    extra = () if request.param == "external_id" else ("--no-task-external-id",)
    org = start_org(tmp_path_factory.mktemp("outbox-org"), "--seed-contracts", "5", *extra)
    yield org
    stop_org(org)


@pytest.fixture
def org(outbox_org: RunningOrg) -> Iterator[RunningOrg]:
    yield outbox_org
    outbox_org.faults()


@dataclass
class Scene:
    """One test's view: its own Subject marker (the org is shared by a module's tests), a contract to hang
    Tasks on, and a client."""

    org: RunningOrg
    store: sessionmaker[Session]
    sf: Salesforce
    conventions: TaskConventions
    what_id: str
    tag: str

    def pusher(self, **options: object) -> Pusher:
        defaults: dict[str, object] = {"retry_base": 0.0, "max_attempts": 40}
        defaults.update(options)
        return Pusher(self.store, self.sf, self.conventions, Budget(100_000, 10), **defaults)  # type: ignore[arg-type]

    def key(self, n: int) -> str:
        return event_key(self.tag, n)

    def record(self, n: int, *, when: datetime | None = None, contact_request: bool = False) -> None:
        with self.store.begin() as session:
            record_task(
                session,
                key=self.key(n),
                what_id=self.what_id,
                who_id=None,
                owner_id=None,
                subject=f"Email {n} opened",
                description=f"The renewal email {n} was opened.",
                event_at=when or datetime.now(UTC),
                conventions=self.conventions,
                contact_request=contact_request,
            )

    def tasks(self) -> list[dict[str, object]]:
        soql = f"SELECT Id, Subject, Description, Priority, Status FROM Task WHERE Subject LIKE '{self.tag}%'"
        return list(self.sf.query_all(soql)["records"])

    def pending(self) -> int:
        with self.store() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(models.OutboxItem).where(models.OutboxItem.status == "pending")
                )
                or 0
            )

    def drain(self, pushes: int = 60, **options: object) -> list[PushResult]:
        pusher = self.pusher(**options)
        results: list[PushResult] = []
        for _ in range(pushes):
            if not self.pending():
                return results
            results.append(pusher.push())
        raise AssertionError(f"{self.pending()} items still pending after {pushes} pushes")


@pytest.fixture
def scene(org: RunningOrg, store: sessionmaker[Session], outbox_org: RunningOrg) -> Scene:
    sf = connect(org.connection("password"))
    what_id = str(sf.query("SELECT Id FROM Contract LIMIT 1")["records"][0]["Id"])
    tag = f"T{uuid.uuid4().hex[:10]}"
    conventions = TaskConventions(external_id_field=EXTERNAL_ID_FIELD, subject_prefix=tag)
    return Scene(org, store, sf, conventions, what_id, tag)


def drop_first_write_response(scene: Scene) -> list[str]:
    """The org writes the first collections call's records, then the connection drops before the answer."""
    adapter = scene.sf.session.get_adapter("https://")
    assert isinstance(adapter, SalesforceAdapter)
    real_send = adapter.send
    dropped: list[str] = []

    def send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = real_send(request, **kwargs)
        if not dropped and "/composite/sobjects" in (request.url or "") and request.method in ("POST", "PATCH"):
            dropped.append(str(request.url))
            raise requests.ConnectionError("connection reset after the request was sent")
        return response

    adapter.send = send  # type: ignore[method-assign]
    return dropped
