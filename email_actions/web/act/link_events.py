"""What email links and pixels see: every hit stored raw with its bot classification, and the human ones
turned into the rep's bounded Tasks (opened, quote downloaded).

Recording an event is the only thing a GET or HEAD on an email link writes: an append-only row that never
triggers an action. The classification (``botclass.classify``) decides only whether the hit counts as a
human's (Task, reports); it never decides whether a state change happens — those need a POST.

A burst (several different links of one email within seconds) is only visible from its third hit, so it
relabels the email's earlier hits in the same window ``machine`` too, and takes back the Task an earlier
hit of the burst recorded while that Task is still waiting in the outbox, untouched by any push. A Task
already pushed stays in Salesforce (its count is one too high); the events say what happened.

Opens and downloads reach Salesforce in batches: after committing a human one, the caller asks for a push
with :func:`push_evidence_soon`, which queues at most one push per ``PUSH_WINDOW`` for all web workers (and,
Redis being down, leaves it to the scheduler's sweep: ``jobs.base.enqueue_after_commit``).
A process that queued that push itself skips Redis for the rest of the window (the push it queued will carry
the open), so a burst of opens costs one Redis round trip, not one each.

Views record a hit with :func:`record_hit`: it is classified with reads in the request's read transaction (a
GET's session only reads, ``sync_service.store.db``), then stored and committed in a short write transaction
of its own (:func:`committed`): the event, and for a human open or download the Task's bump, both durable
before the view answers. On SQLite that transaction takes the write lock up front, so two web workers
recording hits wait for each other instead of failing, and nothing slow runs while it is held.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import structlog
from flask import current_app, request
from sqlalchemy import Row, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, joinedload

from config.settings import get_settings
from jobs.base import enqueue_after_commit, get_queue, redis_connection
from jobs.queues import PUSH
from mappings.loader import load
from mappings.model import TaskConventions
from sync_service import console_settings
from sync_service.bot_classifier import BotRules, Hit, burst_links, classify, seconds_text
from sync_service.outbox.record import event_key
from sync_service.outbox.tasks import record_email_activity
from sync_service.store import models
from sync_service.store.db import reads_only, writing
from sync_service.store.models import utcnow

T = TypeVar("T")
log = structlog.get_logger(__name__)

# Which human events become a Task, and under which activity.
TASK_OF_KIND = {"open": "opened", "download": "downloaded"}
# The same email's other hits the classifier looks at (the "every link within seconds" signal).
RECENT_LIMIT = 20
# Human opens and downloads are pushed to Salesforce at most this often (one scheduled push per window).
PUSH_WINDOW = timedelta(seconds=30)
PUSH_GUARD_KEY = "renewals:evidence:push-scheduled"
COMMIT_ATTEMPTS = 5
PUSH_QUEUED_MARGIN_SECONDS = 5.0
# The app's {"until": monotonic seconds}: when the push this process queued last runs, less the margin.
PUSH_QUEUED_KEY = "renewals.evidence_push_queued"

# Task conventions of each mapping version (rows never change: an edit is a new version), so a human open
# does not parse the mapping's YAML again. Keyed by database too: one process may serve several in tests.
_conventions_cache: dict[tuple[str, int], TaskConventions] = {}


def current_hit(purpose: str) -> Hit:
    """The request being served, as the classifier sees it (address after the configured proxies)."""
    hints = " ".join(request.headers.get(name, "") for name in ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"))
    return Hit(
        purpose=purpose,
        method=request.method,
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        at=utcnow(),
        prefetch="prefetch" in hints.lower() or "preview" in hints.lower(),
    )


@dataclass(frozen=True)
class Classified:
    """A hit on an email's link as the classifier saw it, ready to store (:func:`store_hit`)."""

    hit: Hit
    label: str
    reasons: list[str]
    seconds_since_sent: float | None
    rules: BotRules
    recent: Sequence[Row[int, str, datetime, str]]
    # For a human hit that records a Task: what it names, read beforehand. The contract is held here (with its
    # contact and rep): the session's identity map holds objects weakly, and the Task's lazy loads find it there.
    contract: models.Contract | None
    conventions: TaskConventions | None


def classify_hit(
    session: Session, message: models.EmailMessage, *, kind: str, purpose: str, hit: Hit | None = None
) -> Classified:
    """Classify a hit on `message`'s link: reads only (the rules, the email's recent hits and, for a human
    open or download, what its Task names), so a view does it in its read transaction."""
    hit = hit or current_hit(purpose)
    # The rules in force (the admin console's, else the environment's), read per hit: a change applies at once.
    rules = console_settings.bot_rules(session, get_settings())
    since = _seconds_since(message.sent_at, hit.at)
    delivered = message.status_at if message.status == "delivered" else None
    recent = _recent_hits(session, message.id, hit.at, rules.burst_seconds)
    label, reasons = classify(
        hit,
        seconds_since_sent=since,
        seconds_since_delivery=_seconds_since(delivered, hit.at),
        recent=[(recent_hit.purpose, recent_hit.occurred_at) for recent_hit in recent],
        rules=rules,
    )
    contract, conventions = None, None
    if label == "human" and kind in TASK_OF_KIND:
        # The Task names the contract, its contact and rep: one query for the three (the relationships then
        # come from the identity map) instead of a lazy load each.
        contract = (
            session.execute(
                select(models.Contract)
                .options(joinedload(models.Contract.contact), joinedload(models.Contract.rep))
                .where(models.Contract.id == message.contract_id)
            )
            .unique()
            .scalar_one_or_none()
        )
        conventions = _conventions(session)
    return Classified(hit, label, reasons, since, rules, recent, contract, conventions)


def store_hit(
    session: Session, message: models.EmailMessage, *, kind: str, classified: Classified
) -> models.EmailEvent:
    """Store a classified hit (in the caller's transaction) and, for a human open or download, record or bump
    the rep's Task; relabel the earlier hits of a burst it completes. Returns the event."""
    hit, rules, recent = classified.hit, classified.rules, classified.recent
    event = models.EmailEvent(
        email_message_id=message.id,
        kind=kind,
        purpose=hit.purpose,
        method=hit.method,
        ip=hit.ip,
        user_agent=(hit.user_agent or "")[:1000] or None,
        occurred_at=hit.at,
        seconds_since_sent=classified.seconds_since_sent,
        label=classified.label,
        reasons=classified.reasons,
    )
    session.add(event)
    burst = burst_links(hit.at, hit.purpose, [(r.purpose, r.occurred_at) for r in recent], window=rules.burst_seconds)
    if len(burst) >= rules.burst_links:
        _relabel_burst(session, message, [r.id for r in recent if r.label == "human"], len(burst), rules)
    activity = TASK_OF_KIND.get(kind)
    if classified.label == "human" and activity is not None:
        record_email_activity(
            session,
            message,
            activity,
            at=hit.at,
            detail=f"Link: {hit.purpose}",
            conventions=classified.conventions or _conventions(session),
        )
    return event


def record_event(
    session: Session, message: models.EmailMessage, *, kind: str, purpose: str, hit: Hit | None = None
) -> models.EmailEvent:
    """Store one hit on `message`'s link (in the caller's transaction) and, for a human open or download,
    record or bump the rep's Task. Returns the event."""
    classified = classify_hit(session, message, kind=kind, purpose=purpose, hit=hit)
    return store_hit(session, message, kind=kind, classified=classified)


def record_hit(session: Session, message: models.EmailMessage, *, kind: str, purpose: str) -> str:
    """A view's hit on `message`'s link: classified in the request's (read) transaction, then stored and
    committed in a short write transaction of its own (:func:`committed`). Returns its label."""
    classified = classify_hit(session, message, kind=kind, purpose=purpose)
    return committed(session, lambda db: store_hit(db, message, kind=kind, classified=classified).label)


def record_page_view(session: Session, message: models.EmailMessage, *, purpose: str) -> str | None:
    """A click that opened a page (Renew, Contact rep, unsubscribe, a portal): :func:`record_hit`, except that a
    store too busy to take the write (another writer held the lock past the busy timeout) costs the click's
    event, logged, not the customer's page, which is rendered already. Returns the label, None if not stored."""
    try:
        return record_hit(session, message, kind="click", purpose=purpose)
    except OperationalError as exc:
        if not _busy(exc):
            raise
        session.rollback()
        log.warning("link click not recorded: the store was busy", purpose=purpose, email_message_id=message.id)
        return None


def push_evidence_soon() -> None:
    """After committing a human open or download: queue one push `PUSH_WINDOW` from now, unless one is queued
    already. Redis trouble is only logged: the scheduler's minute sweep pushes the outbox anyway."""
    queued = current_app.extensions.setdefault(PUSH_QUEUED_KEY, {"until": 0.0})
    if time.monotonic() < queued["until"]:
        return  # this process queued a push that has not run yet: it will carry this open too
    with enqueue_after_commit("the push of opens and downloads"):
        redis = redis_connection(get_settings())
        window = PUSH_WINDOW.total_seconds()
        started = time.monotonic()
        if redis.set(PUSH_GUARD_KEY, "1", nx=True, ex=int(window)):
            get_queue(PUSH, redis).enqueue_in(PUSH_WINDOW, "jobs.push.push_job")
            # A margin under the window: the push must still be ahead when a skipped open was committed.
            queued["until"] = started + window - PUSH_QUEUED_MARGIN_SECONDS


def committed(session: Session, unit: Callable[[Session], T]) -> T:
    """Run `unit` in `session` and commit it. The unit must hold all of the transaction's writes: it may run
    again after a rollback.

    On SQLite a transaction that reads (the email, its recent hits) and then writes (the event) cannot write
    once another web worker has committed since its first read: the snapshot is stale, SQLite answers
    "database is locked" at once and the busy timeout does not apply. So on SQLite the unit starts by taking
    the write lock, as ``BEGIN IMMEDIATE`` would (a write that changes nothing), and waits for other writers
    instead; should a transaction the session had already opened be stale, it is rolled back and the unit
    runs afresh (up to COMMIT_ATTEMPTS times)."""
    if reads_only(session):
        # A GET's reader session: the unit runs in a write transaction of its own, which on SQLite takes the
        # write lock up front (BEGIN IMMEDIATE, waiting for other writers): no stale snapshot, nothing to retry.
        with writing(session):
            return unit(session)
    sqlite = session.get_bind().dialect.name == "sqlite"
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            if sqlite:
                session.execute(text("UPDATE email_events SET id = id WHERE 0"))
            result = unit(session)
            session.commit()
            return result
        except OperationalError as exc:
            session.rollback()
            if attempt == COMMIT_ATTEMPTS or not _sqlite_busy(exc):
                raise
            time.sleep(random.uniform(0, 0.005 * attempt))
    raise AssertionError("unreachable")


def _sqlite_busy(exc: OperationalError) -> bool:
    return isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)


def _busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked", or PostgreSQL's lock timeout (lock_not_available)."""
    return _sqlite_busy(exc) or getattr(exc.orig, "sqlstate", None) == "55P03"


def _seconds_since(then: datetime | None, at: datetime) -> float | None:
    return None if then is None else (at - then).total_seconds()


def _recent_hits(
    session: Session, message_id: int, at: datetime, window: float
) -> Sequence[Row[int, str, datetime, str]]:
    """(id, purpose, time, label) of the email's hits within the burst window before `at` (columns only: this
    runs on every pixel load)."""
    event = models.EmailEvent
    return session.execute(
        select(event.id, event.purpose, event.occurred_at, event.label)
        .where(event.email_message_id == message_id, event.occurred_at >= at - timedelta(seconds=window))
        .order_by(event.occurred_at.desc())
        .limit(RECENT_LIMIT)
    ).all()


def _relabel_burst(
    session: Session, message: models.EmailMessage, human_ids: list[int], links: int, rules: BotRules
) -> None:
    """Label the email's earlier human hits in the burst `machine`, taking back the Tasks they recorded."""
    if not human_ids:
        return
    reason = f"part of a burst of {links} different links within {seconds_text(rules.burst_seconds)}"
    for event in session.scalars(select(models.EmailEvent).where(models.EmailEvent.id.in_(human_ids))):
        event.label = "machine"
        event.reasons = [*(event.reasons or []), reason]
        activity = TASK_OF_KIND.get(event.kind)
        if activity is not None:
            _take_back_task(session, message, activity)


def _take_back_task(session: Session, message: models.EmailMessage, activity: str) -> None:
    """Undo one human event's share of its Task while no push has touched the row since (never a Task that
    may have reached Salesforce: that one keeps its count)."""
    key = event_key(activity, message.id)
    item = session.scalar(select(models.OutboxItem).where(models.OutboxItem.key == key).with_for_update())
    if item is None or item.kind != "task" or item.status != "pending" or item.attempts != 0:
        return
    if item.count > 1:
        item.count -= 1
        item.revision += 1  # a push holding the older revision will not mark this one done
        return
    known = session.scalar(select(models.SalesforceKey.id).where(models.SalesforceKey.key == key))
    if item.sf_id is None and known is None:
        session.delete(item)


def _conventions(session: Session) -> TaskConventions:
    """The active mapping's Task conventions (as ``activities.task_conventions``), parsed once per version."""
    version_id = session.scalar(
        select(models.MappingVersion.id)
        .where(models.MappingVersion.is_active.is_(True))
        .order_by(models.MappingVersion.name)
        .limit(1)
    )
    if version_id is None:
        return TaskConventions()
    cache_key = (str(session.get_bind().engine.url), version_id)
    conventions = _conventions_cache.get(cache_key)
    if conventions is None:
        row = session.get(models.MappingVersion, version_id)
        assert row is not None
        conventions = _conventions_cache[cache_key] = load(row.yaml).write_back.tasks
    return conventions
