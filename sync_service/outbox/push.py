"""Draining the outbox into Salesforce: claimed in batches of up to 200, Tasks first (the records they hang
on already exist in the org), then field updates, one sObject Collections call per object and operation.

Exactly once: with the mapping's Task external-id field (confirmed by describe) every Task is an upsert by its
key, with TaskSubtype (create-only in Salesforce) when the store knows no id for the key. When the org holds the
key all the same (a store restored from a backup), Salesforce refuses that record for TaskSubtype, as on any
update, and writes nothing of it: the record goes again without TaskSubtype in a second call of the same push. So
new Tasks, the common case, stay one call per batch, where a lookup before each upsert would cost two. Without
one, a Task is created once, its id kept under its key (in the transaction that marks the row done) and updated
thereafter; a row claimed before whose outcome is unknown (a timeout, a killed worker) is first looked up in the
org by its exact Subject, which carries the key. (A row never tried is not looked up: a store restored from a
backup older than its pushes creates those Tasks again. Only the external id makes that case exactly once.)

Failures: a write is never given up because Salesforce was down. When a collections call (or a lookup) fails
as a whole (5xx, a timeout, a refused connection, a session that signing in again does not fix,
REQUEST_LIMIT_EXCEEDED), no record is at fault: the push stops, and the rows it was sending stay pending
without spending an attempt, due again after a wait about as long as they have already waited (capped at
`outage_cap`, an hour, with jitter), for as long as it takes. Only Salesforce's answer about one record can
make that record dead: a rejection (validation rule, bad reference, required field, ...) at once with
Salesforce's message, while the batch goes on; a transient per-record code (UNABLE_TO_LOCK_ROW, ...) after
`max_attempts` tries with backoff, because Salesforce answered and the same record kept failing (a lock held
for that long is a stuck process to look at, not an outage). A request Salesforce refuses for its content
(a 4xx other than the ones above) makes its rows dead at once, as before: retrying the same request cannot
help. The API reserve (checked before each call) pauses the push and gives the rows back untouched.
Retries happen here only (push jobs get no RQ retry: the next sweep is the retry).

Never over someone's edit: a field update that carries seen values (`payload["seen"]`, field → the value the
service last saw in Salesforce; `payload["seen_at"]`, the record's stamp then) is written alone to its record
as an sObject Rows PATCH with `If-Unmodified-Since: <seen_at>` (`wire.conditional_update`). 204: done. 412
(the record was modified since), or no stamp to send: one read of the record's fields and LastModifiedDate,
then each field is sorted (`conflicts.split`): one Salesforce still holds at the seen value is written again,
conditional on the LastModifiedDate just read; one already at ours needs nothing; one changed by someone else
is a conflict: Salesforce's value stays, a WriteConflict row keeps seen, ours and theirs, the rep gets a Task
(pushed at the end of the same push), and the row ends `conflict` when nothing of it was written, `done` (with
its conflicts recorded) when some of it was. A 412 on that second write is a race with another writer: the row
stays pending for the next push without spending an attempt, and nothing is recorded (the next push reads
again). Whole-request failures and record-level rejections are handled as for a collections call. Rows
without seen values go through sObject Collections as before. One record is written at most once per batch.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from sqlalchemy import ColumnElement, Connection, Update, case, insert, literal, literal_column, null, select, update
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import TaskConventions
from sync_service.outbox import bulk, conflicts, wire
from sync_service.outbox.waiting import pending_since
from sync_service.outbox.wire import Claimed, TaskShape
from sync_service.pull.convert import sf_datetime
from sync_service.pull.fetch import classify
from sync_service.salesforce.budget import Budget, add_api_usage, check_budget
from sync_service.salesforce.errors import BudgetPaused, PullFailed, TransientError
from sync_service.salesforce.transport import ApiMeter, meter_of
from sync_service.store import models
from sync_service.store.models import utcnow

# Records per sObject Collections call (Salesforce's maximum) and so rows per claim.
BATCH = 200
TRANSIENT_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"})
# A claimed row is invisible to other pushes this long, so pushes running at once (one per worker) take
# disjoint batches; the claim also skips rows another push is claiming (FOR UPDATE SKIP LOCKED). A worker
# killed mid-batch leaves its rows to the next push after that, which looks their keys up before writing again.
LEASE = timedelta(minutes=5)
# The longest wait between two tries of a write while Salesforce does not answer: an outage of days costs a
# try an hour per batch, and a write lands within the hour after Salesforce is back.
OUTAGE_CAP_SECONDS = 3600.0


class Unanswered(Exception):
    """A call failed as a whole: no record is at fault, so the push stops and the rows it was sending wait
    without spending an attempt. `status` is the push's: retrying (Salesforce unavailable), paused (the
    org's API limit), failed (signing in again did not make the session work)."""

    def __init__(self, status: str, message: str, *, maybe_written: bool):
        super().__init__(message)
        self.status = status
        self.message = message
        # False when Salesforce refused the call outright (the API limit, the session): nothing was written.
        self.maybe_written = maybe_written


@dataclass
class PushResult:
    # succeeded | retrying (Salesforce did not answer; the rows wait) | paused (API limit or reserve) |
    # failed (signing in again did not help)
    status: str = "succeeded"
    done: int = 0
    retrying: int = 0
    dead: int = 0
    conflicts: int = 0  # fields left as Salesforce holds them because someone changed them since
    api_calls: int = 0
    seconds: float = 0.0
    error: str | None = None


class Pusher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        sf: Salesforce,
        conventions: TaskConventions,
        budget: Budget,
        *,
        batch: int = BATCH,
        max_attempts: int = 8,
        retry_base: float = 10.0,
        retry_cap: float = 1800.0,
        outage_cap: float = OUTAGE_CAP_SECONDS,
        job_name: str = "push",
        clock: Callable[[], datetime] = utcnow,
    ):
        """`retry_base` is the first wait after a failure (0 retries at the next push: tests), `retry_cap`
        the longest after per-record transient errors, `outage_cap` the longest while Salesforce does not
        answer. `clock` is the time rows are due by (tests move it to live through days of backoff)."""
        if not 1 <= batch <= 200:
            raise ValueError("an sObject Collections call takes 1 to 200 records")
        self.sessions = sessions
        self.sf = sf
        self.meter: ApiMeter = meter_of(sf.session)
        self.conventions = conventions
        self.budget = budget
        self._calls_before = 0
        self.batch = batch
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.outage_cap = outage_cap
        self.job_name = job_name
        self.clock = clock
        self._shape: TaskShape | None = None
        # Rows of the current batch whose outcome is recorded; the others go back if the batch stops.
        self._settled: set[int] = set()
        # Tasks recorded for conflicts during this push: sent by a last pass over Tasks.
        self._conflict_tasks = False

    # ------------------------------------------------------------------ the run

    def push(self) -> PushResult:
        started, calls_before = time.monotonic(), self.meter.calls
        self._calls_before = calls_before
        # Rows that fail now are due again after this instant at the earliest, so one push handles each row
        # at most once and always ends.
        cutoff = self.clock()
        result = PushResult()
        try:
            for kind, send in (
                ("task", self._push_tasks),
                ("field_update", self._push_updates),
                ("conflict_task", self._push_tasks),
            ):
                if kind == "conflict_task":
                    if not self._conflict_tasks:
                        break
                    # The Tasks of the conflicts just found were recorded after the cutoff: a fresh one.
                    kind, cutoff = "task", self.clock()
                while items := self._claim(kind, cutoff):
                    self._settled = set()
                    try:
                        self._check_budget()
                        send(items, result)
                    except BudgetPaused:
                        # The service's own budget or reserve, checked before a call: nothing was sent.
                        self._release([i.id for i in items if i.id not in self._settled])
                        raise
                    except Unanswered as exc:
                        result.retrying += self._hold([i.id for i in items if i.id not in self._settled], exc)
                        raise
        except BudgetPaused as exc:
            result.status, result.error = "paused", str(exc)
        except Unanswered as exc:
            result.status, result.error = exc.status, exc.message
        result.api_calls = self.meter.calls - calls_before
        result.seconds = time.monotonic() - started
        # An increment of its own: pushes running at once (one per worker) all add to today's row.
        add_api_usage(self.sessions, self.job_name, result.api_calls)
        return result

    def _claim(self, kind: str, cutoff: datetime) -> list[Claimed]:
        """Take up to a batch of due rows: one SELECT of their columns (FOR UPDATE SKIP LOCKED on PostgreSQL;
        on SQLite the write transaction already serialises claims), with the Salesforce id kept under each key
        joined in, and one UPDATE counting the attempt and setting the lease for all of them."""
        now = self.clock()
        item = models.OutboxItem
        with self.sessions.begin() as session:
            connection = session.connection()
            rows = connection.execute(
                select(
                    item.id,
                    item.key,
                    item.kind,
                    item.sobject,
                    item.payload,
                    item.target_sf_id,
                    item.sf_id,
                    item.attempts,
                    item.count,
                    item.last_event_at,
                    item.revision,
                    item.last_error.is_not(None),
                    models.SalesforceKey.sf_id,
                )
                .outerjoin(models.SalesforceKey, models.SalesforceKey.key == item.key)
                # 'pending' written into the statement, not bound: only then may the database read through the
                # partial index of pending rows (a bound value could be anything, for all the plan knows).
                .where(item.status == literal_column("'pending'"), item.kind == kind, item.next_attempt_at <= cutoff)
                .order_by(item.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True, of=item)
            ).all()
            if not rows:
                return []
            connection.execute(
                update(item)
                .where(bulk.in_ids(connection, item.id, [row[0] for row in rows]))
                .values(attempts=item.attempts + 1, next_attempt_at=now + LEASE)
            )
        return [
            Claimed(
                id,
                key,
                kind,
                sobject,
                payload,
                target_sf_id,
                sf_id or kept_sf_id,
                attempts + 1,
                count,
                last_event_at,
                revision,
                # Claimed before and not settled (a killed worker), or a try failed: the write may have
                # reached the org.
                tried_before=attempts > 0 or failed_before,
            )
            for (
                id,
                key,
                kind,
                sobject,
                payload,
                target_sf_id,
                sf_id,
                attempts,
                count,
                last_event_at,
                revision,
                failed_before,
                kept_sf_id,
            ) in rows
        ]

    @staticmethod
    def _known_keys(session: Session, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        rows = session.execute(
            select(models.SalesforceKey.key, models.SalesforceKey.sf_id).where(models.SalesforceKey.key.in_(keys))
        ).all()
        return {k: v for k, v in rows}

    def _release(self, ids: list[int]) -> None:
        """Give claimed rows back untouched (the push paused before sending them)."""
        if not ids:
            return
        with self.sessions.begin() as session:
            for row in session.scalars(select(models.OutboxItem).where(models.OutboxItem.id.in_(ids))):
                if row.status == "pending":
                    row.attempts = max(0, row.attempts - 1)
                    row.next_attempt_at = self.clock()

    def _hold(self, ids: list[int], why: Unanswered) -> int:
        """Salesforce did not take the request: the rows wait without spending the attempt their claim
        counted, due again after about as long as they have waited. `last_error` says why, and makes the
        next push look their keys up first. When the request may have reached the org, `attempts` stays at
        least 1 for the same reason: it tells the web app a push has touched the row (it takes back a Task's
        share only from an untouched row)."""
        if not ids:
            return 0
        now = self.clock()
        with self.sessions.begin() as session:
            rows = [
                row
                for row in session.scalars(select(models.OutboxItem).where(models.OutboxItem.id.in_(ids)))
                if row.status == "pending"
            ]
            if not rows:
                return 0
            # One wait for the whole batch, by its longest-waiting row: the batch stays one call per try.
            due = now + self._outage_wait(max(now - pending_since(row) for row in rows))
            for row in rows:
                row.attempts = max(1 if why.maybe_written else 0, row.attempts - 1)
                row.last_error = why.message
                row.next_attempt_at = due
        return len(rows)

    def _check_budget(self) -> None:
        check_budget(self.sessions, self.meter, self.budget, unrecorded=self.meter.calls - self._calls_before)

    # ------------------------------------------------------------------ Tasks

    def _push_tasks(self, items: list[Claimed], result: PushResult) -> None:
        try:
            shape = self._shape = self._shape or wire.task_shape(self.sf, self.conventions)
            ext = shape.external_id_field
            # Rows claimed before with no id recorded may have reached the org: find them first.
            unsure = [i for i in items if i.sf_id is None and i.tried_before]
            found: dict[str, str] = {}
            if unsure:
                by = ext or "Subject"
                values = {(i.key if ext else i.payload["subject"]): i.key for i in unsure}
                found = {values[v]: sf_id for v, sf_id in wire.find_tasks(self.sf, by, list(values)).items()}
        except (TransientError, BudgetPaused) as exc:
            raise _unanswered(exc) from exc
        except PullFailed as exc:
            if isinstance(exc.__cause__, SalesforceExpiredSession):
                raise _unanswered(exc) from exc
            self._settle(items, [_failure(str(exc))] * len(items), result)
            return
        if found and not ext:
            self._remember(found)
        known = {i.key: i.sf_id or found.get(i.key) for i in items}
        if ext:
            self._upsert_tasks(
                items, [wire.task_record(i, shape, creating=known[i.key] is None) for i in items], ext, result
            )
            return
        updates = [i for i in items if known[i.key]]
        creates = [i for i in items if not known[i.key]]
        if updates:
            records = [{**wire.task_record(i, shape, creating=False), "id": known[i.key]} for i in updates]
            self._send(updates, "PATCH", "composite/sobjects", records, result)
        if creates:
            self._check_budget()
            records = [wire.task_record(i, shape, creating=True) for i in creates]
            self._send(creates, "POST", "composite/sobjects", records, result, keep_keys=True)

    def _upsert_tasks(self, items: list[Claimed], records: list[dict[str, Any]], ext: str, result: PushResult) -> None:
        """One upsert call by the external id. A record sent as new (with TaskSubtype) whose key the org holds
        already (the store did not know it: restored from a backup, say) is refused for TaskSubtype, as
        Salesforce refuses it on an update, and nothing of it is written: it goes again without TaskSubtype,
        in a second call made only then. The others are settled first, so an outage on that second call holds
        only the records it carries."""
        path = f"composite/sobjects/Task/{ext}"
        answers = self._call(items, "PATCH", path, records)
        again = {
            n
            for n, (record, answer) in enumerate(zip(records, answers, strict=True))
            if "TaskSubtype" in record and wire.subtype_refused(answer)
        }
        settled = [n for n in range(len(items)) if n not in again]
        if settled:
            self._settle([items[n] for n in settled], [answers[n] for n in settled], result)
        if again:
            self._check_budget()
            resent = sorted(again)
            self._send(
                [items[n] for n in resent], "PATCH", path, [wire.without_subtype(records[n]) for n in resent], result
            )

    def _remember(self, found: dict[str, str], sobject: str = "Task") -> None:
        with self.sessions.begin() as session:
            self._save_keys(session, found, sobject)

    @staticmethod
    def _save_keys(session: Session, found: dict[str, str], sobject: str) -> None:
        existing = Pusher._known_keys(session, list(found))
        new = [{"key": key, "sf_id": sf_id, "sobject": sobject} for key, sf_id in found.items() if key not in existing]
        if new:
            session.connection().execute(insert(models.SalesforceKey), new)

    # ------------------------------------------------------------------ field updates

    def _push_updates(self, items: list[Claimed], result: PushResult) -> None:
        by_object: dict[str, list[Claimed]] = {}
        guarded: list[Claimed] = []
        later: list[int] = []
        targets: set[str | None] = set()
        for item in items:
            # One record may appear once per collections call; a second write to it waits for the next batch.
            if item.target_sf_id in targets:
                later.append(item.id)
                continue
            targets.add(item.target_sf_id)
            if item.payload.get("seen"):
                guarded.append(item)
            else:
                by_object.setdefault(item.sobject, []).append(item)
        if later:
            self._release(later)
        for group in by_object.values():
            self._check_budget()
            self._send(group, "PATCH", "composite/sobjects", [wire.update_record(i) for i in group], result)
        for item in guarded:
            self._check_budget()
            self._write_guarded(item, result)

    # ------------------------------------------------------------------ conditional updates

    def _write_guarded(self, item: Claimed, result: PushResult) -> None:
        """Write one record's fields only where Salesforce still holds the values the service last saw."""
        values: dict[str, Any] = dict(item.payload["values"])
        seen: dict[str, Any] = dict(item.payload["seen"])
        seen_at = sf_datetime(item.payload.get("seen_at"))
        sobject, sf_id = item.sobject, str(item.target_sf_id)
        try:
            if seen_at is not None and self._conditional(sobject, sf_id, values, seen_at):
                self._land(item, values, [], result)
                return
            # Modified since the service saw it (or no stamp was recorded): what does it hold now?
            self._check_budget()
            current, modified = classify(lambda: wire.read_fields(self.sf, sobject, sf_id, list(seen)))
            checked = conflicts.split(values, seen, current)
            if checked.write:
                self._check_budget()
                if modified is None or not self._conditional(sobject, sf_id, checked.write, modified):
                    self._raced(item, result)
                    return
            self._land(item, {**checked.write, **checked.already}, checked.conflicts, result)
        except TransientError as exc:
            cause = exc.__cause__
            answer = _record_answer(exc)
            if (
                not isinstance(cause, SalesforceError)
                or cause.status >= 500
                or answer is None
                or answer["errors"][0]["statusCode"] not in TRANSIENT_RECORD_CODES
            ):
                raise _unanswered(exc) from exc
            # A 4xx about this record with a transient code (UNABLE_TO_LOCK_ROW): Salesforce answered for it.
            self._settle([item], [answer], result)
        except BudgetPaused as exc:
            raise _unanswered(exc) from exc
        except PullFailed as exc:
            if isinstance(exc.__cause__, SalesforceExpiredSession):
                raise _unanswered(exc) from exc
            self._settle([item], [_record_answer(exc) or _failure(str(exc))], result)

    def _conditional(self, sobject: str, sf_id: str, values: dict[str, Any], since: datetime) -> bool:
        return classify(lambda: wire.conditional_update(self.sf, sobject, sf_id, values, since))

    def _land(
        self, item: Claimed, written: dict[str, Any], found: list[conflicts.Conflict], result: PushResult
    ) -> None:
        """Record what one conditional write did, its conflicts and their Tasks, in one transaction."""
        now = self.clock()
        with self.sessions.begin() as session:
            self._settled.add(item.id)
            row = session.get(models.OutboxItem, item.id)
            if row is None:
                return
            if found:
                tasks = conflicts.record_conflicts(
                    session,
                    outbox_item_id=row.id,
                    sobject=item.sobject,
                    sf_id=str(item.target_sf_id),
                    conflicts=found,
                    conventions=self.conventions,
                    at=now,
                )
                for task in tasks:
                    # Due by the last pass's cutoff, whatever the clock's offset from real time.
                    task.next_attempt_at = now
                self._conflict_tasks = True
                result.conflicts += len(found)
            tried = {c.field: c.ours for c in found}
            left = conflicts.remaining(dict(row.payload), written, tried)
            if row.revision != item.revision and left["values"]:
                # Recorded again while we were writing: the rest (newer values) goes with the next push.
                row.payload = left
                row.next_attempt_at = now
                return
            row.status = "conflict" if found and not written else "done"
            row.done_at, row.attempts = now, 0
            row.last_error = _conflicts_text(found) if found else None
            result.done += 1

    def _raced(self, item: Claimed, result: PushResult) -> None:
        """Someone wrote the record between our read and our write: the next push reads it again; this try
        spends no attempt."""
        with self.sessions.begin() as session:
            self._settled.add(item.id)
            row = session.get(models.OutboxItem, item.id)
            if row is None or row.status != "pending":
                return
            row.attempts = max(0, row.attempts - 1)
            row.last_error = "the record changed in Salesforce again while it was being written; writing again"
            row.next_attempt_at = self.clock() + _jittered(0.0)
            result.retrying += 1

    # ------------------------------------------------------------------ one collections call

    def _send(
        self,
        items: list[Claimed],
        method: str,
        path: str,
        records: list[dict[str, Any]],
        result: PushResult,
        *,
        keep_keys: bool = False,
    ) -> None:
        self._settle(items, self._call(items, method, path, records), result, keep_keys=keep_keys)

    def _call(
        self, items: list[Claimed], method: str, path: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """One collections call: Salesforce's answer for each record, in order (a refused request: a failure
        for each). Raises Unanswered when the call failed as a whole."""
        body = {"allOrNone": False, "records": records}
        try:
            answers = classify(lambda: self.sf.restful(path, method=method, json=body))
        except (TransientError, BudgetPaused) as exc:
            raise _unanswered(exc) from exc
        except PullFailed as exc:
            if isinstance(exc.__cause__, SalesforceExpiredSession):
                # simple-salesforce already signed in again and was refused: no record is at fault.
                raise _unanswered(exc) from exc
            # Salesforce refused the request for what it holds: sending it again cannot help.
            answers = [_failure(str(exc))] * len(items)
        if not isinstance(answers, list) or len(answers) != len(items):
            raise Unanswered(
                "retrying", f"Salesforce did not answer as expected (unexpected answer from {path})", maybe_written=True
            )
        return answers

    def _settle(
        self, items: list[Claimed], answers: list[dict[str, Any]], result: PushResult, *, keep_keys: bool = False
    ) -> None:
        """Record each row's outcome, and the ids of created records, in one transaction: one read of the rows'
        revisions and attempts (what the backoff and the dead letters go by), then one UPDATE per outcome for
        all its rows (`_write_outcomes`)."""
        now = self.clock()
        item_ = models.OutboxItem
        done: list[dict[str, Any]] = []
        retry: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        created: dict[str, str] = {}
        with self.sessions.begin() as session:
            connection = session.connection()
            stored = {
                id: (revision, attempts)
                for id, revision, attempts in connection.execute(
                    select(item_.id, item_.revision, item_.attempts).where(
                        bulk.in_ids(connection, item_.id, [i.id for i in items])
                    )
                )
            }
            for item, answer in zip(items, answers, strict=True):
                self._settled.add(item.id)
                if item.id not in stored:
                    continue
                revision, attempts = stored[item.id]
                if answer.get("success"):
                    sf_id = str(answer["id"])
                    if keep_keys:
                        created[item.key] = sf_id
                    done.append({"id": item.id, "revision": item.revision, "sf_id": sf_id})
                    if revision == item.revision:
                        result.done += 1
                    continue
                code, message = _first_error(answer)
                if code in TRANSIENT_RECORD_CODES and attempts < self.max_attempts:
                    retry.append({"id": item.id, "error": message, "due": now + self._backoff(attempts)})
                    result.retrying += 1
                else:
                    if code in TRANSIENT_RECORD_CODES:
                        message = f"gave up after {attempts} attempts: {message}"
                    dead.append({"id": item.id, "error": message})
                    result.dead += 1
            _write_outcomes(connection, now, done, retry, dead)
            if created:
                self._save_keys(session, created, items[0].sobject)

    def _backoff(self, attempts: int) -> timedelta:
        """Exponential backoff with full jitter (never zero, so a push does not meet the row again)."""
        ceiling = min(self.retry_cap, self.retry_base * 2 ** max(0, attempts - 1))
        return _jittered(ceiling)

    def _outage_wait(self, waited: timedelta) -> timedelta:
        """The wait before the next try of a write Salesforce did not take: about as long as it has waited
        (so the waits double as the outage goes on), at least `retry_base`, at most `outage_cap`."""
        if self.retry_base <= 0:
            return _jittered(0.0)
        return _jittered(min(self.outage_cap, max(self.retry_base, waited.total_seconds())))


def _write_outcomes(
    connection: Connection,
    now: datetime,
    done: list[dict[str, Any]],
    retry: list[dict[str, Any]],
    dead: list[dict[str, Any]],
) -> None:
    """One UPDATE per outcome for a batch's rows. A success is marked done only where the row's revision is
    still the one pushed, decided by the UPDATE itself (so a bump committed meanwhile wins); a row bumped since
    keeps the Salesforce id and is due again at once, to push the newer count."""
    item = models.OutboxItem
    at = literal(now, item.done_at.type)

    def succeeded(value: Callable[[str], ColumnElement[Any]]) -> Update:
        same = item.revision == value("revision")
        return (
            update(item)
            .where(item.id == value("id"))
            .values(
                sf_id=value("sf_id"),
                status=case((same, literal("done")), else_=item.status),
                done_at=case((same, at), else_=item.done_at),
                attempts=case((same, literal(0)), else_=item.attempts),
                last_error=case((same, null()), else_=item.last_error),
                next_attempt_at=case((same, item.next_attempt_at), else_=at),
            )
        )

    bulk.update_each(
        connection,
        succeeded,
        {"id": item.id.type, "revision": item.revision.type, "sf_id": item.sf_id.type},
        done,
    )
    bulk.update_each(
        connection,
        lambda value: (
            update(item).where(item.id == value("id")).values(last_error=value("error"), next_attempt_at=value("due"))
        ),
        {"id": item.id.type, "error": item.last_error.type, "due": item.next_attempt_at.type},
        retry,
    )
    bulk.update_each(
        connection,
        lambda value: update(item).where(item.id == value("id")).values(status="dead", last_error=value("error")),
        {"id": item.id.type, "error": item.last_error.type},
        dead,
    )


def _jittered(ceiling: float) -> timedelta:
    """Between half the ceiling and all of it, and never zero (a push must not meet the row again)."""
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling)) + timedelta(milliseconds=1)


def _unanswered(exc: Exception) -> Unanswered:
    if isinstance(exc, BudgetPaused):
        return Unanswered("paused", str(exc), maybe_written=False)
    if isinstance(exc, TransientError):
        return Unanswered("retrying", f"Salesforce did not answer, retrying: {exc}", maybe_written=True)
    return Unanswered("failed", f"{exc}; the writes wait and are retried", maybe_written=False)


def _record_answer(exc: Exception) -> dict[str, Any] | None:
    """Salesforce's error list about one record (the body of a failed sObject Rows call) as a collections
    answer, or None when the failure carries none."""
    cause = exc.__cause__
    content = cause.content if isinstance(cause, SalesforceError) else None
    if not isinstance(content, list) or not content or not isinstance(content[0], dict):
        return None
    errors = [
        {"statusCode": str(e.get("errorCode") or "UNKNOWN"), "message": str(e.get("message", ""))}
        for e in content
        if isinstance(e, dict)
    ]
    return {"success": False, "errors": errors}


def _conflicts_text(found: list[conflicts.Conflict]) -> str:
    parts = [
        f"{c.field} is {conflicts.describe_value(c.theirs)} in Salesforce (was {conflicts.describe_value(c.seen)}; "
        f"ours {conflicts.describe_value(c.ours)})"
        for c in found
    ]
    return "Changed in Salesforce since last seen, Salesforce's value kept: " + "; ".join(parts)


def _failure(message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": "REQUEST_FAILED", "message": message}]}


def _first_error(answer: dict[str, Any]) -> tuple[str, str]:
    errors = answer.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN")
    return code, f"{code}: {str(first.get('message', '')).strip()}"


def push(
    sessions: sessionmaker[Session], sf: Salesforce, conventions: TaskConventions, budget: Budget, *, batch: int = BATCH
) -> PushResult:
    return Pusher(sessions, sf, conventions, budget, batch=batch).push()
