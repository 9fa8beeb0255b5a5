"""The store queries of the Operations pages: the last pull per mapping, sync runs, API usage, and the outbox,
emails and suppressions as counts and as lists.

Each query costs a fixed number of statements whatever the size of the store: counts are aggregated in SQL,
and lists are built as ``Select`` statements in orders the indexes serve, for the views to page or export.
Reading only: the changes (dead letters) are :mod:`sync_service.outbox.dead`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from config.settings import Settings
from email_actions.web.console.charts import Series, bar_chart, line_chart
from email_actions.web.console.operations_format import run_seconds
from sync_service.console_settings import api_budget
from sync_service.salesforce.budget import Budget
from sync_service.store.models import (
    EMAIL_STATUSES,
    ApiUsage,
    EmailMessage,
    EmailSuppression,
    MappingVersion,
    OutboxItem,
    SyncRun,
)

USAGE_DAYS = 30
FAILURES_WINDOW = timedelta(hours=24)

PULL_KINDS = ("full", "incremental", "reconcile")
RUN_KINDS = ("pulls", "push", *PULL_KINDS)  # the sync-run page's kind filter ("pulls": every pull kind)
# What `sync_runs.status` holds (its CHECK constraint); "retrying": a transient failure, blocking nothing.
RUN_STATUSES = ("running", "succeeded", "failed", "paused", "retrying")
# The pulls a transient failure leaves "retrying" (and that the schedule retries on its next tick).
SCHEDULED_PULL_KINDS = ("full", "incremental")
# A finished pull of one of these statuses ends a run of "retrying" pulls ("running" is the next attempt).
ENDS_RETRYING = ("succeeded", "failed", "paused")
OUTBOX_STATUSES = ("dead", "pending", "discarded", "done")
SUPPRESSION_REASONS = ("bounce", "complaint", "unsubscribe")

# The columns a list's CSV export reads (plain rows: no payload, no ORM objects).
OUTBOX_COLUMNS = ["id", "status", "key", "kind", "sobject", "target_sf_id", "sf_id", "attempts", "count"]
OUTBOX_COLUMNS += ["next_attempt_at", "created_at", "done_at", "last_error"]
EMAIL_COLUMNS = ["id", "created_at", "kind", "status", "status_at", "to_address", "subject", "contract_id", "stage"]
EMAIL_COLUMNS += ["brand", "ses_message_id", "attempts", "sent_at", "error"]
SUPPRESSION_COLUMNS = ["address", "reason", "scope", "created_at", "email_message_id", "detail"]


def today_utc() -> date:
    return datetime.now(UTC).date()


# ---------------------------------------------------------------------------------------------- pulls


@dataclass(frozen=True)
class MappingPulls:
    """One mapping's last pull (None when it never ran), last success and recent failures; and, while its
    latest pulls ended on transient failures, when the first of them started (else None)."""

    mapping: str
    active: bool
    last: SyncRun | None
    last_success_at: datetime | None
    failures: int
    retrying_since: datetime | None = None

    @property
    def seconds(self) -> float | None:
        return run_seconds(self.last.started_at, self.last.finished_at) if self.last else None


def last_pulls(session: Session) -> list[MappingPulls]:
    """Per mapping name (every name with a saved version), in one statement: the newest pull, the newest
    successful pull's end, the failed pulls of the last 24 hours and the start of the consecutive "retrying"
    pulls since the last pull that ended otherwise (each found through the (mapping_name, started_at) index)."""
    names = (
        select(
            MappingVersion.name.label("name"),
            func.max(case((MappingVersion.is_active, 1), else_=0)).label("active"),
        )
        .group_by(MappingVersion.name)
        .subquery()
    )
    newest, success, failed = aliased(SyncRun), aliased(SyncRun), aliased(SyncRun)
    settled, retrying = aliased(SyncRun), aliased(SyncRun)
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
    last_settled = (
        select(settled.started_at)
        .where(
            settled.mapping_name == names.c.name,
            settled.kind.in_(SCHEDULED_PULL_KINDS),
            settled.status.in_(ENDS_RETRYING),
        )
        .order_by(settled.started_at.desc())
        .limit(1)
        .correlate(names)
        .scalar_subquery()
    )
    retrying_since = (
        select(func.min(retrying.started_at))
        .where(
            retrying.mapping_name == names.c.name,
            retrying.kind.in_(SCHEDULED_PULL_KINDS),
            retrying.status == "retrying",
            or_(last_settled.is_(None), retrying.started_at > last_settled),
        )
        .correlate(names)
        .scalar_subquery()
    )
    query = (
        select(names.c.name, names.c.active, SyncRun, last_success, failures, retrying_since)
        .select_from(names)
        .outerjoin(SyncRun, SyncRun.id == newest_id)
        .order_by(names.c.name)
    )
    return [
        MappingPulls(
            mapping=name,
            active=bool(active),
            last=run,
            last_success_at=ok_at,
            failures=int(fails or 0),
            retrying_since=since,
        )
        for name, active, run, ok_at, fails, since in session.execute(query)
    ]


def runs_query(mapping: str, kind: str, status: str) -> Select[SyncRun]:
    """Sync runs of a mapping (every mapping when empty), of a kind ("pulls": every pull kind) and status."""
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


def mapping_names(session: Session) -> Sequence[str]:
    """Every mapping name with a saved version, for the sync runs' filter."""
    return session.scalars(select(MappingVersion.name).distinct().order_by(MappingVersion.name)).all()


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


def usage_rows(session: Session, start: date) -> list[tuple[date, str, int]]:
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
    today = today_utc()
    start = today - timedelta(days=days - 1)
    per_day: dict[date, int] = {}
    today_jobs: dict[str, int] = {}
    for day, job, calls in usage_rows(session, start):
        per_day[day] = per_day.get(day, 0) + calls
        if day == today:
            today_jobs[job] = calls
    return ApiUsageView(
        budget=api_budget(session, settings),
        today=today,
        days=[(start + timedelta(days=n), per_day.get(start + timedelta(days=n), 0)) for n in range(days)],
        by_job_today=sorted(today_jobs.items(), key=lambda item: (-item[1], item[0])),
    )


# ---------------------------------------------------------------------------------------------- outbox


def outbox_counts(session: Session, statuses: Sequence[str] = OUTBOX_STATUSES) -> dict[str, int]:
    """Rows per outbox status, counted on the (status, next_attempt_at) index."""
    query = select(OutboxItem.status, func.count()).where(OutboxItem.status.in_(statuses)).group_by(OutboxItem.status)
    counts = dict.fromkeys(statuses, 0)
    counts.update({status: int(n) for status, n in session.execute(query)})
    return counts


def outbox_query(status: str) -> Select[OutboxItem]:
    # (status, next_attempt_at) is indexed: every listing is a range of that index, in its order.
    query = select(OutboxItem).where(OutboxItem.status == status)
    if status == "pending":
        return query.order_by(OutboxItem.next_attempt_at, OutboxItem.id)
    return query.order_by(OutboxItem.next_attempt_at.desc(), OutboxItem.id.desc())


def newest_dead_id(session: Session) -> int | None:
    return session.scalar(select(func.max(OutboxItem.id)).where(OutboxItem.status == "dead"))


def outbox_statuses(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The status of each of `ids` that exists."""
    return dict(session.execute(select(OutboxItem.id, OutboxItem.status).where(OutboxItem.id.in_(ids))).all())


def dead_ids_upto(session: Session, upto: int) -> list[int]:
    """The dead letters' ids up to `upto` (the newest a page knew of), in order."""
    query = select(OutboxItem.id).where(OutboxItem.status == "dead", OutboxItem.id <= upto)
    return list(session.scalars(query.order_by(OutboxItem.id)).all())


# ---------------------------------------------------------------------------------------------- emails


def email_counts(session: Session) -> dict[str, int]:
    """Emails per status (every status, zeros included), counted on the (status, created_at) index."""
    counts = dict.fromkeys(EMAIL_STATUSES, 0)
    query = select(EmailMessage.status, func.count()).group_by(EmailMessage.status)
    counts.update({status: int(n) for status, n in session.execute(query)})
    return counts


def email_chart(counts: dict[str, int]) -> Markup:
    return bar_chart("Emails by status (all time)", list(counts), [Series("Emails", list(counts.values()))])


def emails_query(status: str) -> Select[EmailMessage]:
    if status:  # a range of the (status, created_at) index, in its order
        query = select(EmailMessage).where(EmailMessage.status == status)
        return query.order_by(EmailMessage.created_at.desc(), EmailMessage.id.desc())
    return select(EmailMessage).order_by(EmailMessage.id.desc())


# ---------------------------------------------------------------------------------------------- suppressions


def suppressed_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(EmailSuppression)) or 0


def suppressions_by_reason(session: Session) -> dict[str, int]:
    """Suppressed addresses per reason (every reason, zeros included)."""
    by_reason = dict.fromkeys(SUPPRESSION_REASONS, 0)
    by_reason.update(
        {r: int(n) for r, n in session.execute(select(EmailSuppression.reason, func.count()).group_by("reason"))}
    )
    return by_reason


def suppressions_query(reason: str, address: str) -> Select[EmailSuppression]:
    """Suppressions for a reason (every reason when empty) whose address starts with `address`."""
    query = select(EmailSuppression)
    if reason:
        query = query.where(EmailSuppression.reason == reason)
    if address:
        query = query.where(EmailSuppression.address.startswith(address, autoescape=True))
    return query


def count_of(session: Session, query: Select[Any]) -> int:
    """The rows `query` lists, counted in SQL."""
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0
