"""What email links and pixels see, classified: every hit stored as an event with its bot classification, and
the human ones turned into the rep's bounded Tasks (opened, quote downloaded).

A GET or HEAD on an email link only *appends* its raw hit (``models.LinkHit``: the request as the classifier
sees it, nothing read from the store) in a short write transaction committed before the answer
(``email_actions.web.act.link_events``). :func:`drain_hits` then classifies pending hits in id order — the
order they were committed in, so the burst signal sees each email's hits as they came — and writes their
events, Task bumps and burst relabels in one transaction per batch, deleting the raw rows in it. Why not
classify in the request, as before: classification reads the rules, the email and its recent hits, and a
human open's Task reads its contract and bumps an outbox row — eight statements and a write lock held across
them, which made the pixel five times dearer than a trivial page and serialised the web workers on SQLite's
write lock. A batch does the same work once per batch for its rules and conventions, under one lock.

Exactly once: a drain holds the store's one drain lock for its whole batch (SQLite: the write lock its
transaction takes up front; PostgreSQL: a transaction-level advisory lock), reads the batch, and deletes the
rows it stored in the same transaction; a second drain at the same time waits and then finds them gone.
A hit whose email no longer exists or whose nonce is not the email's (a link of an email whose links were
replaced) is dropped with a log line, never stored.

The drain runs at the start of every push (``jobs.push.push_job``): a human open asks for a push within
``PUSH_WINDOW`` (``email_actions.web.act.link_events.push_evidence_soon``) and the scheduler sweeps every
minute, so opens reach Salesforce as before. Events are therefore up to a minute late in the reports and the
console (nothing decides anything on them synchronously: the label never decides a state change).

A burst (several different links of one email within seconds) is only visible from its third hit, so it
relabels the email's earlier hits in the same window ``machine`` too, and takes back the Task an earlier
hit of the burst recorded while that Task is still waiting in the outbox, untouched by any push. A Task
already pushed stays in Salesforce (its count is one too high); the events say what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Row, delete, func, select, text
from sqlalchemy.orm import Session, joinedload, sessionmaker

from config.settings import get_settings
from mappings.loader import load
from mappings.model import TaskConventions
from sync_service import console_settings
from sync_service.bot_classifier import BotRules, Hit, burst_links, classify, seconds_text
from sync_service.outbox.record import event_key
from sync_service.outbox.tasks import record_email_activity
from sync_service.store import models

log = structlog.get_logger(__name__)

# Which human events become a Task, and under which activity.
TASK_OF_KIND = {"open": "opened", "download": "downloaded"}
# The same email's other hits the classifier looks at (the "every link within seconds" signal).
RECENT_LIMIT = 20
# Opens of one email stored per hour at most (the pixel's limit, which each web worker counts in its own
# memory: the drain makes it exact across workers). Opens past it are dropped, as the pixel records nothing
# past its limit.
OPENS_PER_HOUR = 30
# Raw hits classified per transaction by the drain.
DRAIN_BATCH = 500
# The PostgreSQL advisory lock key that makes drains take turns ("LNKH").
DRAIN_LOCK_KEY = 0x4C4E4B48

# Task conventions of each mapping version (rows never change: an edit is a new version), so a human open
# does not parse the mapping's YAML again. Keyed by database too: one process may serve several in tests.
_conventions_cache: dict[tuple[str, int], TaskConventions] = {}


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
    session: Session,
    message: models.EmailMessage,
    *,
    kind: str,
    hit: Hit,
    rules: BotRules | None = None,
    conventions: TaskConventions | None = None,
) -> Classified:
    """Classify a hit on `message`'s link: reads only (the rules unless given, the email's recent hits and, for
    a human open or download, what its Task names)."""
    # The rules in force (the admin console's, else the environment's): a change applies from the next drain.
    rules = rules or console_settings.bot_rules(session, get_settings())
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
    contract = None
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
        conventions = conventions or task_conventions(session)
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
            conventions=classified.conventions or task_conventions(session),
        )
    return event


def record_event(session: Session, message: models.EmailMessage, *, kind: str, hit: Hit) -> models.EmailEvent:
    """Classify and store one hit on `message`'s link at once (in the caller's transaction) and, for a human
    open or download, record or bump the rep's Task. Returns the event. (Web requests append raw hits
    instead; this is for jobs, scripts and tests that hold the hit themselves.)"""
    return store_hit(session, message, kind=kind, classified=classify_hit(session, message, kind=kind, hit=hit))


def drain_hits(make_session: sessionmaker[Session], *, batch: int = DRAIN_BATCH) -> int:
    """Classify and store every pending raw hit, oldest first, one transaction per `batch`; returns how many
    were stored as events (dropped ones not counted). Safe to run in several processes at once: drains take
    turns (see the module docstring) and each hit is stored once."""
    stored = 0
    while True:
        with make_session() as session, session.begin():
            _take_drain_lock(session)
            hits = session.scalars(select(models.LinkHit).order_by(models.LinkHit.id).limit(batch)).all()
            if not hits:
                return stored
            stored += _store_batch(session, hits)
            session.execute(delete(models.LinkHit).where(models.LinkHit.id.in_([hit.id for hit in hits])))
        if len(hits) < batch:
            return stored


def _take_drain_lock(session: Session) -> None:
    """Make drains take turns for the transaction: on SQLite its first write takes the write lock (the job's
    engine begins IMMEDIATE anyway; this covers any other), on PostgreSQL an advisory lock held until the end."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DRAIN_LOCK_KEY})
    else:
        session.execute(text("UPDATE link_hits SET id = id WHERE 0"))


def _store_batch(session: Session, hits: Sequence[models.LinkHit]) -> int:
    messages = {
        message.id: message
        for message in session.scalars(
            select(models.EmailMessage).where(models.EmailMessage.id.in_({hit.email_message_id for hit in hits}))
        )
    }
    rules = console_settings.bot_rules(session, get_settings())
    conventions: TaskConventions | None = None
    stored = 0
    for raw in hits:
        message = messages.get(raw.email_message_id)
        if message is None or message.nonce != raw.nonce:
            log.info(
                "link hit dropped: its email is gone or its links were replaced", email_message_id=raw.email_message_id
            )
            continue
        if raw.kind == "open" and _opens_within_hour(session, message.id, raw.occurred_at) >= OPENS_PER_HOUR:
            continue  # past the pixel's limit: records nothing, as the pixel itself would
        hit = Hit(
            purpose=raw.purpose,
            method=raw.method,
            ip=raw.ip,
            user_agent=raw.user_agent,
            at=raw.occurred_at,
            prefetch=raw.prefetch,
        )
        classified = classify_hit(session, message, kind=raw.kind, hit=hit, rules=rules, conventions=conventions)
        conventions = classified.conventions or conventions
        store_hit(session, message, kind=raw.kind, classified=classified)
        stored += 1
    return stored


def _opens_within_hour(session: Session, message_id: int, at: datetime) -> int:
    event = models.EmailEvent
    return int(
        session.scalar(
            select(func.count()).where(
                event.email_message_id == message_id,
                event.kind == "open",
                event.occurred_at > at - timedelta(hours=1),
                event.occurred_at <= at,
            )
        )
        or 0
    )


def _seconds_since(then: datetime | None, at: datetime) -> float | None:
    return None if then is None else (at - then).total_seconds()


def _recent_hits(
    session: Session, message_id: int, at: datetime, window: float
) -> Sequence[Row[int, str, datetime, str]]:
    """(id, purpose, time, label) of the email's hits within the burst window before `at` (columns only)."""
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


def task_conventions(session: Session) -> TaskConventions:
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
