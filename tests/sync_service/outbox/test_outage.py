"""Writes are never given up because Salesforce was down: against the stand-in org (with and without the Task
external-id field, on SQLite and PostgreSQL), a push whose calls fail as a whole keeps its rows pending without
spending their attempts, backing off up to an hour for a simulated two days, and everything lands exactly once
when the org answers again; only Salesforce's answer about one record makes a dead letter.

Time is the pusher's clock, moved to the next row's due time after each push (no sleeps).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from sync_service.outbox.push import OUTAGE_CAP_SECONDS, Pusher
from sync_service.outbox.record import record_field_update, record_task
from sync_service.outbox.waiting import oldest_pending_seconds
from sync_service.store import models
from sync_service.store.models import utcnow
from tests.sync_service.outbox.conftest import Scene, drop_first_write_response

# Every REST route of the org answers 503; signing in still works (the partial outage of issue 13).
REST_ROUTES = ("query", "sobjects", "collections", "composite", "describe", "limits", "bulk", "blob")
EVERY_REST_CALL_503 = [{"route": route, "error": "503", "rate": 1.0} for route in REST_ROUTES]
TWO_DAYS = timedelta(days=2)


class Clock:
    """The pusher's notion of now, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def _rows(scene: Scene) -> list[models.OutboxItem]:
    with scene.store() as session:
        return list(session.scalars(select(models.OutboxItem).order_by(models.OutboxItem.id)).all())


def _next_due(scene: Scene, clock: Clock) -> datetime:
    pending = [r.next_attempt_at for r in _rows(scene) if r.status == "pending"]
    return max(clock.now, min(pending))


def _record_renewal_writes(scene: Scene) -> str:
    """An opened-email Task, a contact request Task and a field update on a contract; returns the contract."""
    contract = scene.what_id
    scene.record(1)
    scene.record(2, contact_request=True)
    with scene.store.begin() as session:
        record_field_update(
            session, key=f"{scene.tag}-renewed", sobject="Contract", sf_id=contract, values={"SpecialTerms": scene.tag}
        )
    return contract


def test_two_days_of_refused_rest_calls_dead_letter_nothing_and_everything_lands_once(scene: Scene) -> None:
    """Bad input: the org answers 503 to every REST call (sign-in works) for two simulated days, after a first
    write whose answer was lost although the org had written it."""
    contract = _record_renewal_writes(scene)
    clock = Clock()
    pusher = scene.pusher(retry_base=10.0, clock=clock)
    dropped = drop_first_write_response(scene)
    first = pusher.push()
    assert first.status == "retrying" and dropped and first.dead == 0

    scene.org.faults(rules=EVERY_REST_CALL_503)
    started, pushes, waits = clock.now, 0, []
    while clock.now - started < TWO_DAYS:
        due = _next_due(scene, clock)
        waits.append(due - clock.now)
        clock.now = due
        result = pusher.push()
        pushes += 1
        assert (result.status, result.done, result.dead) == ("retrying", 0, 0), result
        assert "Salesforce did not answer" in str(result.error)
        rows = _rows(scene)
        assert {r.status for r in rows} == {"pending"}
        assert max(r.attempts for r in rows) <= 1  # a whole-request failure spends no attempt
    assert max(waits) <= timedelta(seconds=OUTAGE_CAP_SECONDS, milliseconds=1)
    assert max(waits) >= timedelta(seconds=OUTAGE_CAP_SECONDS / 2)  # the backoff grew to the cap
    # Two batches (the Tasks, the field update), each tried every half hour to hour once the waits reach the
    # cap (after about a dozen doubling waits): not every minute, and not given up.
    assert 2 * 48 <= pushes <= 2 * (96 + 16), pushes
    with scene.store() as session:
        assert (oldest_pending_seconds(session, clock.now) or 0) >= TWO_DAYS.total_seconds()

    scene.org.faults()
    for _ in range(10):
        if not any(r.status == "pending" for r in _rows(scene)):
            break
        clock.now = _next_due(scene, clock)
        assert pusher.push().dead == 0
    rows = _rows(scene)
    assert {r.status for r in rows} == {"done"}
    tasks = scene.tasks()
    subjects = sorted(str(t["Subject"]) for t in tasks)
    assert subjects == sorted(str(r.payload["subject"]) for r in rows if r.kind == "task")  # each exactly once
    assert sorted((t["Priority"], t["Status"]) for t in tasks) == [("High", "Not Started"), ("Normal", "Completed")]
    terms = scene.sf.query(f"SELECT SpecialTerms FROM Contract WHERE Id = '{contract}'")["records"][0]
    assert terms["SpecialTerms"] == scene.tag
    with scene.store() as session:
        assert oldest_pending_seconds(session, clock.now) is None


def test_a_bad_reference_is_a_dead_letter_at_once_with_salesforces_message(scene: Scene) -> None:
    """Bad input: a Task on a contract id that does not exist in the org, pushed after an hour of 503s."""
    missing_contract = scene.what_id[:12] + "999"
    scene.record(1)
    with scene.store.begin() as session:
        record_task(
            session,
            key=scene.key(2),
            what_id=missing_contract,
            who_id=None,
            owner_id=None,
            subject="Email 2 opened",
            description="The renewal email 2 was opened.",
            event_at=utcnow(),
            conventions=scene.conventions,
        )
    clock = Clock()
    pusher = scene.pusher(retry_base=10.0, clock=clock)
    scene.org.faults(rules=EVERY_REST_CALL_503)
    started = clock.now
    while clock.now - started < timedelta(hours=1):
        clock.now = _next_due(scene, clock)
        assert pusher.push().dead == 0
    scene.org.faults()
    clock.now = _next_due(scene, clock)
    result = pusher.push()
    assert (result.done, result.dead) == (1, 1)
    with scene.store() as session:
        bad = session.scalars(select(models.OutboxItem).where(models.OutboxItem.key == scene.key(2))).one()
    # Dead at the org's first answer; its attempts are the hour of 503s' one held try (kept at 1: those requests
    # may have reached the org) plus the answered one.
    assert (bad.status, bad.attempts) == ("dead", 2)
    assert bad.last_error == "INVALID_CROSS_REFERENCE_KEY: invalid cross reference id"
    assert len(scene.tasks()) == 1


def test_a_session_that_signing_in_again_does_not_fix_spends_no_attempt(scene: Scene) -> None:
    """Bad input: every collections call answers INVALID_SESSION_ID, even right after a fresh sign-in."""
    scene.record(1)
    clock = Clock()
    pusher = scene.pusher(retry_base=10.0, clock=clock)
    scene.org.faults(rules=[{"route": "collections", "error": "INVALID_SESSION_ID", "rate": 1.0}])
    for _ in range(12):
        clock.now = _next_due(scene, clock)
        result = pusher.push()
        assert (result.status, result.dead) == ("failed", 0)
        assert "session expired" in str(result.error)
    [row] = _rows(scene)
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.next_attempt_at > clock.now
    scene.org.faults()
    clock.now = _next_due(scene, clock)
    assert pusher.push().done == 1
    assert len(scene.tasks()) == 1


def test_per_record_lock_errors_keep_their_bounded_attempts(scene: Scene) -> None:
    """Bad input: the org answers UNABLE_TO_LOCK_ROW for every record (Salesforce did answer about the record)."""
    scene.record(1)
    clock = Clock()
    pusher: Pusher = scene.pusher(retry_base=10.0, max_attempts=3, clock=clock)
    scene.org.faults(record_lock_rate=1.0)
    results = []
    for _ in range(3):
        clock.now = _next_due(scene, clock)
        results.append(pusher.push())
    assert [(r.retrying, r.dead) for r in results] == [(1, 0), (1, 0), (0, 1)]
    [row] = _rows(scene)
    assert row.status == "dead" and str(row.last_error).startswith("gave up after 3 attempts: UNABLE_TO_LOCK_ROW")
