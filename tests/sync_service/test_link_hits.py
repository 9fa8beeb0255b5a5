"""The drain of appended link hits, on both databases: each hit stored once as an event (with the human opens'
Tasks), in the order the hits came, even with two drains at once; hits of an email that is gone or whose
nonce is not the email's are dropped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from email_actions.web.app import create_app
from sync_service.link_hits import OPENS_PER_HOUR, drain_hits
from sync_service.outbox.record import event_key
from sync_service.store import models
from sync_service.store.models import utcnow
from tests.email_actions.emails_helpers import make_message

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


@pytest.fixture
def store_app(store: sessionmaker[Session], settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The app's context (settings) around a fresh store of each backend."""
    app: Flask = create_app(settings)
    with app.app_context():
        yield store
    app.extensions["renewals.database"].dispose()


def sent(session: Session) -> models.EmailMessage:
    message = make_message(session)
    message.status, message.sent_at = "sent", utcnow() - timedelta(hours=1)
    session.commit()
    return message


def hit(message: models.EmailMessage, purpose: str, at: datetime, *, nonce: str | None = None) -> models.LinkHit:
    return models.LinkHit(
        email_message_id=message.id,
        nonce=nonce or message.nonce,
        kind="open" if purpose == "open" else "click",
        purpose=purpose,
        method="GET",
        ip="198.51.100.40",
        user_agent=BROWSER,
        prefetch=False,
        occurred_at=at,
    )


def count(session: Session, statement: object) -> int:
    return int(session.scalar(statement) or 0)  # type: ignore[call-overload]


def test_two_drains_at_once_store_each_hit_once(store_app: sessionmaker[Session], app: Flask) -> None:
    with store_app() as session:
        message = sent(session)
        start = utcnow() - timedelta(minutes=30)
        # Opens a minute apart: no burst, every one a human's.
        session.add_all(hit(message, "open", start + timedelta(minutes=n)) for n in range(25))
        session.commit()
        message_id = message.id
    drained: list[int] = []
    barrier = threading.Barrier(2)

    def drain() -> None:
        with app.app_context():
            barrier.wait()
            drained.append(drain_hits(store_app, batch=4))

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(drained) == 25
    with store_app() as session:
        assert count(session, select(func.count()).select_from(models.LinkHit)) == 0
        labels = session.scalars(select(models.EmailEvent.label).order_by(models.EmailEvent.occurred_at)).all()
        assert labels == ["human"] * 25
        task = select(models.OutboxItem.count).where(models.OutboxItem.key == event_key("opened", message_id))
        assert count(session, task) == 25
    assert drain_hits(store_app) == 0  # nothing left, nothing stored twice


def test_a_hit_with_a_wrong_nonce_or_of_an_unknown_email_is_dropped(store_app: sessionmaker[Session]) -> None:
    with store_app() as session:
        message = sent(session)
        at = utcnow() - timedelta(minutes=5)
        stranger = hit(message, "open", at)
        stranger.email_message_id = message.id + 1000
        session.add_all([hit(message, "open", at, nonce="x" * 22), stranger, hit(message, "renew", at)])
        session.commit()
    assert drain_hits(store_app) == 1
    with store_app() as session:
        assert session.scalars(select(models.EmailEvent.purpose)).all() == ["renew"]
        assert count(session, select(func.count()).select_from(models.LinkHit)) == 0
        assert count(session, select(func.count()).select_from(models.OutboxItem)) == 0


def test_a_burst_drained_relabels_its_earlier_hits_and_takes_back_their_task(
    store_app: sessionmaker[Session],
) -> None:
    with store_app() as session:
        message = sent(session)
        assert message.sent_at is not None
        start = message.sent_at + timedelta(minutes=10)
        session.add(hit(message, "open", start))
        session.commit()
        assert drain_hits(store_app) == 1
        opened = select(models.OutboxItem.count).where(models.OutboxItem.key == event_key("opened", message.id))
        assert count(session, opened) == 1
        # A scanner walking the links a second apart, drained in one batch: the third completes the burst.
        session.add_all(
            hit(message, purpose, start + timedelta(seconds=n))
            for n, purpose in enumerate(("renew", "review", "contact"), 1)
        )
        session.commit()
    assert drain_hits(store_app) == 3
    with store_app() as session:
        rows = session.scalars(select(models.EmailEvent).order_by(models.EmailEvent.occurred_at)).all()
        assert [(e.purpose, e.label) for e in rows] == [
            ("open", "machine"),
            ("renew", "machine"),
            ("review", "machine"),
            ("contact", "machine"),
        ]
        assert rows[0].reasons == ["part of a burst of 3 different links within 5 s"]
        assert count(session, select(func.count()).select_from(models.OutboxItem)) == 0


def test_opens_past_the_hourly_limit_are_dropped_whichever_worker_let_them_in(
    store_app: sessionmaker[Session],
) -> None:
    with store_app() as session:
        message = sent(session)
        start = utcnow() - timedelta(minutes=40)
        # Each web worker counts the pixel's limit in its own memory: two of them may let in twice the limit.
        session.add_all(hit(message, "open", start + timedelta(seconds=n * 30)) for n in range(OPENS_PER_HOUR + 2))
        session.commit()
    assert drain_hits(store_app) == OPENS_PER_HOUR
    with store_app() as session:
        assert count(session, select(func.count()).select_from(models.EmailEvent)) == OPENS_PER_HOUR
        assert count(session, select(func.count()).select_from(models.LinkHit)) == 0
