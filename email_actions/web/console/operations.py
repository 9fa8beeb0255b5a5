"""The console's Operations section: is the service healthy, and what is stuck?

- **Overview** (``/admin/operations``): per mapping its last pull (rows, duration, status, error), the last
  success and the failures of the last day; Salesforce API calls today against the daily budget and reserve
  in force, with a chart of the last 30 days; the RQ queues' depths; the outbox's pending and dead counts;
  email statuses; the suppression list's size.
- **Sync runs** (``/operations/pulls``): every pull and push, newest first, by mapping, kind and status.
- **Outbox** (``/operations/outbox``): pending, dead, discarded and done writes with Salesforce's message;
  dead letters can be retried (pending again, and a push is queued) or discarded, one, some or all.
- **Jobs** (``/operations/jobs``): queue depths and each queue's failed jobs (the exception's type and first
  line only: tracebacks and arguments can hold what a console must not show), with retry.
- **Emails** (``/operations/emails``) by status, and the **suppression list** (``/operations/suppressions``).

Every table has a CSV export (a ``….csv`` route taking the page's filters); a list longer than ``EXPORT_ROWS``
exports in parts (``?part=2`` …), so no request builds a file of the whole store. Every change (retry,
discard) is a CSRF-protected POST, recorded in the audit log in the transaction that makes it, and confirmed
by a flash message; an id that is malformed, unknown or in the wrong state changes nothing and says so (400,
404, 409).

Each page issues a small, fixed number of SQL statements, whatever the size of the store: counts are
aggregated in SQL, lists are paged (``PAGE_SIZE`` rows) in orders the indexes serve. Redis is reached with
short timeouts; when it is unreachable the pages still render, saying so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result
from rq.worker_registration import REDIS_WORKER_KEYS
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, aliased

from config.settings import Settings
from email_actions.web.console.audit import record_change
from email_actions.web.console.blueprint import bp
from email_actions.web.console.charts import Series, bar_chart, line_chart
from email_actions.web.console.csvout import csv_response
from jobs.push import enqueue_push
from jobs.queues import QUEUE_NAMES, QUEUES
from sync_service.console_settings import api_budget
from sync_service.outbox.dead import discard_dead, retry_dead
from sync_service.pull.run import Budget
from sync_service.store.db import current_session
from sync_service.store.models import (
    EMAIL_STATUSES,
    ApiUsage,
    EmailMessage,
    EmailSuppression,
    MappingVersion,
    OutboxItem,
    SyncRun,
)

PAGE_SIZE = 50
# Rows per CSV file of a list: a longer list exports in parts (``?part=2`` …), each a bounded request.
EXPORT_ROWS = 10_000
MAX_EXPORT_PARTS = 100_000
USAGE_DAYS = 30
MAX_USAGE_DAYS = 366
# Ids one POST may name (a page shows PAGE_SIZE; "all" goes by a bound, not a list).
MAX_POSTED_IDS = 500
# Ids per UPDATE … WHERE id IN (…): far below every backend's limit of bound parameters.
ID_CHUNK = 500
# Ids an audit entry lists (its count is always exact).
AUDIT_MAX_IDS = 1000
ERROR_PREVIEW = 300
EXCEPTION_PREVIEW = 200
FAILURES_WINDOW = timedelta(hours=24)
REDIS_CONNECT_TIMEOUT = 2.0
REDIS_TIMEOUT = 5.0

PULL_KINDS = ("full", "incremental", "reconcile")
RUN_KINDS = ("pulls", "push", *PULL_KINDS)  # the sync-run page's kind filter ("pulls": every pull kind)
RUN_STATUSES = ("running", "succeeded", "failed", "paused")
OUTBOX_STATUSES = ("dead", "pending", "discarded", "done")
SUPPRESSION_REASONS = ("bounce", "complaint", "unsubscribe")
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
DB_ID = re.compile(r"^[0-9]{1,19}$")
DB_ID_MAX = 2**63 - 1


# ---------------------------------------------------------------------------------------------- helpers


def _settings() -> Settings:
    return cast(Settings, current_app.extensions["renewals.settings"])


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Pager:
    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max((self.total + self.size - 1) // self.size, 1)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def _pager(total: int) -> Pager:
    """The page asked for (``?page=``), kept within 1 … the last page."""
    asked = request.args.get("page", 1, type=int) or 1
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return Pager(page=min(max(asked, 1), pages), total=total)


def _export_part() -> int:
    """The part of a CSV export asked for (``?part=``, from 1): rows (part-1)·EXPORT_ROWS … part·EXPORT_ROWS-1."""
    return min(max(request.args.get("part", 1, type=int) or 1, 1), MAX_EXPORT_PARTS)


def _part_name(stem: str, part: int) -> str:
    return f"{stem}.csv" if part == 1 else f"{stem}-part{part}.csv"


def export_parts(total: int | None) -> int:
    """How many CSV files a list of `total` rows exports to (1 when the total is not counted)."""
    return max((total or 0) + EXPORT_ROWS - 1, EXPORT_ROWS) // EXPORT_ROWS


def _choice(name: str, allowed: Sequence[str], default: str = "") -> str:
    """A filter value from the query string, or `default` when it is not one of `allowed`."""
    value = request.args.get(name, "").strip()
    return value if value in allowed else default


def _refuse(code: int, title: str, message: str, back: str) -> ResponseReturnValue:
    """A change that was not made: the reason, and the way back."""
    return render_template("admin/operations/refused.html", title=title, message=message, back=back), code


def _duration(started: datetime | None, finished: datetime | None) -> float | None:
    if started is None:
        return None
    end = finished or datetime.now(UTC)
    return max((end - started).total_seconds(), 0.0)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _rows_total(rows: dict[str, Any] | None) -> int:
    return sum(v for k, v in (rows or {}).items() if isinstance(v, int) and not k.endswith("_skipped"))


def _rows_text(rows: dict[str, Any] | None) -> str:
    return " · ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in sorted((rows or {}).items()))


def _preview(text: str | None, limit: int = ERROR_PREVIEW) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _audit_ids(ids: Sequence[int | str]) -> dict[str, Any]:
    listed = list(ids[:AUDIT_MAX_IDS])
    return {"count": len(ids), "ids": listed, **({"ids_truncated": True} if len(ids) > len(listed) else {})}


def _chunks(ids: Sequence[int], size: int = ID_CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


# ---------------------------------------------------------------------------------------------- pulls


@dataclass(frozen=True)
class MappingPulls:
    """One mapping's last pull (None when it never ran), last success and recent failures."""

    mapping: str
    active: bool
    last: SyncRun | None
    last_success_at: datetime | None
    failures: int

    @property
    def seconds(self) -> float | None:
        return _duration(self.last.started_at, self.last.finished_at) if self.last else None


def last_pulls(session: Session) -> list[MappingPulls]:
    """Per mapping name (every name with a saved version), in one statement: the newest pull, the newest
    successful pull's end and the failed pulls of the last 24 hours (each found through the
    (mapping_name, started_at) index)."""
    names = (
        select(
            MappingVersion.name.label("name"),
            func.max(case((MappingVersion.is_active, 1), else_=0)).label("active"),
        )
        .group_by(MappingVersion.name)
        .subquery()
    )
    newest, success, failed = aliased(SyncRun), aliased(SyncRun), aliased(SyncRun)
    newest_id = (
        select(newest.id)
        .where(newest.mapping_name == names.c.name, newest.kind.in_(PULL_KINDS))
        .order_by(newest.started_at.desc(), newest.id.desc())
        .limit(1)
        .correlate(names)
        .scalar_subquery()
    )
    last_success = (
        select(success.finished_at)
        .where(success.mapping_name == names.c.name, success.kind.in_(PULL_KINDS), success.status == "succeeded")
        .order_by(success.started_at.desc())
        .limit(1)
        .correlate(names)
        .scalar_subquery()
    )
    failures = (
        select(func.count())
        .select_from(failed)
        .where(
            failed.mapping_name == names.c.name,
            failed.started_at >= datetime.now(UTC) - FAILURES_WINDOW,
            failed.kind.in_(PULL_KINDS),
            failed.status == "failed",
        )
        .correlate(names)
        .scalar_subquery()
    )
    query = (
        select(names.c.name, names.c.active, SyncRun, last_success, failures)
        .select_from(names)
        .outerjoin(SyncRun, SyncRun.id == newest_id)
        .order_by(names.c.name)
    )
    return [
        MappingPulls(mapping=name, active=bool(active), last=run, last_success_at=ok_at, failures=int(fails or 0))
        for name, active, run, ok_at, fails in session.execute(query)
    ]


LAST_PULL_COLUMNS = [
    "mapping",
    "active",
    "kind",
    "started_at",
    "finished_at",
    "seconds",
    "status",
    "rows",
    "rows_detail",
    "api_calls",
    "error",
    "last_success_at",
    "failures_24h",
]


def _last_pull_csv_row(item: MappingPulls) -> list[Any]:
    run = item.last
    seconds = round(item.seconds, 1) if item.seconds is not None else None
    if run is None:
        return [item.mapping, item.active, *[None] * 9, item.last_success_at, item.failures]
    return [
        item.mapping,
        item.active,
        run.kind,
        run.started_at,
        run.finished_at,
        seconds,
        run.status,
        _rows_total(run.rows),
        run.rows,
        run.api_calls,
        run.error,
        item.last_success_at,
        item.failures,
    ]


def _runs_query(mapping: str, kind: str, status: str) -> Select[SyncRun]:
    query = select(SyncRun)
    if mapping:
        query = query.where(SyncRun.mapping_name == mapping)
    if kind == "pulls":
        query = query.where(SyncRun.kind.in_(PULL_KINDS))
    elif kind:
        query = query.where(SyncRun.kind == kind)
    if status:
        query = query.where(SyncRun.status == status)
    return query


def _run_filters() -> tuple[str, str, str]:
    mapping = request.args.get("mapping", "").strip()[:80]
    return mapping, _choice("kind", RUN_KINDS), _choice("status", RUN_STATUSES)


RUN_COLUMNS = ["id", "mapping", "kind", "started_at", "finished_at", "seconds", "status", "rows", "rows_detail"]
RUN_COLUMNS += ["api_calls", "error"]


def _run_csv_row(run: SyncRun) -> list[Any]:
    seconds = _duration(run.started_at, run.finished_at)
    return [
        run.id,
        run.mapping_name,
        run.kind,
        run.started_at,
        run.finished_at,
        round(seconds, 1) if seconds is not None else None,
        run.status,
        _rows_total(run.rows),
        run.rows,
        run.api_calls,
        run.error,
    ]


# ---------------------------------------------------------------------------------------------- API usage


@dataclass
class ApiUsageView:
    budget: Budget
    today: date
    days: list[tuple[date, int]]  # oldest first, every day of the window (0 when nothing was called)
    by_job_today: list[tuple[str, int]]  # most calls first

    @property
    def used_today(self) -> int:
        return self.days[-1][1] if self.days else 0

    @property
    def left_today(self) -> int:
        return max(self.budget.daily_budget - self.used_today, 0)

    @property
    def share(self) -> float:
        return self.used_today / self.budget.daily_budget if self.budget.daily_budget > 0 else 1.0

    @property
    def state(self) -> str:
        return "bad" if self.share >= 1 else "warn" if self.share >= 0.8 else "ok"

    def chart(self) -> Markup:
        labels = [day.strftime("%d %b") for day, _ in self.days]
        return line_chart(
            f"Salesforce API calls per day (UTC), last {len(self.days)} days, against the daily budget",
            labels,
            [
                Series("API calls", [calls for _, calls in self.days]),
                Series("Daily budget (now)", [self.budget.daily_budget] * len(self.days)),
            ],
        )


def _usage_rows(session: Session, start: date) -> list[tuple[date, str, int]]:
    """(day, job, calls) from `start` on: one row per day and job (unique), found by the (day, job_name)
    index; a bounded, small result."""
    query = (
        select(ApiUsage.day, ApiUsage.job_name, func.sum(ApiUsage.calls))
        .where(ApiUsage.day >= start)
        .group_by(ApiUsage.day, ApiUsage.job_name)
        .order_by(ApiUsage.day, ApiUsage.job_name)
    )
    return [(day, job, int(calls or 0)) for day, job, calls in session.execute(query)]


def api_usage(session: Session, settings: Settings, days: int = USAGE_DAYS) -> ApiUsageView:
    today = _today()
    start = today - timedelta(days=days - 1)
    per_day: dict[date, int] = {}
    today_jobs: dict[str, int] = {}
    for day, job, calls in _usage_rows(session, start):
        per_day[day] = per_day.get(day, 0) + calls
        if day == today:
            today_jobs[job] = calls
    return ApiUsageView(
        budget=api_budget(session, settings),
        today=today,
        days=[(start + timedelta(days=n), per_day.get(start + timedelta(days=n), 0)) for n in range(days)],
        by_job_today=sorted(today_jobs.items(), key=lambda item: (-item[1], item[0])),
    )


# ---------------------------------------------------------------------------------------------- counts


def outbox_counts(session: Session, statuses: Sequence[str] = OUTBOX_STATUSES) -> dict[str, int]:
    """Rows per outbox status, counted on the (status, next_attempt_at) index."""
    query = select(OutboxItem.status, func.count()).where(OutboxItem.status.in_(statuses)).group_by(OutboxItem.status)
    counts = dict.fromkeys(statuses, 0)
    counts.update({status: int(n) for status, n in session.execute(query)})
    return counts


def email_counts(session: Session) -> dict[str, int]:
    """Emails per status (every status, zeros included), counted on the (status, created_at) index."""
    counts = dict.fromkeys(EMAIL_STATUSES, 0)
    query = select(EmailMessage.status, func.count()).group_by(EmailMessage.status)
    counts.update({status: int(n) for status, n in session.execute(query)})
    return counts


def email_chart(counts: dict[str, int]) -> Markup:
    return bar_chart("Emails by status (all time)", list(counts), [Series("Emails", list(counts.values()))])


# ---------------------------------------------------------------------------------------------- Redis


@lru_cache(maxsize=8)
def _redis_for(url: str) -> Redis:
    # Short timeouts: an unreachable Redis must cost a page seconds, not hang it.
    return Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT, socket_timeout=REDIS_TIMEOUT)


def console_redis() -> Redis:
    return _redis_for(_settings().redis_url)


def redis_problem(exc: RedisError) -> str:
    """What to tell the admin when Redis fails: the kind of failure, never the URL (it may hold a password)."""
    return (
        f"Redis is unreachable ({type(exc).__name__}), so queue depths and failed jobs cannot be shown. "
        "Check that redis-server runs and that RENEWALS_REDIS_URL points at it; jobs queue again once it is back."
    )


@dataclass(frozen=True)
class QueueDepth:
    name: str
    holds: str
    waiting: int
    running: int
    scheduled: int
    deferred: int
    failed: int


QUEUE_COLUMNS = ["queue", "waiting", "running", "scheduled", "deferred", "failed"]


def queue_depths(connection: Redis) -> tuple[list[QueueDepth], int]:
    """Every queue's depths and the number of workers, read in one round trip without side effects (the
    registries' own counters clean up expired entries first: a GET must not change anything)."""
    queues = [Queue(spec.name, connection=connection) for spec in QUEUES]
    with connection.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.llen(queue.key)
            for registry in (
                queue.started_job_registry,
                queue.scheduled_job_registry,
                queue.deferred_job_registry,
                queue.failed_job_registry,
            ):
                pipe.zcard(registry.key)
        pipe.scard(REDIS_WORKER_KEYS)
        values = [int(v or 0) for v in pipe.execute()]
    depths = []
    for index, spec in enumerate(QUEUES):
        waiting, running, scheduled, deferred, failed = values[index * 5 : index * 5 + 5]
        depths.append(QueueDepth(spec.name, spec.holds, waiting, running, scheduled, deferred, failed))
    return depths, values[-1]


_TRACEBACK_FRAME = re.compile(r"^\s")
_CREDENTIALS_IN_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@")


def exception_summary(exc_string: str | None, limit: int = EXCEPTION_PREVIEW) -> str:
    """The exception's type and the first line of its message, from a formatted traceback, credentials in
    URLs masked and truncated: enough to recognise a failure, without the traceback's locals, arguments or
    the rest of a message that may carry data."""
    if not exc_string or not exc_string.strip():
        return ""
    lines = exc_string.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    line = lines[0]
    if starts:
        for candidate in lines[starts[-1] + 1 :]:
            if candidate.strip() and not _TRACEBACK_FRAME.match(candidate):
                line = candidate
                break
    line = _CREDENTIALS_IN_URL.sub(r"\1***@", line.strip())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class FailedJob:
    id: str
    queue: str
    function: str = ""
    enqueued_at: datetime | None = None
    ended_at: datetime | None = None
    exception: str = ""
    expired: bool = False  # the job's data is gone (it outlived its TTL): nothing to retry


FAILED_JOB_COLUMNS = ["queue", "job_id", "function", "enqueued_at", "failed_at", "exception"]


def _failed_registry(connection: Redis, queue_name: str) -> FailedJobRegistry:
    return Queue(queue_name, connection=connection).failed_job_registry


def _describe(connection: Redis, queue_name: str, job_ids: list[str]) -> list[FailedJob]:
    described = []
    for job_id, job in zip(job_ids, Job.fetch_many(job_ids, connection=connection), strict=True):
        if job is None:
            described.append(FailedJob(id=job_id, queue=queue_name, expired=True))
            continue
        result = job.latest_result()
        exc = result.exc_string if result is not None and result.type == Result.Type.FAILED else None
        try:
            function = job.func_name or ""
        except Exception:  # the job's payload cannot be read by this version of the code
            function = "(unreadable)"
        described.append(
            FailedJob(
                id=job.id,
                queue=queue_name,
                function=function,
                enqueued_at=job.enqueued_at,
                ended_at=job.ended_at or (result.created_at if result is not None else None),
                exception=exception_summary(exc),
            )
        )
    return described


def failed_jobs(connection: Redis, queue_name: str, start: int, stop: int) -> list[FailedJob]:
    """Failed jobs `start` … `stop` (inclusive) of a queue, most recently failed first."""
    job_ids = _failed_registry(connection, queue_name).get_job_ids(start, stop, desc=True, cleanup=False)
    return _describe(connection, queue_name, job_ids)


# ---------------------------------------------------------------------------------------------- overview


@bp.get("/operations")
def operations() -> ResponseReturnValue:
    session = current_session()
    pulls = last_pulls(session)
    usage = api_usage(session, _settings())
    outbox = outbox_counts(session, ("pending", "dead"))
    emails = email_counts(session)
    suppressed = session.scalar(select(func.count()).select_from(EmailSuppression)) or 0
    depths: list[QueueDepth] = []
    workers = 0
    problem = None
    try:
        depths, workers = queue_depths(console_redis())
    except RedisError as exc:
        problem = redis_problem(exc)
    return render_template(
        "admin/operations/overview.html",
        section="overview",
        pulls=pulls,
        usage=usage,
        outbox=outbox,
        emails=emails,
        email_chart=email_chart(emails),
        suppressed=suppressed,
        depths=depths,
        workers=workers,
        redis_problem=problem,
        format_duration=format_duration,
        rows_total=_rows_total,
        rows_text=_rows_text,
        preview=_preview,
    )


@bp.get("/operations/last-pulls.csv")
def operations_last_pulls_csv() -> ResponseReturnValue:
    rows = [_last_pull_csv_row(item) for item in last_pulls(current_session())]
    return csv_response("last-pulls.csv", LAST_PULL_COLUMNS, rows)


@bp.get("/operations/api-usage.csv")
def operations_api_usage_csv() -> ResponseReturnValue:
    days = min(max(request.args.get("days", USAGE_DAYS, type=int) or USAGE_DAYS, 1), MAX_USAGE_DAYS)
    session = current_session()
    budget = api_budget(session, _settings())
    start = _today() - timedelta(days=days - 1)
    rows = ((day, job, calls, budget.daily_budget) for day, job, calls in _usage_rows(session, start))
    return csv_response("api-usage.csv", ["day", "job", "calls", "daily_budget_now"], rows)


@bp.get("/operations/email-statuses.csv")
def operations_email_statuses_csv() -> ResponseReturnValue:
    counts = email_counts(current_session())
    return csv_response("email-statuses.csv", ["status", "emails"], counts.items())


@bp.get("/operations/queues.csv")
def operations_queues_csv() -> ResponseReturnValue:
    try:
        depths, _ = queue_depths(console_redis())
    except RedisError as exc:
        return _refuse(503, "Redis is unreachable", redis_problem(exc), url_for("admin.operations"))
    rows = ((d.name, d.waiting, d.running, d.scheduled, d.deferred, d.failed) for d in depths)
    return csv_response("queues.csv", QUEUE_COLUMNS, rows)


# ---------------------------------------------------------------------------------------------- sync runs


@bp.get("/operations/pulls")
def operations_pulls() -> ResponseReturnValue:
    session = current_session()
    mapping, kind, status = _run_filters()
    query = _runs_query(mapping, kind, status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pager = _pager(total)
    runs = session.scalars(query.order_by(SyncRun.id.desc()).limit(PAGE_SIZE).offset(pager.offset)).all()
    mappings = session.scalars(select(MappingVersion.name).distinct().order_by(MappingVersion.name)).all()
    return render_template(
        "admin/operations/pulls.html",
        export_parts=export_parts(pager.total),
        export_rows=EXPORT_ROWS,
        section="pulls",
        runs=runs,
        pager=pager,
        mapping=mapping,
        kind=kind,
        status=status,
        mappings=mappings,
        kinds=RUN_KINDS,
        statuses=RUN_STATUSES,
        filters={"mapping": mapping or None, "kind": kind or None, "status": status or None},
        duration=lambda run: format_duration(_duration(run.started_at, run.finished_at)),
        rows_total=_rows_total,
        rows_text=_rows_text,
    )


@bp.get("/operations/pulls.csv")
def operations_pulls_csv() -> ResponseReturnValue:
    part = _export_part()
    query = _runs_query(*_run_filters()).order_by(SyncRun.id.desc())
    query = query.limit(EXPORT_ROWS).offset((part - 1) * EXPORT_ROWS)
    runs = current_session().scalars(query.execution_options(yield_per=1000))
    return csv_response(_part_name("sync-runs", part), RUN_COLUMNS, (_run_csv_row(run) for run in runs))


# ---------------------------------------------------------------------------------------------- outbox


def _outbox_query(status: str) -> Select[OutboxItem]:
    # (status, next_attempt_at) is indexed: every listing is a range of that index, in its order.
    query = select(OutboxItem).where(OutboxItem.status == status)
    if status == "pending":
        return query.order_by(OutboxItem.next_attempt_at, OutboxItem.id)
    return query.order_by(OutboxItem.next_attempt_at.desc(), OutboxItem.id.desc())


OUTBOX_COLUMNS = ["id", "status", "key", "kind", "sobject", "target_sf_id", "sf_id", "attempts", "count"]
OUTBOX_COLUMNS += ["next_attempt_at", "created_at", "done_at", "last_error"]


@bp.get("/operations/outbox")
def operations_outbox() -> ResponseReturnValue:
    session = current_session()
    status = _choice("status", OUTBOX_STATUSES, "dead")
    # Done rows pile up for ever: they are counted only when they are the list asked for.
    counted = [s for s in OUTBOX_STATUSES if s != "done" or status == "done"]
    counts: dict[str, int | None] = {"done": None, **outbox_counts(session, counted)}
    pager = _pager(counts[status] or 0)
    items = session.scalars(_outbox_query(status).limit(PAGE_SIZE).offset(pager.offset)).all()
    # "All" acts on the dead letters up to the newest one this page knew of, never on ones that died since.
    newest_dead = session.scalar(select(func.max(OutboxItem.id)).where(OutboxItem.status == "dead"))
    return render_template(
        "admin/operations/outbox.html",
        export_parts=export_parts(pager.total),
        export_rows=EXPORT_ROWS,
        section="outbox",
        status=status,
        statuses=OUTBOX_STATUSES,
        counts=counts,
        items=items,
        pager=pager,
        newest_dead=newest_dead,
        preview=_preview,
    )


@bp.get("/operations/outbox.csv")
def operations_outbox_csv() -> ResponseReturnValue:
    status, part = _choice("status", OUTBOX_STATUSES, "dead"), _export_part()
    columns = [getattr(OutboxItem, name) for name in OUTBOX_COLUMNS]  # plain rows: no payload, no ORM objects
    query = _outbox_query(status).with_only_columns(*columns).limit(EXPORT_ROWS).offset((part - 1) * EXPORT_ROWS)
    rows = current_session().execute(query.execution_options(yield_per=1000))
    return csv_response(_part_name(f"outbox-{status}", part), OUTBOX_COLUMNS, rows)


class Refused(Exception):
    """A POST that changes nothing: its status code and why."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _posted_ids() -> list[int]:
    """The ids a dead-letter form names: a row's own button (``one``) or the ticked boxes (``id``)."""
    raw = [request.form["one"]] if request.form.get("one") else request.form.getlist("id")
    if not raw:
        raise Refused(400, "Choose at least one dead letter: nothing was changed.")
    if len(raw) > MAX_POSTED_IDS:
        raise Refused(400, f"At most {MAX_POSTED_IDS} dead letters at once, or use “all”: nothing was changed.")
    ids = []
    for value in raw:
        if not DB_ID.fullmatch(value.strip()) or not 0 < int(value) <= DB_ID_MAX:
            raise Refused(400, f"“{value[:40]}” is not an outbox item id: nothing was changed.")
        ids.append(int(value))
    return sorted(set(ids))


def _check_dead(session: Session, ids: list[int]) -> None:
    found = dict(session.execute(select(OutboxItem.id, OutboxItem.status).where(OutboxItem.id.in_(ids))).all())
    missing = [i for i in ids if i not in found]
    if missing:
        listed = ", ".join(f"#{i}" for i in missing[:10])
        raise Refused(404, f"There is no outbox item {listed}: nothing was changed.")
    wrong = [(i, found[i]) for i in ids if found[i] != "dead"]
    if wrong:
        listed = ", ".join(f"#{i} is {s}" for i, s in wrong[:10])
        raise Refused(409, f"Only dead letters can be retried or discarded ({listed}): nothing was changed.")


def _dead_ids_upto(session: Session) -> list[int]:
    raw = request.form.get("upto", "")
    if not DB_ID.fullmatch(raw) or int(raw) > DB_ID_MAX:
        raise Refused(400, "The form did not say which dead letters “all” means; reload the page: nothing changed.")
    query = select(OutboxItem.id).where(OutboxItem.status == "dead", OutboxItem.id <= int(raw))
    ids = list(session.scalars(query.order_by(OutboxItem.id)).all())
    if not ids:
        raise Refused(404, "There are no dead letters left to act on: nothing was changed.")
    return ids


def _dead_letter_change(verb: str) -> ResponseReturnValue:
    """Retry (verb "retry") or discard ("discard") the dead letters the form names, audited; see _posted_ids."""
    session = current_session()
    back_status = request.form.get("back", "dead")
    back = url_for("admin.operations_outbox", status=back_status if back_status in OUTBOX_STATUSES else "dead")
    reason = (request.form.get("reason") or "").strip()[:500] or None
    try:
        if request.form.get("scope") == "all":
            if verb == "discard" and request.form.get("confirm") != "yes":
                raise Refused(400, "Tick the confirmation to discard every dead letter: nothing was changed.")
            ids = _dead_ids_upto(session)
            scope = "all"
        else:
            ids = _posted_ids()
            _check_dead(session, ids)
            scope = "chosen"
    except Refused as refused:
        session.rollback()
        title = "Nothing was retried" if verb == "retry" else "Nothing was discarded"
        return _refuse(refused.code, title, refused.message, back)
    if verb == "retry":
        changed = sum(retry_dead(session, ids=chunk) for chunk in _chunks(ids))
        after = {"status": "pending", "attempts": 0}
    else:
        changed = sum(discard_dead(session, ids=chunk) for chunk in _chunks(ids))
        after = {"status": "discarded"}
    record_change(
        session,
        f"outbox.{verb}",
        before={"status": "dead", "scope": scope, **_audit_ids(ids)},
        after=after,
        reason=reason,
    )
    session.commit()
    noun = "dead letter" if changed == 1 else "dead letters"
    if verb == "discard":
        flash(f"{changed} {noun} discarded (kept in the outbox, marked discarded, for the record).")
        return redirect(back)
    try:
        enqueue_push()
        flash(f"{changed} {noun} pending again; a push to Salesforce was queued.")
    except RedisError as exc:
        current_app.logger.warning("push not enqueued after a dead-letter retry (the scheduler's sweep will): %s", exc)
        flash(
            f"{changed} {noun} pending again. Redis is unreachable, so no push was queued now: the scheduler's "
            "next sweep sends them."
        )
    return redirect(back)


@bp.post("/operations/outbox/retry")
def operations_outbox_retry() -> ResponseReturnValue:
    return _dead_letter_change("retry")


@bp.post("/operations/outbox/discard")
def operations_outbox_discard() -> ResponseReturnValue:
    return _dead_letter_change("discard")


# ---------------------------------------------------------------------------------------------- jobs


@bp.get("/operations/jobs")
def operations_jobs() -> ResponseReturnValue:
    queue_name = _choice("queue", QUEUE_NAMES, "")
    depths: list[QueueDepth] = []
    workers = 0
    jobs: list[FailedJob] = []
    pager = Pager(page=1, total=0)
    problem = None
    try:
        connection = console_redis()
        depths, workers = queue_depths(connection)
        if not queue_name:  # the first queue with failures, else the first queue
            queue_name = next((d.name for d in depths if d.failed), QUEUE_NAMES[0])
        total = next(d.failed for d in depths if d.name == queue_name)
        pager = _pager(total)
        jobs = failed_jobs(connection, queue_name, pager.offset, pager.offset + PAGE_SIZE - 1)
    except RedisError as exc:
        problem = redis_problem(exc)
        queue_name = queue_name or QUEUE_NAMES[0]
    return render_template(
        "admin/operations/jobs.html",
        export_parts=export_parts(pager.total),
        export_rows=EXPORT_ROWS,
        section="jobs",
        depths=depths,
        workers=workers,
        queue=queue_name,
        queues=QUEUE_NAMES,
        jobs=jobs,
        pager=pager,
        redis_problem=problem,
    )


@bp.get("/operations/jobs.csv")
def operations_jobs_csv() -> ResponseReturnValue:
    queue_name, part = _choice("queue", QUEUE_NAMES, ""), _export_part()
    start = (part - 1) * EXPORT_ROWS
    try:
        connection = console_redis()
        jobs: list[FailedJob] = []
        for name in [queue_name] if queue_name else list(QUEUE_NAMES):  # each queue's part
            jobs.extend(failed_jobs(connection, name, start, start + EXPORT_ROWS - 1))
    except RedisError as exc:
        return _refuse(503, "Redis is unreachable", redis_problem(exc), url_for("admin.operations_jobs"))
    rows = ((j.queue, j.id, j.function, j.enqueued_at, j.ended_at, j.exception) for j in jobs)
    name = _part_name(f"failed-jobs-{queue_name}" if queue_name else "failed-jobs", part)
    return csv_response(name, FAILED_JOB_COLUMNS, rows)


def _requeue(registry: FailedJobRegistry, job_id: str) -> bool:
    """Put one failed job back on its queue; False when it is no longer there to retry."""
    try:
        registry.requeue(job_id)
    except (InvalidJobOperation, NoSuchJobError):
        return False
    return True


@bp.post("/operations/jobs/retry")
def operations_jobs_retry() -> ResponseReturnValue:
    queue_name = request.form.get("queue", "")
    back = url_for("admin.operations_jobs", queue=queue_name if queue_name in QUEUE_NAMES else None)
    if queue_name not in QUEUE_NAMES:
        message = f"“{queue_name[:40]}” is not a queue; the queues are {', '.join(QUEUE_NAMES)}. Nothing was retried."
        return _refuse(400, "Nothing was retried", message, back)
    everything = request.form.get("scope") == "all"
    job_id = request.form.get("job_id", "")
    if not everything and not JOB_ID.fullmatch(job_id):
        return _refuse(400, "Nothing was retried", "The form named no valid job id. Nothing was retried.", back)
    try:
        connection = console_redis()
        registry = _failed_registry(connection, queue_name)
        if everything:
            candidates = registry.get_job_ids(cleanup=False)
            if not candidates:
                return _refuse(404, "Nothing was retried", f"The {queue_name} queue has no failed jobs.", back)
            retried = [jid for jid in candidates if _requeue(registry, jid)]
        else:
            if job_id not in registry:
                message = f"Job {job_id} is not among the failed jobs of the {queue_name} queue. Nothing was retried."
                return _refuse(404, "Nothing was retried", message, back)
            if Job.fetch_many([job_id], connection=connection)[0] is None:
                message = f"Job {job_id}'s data has expired from Redis, so it cannot be retried."
                return _refuse(404, "Nothing was retried", message, back)
            retried = [job_id] if _requeue(registry, job_id) else []
            if not retried:
                message = f"Job {job_id} was retried or removed meanwhile. Nothing was retried."
                return _refuse(409, "Nothing was retried", message, back)
    except RedisError as exc:
        return _refuse(503, "Nothing was retried", redis_problem(exc), back)
    session = current_session()
    record_change(
        session,
        "jobs.retry",
        before={
            "queue": queue_name,
            "status": "failed",
            "scope": "all" if everything else "one",
            **_audit_ids(retried),
        },
        after={"status": "queued"},
    )
    session.commit()
    noun = "job" if len(retried) == 1 else "jobs"
    flash(f"{len(retried)} failed {noun} of the {queue_name} queue put back on the queue.")
    return redirect(back)


# ---------------------------------------------------------------------------------------------- emails


def _emails_query(status: str) -> Select[EmailMessage]:
    if status:  # a range of the (status, created_at) index, in its order
        query = select(EmailMessage).where(EmailMessage.status == status)
        return query.order_by(EmailMessage.created_at.desc(), EmailMessage.id.desc())
    return select(EmailMessage).order_by(EmailMessage.id.desc())


EMAIL_COLUMNS = ["id", "created_at", "kind", "status", "status_at", "to_address", "subject", "contract_id", "stage"]
EMAIL_COLUMNS += ["brand", "ses_message_id", "attempts", "sent_at", "error"]


@bp.get("/operations/emails")
def operations_emails() -> ResponseReturnValue:
    session = current_session()
    status = _choice("status", EMAIL_STATUSES)
    counts = email_counts(session)
    pager = _pager(counts[status] if status else sum(counts.values()))
    messages = session.scalars(_emails_query(status).limit(PAGE_SIZE).offset(pager.offset)).all()
    return render_template(
        "admin/operations/emails.html",
        export_parts=export_parts(pager.total),
        export_rows=EXPORT_ROWS,
        section="emails",
        status=status,
        counts=counts,
        total=sum(counts.values()),
        chart=email_chart(counts),
        messages=messages,
        pager=pager,
        preview=_preview,
    )


@bp.get("/operations/emails.csv")
def operations_emails_csv() -> ResponseReturnValue:
    status, part = _choice("status", EMAIL_STATUSES), _export_part()
    columns = [getattr(EmailMessage, name) for name in EMAIL_COLUMNS]
    query = _emails_query(status).with_only_columns(*columns).limit(EXPORT_ROWS).offset((part - 1) * EXPORT_ROWS)
    rows = current_session().execute(query.execution_options(yield_per=1000))
    return csv_response(_part_name(f"emails-{status}" if status else "emails", part), EMAIL_COLUMNS, rows)


# ---------------------------------------------------------------------------------------------- suppressions


def _suppressions_query(reason: str, address: str) -> Select[EmailSuppression]:
    query = select(EmailSuppression)
    if reason:
        query = query.where(EmailSuppression.reason == reason)
    if address:
        query = query.where(EmailSuppression.address.startswith(address, autoescape=True))
    return query


def _suppression_filters() -> tuple[str, str]:
    return _choice("reason", SUPPRESSION_REASONS), request.args.get("q", "").strip().lower()[:320]


SUPPRESSION_COLUMNS = ["address", "reason", "scope", "created_at", "email_message_id", "detail"]


@bp.get("/operations/suppressions")
def operations_suppressions() -> ResponseReturnValue:
    session = current_session()
    reason, address = _suppression_filters()
    by_reason = dict.fromkeys(SUPPRESSION_REASONS, 0)
    by_reason.update(
        {r: int(n) for r, n in session.execute(select(EmailSuppression.reason, func.count()).group_by("reason"))}
    )
    query = _suppressions_query(reason, address)
    if address:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    else:
        total = by_reason[reason] if reason else sum(by_reason.values())
    pager = _pager(total)
    rows = session.scalars(query.order_by(EmailSuppression.id.desc()).limit(PAGE_SIZE).offset(pager.offset)).all()
    return render_template(
        "admin/operations/suppressions.html",
        export_parts=export_parts(pager.total),
        export_rows=EXPORT_ROWS,
        section="suppressions",
        rows=rows,
        pager=pager,
        reason=reason,
        address=address,
        reasons=SUPPRESSION_REASONS,
        by_reason=by_reason,
        filters={"reason": reason or None, "q": address or None},
        preview=_preview,
    )


@bp.get("/operations/suppressions.csv")
def operations_suppressions_csv() -> ResponseReturnValue:
    part = _export_part()
    columns = [getattr(EmailSuppression, name) for name in SUPPRESSION_COLUMNS]
    query = _suppressions_query(*_suppression_filters()).with_only_columns(*columns)
    query = query.order_by(EmailSuppression.id.desc()).limit(EXPORT_ROWS).offset((part - 1) * EXPORT_ROWS)
    rows = current_session().execute(query.execution_options(yield_per=1000))
    return csv_response(_part_name("suppressions", part), SUPPRESSION_COLUMNS, rows)
