"""Web requests and the store's write lock: a GET or HEAD reads in a read transaction and writes its link hit in
a short write transaction of its own (sync_service.store.db.writing), so pages answer while another process
writes, concurrent opens are all kept, and slow clients do not hold the whole web server."""

from __future__ import annotations

import dataclasses
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from config.settings import Settings
from email_actions.mail.links import Links
from email_actions.web.app import create_app
from mappings.model import Mapping
from sync_service.outbox.record import event_key
from sync_service.pull.run import Puller
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.transport import meter_of
from sync_service.store import models
from sync_service.store.db import current_session, make_engine
from sync_service.store.models import utcnow
from tests.email_actions.emails_helpers import make_message
from tests.email_actions.web.hits import drain
from tests.paths import SALESFORCE_CPQ_PRESET
from tests.processes import free_port, renewals_env, start_web, stop_process, wait_until
from tests.standin_org import RunningOrg

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
PARALLEL_OPENS = 20


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_app(
    request: pytest.FixtureRequest, settings: Settings, migrated_database: Callable[[str], str]
) -> Iterator[Flask]:
    app = create_app(dataclasses.replace(settings, database_url=migrated_database(request.param)))
    app.config["TESTING"] = True
    yield app
    app.extensions["renewals.database"].dispose()


def sent_message(app: Flask) -> tuple[int, str]:
    """A reminder sent an hour ago (so a browser's open counts as a human's): (email id, nonce)."""
    with app.app_context():
        session = current_session()
        message = make_message(session)
        message.status, message.sent_at = "sent", utcnow() - timedelta(hours=1)
        session.commit()
        return message.id, message.nonce


def url(app: Flask, purpose: str, message_id: int, nonce: str) -> str:
    full = Links(app.extensions["renewals.settings"]).url(purpose, message_id, nonce)  # type: ignore[arg-type]
    return full.removeprefix("http://renewals.test")


def count_of(app: Flask, statement: object) -> int:
    with app.app_context():
        return int(current_session().scalar(statement) or 0)  # type: ignore[call-overload]


def test_parallel_human_opens_are_all_kept_with_their_task_bumps(backend_app: Flask) -> None:
    app = backend_app
    message_id, nonce = sent_message(app)
    path = url(app, "open", message_id, nonce)
    start = threading.Barrier(PARALLEL_OPENS)
    answers: list[int] = []

    def open_email(n: int) -> None:
        client = app.test_client()
        start.wait()
        response = client.get(path, headers={"User-Agent": BROWSER}, environ_base={"REMOTE_ADDR": f"192.0.2.{n}"})
        answers.append(response.status_code)

    threads = [threading.Thread(target=open_email, args=(n,)) for n in range(1, PARALLEL_OPENS + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [200] * PARALLEL_OPENS
    # Two drains at once (two pushes starting together): each hit is stored once.
    drained: list[int] = []
    drains = [threading.Thread(target=lambda: drained.append(drain(app))) for _ in range(2)]
    for thread in drains:
        thread.start()
    for thread in drains:
        thread.join()
    assert sum(drained) == PARALLEL_OPENS
    assert count_of(app, select(func.count()).select_from(models.LinkHit)) == 0
    events = select(func.count()).select_from(models.EmailEvent)
    human_opens = events.where(
        models.EmailEvent.email_message_id == message_id,
        models.EmailEvent.kind == "open",
        models.EmailEvent.label == "human",
    )
    assert count_of(app, human_opens) == PARALLEL_OPENS
    task = select(models.OutboxItem.count).where(models.OutboxItem.key == event_key("opened", message_id))
    assert count_of(app, task) == PARALLEL_OPENS


def test_pages_that_only_read_answer_while_another_process_holds_the_write_lock(app: Flask, settings: Settings) -> None:
    sent_message(app)  # the store has an email, so the health check reads real rows
    database = settings.database_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(database, isolation_level=None)
    answers: dict[str, int] = {}
    try:
        writer.execute("BEGIN IMMEDIATE")  # as a pull writing a batch holds it
        writer.execute("UPDATE email_messages SET status = status")

        def ask() -> None:
            client = app.test_client()
            answers["healthz"] = client.get("/healthz").status_code
            answers["healthz_head"] = client.head("/healthz").status_code

        asking = threading.Thread(target=ask)
        asking.start()
        # Held until both answered: a request that needed the lock would wait out the busy timeout and fail.
        wait_until(lambda: len(answers) == 2, "the pages' answers while the lock is held", timeout=120)
        asking.join()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert answers == {"healthz": 200, "healthz_head": 200}


def test_a_renew_page_asked_for_during_a_pull_answers(app: Flask, settings: Settings, cpq_org: RunningOrg) -> None:
    message_id, nonce = sent_message(app)
    path = url(app, "renew", message_id, nonce)
    mapping = Mapping.model_validate(yaml.safe_load(SALESFORCE_CPQ_PRESET.read_text()))
    engine = make_engine(settings.database_url, sqlite_immediate=True)  # as the pull job's
    sf = cpq_org.salesforce()
    puller = Puller(
        sessionmaker(engine, expire_on_commit=False),
        sf,
        meter_of(sf.session),
        mapping,
        Budget(daily_budget=100_000, reserve=10),
        overlap=timedelta(0),
    )
    results: dict[str, str] = {}
    pulling = threading.Thread(target=lambda: results.setdefault("pull", puller.pull(full=True).status))
    client = app.test_client()
    statuses: list[int] = []
    try:
        pulling.start()
        while pulling.is_alive() or not statuses:
            statuses.append(client.get(path, headers={"User-Agent": BROWSER}).status_code)
            statuses.append(client.get("/healthz").status_code)
        pulling.join()
    finally:
        engine.dispose()
    assert results == {"pull": "succeeded"}
    assert set(statuses) == {200}
    drain(app)
    clicks = select(func.count()).select_from(models.EmailEvent).where(models.EmailEvent.kind == "click")
    assert count_of(app, clicks) >= 1


def test_clients_that_trickle_their_requests_do_not_starve_the_others(tmp_path: Path, settings: Settings) -> None:
    """`renewals web` with its defaults (two workers): four connections that each send one byte of their
    request now and then hold no worker the other clients need."""
    port = free_port()
    env = renewals_env(
        {
            "RENEWALS_SECRET_KEYS": ",".join(key.reveal() for key in settings.secret_keys),
            "RENEWALS_DATABASE_URL": settings.database_url,
            "RENEWALS_REDIS_URL": settings.redis_url,
            "RENEWALS_WEB_HOST": "127.0.0.1",
            "RENEWALS_WEB_PORT": str(port),
            "RENEWALS_LOG_LEVEL": "WARNING",
        }
    )
    base = f"http://127.0.0.1:{port}"
    web = start_web(env, tmp_path / "web.log", base + "/healthz")
    slow: list[socket.socket] = []
    try:
        for _ in range(4):
            connection = socket.create_connection(("127.0.0.1", port), timeout=30)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
            slow.append(connection)
        with requests.Session() as client:
            for _ in range(10):
                # Sync workers would be held by the slow connections until gunicorn's 30 s timeout.
                assert client.get(base + "/healthz", timeout=20).status_code == 200
    finally:
        for connection in slow:
            connection.close()
        stop_process(web)
