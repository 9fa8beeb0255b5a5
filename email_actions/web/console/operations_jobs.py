"""The console's jobs page (``/admin/operations/jobs``): the RQ queues' depths and each queue's failed jobs
(the exception's type and first line only: tracebacks and arguments can hold what a console must not show),
with retry of one failed job or all of a queue's.

What the queues hold is read, and failed jobs are put back, by :mod:`jobs.introspection` (the only package
that knows RQ); these views turn it into pages, CSV and audited changes. When Redis is unreachable the page
still renders, saying so, and a retry answers 503. A retry is an admin's CSRF-protected POST, audited; a
queue or job that is unknown, or no longer failed, changes nothing and says so (400, 404, 409).
"""

from __future__ import annotations

import re

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from redis.exceptions import RedisError

from config.settings import get_settings
from email_actions.web.console.audit import record_change
from email_actions.web.console.blueprint import bp
from email_actions.web.console.csvout import csv_response
from email_actions.web.console.operations_changes import audit_ids, refuse
from email_actions.web.console.operations_format import redis_problem
from email_actions.web.console.operations_paging import (
    PAGE_SIZE,
    Pager,
    choice,
    export_links,
    export_part,
    export_range,
    pager,
    part_name,
)
from jobs.introspection import (
    FailedJob,
    QueueDepth,
    Requeue,
    failed_jobs,
    introspection_redis,
    queue_depths,
    requeue_all_failed,
    requeue_failed_job,
)
from jobs.queues import QUEUE_NAMES
from sync_service.store.db import current_session

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
FAILED_JOB_COLUMNS = ["queue", "job_id", "function", "enqueued_at", "failed_at", "exception"]


@bp.get("/operations/jobs")
def operations_jobs() -> ResponseReturnValue:
    queue_name = choice("queue", QUEUE_NAMES, "")
    depths: list[QueueDepth] = []
    workers = 0
    jobs: list[FailedJob] = []
    shown = Pager(page=1, total=0)
    problem = None
    try:
        connection = introspection_redis(get_settings())
        depths, workers = queue_depths(connection)
        if not queue_name:  # the first queue with failures, else the first queue
            queue_name = next((d.name for d in depths if d.failed), QUEUE_NAMES[0])
        shown = pager(next(d.failed for d in depths if d.name == queue_name))
        jobs = failed_jobs(connection, queue_name, shown.offset, shown.offset + PAGE_SIZE - 1)
    except RedisError as exc:
        problem = redis_problem(exc)
        queue_name = queue_name or QUEUE_NAMES[0]
    return render_template(
        "admin/operations/jobs.html",
        **export_links(shown.total),
        section="jobs",
        depths=depths,
        workers=workers,
        queue=queue_name,
        queues=QUEUE_NAMES,
        jobs=jobs,
        pager=shown,
        redis_problem=problem,
    )


@bp.get("/operations/jobs.csv")
def operations_jobs_csv() -> ResponseReturnValue:
    queue_name, part = choice("queue", QUEUE_NAMES, ""), export_part()
    start, stop = export_range(part)
    try:
        connection = introspection_redis(get_settings())
        jobs: list[FailedJob] = []
        for name in [queue_name] if queue_name else list(QUEUE_NAMES):  # each queue's part
            jobs.extend(failed_jobs(connection, name, start, stop))
    except RedisError as exc:
        return refuse(503, "Redis is unreachable", redis_problem(exc), url_for("admin.operations_jobs"))
    rows = ((j.queue, j.id, j.function, j.enqueued_at, j.ended_at, j.exception) for j in jobs)
    name = part_name(f"failed-jobs-{queue_name}" if queue_name else "failed-jobs", part)
    return csv_response(name, FAILED_JOB_COLUMNS, rows)


# Why one failed job was not retried: (status code, message), by what came of the attempt.
NOT_REQUEUED = {
    Requeue.NOT_FAILED: (404, "Job {job} is not among the failed jobs of the {queue} queue. Nothing was retried."),
    Requeue.EXPIRED: (404, "Job {job}'s data has expired from Redis, so it cannot be retried."),
    Requeue.GONE: (409, "Job {job} was retried or removed meanwhile. Nothing was retried."),
}


@bp.post("/operations/jobs/retry")
def operations_jobs_retry() -> ResponseReturnValue:
    queue_name = request.form.get("queue", "")
    back = url_for("admin.operations_jobs", queue=queue_name if queue_name in QUEUE_NAMES else None)
    if queue_name not in QUEUE_NAMES:
        message = f"“{queue_name[:40]}” is not a queue; the queues are {', '.join(QUEUE_NAMES)}. Nothing was retried."
        return refuse(400, "Nothing was retried", message, back)
    everything = request.form.get("scope") == "all"
    job_id = request.form.get("job_id", "")
    if not everything and not JOB_ID.fullmatch(job_id):
        return refuse(400, "Nothing was retried", "The form named no valid job id. Nothing was retried.", back)
    try:
        connection = introspection_redis(get_settings())
        if everything:
            failed, retried = requeue_all_failed(connection, queue_name)
            if not failed:
                return refuse(404, "Nothing was retried", f"The {queue_name} queue has no failed jobs.", back)
        else:
            outcome = requeue_failed_job(connection, queue_name, job_id)
            if outcome is not Requeue.DONE:
                code, message = NOT_REQUEUED[outcome]
                return refuse(code, "Nothing was retried", message.format(job=job_id, queue=queue_name), back)
            retried = [job_id]
    except RedisError as exc:
        return refuse(503, "Nothing was retried", redis_problem(exc), back)
    session = current_session()
    record_change(
        session,
        "jobs.retry",
        before={"queue": queue_name, "status": "failed", "scope": "all" if everything else "one", **audit_ids(retried)},
        after={"status": "queued"},
    )
    session.commit()
    noun = "job" if len(retried) == 1 else "jobs"
    flash(f"{len(retried)} failed {noun} of the {queue_name} queue put back on the queue.")
    return redirect(back)
