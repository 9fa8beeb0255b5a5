"""The console's jobs page: a failed job is listed (its exception's first line, never the traceback),
exported and retried, one or all of a queue's, audited; a bad retry changes nothing and says why."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from config.settings import Settings
from jobs.base import get_queue
from jobs.queues import PUSH
from jobs.worker import make_worker
from tests.email_actions.web.console.conftest import post_form
from tests.email_actions.web.console.operations_helpers import (
    JOBS,
    audit_entries,
    csv_of,
    failed_job,
    page,
    table,
)


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
