"""What a GET or HEAD on an email's link, pixel or download writes: its raw hit, appended.

Recording a hit is the only thing such a request writes, and it never triggers an action. A view appends the
request as the classifier will see it (:func:`current_hit`: method, client address after the configured
proxies, user agent, prefetch hints, time) with the email id and nonce its token names, as one INSERT of a
``link_hits`` row in a short write transaction committed before the answer: a human open, once answered, is
never lost. Nothing is read from the store for it: the classification (bot rules, the email's recent hits,
burst relabels) and the human opens' and downloads' Tasks are done later, in batches and in commit order, by
``sync_service.link_hits.drain_hits`` at the start of every push (why, and the exactly-once argument, there).

On SQLite the append takes the write lock; the threads of one web worker queue for it on a Python lock
(``sync_service.store.db.writing``) rather than in SQLite's busy handler, which sleeps in growing steps even
when the lock frees sooner.

Opens and downloads reach Salesforce in batches: after appending an open or a download (the label is not known
yet: the drain decides), the view asks for a push with :func:`push_evidence_soon`, which queues at most one
push per ``PUSH_WINDOW`` for all web workers (and, Redis being down, leaves it to the scheduler's minute
sweep: ``jobs.base.enqueue_after_commit``). A process that queued that push itself skips Redis for the rest of
the window (the push it queued will drain and carry the open), so a burst of opens costs one Redis round trip,
not one each. A machine open thus may queue a push that only drains: that push costs no Salesforce call when
no Task came of it (``jobs.push`` returns idle on an empty outbox).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

import structlog
from flask import current_app, request
from sqlalchemy import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from config.settings import get_settings
from email_actions.mail.links import LinkClaims
from jobs.base import enqueue_after_commit, get_queue, redis_connection
from jobs.queues import PUSH
from sync_service.bot_classifier import Hit
from sync_service.store import models
from sync_service.store.db import Database, write_lock, writing
from sync_service.store.models import utcnow

log = structlog.get_logger(__name__)

# Human opens and downloads are pushed to Salesforce at most this often (one scheduled push per window).
PUSH_WINDOW = timedelta(seconds=30)
PUSH_GUARD_KEY = "renewals:evidence:push-scheduled"
PUSH_QUEUED_MARGIN_SECONDS = 5.0
# The app's {"until": monotonic seconds}: when the push this process queued last runs, less the margin.
PUSH_QUEUED_KEY = "renewals.evidence_push_queued"
PREFETCH_HEADERS = ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz")


def current_hit(purpose: str) -> Hit:
    """The request being served, as the classifier sees it (address after the configured proxies)."""
    hints = " ".join(request.headers.get(name, "") for name in PREFETCH_HEADERS).lower()
    return Hit(
        purpose=purpose,
        method=request.method,
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        at=utcnow(),
        prefetch="prefetch" in hints or "preview" in hints,
    )


def _row(message_id: int, nonce: str, kind: str, hit: Hit) -> dict[str, object]:
    return {
        "email_message_id": message_id,
        "nonce": nonce,
        "kind": kind,
        "purpose": hit.purpose,
        "method": hit.method,
        "ip": hit.ip,
        "user_agent": (hit.user_agent or "")[:1000] or None,
        "prefetch": hit.prefetch,
        "occurred_at": hit.at,
    }


def append_hit(database: Database, claims: LinkClaims, *, kind: str, purpose: str) -> None:
    """Append the current request's hit on the link `claims` names, committed on return, on a connection of
    its own (no session: the pixel reads nothing). Raises the store's errors."""
    row = _row(claims.message_id, claims.nonce, kind, current_hit(purpose))
    with write_lock(database.engine), database.engine.begin() as connection:
        connection.execute(insert(models.LinkHit), row)


def record_hit(session: Session, message: models.EmailMessage, *, kind: str, purpose: str) -> None:
    """Append the current request's hit on `message`'s link with the request's session, in a short write
    transaction of its own (:func:`writing`: the session's read transaction ends first)."""
    row = _row(message.id, message.nonce, kind, current_hit(purpose))
    with writing(session):
        session.execute(insert(models.LinkHit), row)


def record_page_view(session: Session, message: models.EmailMessage, *, purpose: str) -> None:
    """A click that opened a page (Renew, Contact rep, unsubscribe, a portal): :func:`record_hit`, except that a
    store too busy to take the write (another writer held the lock past the busy timeout) costs the click's
    hit, logged, not the customer's page, which is rendered already."""
    try:
        record_hit(session, message, kind="click", purpose=purpose)
    except OperationalError as exc:
        if not _busy(exc):
            raise
        log.warning("link click not recorded: the store was busy", purpose=purpose, email_message_id=message.id)


def push_evidence_soon() -> None:
    """After appending an open or download: queue one push `PUSH_WINDOW` from now, unless one is queued
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


def _busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked", or PostgreSQL's lock timeout (lock_not_available)."""
    sqlite_busy = isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)
    return sqlite_busy or getattr(exc.orig, "sqlstate", None) == "55P03"
