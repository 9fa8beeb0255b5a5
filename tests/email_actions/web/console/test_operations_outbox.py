"""The console's outbox page: dead letters can be retried (pending again, and a push queued) or discarded, one,
the ticked ones or all the page showed, audited; a bad id changes nothing and says why; a retry while Redis is
down still counts (the scheduler's sweep pushes); the page shows how long the oldest pending write has waited."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from jobs import base
from jobs.base import get_queue
from jobs.queues import PUSH
from sync_service.store import models
from sync_service.store.models import utcnow
from tests.email_actions.web.console.conftest import csrf_of, post_form
from tests.email_actions.web.console.operations_helpers import (
    OUTBOX,
    audit_entries,
    db,
    outbox_item,
    page,
    seed,
    statuses,
    text_of,
)
from tests.processes import free_port


@pytest.fixture
def seeded(app: Flask) -> dict[str, Any]:
    with db(app) as session:
        return seed(session)


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
    base._connection_for.cache_clear()
    try:
        response = admin_client.post(OUTBOX + "/retry", data={"csrf_token": token, "one": str(seeded["dead"][0])})
        assert response.status_code == 302
        assert statuses(app, seeded["dead"]) == ["pending", "dead"]
        assert "the scheduler's next sweep sends them" in page(admin_client, OUTBOX).text_content()
    finally:
        base._connection_for.cache_clear()


def test_the_page_shows_how_long_the_oldest_pending_write_has_waited(app: Flask, admin_client: FlaskClient) -> None:
    """Bad input: a Task owed to Salesforce for two and a half hours (the org did not take the pushes)."""
    assert text_of(page(admin_client, OUTBOX), "outbox-oldest-pending") == "No write is waiting for Salesforce."
    with db(app) as session:
        outbox_item(session, "owed", "pending", created_at=utcnow() - timedelta(hours=2, minutes=30, seconds=10))
        outbox_item(session, "fresh", "pending")
        outbox_item(session, "older-but-done", "done", created_at=utcnow() - timedelta(days=9))
    shown = text_of(page(admin_client, OUTBOX), "outbox-oldest-pending")
    assert shown.startswith("Oldest pending write: waiting for 2 h 30 min (owed since ")
