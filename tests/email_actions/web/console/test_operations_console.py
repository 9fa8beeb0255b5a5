"""The console's Operations section: its figures are the store's, its CSVs match its tables, dead letters and
failed jobs can be retried (and dead letters discarded), audited, by admins only; Redis being down is said,
not a crash; and each page costs a small, fixed number of SQL statements however much data there is."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq.job import Job
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, load_settings
from email_actions.web.app import create_app
from email_actions.web.console.operations import PAGE_SIZE, exception_summary
from jobs.base import get_queue
from jobs.queues import PUSH
from jobs.worker import make_worker
from sync_service.store import models
from tests.conftest import TEST_SECRET_KEY, free_port
from tests.email_actions.web.console.conftest import add_user, csrf_of, post_form, sign_in

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()
OVERVIEW = "/admin/operations"
OUTBOX = "/admin/operations/outbox"
JOBS = "/admin/operations/jobs"
EMAILS = "/admin/operations/emails"
SUPPRESSIONS = "/admin/operations/suppressions"
PULLS = "/admin/operations/pulls"


# --------------------------------------------------------------------------------------------- helpers


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


@pytest.fixture
def seeded(app: Flask) -> dict[str, Any]:
    with db(app) as session:
        return seed(session)


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
    from sync_service.console_settings import API_BUDGET, store

    with db(app) as session:
        store(session, API_BUDGET, {"daily_budget": 200, "reserve": 50}, actor="admin:alice")
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
    from email_actions.web.console import operations

    monkeypatch.setattr(operations, "EXPORT_ROWS", 5)
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


# --------------------------------------------------------------------------------------------- dead letters


def test_retrying_a_dead_letter_makes_it_pending_audits_it_and_queues_a_push(
    app: Flask, admin_client: FlaskClient, seeded: dict[str, Any], redis: Redis
) -> None:
    first, second = seeded["dead"]
    response = post_form(admin_client, OUTBOX, OUTBOX + "/retry", {"one": str(first), "reason": "field fixed"})

    assert response.status_code == 302
    assert statuses(app, [first, second]) == ["pending", "dead"]
    with db(app) as session:
        item = session.get(models.OutboxItem, first)
        assert item is not None and item.attempts == 0
    [entry] = audit_entries(app, "outbox.retry")
    assert entry.actor == "admin:alice" and entry.reason == "field fixed"
    assert entry.before["ids"] == [first] and entry.before["status"] == "dead"
    assert entry.after["status"] == "pending"
    assert get_queue(PUSH, redis).get_job_ids() != []  # the push goes now, not at the next sweep
    shown = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 dead letter pending again; a push to Salesforce was queued." in shown


def test_discarding_dead_letters(app: Flask, admin_client: FlaskClient, seeded: dict[str, Any]) -> None:
    ids = seeded["dead"]
    token = csrf_of(admin_client, OUTBOX)
    response = admin_client.post(OUTBOX + "/discard", data={"csrf_token": token, "id": [str(i) for i in ids]})

    assert response.status_code == 302
    assert statuses(app, ids) == ["discarded", "discarded"]
    [entry] = audit_entries(app, "outbox.discard")
    assert entry.before["ids"] == ids and entry.before["count"] == 2 and entry.after == {"status": "discarded"}
    assert "2 dead letters discarded" in admin_client.get(response.headers["Location"]).get_data(as_text=True)


def test_all_means_the_dead_letters_the_page_showed(
    app: Flask, admin_client: FlaskClient, seeded: dict[str, Any]
) -> None:
    tree = page(admin_client, OUTBOX)
    upto = tree.xpath("//form[.//button[@id='discard-all']]//input[@name='upto']/@value")[0]
    with db(app) as session:  # dies after the page was shown
        later = outbox_item(session, "dead-later", "dead").id

    refused = post_form(admin_client, OUTBOX, OUTBOX + "/discard", {"scope": "all", "upto": upto})
    assert refused.status_code == 400 and "Tick the confirmation" in refused.get_data(as_text=True)
    assert statuses(app, seeded["dead"]) == ["dead", "dead"]

    done = post_form(admin_client, OUTBOX, OUTBOX + "/discard", {"scope": "all", "upto": upto, "confirm": "yes"})
    assert done.status_code == 302
    assert statuses(app, [*seeded["dead"], later]) == ["discarded", "discarded", "dead"]

    retried = post_form(admin_client, OUTBOX, OUTBOX + "/retry", {"scope": "all", "upto": str(later)})
    assert retried.status_code == 302
    assert statuses(app, [*seeded["dead"], later]) == ["discarded", "discarded", "pending"]
    assert [e.before["scope"] for e in audit_entries(app, "outbox.retry")] == ["all"]


@pytest.mark.parametrize(
    ("form", "code", "says"),
    [
        ({}, 400, "Choose at least one dead letter"),
        ({"one": "abc"}, 400, "is not an outbox item id"),
        ({"id": "-3"}, 400, "is not an outbox item id"),
        ({"one": "²"}, 400, "is not an outbox item id"),
        ({"one": "0"}, 400, "is not an outbox item id"),
        ({"one": "999999"}, 404, "There is no outbox item #999999"),
        ({"one": "PENDING"}, 409, "is pending"),
        ({"scope": "all", "upto": "x", "confirm": "yes"}, 400, "reload the page"),
    ],
)
def test_a_bad_id_changes_nothing_and_says_why(
    app: Flask, admin_client: FlaskClient, seeded: dict[str, Any], form: dict[str, str], code: int, says: str
) -> None:
    if form.get("one") == "PENDING":
        with db(app) as session:
            form = {
                "one": str(session.scalar(select(models.OutboxItem.id).where(models.OutboxItem.key == "pending-0")))
            }
    for action in ("retry", "discard"):
        response = post_form(admin_client, OUTBOX, f"{OUTBOX}/{action}", form)
        assert response.status_code == code, (action, response.status_code)
        assert says in response.get_data(as_text=True)
    assert statuses(app, seeded["dead"]) == ["dead", "dead"]
    assert audit_entries(app, "outbox.retry") == [] and audit_entries(app, "outbox.discard") == []


def test_a_retry_while_redis_is_down_still_counts(
    app: Flask, admin_client: FlaskClient, seeded: dict[str, Any]
) -> None:
    token = csrf_of(admin_client, OUTBOX)
    app.extensions["renewals.settings"] = dataclasses.replace(
        app.extensions["renewals.settings"], redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    from jobs import base

    base._connection_for.cache_clear()
    try:
        response = admin_client.post(OUTBOX + "/retry", data={"csrf_token": token, "one": str(seeded["dead"][0])})
        assert response.status_code == 302
        assert statuses(app, seeded["dead"]) == ["pending", "dead"]
        assert "the scheduler's next sweep sends them" in page(admin_client, OUTBOX).text_content()
    finally:
        base._connection_for.cache_clear()


# --------------------------------------------------------------------------------------------- failed jobs


def failed_job(settings: Settings, redis: Redis) -> Job:
    """A job that failed for good: no retries left, run by a real worker."""
    job = get_queue(PUSH, redis).enqueue_call("tests.jobs.sample_jobs.fail")
    make_worker(settings, (PUSH,)).work(burst=True)
    assert job.get_status() == "failed"
    return job


def test_a_failed_job_is_listed_and_retried(
    app: Flask, settings: Settings, admin_client: FlaskClient, redis: Redis
) -> None:
    job = failed_job(settings, redis)
    queue = get_queue(PUSH, redis)

    tree = page(admin_client, JOBS)
    assert table(tree, "queues")[0][:6] == ["push", "0", "0", "0", "0", "1"]
    [row] = table(tree, "failed-jobs")
    assert row[0] == job.id and row[1] == "tests.jobs.sample_jobs.fail"
    assert row[4] == "RuntimeError: this job always fails"
    assert "Traceback" not in tree.text_content()
    [exported] = csv_of(admin_client, JOBS + ".csv?queue=push")
    assert exported["job_id"] == job.id and exported["exception"] == "RuntimeError: this job always fails"

    response = post_form(admin_client, JOBS, JOBS + "/retry", {"queue": PUSH, "job_id": job.id})

    assert response.status_code == 302
    assert job.id in queue.get_job_ids()
    assert queue.failed_job_registry.get_job_ids() == []
    [entry] = audit_entries(app, "jobs.retry")
    assert entry.before["ids"] == [job.id] and entry.before["queue"] == PUSH
    assert "1 failed job of the push queue put back" in admin_client.get(response.headers["Location"]).get_data(
        as_text=True
    )


def test_retry_all_failed_jobs_of_a_queue(
    app: Flask, settings: Settings, admin_client: FlaskClient, redis: Redis
) -> None:
    for _ in range(2):
        get_queue(PUSH, redis).enqueue_call("tests.jobs.sample_jobs.fail")
    make_worker(settings, (PUSH,)).work(burst=True)
    assert get_queue(PUSH, redis).failed_job_registry.count == 2

    response = post_form(admin_client, JOBS, JOBS + "/retry", {"queue": PUSH, "scope": "all"})

    assert response.status_code == 302
    assert len(get_queue(PUSH, redis)) == 2
    assert audit_entries(app, "jobs.retry")[0].before["count"] == 2


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"queue": "nope", "job_id": "abc"}, 400),
        ({"queue": PUSH, "job_id": "no/such"}, 400),
        ({"queue": PUSH, "job_id": "0123456789abcdef"}, 404),
        ({"queue": "email", "scope": "all"}, 404),
    ],
)
def test_a_bad_job_retry_changes_nothing(
    app: Flask, settings: Settings, admin_client: FlaskClient, redis: Redis, form: dict[str, str], code: int
) -> None:
    job = failed_job(settings, redis)
    response = post_form(admin_client, JOBS, JOBS + "/retry", form)
    assert response.status_code == code
    assert "Nothing was retried" in response.get_data(as_text=True)
    assert get_queue(PUSH, redis).failed_job_registry.get_job_ids() == [job.id]
    assert audit_entries(app, "jobs.retry") == []


def test_the_exception_summary_keeps_the_type_and_first_line_only() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "jobs/pull.py", line 10, in pull_job\n'
        "    raise KeyError('x')\n"
        "KeyError: 'x'\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "jobs/pull.py", line 12, in pull_job\n'
        "    connect(url)\n"
        "sqlalchemy.exc.OperationalError: could not connect to postgresql://renewals:hunter2@db:5432/x\n"
        "DETAIL: more about it\n"
    )
    summary = exception_summary(traceback)
    assert summary == "sqlalchemy.exc.OperationalError: could not connect to postgresql://***@db:5432/x"
    assert exception_summary("ValueError: " + "v" * 500).endswith("…")
    assert len(exception_summary("ValueError: " + "v" * 500)) == 200
    assert exception_summary(None) == ""


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
