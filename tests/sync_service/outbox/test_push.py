"""The push against the stand-in org, with and without the Task external-id field: every event lands
exactly once under faults, repeats update one Task, bad records go to the dead letters without blocking the
others, the API limit pauses the push, and batches hold up to 200 records."""

from __future__ import annotations

import time
from typing import Any

import requests
from sqlalchemy import select

from sync_service.outbox import wire
from sync_service.outbox.dead import retry_dead
from sync_service.outbox.record import record_field_update
from sync_service.salesforce.transport import SalesforceAdapter
from sync_service.store import models
from tests.sync_service.outbox.conftest import Scene, drop_first_write_response


def _subjects(scene: Scene) -> list[str]:
    return sorted(str(t["Subject"]) for t in scene.tasks())


def _expected(scene: Scene, n: int) -> list[str]:
    with scene.store() as session:
        return sorted(
            str(i.payload["subject"]) for i in session.scalars(select(models.OutboxItem)).all() if i.kind == "task"
        )[:n]


def test_every_event_lands_exactly_once_under_faults(scene: Scene) -> None:
    for n in range(300):
        scene.record(n)
    scene.org.faults(rules=[{"route": "collections", "error": "503", "rate": 0.2}], record_lock_rate=0.2, seed=7)
    results = scene.drain()
    scene.org.faults()
    assert len(results) > 1 and sum(r.retrying for r in results) > 0  # the faults did fire
    subjects = _subjects(scene)
    assert len(subjects) == 300
    assert subjects == _expected(scene, 300)  # all there, none twice
    with scene.store() as session:
        statuses = {i.status for i in session.scalars(select(models.OutboxItem)).all()}
        kept_ids = len(session.scalars(select(models.SalesforceKey)).all())
    assert statuses == {"done"}
    # Without an external-id field every created Task's id is kept under its key; with one, none is needed.
    assert kept_ids == (0 if wire.task_shape(scene.sf, scene.conventions).external_id_field else 300)


def test_repeats_update_the_same_task(scene: Scene) -> None:
    scene.record(1)
    scene.drain()
    scene.record(1)
    scene.record(1)
    scene.drain()
    tasks = scene.tasks()
    assert len(tasks) == 1
    assert "Happened 3 times" in str(tasks[0]["Description"])


def test_a_contact_request_is_an_open_high_priority_task(scene: Scene) -> None:
    scene.record(1, contact_request=True)
    scene.drain()
    [task] = scene.tasks()
    assert (task["Priority"], task["Status"]) == ("High", "Not Started")


def test_a_validation_rule_sends_one_record_to_the_dead_letters(scene: Scene) -> None:
    for n in range(5):
        scene.record(n)
    with scene.store() as session:
        bad = session.scalars(select(models.OutboxItem).where(models.OutboxItem.key == scene.key(3))).one()
    rule = {"object": "Task", "field": "Subject", "equals": bad.payload["subject"], "message": "Not this one"}
    scene.org.faults(validation_rules=[rule])
    result = scene.pusher().push()
    assert (result.done, result.dead) == (4, 1)
    with scene.store() as session:
        dead = session.get(models.OutboxItem, bad.id)
        assert dead is not None and dead.status == "dead"
        assert dead.last_error == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Not this one"
    scene.org.faults()
    with scene.store.begin() as session:
        assert retry_dead(session, ids=[bad.id]) == 1
    assert scene.pusher().push().done == 1
    assert len(scene.tasks()) == 5


def test_the_request_limit_pauses_the_push_and_loses_nothing(scene: Scene) -> None:
    for n in range(3):
        scene.record(n)
    scene.org.faults(rules=[{"route": "collections", "error": "REQUEST_LIMIT_EXCEEDED", "count": 5}])
    result = scene.pusher().push()
    assert result.status == "paused" and "daily API limit" in str(result.error)
    assert scene.pending() == 3
    with scene.store() as session:
        assert {i.attempts for i in session.scalars(select(models.OutboxItem)).all()} == {0}
    scene.org.faults()
    assert scene.pusher().push().done == 3


def test_the_api_reserve_pauses_the_push(scene: Scene) -> None:
    scene.record(1)
    scene.sf.query("SELECT Id FROM Contract LIMIT 1")  # a call, so the meter knows the org's usage
    pusher = scene.pusher()
    pusher.budget.reserve = 10_000_000
    result = pusher.push()
    assert result.status == "paused" and "reserve" in str(result.error)
    assert scene.pending() == 1


def test_450_items_take_three_collections_calls(scene: Scene) -> None:
    for n in range(450):
        scene.record(n)
    since = time.time()
    result = scene.pusher().push()
    assert result.done == 450
    writes = [e for e in scene.org.requests_since(since) if "/composite/sobjects" in e["path"]]
    assert len(writes) == 3
    assert len(scene.tasks()) == 450


def test_an_unanswered_create_is_not_repeated(scene: Scene) -> None:
    """The connection drops after the org has written the Tasks: the next push finds them by key."""
    for n in range(4):
        scene.record(n)
    dropped = drop_first_write_response(scene)
    first = scene.pusher().push()
    assert first.retrying == 4 and len(dropped) == 1
    scene.drain()
    assert len(scene.tasks()) == 4


def test_an_expired_session_signs_in_again(scene: Scene) -> None:
    scene.record(1)
    scene.org.faults(rules=[{"route": "collections", "error": "INVALID_SESSION_ID", "count": 1}])
    since = time.time()
    assert scene.pusher().push().done == 1
    assert scene.org.logins_since(since) == 1
    assert len(scene.tasks()) == 1


def test_field_updates_follow_the_tasks_and_a_bad_one_does_not_block_the_others(scene: Scene) -> None:
    contracts = [str(r["Id"]) for r in scene.sf.query("SELECT Id FROM Contract LIMIT 3")["records"]]
    scene.record(1)
    with scene.store.begin() as session:
        for n, sf_id in enumerate(contracts):
            record_field_update(
                session,
                key=f"{scene.tag}-u{n}",
                sobject="Contract",
                sf_id=sf_id,
                values={"SpecialTerms": f"{scene.tag} {n}"},
            )
    rule = {"object": "Contract", "field": "SpecialTerms", "equals": f"{scene.tag} 2", "message": "Terms locked"}
    scene.org.faults(validation_rules=[rule])
    since = time.time()
    result = scene.pusher().push()
    assert (result.done, result.dead) == (3, 1)
    writes = [e for e in scene.org.requests_since(since) if "/composite/sobjects" in e["path"]]
    assert [w["method"] for w in writes][-1] == "PATCH" and len(writes) == 2  # the Task's call, then Contracts'
    terms = {r["Id"]: r["SpecialTerms"] for r in scene.sf.query_all("SELECT Id, SpecialTerms FROM Contract")["records"]}
    assert [terms[c] for c in contracts[:2]] == [f"{scene.tag} 0", f"{scene.tag} 1"]
    with scene.store() as session:
        [dead] = session.scalars(select(models.OutboxItem).where(models.OutboxItem.status == "dead")).all()
    assert (dead.target_sf_id, dead.last_error) == (contracts[2], "FIELD_CUSTOM_VALIDATION_EXCEPTION: Terms locked")


def test_a_repeat_recorded_while_its_task_is_written_goes_with_the_next_push(scene: Scene) -> None:
    """The event happens again after Salesforce wrote its Task and before the push records that: the row is not
    marked done (its count is newer than what was sent), keeps the Task's id, and the next push sends the count."""
    scene.record(1)
    scene.record(2)
    adapter = scene.sf.session.get_adapter("https://")
    assert isinstance(adapter, SalesforceAdapter)
    real_send = adapter.send
    repeated: list[str] = []

    def send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = real_send(request, **kwargs)
        if not repeated and "/composite/sobjects" in (request.url or "") and request.method in ("POST", "PATCH"):
            repeated.append(str(request.url))
            scene.record(1)
        return response

    adapter.send = send  # type: ignore[method-assign]
    assert scene.pusher().push().done == 1
    with scene.store() as session:
        rows = {r.key: r for r in session.scalars(select(models.OutboxItem)).all()}
    bumped, written = rows[scene.key(1)], rows[scene.key(2)]
    assert (written.status, bumped.status, bumped.count) == ("done", "pending", 2)
    [first] = [t for t in scene.tasks() if "Email 1 " in str(t["Subject"])]
    assert bumped.sf_id == first["Id"]
    scene.drain()
    tasks = {"Email 1 " in str(t["Subject"]): str(t["Description"]) for t in scene.tasks()}
    assert len(scene.tasks()) == 2
    assert "Happened 2 times" in tasks[True] and "Happened once" in tasks[False]
