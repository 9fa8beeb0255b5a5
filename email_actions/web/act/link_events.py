"""What a GET or HEAD on an email's link, pixel or download writes: its raw hit, appended.

Recording a hit is the only thing such a request writes, and it never triggers an action. A view appends the
request as the classifier will see it (:func:`current_hit`: method, client address after the configured
proxies, user agent, prefetch hints, time) with the email id and nonce its token names, as one INSERT of a
``link_hits`` row in a short write transaction committed before the answer: a human open, once answered, is
never lost. Nothing is read from the store for it: the classification (bot rules, the email's recent hits,
burst relabels) and the human opens' and downloads' Tasks are done later, in batches and in commit order, by
``sync_service.link_hits.drain_hits`` at the start of every push (why, and the exactly-once argument, there).

Appends are group-committed (:class:`HitAppender`): the threads of one web worker that append at the same
moment share one transaction, each answered only after the commit that holds its row. A commit's cost is
mostly its flush to disk (and, on SQLite, the database's one write lock, which every process takes in turn),
so under load the rows of several requests share one flush instead of queueing for one each; alone, a
request commits at once, as before. On SQLite the committing thread also holds the process's write lock
(``sync_service.store.db.write_lock``), so it queues on a Python lock rather than in SQLite's busy handler,
which sleeps in growing steps even when the lock frees sooner. Hand-written because what it does — a
durable INSERT per request, many requests per flush — is the store's own job, and no library in the stack
offers it for SQLAlchemy engines.

Opens and downloads reach Salesforce in batches: after appending an open or a download that may be a
human's (:func:`surely_machine` says no; the label proper is the drain's), the view asks for a push with
:func:`push_evidence_soon`, which queues at most one push per ``PUSH_WINDOW`` for all web workers (and, Redis
being down, leaves it to the scheduler's minute sweep: ``jobs.base.enqueue_after_commit``). A process that
queued that push itself skips Redis for the rest of the window (the push it queued will drain and carry the
open), so a burst of opens costs one Redis round trip, not one each. A machine open that looks like a
person's (a gateway fetching with a browser's agent right after delivery) thus may queue a push that only
drains: that push costs no Salesforce call when no Task came of it
(``jobs.push`` returns idle on an empty outbox).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import structlog
from flask import current_app, request
from sqlalchemy import Engine, insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from config.settings import get_settings
from jobs.base import enqueue_after_commit, get_queue, redis_connection
from jobs.queues import PUSH
from sync_service.bot_classifier import Hit, agent_reason
from sync_service.store import models
from sync_service.store.db import Database, current_database, write_lock
from sync_service.store.models import utcnow

log = structlog.get_logger(__name__)

# Human opens and downloads are pushed to Salesforce at most this often (one scheduled push per window).
PUSH_WINDOW = timedelta(seconds=30)
PUSH_GUARD_KEY = "renewals:evidence:push-scheduled"
PUSH_QUEUED_MARGIN_SECONDS = 5.0
# The app's {"until": monotonic seconds}: when the push this process queued last runs, less the margin.
PUSH_QUEUED_KEY = "renewals.evidence_push_queued"
PREFETCH_HEADERS = ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz")
APPENDER_KEY = "renewals.hit_appender"


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


@dataclass
class _Pending:
    row: dict[str, object]
    done: bool = False
    error: BaseException | None = None


class HitAppender:
    """Group commit of raw hits for one database in one process (see the module docstring). A thread whose row
    is not yet committed while no commit runs becomes the committer: it takes every row waiting (its own
    among them), inserts them in one transaction, then wakes the others; those whose rows it committed
    answer, the rest elect the next committer. A failed commit fails every request whose row it held."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._changed = threading.Condition()
        self._waiting: list[_Pending] = []
        self._committing = False

    def append(self, row: dict[str, object]) -> None:
        """Insert `row` into ``link_hits``, committed on return; raises the store's error if its commit failed."""
        mine = _Pending(row)
        with self._changed:
            self._waiting.append(mine)
            while self._committing and not mine.done:
                self._changed.wait()
            if not mine.done:
                self._committing = True
                batch, self._waiting = self._waiting, []
        if not mine.done:
            error: BaseException | None = None
            try:
                with write_lock(self.engine), self.engine.begin() as connection:
                    connection.execute(insert(models.LinkHit), [pending.row for pending in batch])
            except BaseException as exc:
                error = exc
            with self._changed:
                for pending in batch:
                    pending.done, pending.error = True, error
                self._committing = False
                self._changed.notify_all()
        if mine.error is not None:
            raise mine.error


def _appender(database: Database) -> HitAppender:
    appenders = current_app.extensions.setdefault(APPENDER_KEY, {})
    appender = appenders.get(database.url)
    if appender is None:
        appender = appenders.setdefault(database.url, HitAppender(database.engine))
    return cast(HitAppender, appender)


def append_hit(database: Database, message_id: int, nonce: str, *, kind: str, purpose: str) -> Hit:
    """Append the current request's hit on the link of email `message_id` (its links' `nonce`), committed on
    return (group-committed with other threads' hits; no session: nothing is read); returns it. Raises the
    store's errors."""
    hit = current_hit(purpose)
    _appender(database).append(_row(message_id, nonce, kind, hit))
    return hit


def surely_machine(hit: Hit) -> bool:
    """Whether the hit is a machine's by what the request alone says (a HEAD, a prefetch, a scanner's agent):
    such a hit never makes a Task, so it asks for no push. Configured rules only add machine signals, and the
    timing and burst signals need the store: the drain decides the rest."""
    return hit.method == "HEAD" or hit.prefetch or agent_reason(hit.user_agent) is not None


def record_page_view(session: Session, message: models.EmailMessage, *, purpose: str) -> None:
    """A click that opened a page (Renew, Contact rep, unsubscribe, a portal): :func:`append_hit` (the
    session's read transaction stays open: only the committer takes another connection), except that a store
    too busy to take the write (another writer held the lock past the busy timeout) costs the click's hit,
    logged, not the customer's page, which is rendered already."""
    try:
        append_hit(current_database(), message.id, message.nonce, kind="click", purpose=purpose)
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
