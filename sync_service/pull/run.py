"""One pull of one mapping: full or incremental, entity by entity in dependency order, streamed and written
in chunks, with the run recorded as a SyncRun and each entity's watermark kept in SyncState.

Transient failures retry the entity (the writes are idempotent upserts) with backoff and jitter — the only
retry layer: pull jobs have no RQ retry. A transient failure that outlasts those quick retries ends the run as
"retrying": it blocks nothing, and the next scheduled tick is the retry. A permanent failure (a field renamed
in the org, an invalid filter) fails the run with Salesforce's message and leaves the store as it was.
Reaching the API reserve pauses the run with a visible status; the next scheduled run continues from the last
complete entity's watermark.

One bad record never sinks the pull: a value its field map cannot convert, or a row the store refuses, is
skipped, counted and kept with its id and reason among the run's skipped examples; the rest lands, and the
watermark moves past the skipped record (it comes back when the org changes it).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simple_salesforce import Salesforce
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from mappings.model import CANONICAL, PULL_ORDER, Mapping
from mappings.soql import soql_datetime
from sync_service.pull import fetch, plan
from sync_service.pull.convert import convert_column, modstamps
from sync_service.pull.pricing_requests import settle_pricing_requests
from sync_service.pull.renewal_state import settle_renewal_state
from sync_service.pull.writer import (
    FETCHABLE,
    TABLES,
    Batch,
    ChunkResult,
    Problem,
    Resolved,
    local_ids,
    resolve,
    write_batch,
)
from sync_service.salesforce.budget import Budget, check_budget, record_api_usage
from sync_service.salesforce.errors import BudgetPaused, PullFailed, TransientError
from sync_service.salesforce.transport import ApiMeter
from sync_service.store import models

# Records changed while a pull runs can carry a SystemModstamp a little older than the newest one already
# read; re-reading a short window on the next pull costs little and misses nothing.
OVERLAP = timedelta(minutes=5)
# Parents that arrived in an incremental pull, above which reading their children by id costs more calls than reading
# the child entity whole once.
MAX_NEW_PARENTS = 2000
MAX_SKIPPED_EXAMPLES = 100
# The cycle collector's thresholds during a pull (see `collecting_rarely`).
PULL_GC_THRESHOLDS = (50_000, 20, 100)
READ_AHEAD = 2  # reads of a full pull started before their turn (see Puller._read_ahead)
# Skipped examples kept per entity on the run's row (under SKIPPED_KEY in `sync_runs.rows`), for the console.
MAX_STORED_EXAMPLES = 20
SKIPPED_KEY = "skipped"
# The store's refusals of a row (a constraint, a value too long for its column): one bad row, not a broken store.
ROW_REFUSED = (IntegrityError, DataError)
# Entities whose deletions and moves out of scope each pull looks for; the nightly reconcile does the rest.
REMOVABLE = (("contract", models.Contract), ("renewal_quote", models.RenewalQuote))
Progress = Callable[[str, int], None]


@dataclass
class PullResult:
    run_id: int
    kind: str
    status: str
    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # "<sf id>: why", at most MAX_SKIPPED_EXAMPLES
    skipped_count: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    seconds: float = 0.0
    error: str | None = None


@contextmanager
def collecting_rarely() -> Iterator[None]:
    """Run the cycle collector far less often meanwhile (`PULL_GC_THRESHOLDS`), then as before. A pull
    allocates a tuple or list for every value and row it reads and writes (tens of millions on a full pull),
    almost none in a reference cycle, and with Python's default thresholds (700, 10, 10) the collector ran
    thousands of times and walked every live batch, page and read-ahead in full each time: 15 % of a
    60,000-contract pull. Cycles made meanwhile (a few per transaction) are still collected, only later."""
    before = gc.get_threshold()
    gc.set_threshold(*(max(now, wanted) for now, wanted in zip(before, PULL_GC_THRESHOLDS, strict=True)))
    try:
        yield
    finally:
        gc.set_threshold(*before)


class Puller:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        sf: Salesforce,
        meter: ApiMeter,
        mapping: Mapping,
        budget: Budget,
        *,
        progress: Progress | None = None,
        attempts: int = 4,
        max_wait: float = 30.0,
        overlap: timedelta = OVERLAP,
    ):
        self.sessions = sessions
        self.sf = sf
        self.meter = meter
        self.mapping = mapping
        self.budget = budget
        self.progress = progress
        self.overlap = overlap
        self.retrying = transient_retrying(attempts, max_wait)
        # Sf ids of contracts and quotes an incremental run wrote that the store had no live copy of: new, or
        # back in scope, their children may be in scope now without having changed.
        self._arrived: dict[str, set[str]] = {}
        # Sf ids skipped per entity in this run: an entity retried after a transient error meets the same bad
        # records (and parents fetched for it) again, and each is counted once.
        self._skipped_ids: dict[str, set[str]] = {}
        # Reads started before their entity's turn (`_read_ahead`), by SOQL.
        self._ahead: dict[str, fetch.Prefetched[fetch.Page]] = {}

    # ------------------------------------------------------------------ the run

    def pull(self, *, full: bool) -> PullResult:
        with collecting_rarely():
            return self._pull(full=full)

    def _pull(self, *, full: bool) -> PullResult:
        kind = "full" if full else "incremental"
        started, calls_before = time.monotonic(), self.meter.calls
        with self.sessions.begin() as session:
            run = models.SyncRun(mapping_name=self.mapping.name, kind=kind, status="running")
            session.add(run)
            session.flush()
            run_id = run.id
        result = PullResult(run_id, kind, "running")
        self._arrived, self._skipped_ids = {}, {}
        self._ahead = {}
        # Removals are looked for since the previous pull's watermarks: this run moves them past deletions
        # made before its own newest change.
        removals_since = {entity: self._watermark(entity) for entity, _ in REMOVABLE}
        try:
            for entity in PULL_ORDER:
                self._check_budget()
                self.retrying(self._pull_entity, entity, full, result)
            self.retrying(self._incremental_removals, result, removals_since)
            with self.sessions.begin() as session:
                settled = settle_renewal_state(session, self.mapping)
                answered = settle_pricing_requests(session)
            result.rows["renewed_in_salesforce"] = settled.marked
            if answered:
                result.rows["pricing_requests_answered"] = answered
            if settled.unmarked:
                result.rows["renewal_taken_back_in_salesforce"] = settled.unmarked
            result.status = "succeeded"
        except BudgetPaused as exc:
            result.status, result.error = "paused", str(exc)
        except TransientError as exc:
            # Still failing after the quick retries (a network blip, a 503): recorded, but blocking nothing.
            result.status, result.error = "retrying", str(exc)
        except PullFailed as exc:
            result.status, result.error = "failed", str(exc)
        except Exception as exc:
            # Record the run as failed rather than leave it "running" for ever, then let the job fail loudly.
            first_line = (str(exc).splitlines() or [""])[0][:300]
            result.status, result.error = "failed", f"unexpected error: {exc.__class__.__name__}: {first_line}"
            self._close(result, started, calls_before)
            raise
        finally:
            for reader in self._ahead.values():  # a read started ahead for an entity the run did not reach
                reader.close()
            self._ahead = {}
        self._close(result, started, calls_before)
        return result

    def _close(self, result: PullResult, started: float, calls_before: int) -> None:
        result.api_calls = self.meter.calls - calls_before
        result.seconds = time.monotonic() - started
        self._finish(result)

    def _finish(self, result: PullResult) -> None:
        with self.sessions.begin() as session:
            run = session.get(models.SyncRun, result.run_id)
            assert run is not None
            run.status, run.error = result.status, result.error
            run.rows = {**result.rows, **{f"{k}_skipped": n for k, n in result.skipped_count.items() if n}}
            examples = {k: v[:MAX_STORED_EXAMPLES] for k, v in result.skipped.items() if v}
            if examples:
                run.rows[SKIPPED_KEY] = examples
            run.api_calls = result.api_calls
            run.finished_at = datetime.now(UTC)
            record_api_usage(session, f"pull:{self.mapping.name}", result.api_calls)

    def _check_budget(self) -> None:
        check_budget(self.sessions, self.meter, self.budget)

    # ------------------------------------------------------------------ one entity

    def _pull_entity(self, entity: str, full: bool, result: PullResult) -> None:
        since = None if full else self._watermark(entity)
        newest: datetime | None = None
        rows_done = 0
        # A retried entity starts its count again: it meets the same records (its parents' skips are kept).
        result.skipped[entity], result.skipped_count[entity] = [], 0
        self._skipped_ids[entity] = set()
        # Children of parents that arrived in this run may be unchanged themselves (a quote made primary keeps
        # its lines): read those by their parents' ids, or the whole entity when that is cheaper.
        parent = plan.PARENTS.get(entity)
        new_parents = sorted(self._arrived.get(parent[0], ())) if parent and since is not None else []
        if len(new_parents) > MAX_NEW_PARENTS:
            since, new_parents = None, []
        # (query, since, whether it reads the whole entity and so may need Bulk)
        reads = [(query, since, since is None) for query in plan.queries(self.mapping, entity)]
        for start in range(0, len(new_parents), 200):
            by_parent = plan.children_of(self.mapping, entity, new_parents[start : start + 200])
            reads += [(by_parent, None, False)] if by_parent is not None else []
        # A full pull into a table that holds none of this entity yet, read in one read that nobody else feeds
        # (no parents are fetched into it): no record can be in the store before this read writes it, so its
        # batches go in without looking up which are stored (half the look-ups of a first pull).
        fresh = full and len(reads) == 1 and entity not in FETCHABLE and self._empty(entity)
        for number, (query, query_since, whole) in enumerate(reads):
            reader = self._ahead.pop(query.soql(query_since), None) or self._reader(query, query_since, whole)
            if full:
                self._read_ahead(entity, number)
            # The next page is read while this one is converted and written.
            with reader:
                for page in reader:
                    # A skipped record moves the watermark too: it is read again when the org changes it, not
                    # on every pull until then.
                    batch, page_newest = self._convert(entity, query, page, result)
                    if page_newest is not None and (newest is None or page_newest > newest):
                        newest = page_newest
                    if len(batch):
                        rows_done += self._write(entity, batch, result, rewrite=full, fresh=fresh)
                    if self.progress:
                        self.progress(entity, rows_done)
        if self.progress:
            self.progress(entity, rows_done)
        result.rows[entity] = rows_done
        self._save_watermark(entity, newest)

    def _reader(self, query: plan.EntityQuery, since: datetime | None, whole: bool) -> fetch.Prefetched[fetch.Page]:
        """The pages of one read, read by a thread of their own from now on."""
        return fetch.Prefetched(self._pages(query, since, whole))

    def _pages(self, query: plan.EntityQuery, since: datetime | None, whole: bool) -> Iterator[fetch.Page]:
        use_bulk = False
        if whole:  # a full read (also an incremental pull's first of this entity): maybe Bulk
            total = fetch.count(self.sf, query.object_name, query.soql().partition(" WHERE ")[2] or None)
            use_bulk = total > self.mapping.bulk_threshold
        yield from fetch.pages(self.sf, query.object_name, query.soql(since), use_bulk=use_bulk)

    def _read_ahead(self, entity: str, number: int) -> None:
        """In a full pull, start the next ``READ_AHEAD`` reads (of this entity and the ones after it) while this
        one is written: their COUNT(), Bulk jobs and first pages do not wait for these writes (a full read
        depends on nothing this pull writes), and the org works through them in the pull's order while the
        store is written. Their budget checks come after those first calls. Each read started holds at most a
        Bulk result page and two slices of rows, so memory stays bounded."""
        reads = [
            query
            for following in PULL_ORDER[PULL_ORDER.index(entity) :]
            for query in plan.queries(self.mapping, following)
        ]
        for query in reads[number + 1 : number + 1 + READ_AHEAD]:
            if query.soql() not in self._ahead:  # a retried entity finds the reads after it under way
                self._ahead[query.soql()] = self._reader(query, None, True)

    def _convert(
        self, entity: str, query: plan.EntityQuery, page: fetch.Page, result: PullResult
    ) -> tuple[Batch, datetime | None]:
        """The page's records as a canonical batch, column by column, and the page's newest stamp. A record
        with a value that cannot be converted is left out and reported (one malformed record does not fail
        the pull)."""
        spec = self.mapping.entities[entity]
        size = page.size
        sf_ids = list(page.raw_column("Id"))  # text in both kinds of page
        stamp_paths = [
            f for f in query.fields if f.lower() == "systemmodstamp" or f.lower().endswith(".systemmodstamp")
        ]
        stamps = modstamps([page.raw_column(path) for path in stamp_paths], size)
        newest = max((s for s in stamps if s is not None), default=None)
        values: dict[str, list[Any]] = {}
        problems: dict[int, str] = {}
        for name, fm in spec.fields.items():
            raw = page.raw_column(fm.field) if fm.field is not None else [None] * size
            values[name], bad = convert_column(raw, fm, CANONICAL[entity][name])
            for i, why in bad.items():
                problems.setdefault(i, f"{name} from {why}")
        links = {link: page.column(link) for link in plan.link_fields(self.mapping, entity)}
        batch = Batch(sf_ids, stamps, values, links)
        if problems:
            self._skip(result, entity, [(sf_ids[i], why) for i, why in sorted(problems.items())])
            batch = batch.take([i for i in range(size) if i not in problems])
        return batch, newest

    def _skip(self, result: PullResult, entity: str, problems: list[Problem]) -> None:
        seen = self._skipped_ids.setdefault(entity, set())
        examples = result.skipped.setdefault(entity, [])
        for sf_id, reason in problems:
            if sf_id in seen:
                continue
            seen.add(sf_id)
            result.skipped_count[entity] = result.skipped_count.get(entity, 0) + 1
            if len(examples) < MAX_SKIPPED_EXAMPLES:
                examples.append(f"{sf_id}: {reason}")

    def _write(self, entity: str, batch: Batch, result: PullResult, *, rewrite: bool, fresh: bool = False) -> int:
        """Write one batch: first, outside any write transaction, look up its references and fetch from
        Salesforce the parents the store lacks; then, in one transaction, write those parents and the batch."""
        with self.sessions() as session:
            resolved, missing = resolve(session, entity, batch)
            session.rollback()  # a read: end it before the Salesforce calls below
        parents = self._fetch_parents(missing, result) if missing else []
        try:
            with self.sessions.begin() as session:
                for parent_entity, parent_batch in parents:
                    self._write_parent(session, parent_entity, parent_batch, result)
                if parents:
                    for ref_field, (_, target) in TABLES[entity][1].items():
                        fetched = missing.get(target)
                        if fetched:
                            resolved[ref_field].update(local_ids(session, target, fetched))
                outcome = self._write_batch(session, entity, batch, rewrite=rewrite, resolved=resolved, fresh=fresh)
        except ROW_REFUSED:
            # The store refused the batch's statement: write it record by record to find the ones it refuses,
            # skip those and land the rest (only on this path: one statement per batch otherwise).
            outcome = ChunkResult()
            for parent_entity, parent_batch in parents:
                for i in range(len(parent_batch)):
                    self._write_one(parent_entity, parent_batch.take([i]), result, rewrite=False)
            for i in range(len(batch)):
                one = self._write_one(entity, batch.take([i]), result, rewrite=rewrite)
                outcome.written += one.written
                outcome.skipped += one.skipped
                outcome.arrived_ids += one.arrived_ids
        if not rewrite and entity in {parent for parent, _ in plan.PARENTS.values()}:
            self._arrived.setdefault(entity, set()).update(outcome.arrived_ids)
        self._skip(result, entity, outcome.skipped)
        return outcome.written

    def _write_one(self, entity: str, batch: Batch, result: PullResult, *, rewrite: bool) -> ChunkResult:
        try:
            with self.sessions.begin() as session:
                return self._write_batch(session, entity, batch, rewrite=rewrite)
        except ROW_REFUSED as exc:
            first_line = (str(exc.orig).splitlines() or [""])[0][:200]
            return ChunkResult(skipped=[(batch.sf_ids[0], f"the store refused it: {first_line}")])

    def _write_parent(self, session: Session, entity: str, batch: Batch, result: PullResult) -> None:
        outcome = self._write_batch(session, entity, batch, rewrite=False)
        self._skip(result, entity, outcome.skipped)

    def _write_batch(
        self,
        session: Session,
        entity: str,
        batch: Batch,
        *,
        rewrite: bool,
        resolved: Resolved | None = None,
        fresh: bool = False,
    ) -> ChunkResult:
        return write_batch(
            session,
            entity,
            batch,
            source_object=self.mapping.entities[entity].source,
            rewrite=rewrite,
            resolved=resolved,
            fresh=fresh,
        )

    def _empty(self, entity: str) -> bool:
        """Whether the store holds no row of `entity` at all (deleted-marked ones included)."""
        table: Any = TABLES[entity][0]
        with self.sessions() as session:
            return session.execute(select(table.id).limit(1)).first() is None

    def _fetch_parents(self, missing: dict[str, set[str]], result: PullResult) -> list[tuple[str, Batch]]:
        """Referenced accounts, contacts or reps the store lacks, read by id from Salesforce with no
        transaction open, and with the parents they lack in turn; in the order to write them (accounts
        first). A parent that cannot be converted is skipped and reported under its own entity; its children
        are then skipped for want of it."""
        wanted = {target: set(ids) for target, ids in missing.items()}
        fetched: list[tuple[str, Batch]] = []
        for entity in reversed(PULL_ORDER):  # contacts and reps before the accounts they may point at
            sf_ids = sorted(i for i in wanted.pop(entity, ()) if plan.SF_ID.fullmatch(i))  # others match nothing
            for start in range(0, len(sf_ids), 200):
                query = plan.by_ids(self.mapping, entity, sf_ids[start : start + 200])
                for page in fetch.rest_pages(self.sf, query.soql()):
                    batch, _ = self._convert(entity, query, page, result)
                    if not len(batch):
                        continue
                    with self.sessions() as session:
                        _, more = resolve(session, entity, batch)
                    for target, ids in more.items():
                        wanted.setdefault(target, set()).update(ids)
                    fetched.append((entity, batch))
        return fetched[::-1]

    # ------------------------------------------------------------------ removals

    def _incremental_removals(self, result: PullResult, since_by_entity: dict[str, datetime | None]) -> None:
        """Contracts and quotes deleted in the org, or moved out of scope, since the last pull (whose watermarks,
        read before this run moved them, are `since_by_entity`): one query per entity, all in one Composite
        call."""
        checks: list[tuple[str, Any, str]] = []
        for entity, table in REMOVABLE:
            since = since_by_entity.get(entity)
            spec = self.mapping.entities[entity]
            if since is None:
                continue
            gone = "IsDeleted = true" + (f" OR NOT ({spec.scope})" if spec.scope else "")
            checks.append(
                (
                    entity,
                    table,
                    f"SELECT Id FROM {spec.object} WHERE SystemModstamp > {soql_datetime(since)} AND ({gone})",
                )
            )
        if not checks:
            return
        answers = fetch.composite_queries(self.sf, [(soql, True) for _, _, soql in checks])
        for (entity, table, _), records in zip(checks, answers, strict=True):
            result.rows[f"{entity}_removed"] = mark_removed(self.sessions, table, [str(r["Id"]) for r in records])

    # ------------------------------------------------------------------ watermarks

    def _watermark(self, entity: str) -> datetime | None:
        with self.sessions() as session:
            state = session.scalar(
                select(models.SyncState).where(
                    models.SyncState.mapping_name == self.mapping.name, models.SyncState.entity == entity
                )
            )
            if state is None or state.watermark is None:
                return None
            return state.watermark - self.overlap

    def _save_watermark(self, entity: str, newest: datetime | None) -> None:
        with self.sessions.begin() as session:
            state = session.scalar(
                select(models.SyncState).where(
                    models.SyncState.mapping_name == self.mapping.name, models.SyncState.entity == entity
                )
            )
            if state is None:
                state = models.SyncState(mapping_name=self.mapping.name, entity=entity)
                session.add(state)
            if newest is not None and (state.watermark is None or newest > state.watermark):
                state.watermark = newest
            state.updated_at = datetime.now(UTC)


def transient_retrying(attempts: int = 4, max_wait: float = 30.0) -> Retrying:
    """The one retry layer of pulls and reconciles: TransientError only, exponential backoff with jitter."""
    return Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait_random_exponential(multiplier=0.5, max=max_wait),
        stop=stop_after_attempt(attempts),
        reraise=True,
    )


def mark_removed(sessions: sessionmaker[Session], table: Any, sf_ids: list[str]) -> int:
    if not sf_ids:
        return 0
    count = 0
    with sessions.begin() as session:
        for start in range(0, len(sf_ids), 500):
            rows = session.scalars(select(table).where(table.sf_id.in_(sf_ids[start : start + 500]))).all()
            for row in rows:
                if not row.is_deleted:
                    row.is_deleted = True
                    count += 1
    return count
