"""The console's Operations section: its figures are the store's, its CSVs match its tables, Redis being down
is said, not a crash, viewers read but change nothing, and each page costs a small, fixed number of SQL
statements however much data there is. The outbox's and the jobs' changes are tested in test_operations_outbox
and test_operations_jobs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, load_settings
from email_actions.web.app import create_app
from email_actions.web.console import operations_paging
from email_actions.web.console.operations_paging import PAGE_SIZE
from jobs.base import get_queue
from jobs.queues import PUSH
from sync_service import console_settings
from sync_service.pull.run import SKIPPED_KEY
from sync_service.store import models
from tests.conftest import TEST_SECRET_KEY
from tests.email_actions.web.console.conftest import add_user, csrf_of, post_form, sign_in
from tests.email_actions.web.console.operations_helpers import (
    EMAILS,
    JOBS,
    NOW,
    OUTBOX,
    OVERVIEW,
    PULLS,
    SUPPRESSIONS,
    TODAY,
    contract,
    csv_of,
    db,
    emails,
    failed_job,
    outbox_item,
    page,
    seed,
    statuses,
    table,
    text_of,
)
from tests.processes import free_port


@pytest.fixture
def seeded(app: Flask) -> dict[str, Any]:
    with db(app) as session:
        return seed(session)


# --------------------------------------------------------------------------------------------- figures


def test_the_overview_shows_the_stores_figures(admin_client: FlaskClient, seeded: dict[str, Any]) -> None:
    tree = page(admin_client, OVERVIEW)

    assert text_of(tree, "api-today") == "150"
    assert text_of(tree, "outbox-pending") == "3"
    assert text_of(tree, "outbox-dead") == "2"
    assert text_of(tree, "suppressed") == "3"

    pulls = {row[0]: row for row in table(tree, "last-pulls")}
    cpq = pulls["cpq"]
    assert cpq[1:3] == ["incremental", (NOW - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")]
    assert cpq[3] == "7.0 s"
    assert cpq[4] == "failed"
    assert cpq[5] == "5"  # skipped rows are not counted as pulled
    assert "INVALID_FIELD" in cpq[7]
    assert cpq[8] == (NOW - timedelta(hours=30) + timedelta(seconds=125)).strftime("%Y-%m-%d %H:%M:%S")
    assert cpq[9] == "1"  # failed pulls in the last 24 h
    assert pulls["legacy (inactive)"][1] == "never pulled"

    usage = {row[0]: row[1] for row in table(tree, "api-usage")}
    assert len(usage) == 30
    assert usage[TODAY.isoformat()] == "150"
    assert usage[(TODAY - timedelta(days=3)).isoformat()] == "500"
    assert (TODAY - timedelta(days=40)).isoformat() not in usage
    assert table(tree, "api-today-jobs") == [["pull:cpq", "120"], ["push", "30"]]
    assert "10,000 calls per UTC day" in tree.text_content()
    assert "5,000 calls or fewer left" in tree.text_content()

    counts = dict(table(tree, "email-statuses"))
    assert counts == {
        "queued": "0",
        "sending": "0",
        "sent": "4",
        "unknown": "1",
        "failed": "1",
        "skipped": "0",
        "delivered": "3",
        "bounced": "2",
        "complained": "1",
    }
    assert [row[0] for row in table(tree, "queues")] == ["push", "email", "default", "pull"]
    # The charts are inline SVG: nothing is fetched from elsewhere, and no script runs.
    assert len(tree.xpath("//svg")) == 2
    assert not tree.xpath("//script")
    assert not [src for src in tree.xpath("//@src|//link/@href") if "//" in src]


def test_the_budget_in_force_is_the_consoles(app: Flask, admin_client: FlaskClient) -> None:
    with db(app) as session:
        console_settings.store(
            session, console_settings.API_BUDGET, {"daily_budget": 200, "reserve": 50}, actor="admin:alice"
        )
        session.add(models.ApiUsage(day=TODAY, job_name="pull:cpq", calls=180))

    tree = page(admin_client, OVERVIEW)
    card = " ".join(tree.xpath("//div[contains(@class, 'card')]")[0].text_content().split())
    assert "180 of 200 budgeted (90%); 20 left" in card
    assert "status-warn" in tree.get_element_by_id("api-today").get("class")


def test_the_pages_show_their_lists(admin_client: FlaskClient, seeded: dict[str, Any]) -> None:
    runs = table(page(admin_client, PULLS + "?mapping=cpq&kind=pulls"), "runs")
    assert [row[2] for row in runs] == ["incremental", "full"]
    assert runs[1][3] == "2 min 05 s"
    assert runs[1][6] == "account 40 · contract 600"
    assert [row[2] for row in table(page(admin_client, PULLS + "?kind=push"), "runs")] == ["push"]

    tree = page(admin_client, OUTBOX)  # the dead letters first
    assert text_of(tree, "tab-dead") == "dead 2" and text_of(tree, "tab-pending") == "pending 3"
    assert text_of(tree, "tab-done") == "done"  # done rows pile up: counted only when listed
    assert text_of(page(admin_client, OUTBOX + "?status=done"), "tab-done") == "done 1"
    dead = table(tree, "outbox")
    assert {row[1] for row in dead} == {str(i) for i in seeded["dead"]}
    assert "Closed contracts cannot change" in " ".join(dead[0])
    assert len(table(page(admin_client, OUTBOX + "?status=pending"), "outbox")) == 3

    bounced = table(page(admin_client, EMAILS + "?status=bounced"), "emails")
    assert len(bounced) == 2 and {row[5] for row in bounced} == {"bounced"}
    assert len(table(page(admin_client, EMAILS), "emails")) == 12

    tree = page(admin_client, SUPPRESSIONS)
    assert text_of(tree, "reason-bounce") == "1" and text_of(tree, "reason-unsubscribe") == "1"
    assert [row[0] for row in table(tree, "suppressions")] == ["u@example.com", "=cmd@example.com", "b@example.com"]
    assert table(page(admin_client, SUPPRESSIONS + "?q=B%40"), "suppressions")[0][0] == "b@example.com"
    assert len(table(page(admin_client, SUPPRESSIONS + "?reason=unsubscribe"), "suppressions")) == 1


def test_lists_are_paged(app: Flask, admin_client: FlaskClient) -> None:
    with db(app) as session:
        emails(session, contract(session).id, {"sent": PAGE_SIZE * 2 + 7})

    first = page(admin_client, EMAILS + "?status=sent")
    assert len(table(first, "emails")) == PAGE_SIZE
    assert "page 1 of 3 (107 rows)" in first.text_content()
    last = page(admin_client, EMAILS + "?status=sent&page=3")
    assert len(table(last, "emails")) == 7
    beyond = page(admin_client, EMAILS + "?status=sent&page=99")  # kept within the pages there are
    assert table(beyond, "emails") == table(last, "emails")
    ids = [
        int(row[0])
        for row in table(first, "emails") + table(page(admin_client, EMAILS + "?status=sent&page=2"), "emails")
    ]
    assert len(set(ids)) == 2 * PAGE_SIZE


# --------------------------------------------------------------------------------------------- pulls that heal


def _pull_run(session: Session, mapping: str, kind: str, status: str, minutes_ago: int, **extra: Any) -> None:
    started = NOW - timedelta(minutes=minutes_ago)
    finished = None if status == "running" else started + timedelta(seconds=30)
    session.add(
        models.SyncRun(
            mapping_name=mapping, kind=kind, status=status, started_at=started, finished_at=finished, **extra
        )
    )


def test_a_mapping_whose_pulls_keep_ending_on_transient_failures_shows_retrying_since(
    app: Flask, admin_client: FlaskClient
) -> None:
    unavailable = "SERVER_UNAVAILABLE: Server is temporarily unavailable. Please try again later."
    with db(app) as session:
        for name in ("eu", "us", "apac"):
            session.add(models.MappingVersion(name=name, version=1, yaml="x", author="t", is_active=True))
        # eu: a success, then 503s outlasting the quick retries twice; a reconcile between them changes
        # nothing, and the next attempt is running.
        _pull_run(session, "eu", "full", "succeeded", 180, rows={"contract": 40})
        _pull_run(session, "eu", "incremental", "retrying", 40, error=unavailable)
        _pull_run(session, "eu", "incremental", "retrying", 20, error=unavailable)
        _pull_run(session, "eu", "reconcile", "succeeded", 10)
        _pull_run(session, "eu", "incremental", "running", 1)
        # us: one transient failure, then a success: healed.
        _pull_run(session, "us", "incremental", "retrying", 30, error=unavailable)
        _pull_run(session, "us", "incremental", "succeeded", 10, rows={"contract": 2})
        # apac: never pulled yet, every attempt hit a 503.
        _pull_run(session, "apac", "full", "retrying", 15, error=unavailable)
        _pull_run(session, "apac", "full", "retrying", 5, error=unavailable)

    def at(minutes_ago: int) -> str:
        return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%d %H:%M:%S")

    tree = page(admin_client, OVERVIEW)
    pulls = {row[0]: row for row in table(tree, "last-pulls")}
    assert pulls["eu"][4] == f"running, retrying since {at(40)}"
    assert pulls["us"][4] == "succeeded"
    assert pulls["apac"][4] == f"retrying since {at(15)}" == text_of(tree, "retrying-since-apac")
    assert pulls["apac"][7] == unavailable and pulls["apac"][8] == "—"  # never succeeded
    assert pulls["apac"][9] == "0"  # a transient failure is not counted as a failed (blocking) pull
    last = {row["mapping"]: row for row in csv_of(admin_client, OVERVIEW + "/last-pulls.csv")}
    assert last["eu"]["retrying_since"] == (NOW - timedelta(minutes=40)).isoformat(timespec="seconds")
    assert last["us"]["retrying_since"] == ""
    # The sync runs' status filter knows the status.
    runs = table(page(admin_client, PULLS + "?status=retrying"), "runs")
    assert sorted(row[1] for row in runs) == ["apac", "apac", "eu", "eu", "us"]
    assert {row[4] for row in runs} == {"retrying"}


def test_the_sync_runs_page_lists_the_records_a_pull_skipped(app: Flask, admin_client: FlaskClient) -> None:
    # As the pull records them (see tests/sync_service/pull/test_healing.py): a contract whose mapped start
    # date is "next spring" and its quote, skipped; the rest landed.
    bad = "800A00000000000042"
    skipped = {
        "contract": [f"{bad}: start_date from Service_Start__c: 'next spring' is not a date"],
        "renewal_quote": [f"a0z000000000001AAA: its contract {bad} is not in the pulled data"],
    }
    with db(app) as session:
        session.add(models.MappingVersion(name="cpq", version=1, yaml="x", author="t", is_active=True))
        rows = {"contract": 39, "contract_skipped": 1, "renewal_quote": 38, "renewal_quote_skipped": 1}
        _pull_run(session, "cpq", "full", "succeeded", 5, rows={**rows, SKIPPED_KEY: skipped})

    tree = page(admin_client, PULLS)
    [run] = table(tree, "runs")
    assert run[4] == "succeeded" and run[5] == "77"  # skipped records are not counted as pulled
    assert run[6].startswith("contract 39 · contract_skipped 1 · renewal_quote 38 · renewal_quote_skipped 1")
    listed = [" ".join(li.text_content().split()) for li in tree.xpath("//table[@id='runs']//ul/li")]
    assert listed == [
        f"skipped contract {skipped['contract'][0]}",
        f"skipped renewal_quote {skipped['renewal_quote'][0]}",
    ]
    [exported] = csv_of(admin_client, PULLS + ".csv")
    assert "next spring" in exported["rows_detail"] and exported["rows"] == "77"


# --------------------------------------------------------------------------------------------- CSV


def test_every_table_exports_what_it_shows(admin_client: FlaskClient, seeded: dict[str, Any]) -> None:
    last = {row["mapping"]: row for row in csv_of(admin_client, OVERVIEW + "/last-pulls.csv")}
    assert last["cpq"]["kind"] == "incremental" and last["cpq"]["status"] == "failed"
    assert last["cpq"]["rows"] == "5" and last["cpq"]["seconds"] == "7.0" and last["cpq"]["failures_24h"] == "1"
    assert last["legacy"]["active"] == "no" and last["legacy"]["kind"] == ""

    usage = csv_of(admin_client, OVERVIEW + "/api-usage.csv")
    assert {(r["day"], r["job"], r["calls"]) for r in usage} == {
        (TODAY.isoformat(), "pull:cpq", "120"),
        (TODAY.isoformat(), "push", "30"),
        ((TODAY - timedelta(days=3)).isoformat(), "pull:cpq", "500"),
    }
    assert len(csv_of(admin_client, OVERVIEW + "/api-usage.csv?days=60")) == 4

    statuses_csv = {r["status"]: r["emails"] for r in csv_of(admin_client, OVERVIEW + "/email-statuses.csv")}
    assert statuses_csv["bounced"] == "2" and statuses_csv["queued"] == "0" and len(statuses_csv) == 9

    queues = csv_of(admin_client, OVERVIEW + "/queues.csv")
    assert [r["queue"] for r in queues] == ["push", "email", "default", "pull"]

    runs = csv_of(admin_client, PULLS + ".csv?mapping=cpq")
    assert [r["kind"] for r in runs] == ["push", "incremental", "full"]
    assert runs[1]["error"].startswith("INVALID_FIELD")

    dead = csv_of(admin_client, OUTBOX + ".csv?status=dead")
    assert sorted(int(r["id"]) for r in dead) == seeded["dead"]
    assert all(r["status"] == "dead" and "Closed contracts" in r["last_error"] for r in dead)
    assert len(csv_of(admin_client, OUTBOX + ".csv?status=pending")) == 3

    bounced = csv_of(admin_client, EMAILS + ".csv?status=bounced")
    assert len(bounced) == 2 and {r["status"] for r in bounced} == {"bounced"}
    assert len(csv_of(admin_client, EMAILS + ".csv")) == 12

    suppressed = csv_of(admin_client, SUPPRESSIONS + ".csv")
    assert {r["address"] for r in suppressed} == {"b@example.com", "'=cmd@example.com", "u@example.com"}
    assert [r["address"] for r in csv_of(admin_client, SUPPRESSIONS + ".csv?reason=bounce")] == ["b@example.com"]


def test_a_long_list_exports_in_parts(
    admin_client: FlaskClient, seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations_paging, "EXPORT_ROWS", 5)
    tree = page(admin_client, EMAILS)
    links = tree.xpath("//p[@class='csv']/a[contains(@href, 'emails.csv')]/@href")
    assert links == [
        "/admin/operations/emails.csv",
        "/admin/operations/emails.csv?part=2",
        "/admin/operations/emails.csv?part=3",
    ]
    parts = [csv_of(admin_client, link) for link in links]
    assert [len(rows) for rows in parts] == [5, 5, 2]
    ids = [int(row["id"]) for rows in parts for row in rows]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 12
    response = admin_client.get(EMAILS + ".csv?part=3")
    assert 'filename="emails-part3.csv"' in response.headers["Content-Disposition"]
    assert csv_of(admin_client, EMAILS + ".csv?part=4") == []


# --------------------------------------------------------------------------------------------- Redis down, roles


@pytest.fixture
def app_without_redis(settings: Settings) -> Iterator[Flask]:
    down = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(down)
    app.config["TESTING"] = True
    yield app
    app.extensions["renewals.database"].dispose()


def test_the_pages_render_while_redis_is_down(app_without_redis: Flask) -> None:
    app = app_without_redis
    add_user(app, "alice")
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 302
    with db(app) as session:
        seed(session)

    for path in (OVERVIEW, JOBS, JOBS + "?queue=pull"):
        body = client.get(path).get_data(as_text=True)
        assert "Redis is unreachable (ConnectionError)" in body, path
    assert "Dead letters" in client.get(OVERVIEW).get_data(as_text=True)
    assert "redis://" not in client.get(OVERVIEW).get_data(as_text=True)
    assert client.get(OVERVIEW + "/queues.csv").status_code == 503
    response = post_form(client, OUTBOX, JOBS + "/retry", {"queue": PUSH, "job_id": "abc"})
    assert response.status_code == 503 and "Redis is unreachable" in response.get_data(as_text=True)


def test_a_viewer_reads_but_cannot_retry_or_discard(
    app: Flask, viewer_client: FlaskClient, seeded: dict[str, Any], settings: Settings, redis: Redis
) -> None:
    job = failed_job(settings, redis)
    tree = page(viewer_client, OUTBOX)
    assert len(table(tree, "outbox")) == 2
    assert not tree.xpath("//form[contains(@action, '/operations/')]")  # no buttons for what a viewer cannot do
    assert not page(viewer_client, JOBS).xpath("//form[contains(@action, '/operations/')]")

    token = csrf_of(viewer_client, OUTBOX)
    posts = [
        (OUTBOX + "/retry", {"one": str(seeded["dead"][0])}),
        (OUTBOX + "/discard", {"one": str(seeded["dead"][0])}),
        (OUTBOX + "/retry", {"scope": "all", "upto": "999999"}),
        (JOBS + "/retry", {"queue": PUSH, "job_id": job.id}),
    ]
    for path, form in posts:
        assert viewer_client.post(path, data={"csrf_token": token, **form}).status_code == 403, path
    assert statuses(app, seeded["dead"]) == ["dead", "dead"]
    assert get_queue(PUSH, redis).failed_job_registry.get_job_ids() == [job.id]


# --------------------------------------------------------------------------------------------- SQL per page

PAGES = [
    OVERVIEW,
    PULLS,
    PULLS + "?mapping=cpq&kind=pulls&status=failed",
    OUTBOX,
    OUTBOX + "?status=pending&page=2",
    JOBS,
    EMAILS,
    EMAILS + "?status=bounced",
    SUPPRESSIONS,
    SUPPRESSIONS + "?q=b",
]


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_per_page(app: Flask, client: FlaskClient) -> dict[str, int]:
    engine = app.extensions["renewals.database"].engine
    counts = {}
    for path in PAGES:
        with counting(engine) as statements:
            assert client.get(path).status_code == 200, path
        counts[path] = len(statements)
    return counts


def grow(session: Session, times: int) -> None:
    """More of everything: runs, usage, outbox rows, emails, suppressions."""
    c = contract(session)
    for n in range(times):
        day = TODAY - timedelta(days=n % 45)
        session.add(models.SyncRun(mapping_name="cpq", kind="incremental", status="succeeded", rows={"contract": n}))
        session.add(models.ApiUsage(day=day, job_name=f"job-{n}", calls=n))
        outbox_item(session, f"more-pending-{n}", "pending")
        outbox_item(session, f"more-dead-{n}", "dead", last_error="boom")
        outbox_item(session, f"more-done-{n}", "done")
        session.add(models.EmailSuppression(address=f"b{n}@example.com", reason="bounce", scope="all"))
    emails(session, c.id, {"sent": times, "bounced": times, "delivered": times}, start=1000)


def test_each_page_costs_a_few_sql_statements_whatever_the_data(
    app: Flask, admin_client: FlaskClient, seeded: dict[str, Any], settings: Settings, redis: Redis
) -> None:
    failed_job(settings, redis)
    small = statements_per_page(app, admin_client)
    with db(app) as session:
        grow(session, 3 * PAGE_SIZE)
    large = statements_per_page(app, admin_client)

    assert large == small
    assert max(large.values()) <= 8, large


# --------------------------------------------------------------------------------------------- PostgreSQL too


def test_the_pages_work_on_both_databases(store: sessionmaker[Session], redis_url: str, tmp_path: Any) -> None:
    engine = store.kw["bind"]
    assert isinstance(engine, Engine)
    settings = load_settings(
        {
            "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
            "RENEWALS_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "RENEWALS_REDIS_URL": redis_url,
            "RENEWALS_PUBLIC_BASE_URL": "http://renewals.test",
        }
    )
    app = create_app(settings)
    app.config["TESTING"] = True
    try:
        add_user(app, "alice")
        client = app.test_client()
        assert sign_in(client, "alice").status_code == 302
        with db(app) as session:
            seeded = seed(session)
        tree = page(client, OVERVIEW)
        assert text_of(tree, "api-today") == "150" and text_of(tree, "outbox-dead") == "2"
        assert {row[0]: row for row in table(tree, "last-pulls")}["cpq"][4] == "failed"
        for path in PAGES:
            page(client, path)
        for path in ("/last-pulls.csv", "/api-usage.csv", "/email-statuses.csv", "/pulls.csv", "/outbox.csv"):
            assert client.get(OVERVIEW + path).status_code == 200, path
        assert len(csv_of(client, SUPPRESSIONS + ".csv?q=b")) == 1
        response = post_form(client, OUTBOX, OUTBOX + "/retry", {"one": str(seeded["dead"][0])})
        assert response.status_code == 302
        with db(app) as session:
            item = session.get(models.OutboxItem, seeded["dead"][0])
            assert item is not None and item.status == "pending"
    finally:
        app.extensions["renewals.database"].dispose()
