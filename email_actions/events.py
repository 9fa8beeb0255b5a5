"""What email links and pixels see: every hit stored raw with its bot classification, and the human ones
turned into the rep's bounded Tasks (opened, quote downloaded).

Recording an event is the only thing a GET or HEAD on an email link writes: an append-only row that never
triggers an action. The classification (``botclass.classify``) decides only whether the hit counts as a
human's (Task, reports); it never decides whether a state change happens — those need a POST.
"""

from __future__ import annotations

from datetime import datetime

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import get_settings
from email_actions.activities import record_email_activity
from email_actions.botclass import Hit, classify
from sync_service.store import models
from sync_service.store.models import utcnow

# Which human events become a Task, and under which activity.
TASK_OF_KIND = {"open": "opened", "download": "downloaded"}
# How far back the classifier looks at the same email's other hits (the "every link within seconds" signal).
RECENT_WINDOW_SECONDS = 60


def current_hit(purpose: str) -> Hit:
    """The request being served, as the classifier sees it (address after the configured proxies)."""
    return Hit(
        purpose=purpose,
        method=request.method,
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        at=utcnow(),
    )


def record_event(
    session: Session, message: models.EmailMessage, *, kind: str, purpose: str, hit: Hit | None = None
) -> models.EmailEvent:
    """Store one hit on `message`'s link (in the caller's transaction) and, for a human open or download,
    record or bump the rep's Task. Returns the event."""
    hit = hit or current_hit(purpose)
    since = _seconds_since_sent(message, hit.at)
    recent = _recent_hits(session, message.id, hit.at)
    label, reasons = classify(hit, seconds_since_sent=since, recent=recent, ranges=get_settings().bot_address_ranges)
    event = models.EmailEvent(
        email_message_id=message.id,
        kind=kind,
        purpose=purpose,
        method=hit.method,
        ip=hit.ip,
        user_agent=(hit.user_agent or "")[:1000] or None,
        occurred_at=hit.at,
        seconds_since_sent=since,
        label=label,
        reasons=reasons,
    )
    session.add(event)
    activity = TASK_OF_KIND.get(kind)
    if label == "human" and activity is not None:
        record_email_activity(session, message, activity, at=hit.at, detail=f"Link: {purpose}")
    return event


def _seconds_since_sent(message: models.EmailMessage, at: datetime) -> float | None:
    if message.sent_at is None:
        return None
    return (at - message.sent_at).total_seconds()


def _recent_hits(session: Session, message_id: int, at: datetime) -> list[tuple[str, datetime]]:
    rows = session.execute(
        select(models.EmailEvent.purpose, models.EmailEvent.occurred_at)
        .where(models.EmailEvent.email_message_id == message_id)
        .order_by(models.EmailEvent.occurred_at.desc())
        .limit(20)
    ).all()
    return [(purpose, when) for purpose, when in rows if (at - when).total_seconds() <= RECENT_WINDOW_SECONDS]
