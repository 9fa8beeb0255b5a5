"""The console's Operations section: is the service healthy, and what is stuck? This module holds its
read-only pages; the outbox with its dead letters is :mod:`.operations_outbox`, the jobs :mod:`.operations_jobs`.

- **Overview** (``/admin/operations``): per mapping its last pull (rows, duration, status, error; "retrying
  since …" while its pulls keep ending on transient failures), the last success and the failures of the last
  day; Salesforce API calls today against the daily budget and reserve in force, with a chart of the last 30
  days; the RQ queues' depths; the outbox's pending and dead counts; email statuses; the suppression list's size;
  and, for each active mapping past the freshness limit, that reminders are "paused: data is N h old, last pull …"
  (:mod:`sync_service.freshness`).
- **Sync runs** (``/operations/pulls``): every pull and push, newest first, by mapping, kind and status, with
  the records a pull skipped (id and reason).
- **Outbox** (``/operations/outbox``): pending, dead, discarded and done writes with Salesforce's message;
  dead letters can be retried (pending again, and a push is queued) or discarded, one, some or all.
- **Jobs** (``/operations/jobs``): queue depths and each queue's failed jobs (the exception's type and first
  line only: tracebacks and arguments can hold what a console must not show), with retry.
- **Emails** (``/operations/emails``) by status, and the **suppression list** (``/operations/suppressions``)
  with the contacts opted out in Salesforce; an admin lifts either there (:mod:`.operations_suppressions`).

Every table has a CSV export (a ``….csv`` route taking the page's filters); a long list exports in parts
(:mod:`.operations_paging`), so no request builds a file of the whole store. Every change (retry, discard) is a
CSRF-protected POST, recorded in the audit log in the transaction that makes it, and confirmed by a flash
message; an id that is malformed, unknown or in the wrong state changes nothing and says so (400, 404, 409).

Each page issues a small, fixed number of SQL statements, whatever the size of the store
(:mod:`.operations_queries`). Redis is reached with short timeouts (:mod:`jobs.introspection`); when it is
unreachable the pages still render, saying so. No view here changes anything.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError

from config.settings import get_settings
from email_actions.web.console.blueprint import bp
from email_actions.web.console.csvout import csv_response
from email_actions.web.console.operations_changes import refuse
from email_actions.web.console.operations_format import (
    format_duration,
    preview,
    redis_problem,
    rows_text,
    rows_total,
    run_seconds,
    skipped_examples,
)
from email_actions.web.console.operations_paging import (
    PAGE_SIZE,
    choice,
    export_links,
    export_part,
    export_slice,
    pager,
    part_name,
)
from email_actions.web.console.operations_queries import (
    EMAIL_COLUMNS,
    RUN_KINDS,
    RUN_STATUSES,
    SUPPRESSION_COLUMNS,
    SUPPRESSION_REASONS,
    USAGE_DAYS,
    MappingPulls,
    api_usage,
    count_of,
    email_chart,
    email_counts,
    emails_query,
    last_pulls,
    mapping_names,
    outbox_counts,
    runs_query,
    suppressed_count,
    suppressions_by_reason,
    suppressions_query,
    today_utc,
    usage_rows,
)
from email_actions.web.console.operations_suppressions import opted_out_contacts
from jobs.introspection import QueueDepth, introspection_redis, queue_depths
from sync_service.console_settings import api_budget
from sync_service.freshness import freshness_limit, judge
from sync_service.store.db import current_session
from sync_service.store.models import EMAIL_STATUSES, EmailMessage, EmailSuppression, SyncRun, utcnow

MAX_USAGE_DAYS = 366

LAST_PULL_COLUMNS = ["mapping", "active", "kind", "started_at", "finished_at", "seconds", "status", "rows"]
LAST_PULL_COLUMNS += ["rows_detail", "api_calls", "error", "last_success_at", "failures_24h", "retrying_since"]
RUN_COLUMNS = ["id", "mapping", "kind", "started_at", "finished_at", "seconds", "status", "rows", "rows_detail"]
RUN_COLUMNS += ["api_calls", "error"]
QUEUE_COLUMNS = ["queue", "waiting", "running", "scheduled", "deferred", "failed"]


# ---------------------------------------------------------------------------------------------- overview


@bp.get("/operations")
def operations() -> ResponseReturnValue:
    session = current_session()
    pulls = last_pulls(session)
    usage = api_usage(session, get_settings())
    outbox = outbox_counts(session, ("pending", "dead"))
    emails = email_counts(session)
    suppressed = suppressed_count(session)
    # Judged from the pulls just read (their last success), not another query: the page's statements stay few.
    limit, now = freshness_limit(get_settings()), utcnow()
    judged = (judge(item.mapping, item.last_success_at, limit=limit, now=now) for item in pulls if item.active)
    stale = [item for item in judged if item is not None]
    depths: list[QueueDepth] = []
    workers = 0
    problem = None
    try:
        depths, workers = queue_depths(introspection_redis(get_settings()))
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
        stale=stale,
        depths=depths,
        workers=workers,
        redis_problem=problem,
        format_duration=format_duration,
        rows_total=rows_total,
        rows_text=rows_text,
        preview=preview,
    )


def _last_pull_csv_row(item: MappingPulls) -> list[Any]:
    run = item.last
    seconds = round(item.seconds, 1) if item.seconds is not None else None
    if run is None:
        return [item.mapping, item.active, *[None] * 9, item.last_success_at, item.failures, item.retrying_since]
    return [
        item.mapping,
        item.active,
        run.kind,
        run.started_at,
        run.finished_at,
        seconds,
        run.status,
        rows_total(run.rows),
        run.rows,
        run.api_calls,
        run.error,
        item.last_success_at,
        item.failures,
        item.retrying_since,
    ]


@bp.get("/operations/last-pulls.csv")
def operations_last_pulls_csv() -> ResponseReturnValue:
    rows = [_last_pull_csv_row(item) for item in last_pulls(current_session())]
    return csv_response("last-pulls.csv", LAST_PULL_COLUMNS, rows)


@bp.get("/operations/api-usage.csv")
def operations_api_usage_csv() -> ResponseReturnValue:
    days = min(max(request.args.get("days", USAGE_DAYS, type=int) or USAGE_DAYS, 1), MAX_USAGE_DAYS)
    session = current_session()
    budget = api_budget(session, get_settings())
    start = today_utc() - timedelta(days=days - 1)
    rows = ((day, job, calls, budget.daily_budget) for day, job, calls in usage_rows(session, start))
    return csv_response("api-usage.csv", ["day", "job", "calls", "daily_budget_now"], rows)


@bp.get("/operations/email-statuses.csv")
def operations_email_statuses_csv() -> ResponseReturnValue:
    counts = email_counts(current_session())
    return csv_response("email-statuses.csv", ["status", "emails"], counts.items())


@bp.get("/operations/queues.csv")
def operations_queues_csv() -> ResponseReturnValue:
    try:
        depths, _ = queue_depths(introspection_redis(get_settings()))
    except RedisError as exc:
        return refuse(503, "Redis is unreachable", redis_problem(exc), url_for("admin.operations"))
    rows = ((d.name, d.waiting, d.running, d.scheduled, d.deferred, d.failed) for d in depths)
    return csv_response("queues.csv", QUEUE_COLUMNS, rows)


# ---------------------------------------------------------------------------------------------- sync runs


def _run_filters() -> tuple[str, str, str]:
    mapping = request.args.get("mapping", "").strip()[:80]
    return mapping, choice("kind", RUN_KINDS), choice("status", RUN_STATUSES)


def _run_csv_row(run: SyncRun) -> list[Any]:
    seconds = run_seconds(run.started_at, run.finished_at)
    return [
        run.id,
        run.mapping_name,
        run.kind,
        run.started_at,
        run.finished_at,
        round(seconds, 1) if seconds is not None else None,
        run.status,
        rows_total(run.rows),
        run.rows,
        run.api_calls,
        run.error,
    ]


@bp.get("/operations/pulls")
def operations_pulls() -> ResponseReturnValue:
    session = current_session()
    mapping, kind, status = _run_filters()
    query = runs_query(mapping, kind, status)
    shown = pager(count_of(session, query))
    runs = session.scalars(query.order_by(SyncRun.id.desc()).limit(PAGE_SIZE).offset(shown.offset)).all()
    return render_template(
        "admin/operations/pulls.html",
        **export_links(shown.total),
        section="pulls",
        runs=runs,
        pager=shown,
        mapping=mapping,
        kind=kind,
        status=status,
        mappings=mapping_names(session),
        kinds=RUN_KINDS,
        statuses=RUN_STATUSES,
        filters={"mapping": mapping or None, "kind": kind or None, "status": status or None},
        duration=lambda run: format_duration(run_seconds(run.started_at, run.finished_at)),
        rows_total=rows_total,
        rows_text=rows_text,
        skipped_examples=skipped_examples,
    )


@bp.get("/operations/pulls.csv")
def operations_pulls_csv() -> ResponseReturnValue:
    part = export_part()
    query = export_slice(runs_query(*_run_filters()).order_by(SyncRun.id.desc()), part)
    runs = current_session().scalars(query)
    return csv_response(part_name("sync-runs", part), RUN_COLUMNS, (_run_csv_row(run) for run in runs))


# ---------------------------------------------------------------------------------------------- emails


@bp.get("/operations/emails")
def operations_emails() -> ResponseReturnValue:
    session = current_session()
    status = choice("status", EMAIL_STATUSES)
    counts = email_counts(session)
    shown = pager(counts[status] if status else sum(counts.values()))
    messages = session.scalars(emails_query(status).limit(PAGE_SIZE).offset(shown.offset)).all()
    return render_template(
        "admin/operations/emails.html",
        **export_links(shown.total),
        section="emails",
        status=status,
        counts=counts,
        total=sum(counts.values()),
        chart=email_chart(counts),
        messages=messages,
        pager=shown,
        preview=preview,
    )


@bp.get("/operations/emails.csv")
def operations_emails_csv() -> ResponseReturnValue:
    status, part = choice("status", EMAIL_STATUSES), export_part()
    columns = [getattr(EmailMessage, name) for name in EMAIL_COLUMNS]
    rows = current_session().execute(export_slice(emails_query(status).with_only_columns(*columns), part))
    return csv_response(part_name(f"emails-{status}" if status else "emails", part), EMAIL_COLUMNS, rows)


# ---------------------------------------------------------------------------------------------- suppressions


def _suppression_filters() -> tuple[str, str]:
    return choice("reason", SUPPRESSION_REASONS), request.args.get("q", "").strip().lower()[:320]


@bp.get("/operations/suppressions")
def operations_suppressions() -> ResponseReturnValue:
    session = current_session()
    reason, address = _suppression_filters()
    by_reason = suppressions_by_reason(session)
    query = suppressions_query(reason, address)
    if address:  # a prefix of addresses: counted in SQL; otherwise the counts per reason say it
        total = count_of(session, query)
    elif reason:
        total = by_reason[reason]
    else:
        total = sum(by_reason.values())
    shown = pager(total)
    rows = session.scalars(query.order_by(EmailSuppression.id.desc()).limit(PAGE_SIZE).offset(shown.offset)).all()
    return render_template(
        "admin/operations/suppressions.html",
        **export_links(shown.total),
        section="suppressions",
        rows=rows,
        pager=shown,
        reason=reason,
        address=address,
        reasons=SUPPRESSION_REASONS,
        by_reason=by_reason,
        opted_out=opted_out_contacts(session),
        filters={"reason": reason or None, "q": address or None},
        preview=preview,
    )


@bp.get("/operations/suppressions.csv")
def operations_suppressions_csv() -> ResponseReturnValue:
    part = export_part()
    columns = [getattr(EmailSuppression, name) for name in SUPPRESSION_COLUMNS]
    query = suppressions_query(*_suppression_filters()).with_only_columns(*columns)
    rows = current_session().execute(export_slice(query.order_by(EmailSuppression.id.desc()), part))
    return csv_response(part_name("suppressions", part), SUPPRESSION_COLUMNS, rows)
