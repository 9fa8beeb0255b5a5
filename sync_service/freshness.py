"""The staleness guard: reminders go out only while the store's copy of the org is recent.

Salesforce is the system of record (a hold, a renewal, an opt-out set there reaches us with the next pull). When
pulls stop succeeding, the store drifts from the org without anyone noticing, and a reminder planned or sent
from it may go to a contract a rep renewed or held an hour ago. So each active mapping has a freshness limit
(``RENEWALS_FRESHNESS_LIMIT_HOURS``, default 6 h): past it since the mapping's last successful pull (a
``full`` or ``incremental`` :class:`~sync_service.store.models.SyncRun` with status ``succeeded``, timed by its
end, as the console shows it), planning and sending reminders pause, and resume by themselves at the next
successful pull. A mapping that was never pulled successfully is stale too: nothing says its data is recent.

Decisions where the issue is silent:

- **One limit for every mapping, in the environment settings**, not a console setting: it is the operator's
  promise about the schedule (pulls every 15 minutes, a failed pull retried after 6 hours, the health check's
  alerting), set beside the deployment like the schedule itself. Kept out of the console on purpose: raising
  it is how one would silence the guard, and that should take a deploy, not a click.
- **Reminders pause for every contract when any active mapping is stale.** The store keeps one copy of one
  org and a contract row does not record which mapping brought it (an org has one active mapping in practice;
  renaming a mapping leaves its rows in place), so "that mapping's contracts" cannot be told apart safely.
- **What pauses**: the planner (no rows planned or cancelled while stale: the next fresh run catches up, and
  its never-a-burst rule keeps that to one reminder per contract), queueing due reminders, and sending
  reminders and the rep's copies of them (they stay ``queued`` and go when the data is fresh again, after
  the send-time checks run on fresh data). Confirmations and contact-request notices are not reminders: they
  answer what a customer just did, and still go. Renew is not paused: it reads the org live.
- **/healthz stays 200 while stale** (see :mod:`email_actions.web.status`): a stale store is not a web app
  that a load balancer should take out of rotation (Renew, the portals and the console still work); the
  detail names the stale mapping and since when, for monitoring to alert on.

Pure reads; nothing here writes. ``now`` is injectable for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from sync_service.store import models
from sync_service.store.models import utcnow

# The runs whose success makes data fresh: what a pull reads (a reconcile only compares id sets; a push reads
# nothing back).
FRESH_RUN_KINDS = ("full", "incremental")


@dataclass(frozen=True)
class Stale:
    """One active mapping whose data is older than the limit: since when (its last successful pull's end, or
    None when it never had one) and why reminders wait."""

    mapping: str
    last_pull_at: datetime | None
    age: timedelta | None
    limit: timedelta

    @property
    def stale_since(self) -> datetime | None:
        """When the data went stale: the last successful pull's end plus the limit (None: never pulled)."""
        return self.last_pull_at + self.limit if self.last_pull_at is not None else None

    @property
    def reason(self) -> str:
        limit = _hours(self.limit)
        if self.last_pull_at is None or self.age is None:
            return f"paused: mapping {self.mapping} has no successful pull yet (limit {limit} h)"
        return (
            f"paused: data is {_hours(self.age)} h old, last pull {self.last_pull_at:%Y-%m-%d %H:%M} UTC "
            f"(mapping {self.mapping}, limit {limit} h)"
        )

    def as_dict(self) -> dict[str, str | float | None]:
        return {
            "mapping": self.mapping,
            "last_pull_at": self.last_pull_at.isoformat() if self.last_pull_at is not None else None,
            "stale_since": self.stale_since.isoformat() if self.stale_since is not None else None,
            "age_hours": round(self.age.total_seconds() / 3600, 1) if self.age is not None else None,
            "limit_hours": round(self.limit.total_seconds() / 3600, 2),
            "reason": self.reason,
        }


def _hours(delta: timedelta) -> str:
    """Hours as people read them: whole when at least 10, one decimal below that ("7.5", "26")."""
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f}" if hours >= 10 else f"{hours:.1f}".removesuffix(".0")


def freshness_limit(settings: Settings) -> timedelta:
    return timedelta(hours=settings.freshness_limit_hours)


def judge(mapping: str, last_pull_at: datetime | None, *, limit: timedelta, now: datetime) -> Stale | None:
    """An active mapping whose last successful pull ended at `last_pull_at` (None: never): stale, or None when
    fresh. For callers that read the last success already (the console's overview)."""
    if last_pull_at is None:
        return Stale(mapping=mapping, last_pull_at=None, age=None, limit=limit)
    if now - last_pull_at > limit:
        return Stale(mapping=mapping, last_pull_at=last_pull_at, age=now - last_pull_at, limit=limit)
    return None


def stale_mappings(session: Session, *, limit: timedelta, now: datetime | None = None) -> list[Stale]:
    """Every active mapping whose last successful pull ended more than `limit` before `now`, by name; one
    statement. No active mapping: nothing is stale (there is nothing to be fresh about)."""
    now = now or utcnow()
    # The newest successful pull, found backwards through the (mapping_name, started_at) index.
    last_success = (
        select(func.coalesce(models.SyncRun.finished_at, models.SyncRun.started_at))
        .where(
            models.SyncRun.mapping_name == models.MappingVersion.name,
            models.SyncRun.kind.in_(FRESH_RUN_KINDS),
            models.SyncRun.status == "succeeded",
        )
        .order_by(models.SyncRun.started_at.desc())
        .limit(1)
        .correlate(models.MappingVersion)
        .scalar_subquery()
    )
    rows = session.execute(
        select(models.MappingVersion.name, last_success)
        .where(models.MappingVersion.is_active.is_(True))
        .order_by(models.MappingVersion.name)
    ).all()
    judged = (judge(name, last, limit=limit, now=now) for name, last in rows)
    return [item for item in judged if item is not None]


def reminders_paused(session: Session, settings: Settings, *, now: datetime | None = None) -> str | None:
    """Why reminders must wait now (every stale mapping's reason, joined), or None while the data is fresh."""
    stale = stale_mappings(session, limit=freshness_limit(settings), now=now)
    return "; ".join(item.reason for item in stale) or None
