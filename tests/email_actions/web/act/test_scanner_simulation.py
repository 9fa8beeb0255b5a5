"""Scanner simulation: mail gateways and image proxies fetch every link of many reminder emails — GET and HEAD,
within seconds of delivery, with scanner and proxy user agents — and nothing happens: no renewal, no contact
request, no suppression, no Task or any other Salesforce write, no job; every hit is kept as an event
labelled machine with its reasons.

Only these invariants are asserted, never what a page says, so the test holds for every link's route as it
is built (a route that does not exist yet answers 404, which changes nothing either).

How many emails: 36, six per fetcher, each email hit by one fetcher from an address of its own. It was 200,
which took about 20 s of the suite's 10 minutes. Nothing the app does depends on how many emails were hit
before: the bot classifier's signals are per hit or per email (agent, method, seconds since delivery, links
of one email within seconds, address ranges), each email gets a cookie-less client and an address of its own,
and no hit may change state. So every fetcher walking six emails proves what 33 each did: for every link of
every email, GET and HEAD change nothing and are kept as machine events with reasons."""

from __future__ import annotations

import base64
import dataclasses
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select

from config.settings import Settings
from email_actions.mail.links import Links
from email_actions.mail.rendering.context import LINK_PURPOSES
from email_actions.web.app import create_app
from jobs.base import get_queue
from jobs.queues import PUSH, QUEUE_NAMES
from sync_service.salesforce.client import connect
from sync_service.store import models
from sync_service.store.db import current_session
from sync_service.store.models import utcnow
from tests.email_actions.emails_helpers import make_message
from tests.email_actions.web.act.test_pixel_and_quote import BASE, with_org
from tests.email_actions.web.hits import drain
from tests.factories import make_reminder
from tests.standin_org import RunningOrg, start_org, stop_org

EMAILS = 36  # six per fetcher: see the module docstring
MICROSOFT = "40.92.0.0/15"
# (fetcher, user agent, the address it comes from for email n)
FETCHERS = [
    (
        "Safe Links",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36 Edg/124.0.0.0",
        lambda n: f"40.93.{n // 250}.{n % 250 + 1}",
    ),
    ("Proofpoint", "Mozilla/5.0 (compatible; Proofpoint URL Defense)", lambda n: f"148.163.{n // 250}.{n % 250 + 1}"),
    ("Mimecast", "Mozilla/5.0 (compatible; Mimecast URL Protect)", lambda n: f"205.139.{n // 250}.{n % 250 + 1}"),
    (
        "Gmail image proxy",
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        lambda n: f"2001:db8:66::{n:x}",
    ),
    ("Apple Mail Privacy Protection", "Mozilla/5.0", lambda n: f"17.58.{n // 250}.{n % 250 + 1}"),
    (
        "headless browser",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
        lambda n: f"2001:db8:aa::{n:x}",
    ),
]
PDF = b"%PDF-1.4\n% the renewal quote every scanned email links to\n%%EOF\n"


@pytest.fixture
def org(tmp_path: Path) -> Iterator[RunningOrg]:
    running = start_org(tmp_path / "org", "--seed-contracts", "1", "--flavour", "standard")
    yield running
    stop_org(running)


@pytest.fixture
def scanned_app(settings: Settings, org: RunningOrg) -> Iterator[Flask]:
    """The app with the org to fetch quotes from and Microsoft's mail ranges configured as scanners."""
    app = create_app(dataclasses.replace(with_org(settings, org), bot_address_ranges=(MICROSOFT,)))
    yield app
    app.extensions["renewals.database"].dispose()


def test_scanners_fetching_every_link_of_every_email_change_nothing(
    scanned_app: Flask, org: RunningOrg, redis: Redis
) -> None:
    """Six fetchers (scanner, proxy and headless agents, IPv4 and IPv6, in and out of the configured ranges)
    each GET and HEAD every link of six just-delivered reminders: no response is a 5xx, and afterwards there is
    no renewal, contact request, suppression, outbox row (no Salesforce write), audit entry, held or renewed
    contract, suppressed contact, cancelled reminder or queued job, and every hit is an event labelled machine
    with its reasons (at least the pixel's GET and HEAD of each email, both methods on record)."""
    app = scanned_app
    links = Links(app.extensions["renewals.settings"])
    sf = connect(org.connection("password"))
    version = sf.ContentVersion.create(
        {"Title": "Renewal quote", "PathOnClient": "quote.pdf", "VersionData": base64.b64encode(PDF).decode()}
    )
    purposes = LINK_PURPOSES["reminder"]
    statuses: Counter[int] = Counter()
    message_ids = []
    for n in range(EMAILS):
        fetcher, agent, address = FETCHERS[n % len(FETCHERS)]
        with app.app_context():
            session = current_session()
            message = make_message(session)
            [document] = message.contract.quotes[0].documents
            document.blob_sf_id = str(version["id"])
            message.status, message.sent_at = "sent", utcnow() - timedelta(seconds=1)  # just delivered
            # A later reminder still planned (an unsubscribe would cancel it).
            make_reminder(session, message.contract, offset_days=-7, due_on=utcnow().date() + timedelta(days=23))
            session.commit()
            message_ids.append(message.id)
            urls = [links.url(purpose, message.id, message.nonce).removeprefix(BASE) for purpose in purposes]
        client = app.test_client()  # scanners keep no cookies from one email to the next
        headers = {"User-Agent": agent}
        for url in urls:
            for method in ("GET", "HEAD"):
                response = client.open(url, method=method, headers=headers, environ_base={"REMOTE_ADDR": address(n)})
                response.close()
                statuses[response.status_code] += 1
                assert response.status_code < 500, (fetcher, method, url, response.status_code)

    assert sum(statuses.values()) == EMAILS * len(purposes) * 2
    drain(app)  # the hits appended, classified as the start of a push does
    with app.app_context():
        session = current_session()

        def count(model: type[models.Base]) -> int:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

        assert count(models.Renewal) == 0
        assert count(models.ContactRequest) == 0
        assert count(models.EmailSuppression) == 0
        assert count(models.OutboxItem) == 0  # no Task of any kind, no write-back
        assert count(models.AuditEntry) == 0
        contracts = session.scalars(select(models.Contract)).all()
        assert [c for c in contracts if c.renewed_at is not None or c.is_held] == []
        assert session.scalar(select(func.count()).where(models.Contact.suppressed_at.is_not(None))) == 0
        assert session.scalar(select(func.count()).where(models.Reminder.status != "planned")) == 0

        events = session.scalars(select(models.EmailEvent)).all()
        assert {e.label for e in events} == {"machine"}
        assert [e.id for e in events if not e.reasons] == []
        by_email = Counter(e.email_message_id for e in events)
        # At least the pixel's GET and HEAD of every email are on record.
        assert all(by_email[message_id] >= 2 for message_id in message_ids)
        methods = Counter(e.method for e in events)
        assert set(methods) == {"GET", "HEAD"}

    for name in QUEUE_NAMES:
        queue = get_queue(name, redis)
        # A gateway fetching with a browser's agent is told from a person only by the drain (timing), so its
        # opens may have asked for the one push of the window, which then drains and finds nothing to send.
        scheduled = 1 if name == PUSH else 0
        assert (name, queue.count, queue.scheduled_job_registry.count <= scheduled) == (name, 0, True)
