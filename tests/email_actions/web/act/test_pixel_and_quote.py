"""The open pixel and the quote download: what they answer, what they record (events with their
classification, the rep's bounded Tasks, a batched push), and that a token only ever reaches its own
email's quote — streamed from a running stand-in org once, then from the local copy."""

from __future__ import annotations

import base64
import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from config.settings import Settings, load_settings
from email_actions.mail.links import Links, Purpose
from email_actions.web.act.link_events import PUSH_GUARD_KEY
from email_actions.web.act.pixel_and_quote import PIXEL
from email_actions.web.app import create_app
from jobs.base import get_queue
from jobs.queues import PUSH
from sync_service.bot_classifier import Hit
from sync_service.link_hits import record_event
from sync_service.outbox.record import event_key
from sync_service.salesforce.client import connect
from sync_service.store import models
from sync_service.store.db import current_session
from sync_service.store.models import utcnow
from tests.conftest import TEST_SECRET_KEY
from tests.email_actions.emails_helpers import make_message
from tests.email_actions.web.hits import drain
from tests.paths import SALESFORCE_CPQ_PRESET
from tests.processes import free_port
from tests.standin_org import RunningOrg, start_seeded_copy, stop_org

BASE = "http://renewals.test"
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari"
HUMAN = {"User-Agent": BROWSER}
SCANNER = {"User-Agent": "Mozilla/5.0 (compatible; Proofpoint URL Defense)"}


@dataclass(frozen=True)
class Sent:
    message_id: int
    nonce: str
    contract_id: int
    quote_id: int
    quote_number: str

    def path(self, links: Links, purpose: Purpose) -> str:
        return links.url(purpose, self.message_id, self.nonce).removeprefix(BASE)


def send_one(app: Flask, *, minutes_ago: float = 60, **contract_fields: object) -> Sent:
    """A reminder sent `minutes_ago`, for a new contract with a quote (and the factory's fake document)."""
    with app.app_context():
        session = current_session()
        message = make_message(session, **contract_fields)
        message.status = "sent"
        message.sent_at = utcnow() - timedelta(minutes=minutes_ago)
        quote = message.contract.quotes[0]
        session.commit()
        assert quote.number is not None
        return Sent(message.id, message.nonce, message.contract_id, quote.id, quote.number)


def links_of(app: Flask) -> Links:
    return Links(app.extensions["renewals.settings"])


def events(app: Flask, message_id: int) -> list[models.EmailEvent]:
    """The email's events, once the hits appended so far are drained."""
    drain(app)
    with app.app_context():
        return list(
            current_session().scalars(
                select(models.EmailEvent)
                .where(models.EmailEvent.email_message_id == message_id)
                .order_by(models.EmailEvent.id)
            )
        )


def task(app: Flask, activity: str, message_id: int) -> models.OutboxItem | None:
    """The email's Task of `activity`, once the hits appended so far are drained."""
    drain(app)
    with app.app_context():
        return current_session().scalar(
            select(models.OutboxItem).where(models.OutboxItem.key == event_key(activity, message_id))
        )


def scheduled_pushes(redis: Redis) -> list[str]:
    return list(get_queue(PUSH, redis).scheduled_job_registry.get_job_ids())


def expired_token(purpose: str, message_id: int, nonce: str, *, days: int = 500) -> str:
    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - days * 86400

    serializer = URLSafeTimedSerializer([TEST_SECRET_KEY], salt=f"renewals.{purpose}", signer=LongAgo)
    return str(serializer.dumps({"m": message_id, "p": purpose, "n": nonce}))


# --- The open pixel --------------------------------------------------------------------------------------


def assert_pixel(response: object) -> None:
    assert getattr(response, "status_code", None) == 200
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["Content-Type"] == "image/gif"
    assert headers["Cache-Control"] == "no-store, private" or headers["Cache-Control"] == "private, no-store"
    assert response.data == PIXEL  # type: ignore[attr-defined]


def test_the_pixel_is_a_43_byte_transparent_gif() -> None:
    assert len(PIXEL) == 43
    assert PIXEL.startswith(b"GIF89a\x01\x00\x01\x00") and PIXEL.endswith(b";")
    assert PIXEL[19:23] == b"!\xf9\x04\x01"  # after the 2-colour palette: colour 0 is transparent


def test_a_valid_pixel_answers_the_gif_and_records_the_open(app: Flask, client: FlaskClient) -> None:
    started = time.monotonic()
    sent = send_one(app)
    response = client.get(
        sent.path(links_of(app), "open"), headers=HUMAN, environ_base={"REMOTE_ADDR": "198.51.100.20"}
    )
    took = time.monotonic() - started  # bounds the recorded interval below, however fast or slow the machine
    assert_pixel(response)
    [event] = events(app, sent.message_id)
    assert (event.kind, event.purpose, event.method, event.label, event.reasons) == ("open", "open", "GET", "human", [])
    assert (event.ip, event.user_agent) == ("198.51.100.20", BROWSER)
    # Sent an hour before the open: the stored interval is that hour plus however long the test took to get here.
    assert event.seconds_since_sent is not None and 3600 - 1 <= event.seconds_since_sent <= 3600 + took + 1


@pytest.mark.parametrize("kind", ["garbage", "tampered", "wrong purpose", "unknown email", "expired"])
def test_a_bad_or_expired_pixel_still_answers_the_gif_and_records_nothing(
    app: Flask, client: FlaskClient, kind: str
) -> None:
    sent = send_one(app)
    links = links_of(app)
    token = {
        "garbage": "not-a-token",
        "tampered": links.token("open", sent.message_id, sent.nonce)[:-2] + "xx",
        "wrong purpose": links.token("renew", sent.message_id, sent.nonce),
        "unknown email": links.token("open", sent.message_id + 1000, sent.nonce),
        "expired": expired_token("open", sent.message_id, sent.nonce),
    }[kind]
    assert_pixel(client.get(f"/o/{token}.gif", headers=HUMAN))
    assert events(app, sent.message_id) == []
    assert task(app, "opened", sent.message_id) is None


def test_a_human_open_records_one_opened_task_and_a_second_bumps_it(app: Flask, client: FlaskClient) -> None:
    sent = send_one(app)
    path = sent.path(links_of(app), "open")
    assert_pixel(client.get(path, headers=HUMAN))
    first = task(app, "opened", sent.message_id)
    assert first is not None and (first.kind, first.status, first.count) == ("task", "pending", 1)
    assert "Renewal email opened" in first.payload["subject"]
    assert_pixel(client.get(path, headers=HUMAN))
    second = task(app, "opened", sent.message_id)
    assert second is not None and (second.id, second.count) == (first.id, 2)
    assert [e.label for e in events(app, sent.message_id)] == ["human", "human"]


@pytest.mark.parametrize(
    ("method", "headers", "minutes_ago", "reason"),
    [
        ("HEAD", HUMAN, 60, "HEAD request"),
        ("GET", SCANNER, 60, "scanner or proxy user agent (Proofpoint)"),
        ("GET", {"User-Agent": "Mozilla/5.0"}, 60, "Apple Mail Privacy Protection (bare Mozilla/5.0)"),
        ("GET", HUMAN, 1 / 60, "s after sending"),
        ("GET", {**HUMAN, "Sec-Purpose": "prefetch"}, 60, "prefetch request"),
    ],
)
def test_a_machine_open_is_recorded_with_its_reason_and_makes_no_task(
    app: Flask, client: FlaskClient, method: str, headers: dict[str, str], minutes_ago: float, reason: str
) -> None:
    sent = send_one(app, minutes_ago=minutes_ago)
    response = client.open(sent.path(links_of(app), "open"), method=method, headers=headers)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/gif"
    [event] = events(app, sent.message_id)
    assert (event.method, event.label) == (method, "machine")
    assert any(reason in r for r in event.reasons), event.reasons
    assert task(app, "opened", sent.message_id) is None


def test_a_configured_scanner_range_labels_the_open_machine(settings: Settings, redis: Redis) -> None:
    app = create_app(dataclasses.replace(settings, bot_address_ranges=("40.92.0.0/15", "2a01:111::/32")))
    try:
        sent = send_one(app)
        client = app.test_client()
        path = sent.path(links_of(app), "open")
        client.get(path, headers=HUMAN, environ_base={"REMOTE_ADDR": "2a01:111:f400::9"})
        client.get(path, headers=HUMAN, environ_base={"REMOTE_ADDR": "40.93.1.1"})
        reasons = [event.reasons for event in events(app, sent.message_id)]
        assert reasons == [
            ["address 2a01:111:f400::9 in a configured scanner range"],
            ["address 40.93.1.1 in a configured scanner range"],
        ]
        assert task(app, "opened", sent.message_id) is None
    finally:
        app.extensions["renewals.database"].dispose()


def test_the_task_follows_the_active_mappings_conventions(app: Flask, client: FlaskClient) -> None:
    preset = (SALESFORCE_CPQ_PRESET).read_text()
    custom = preset.replace("    priority: Normal\n", "    priority: Normal\n    subject_prefix: Acme renewals\n")
    assert custom != preset
    with app.app_context():
        session = current_session()
        session.add(models.MappingVersion(name="cpq", version=1, yaml=custom, author="t", is_active=True))
        session.commit()
    sent = send_one(app)
    client.get(sent.path(links_of(app), "open"), headers=HUMAN)
    opened = task(app, "opened", sent.message_id)
    assert opened is not None and opened.payload["subject"].startswith("Acme renewals: Renewal email opened")


def test_human_opens_schedule_one_push_per_window(app: Flask, client: FlaskClient, redis: Redis) -> None:
    first, second = send_one(app), send_one(app)
    before = datetime.now(UTC)
    client.get(first.path(links_of(app), "open"), headers=HUMAN)
    client.get(second.path(links_of(app), "open"), headers=HUMAN)
    client.get(first.path(links_of(app), "open"), headers=HUMAN)
    [job_id] = scheduled_pushes(redis)
    job = get_queue(PUSH, redis).fetch_job(job_id)
    assert job is not None and job.func_name == "jobs.push.push_job"
    assert 0 < int(redis.ttl(PUSH_GUARD_KEY)) <= 30
    scheduled_for = get_queue(PUSH, redis).scheduled_job_registry.get_scheduled_time(job_id)
    after = datetime.now(UTC)
    # Thirty seconds after the first human open (RQ keeps whole seconds), however long the opens took.
    assert before + timedelta(seconds=29) <= scheduled_for <= after + timedelta(seconds=31)


def test_without_redis_the_open_is_still_recorded_and_answered(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    try:
        sent = send_one(app)
        assert_pixel(app.test_client().get(sent.path(links_of(app), "open"), headers=HUMAN))
        assert [e.label for e in events(app, sent.message_id)] == ["human"]
        assert task(app, "opened", sent.message_id) is not None
    finally:
        app.extensions["renewals.database"].dispose()


def test_without_a_database_the_pixel_still_answers_the_gif(settings: Settings) -> None:
    broken = dataclasses.replace(settings, database_url="postgresql+psycopg://nobody:pw@127.0.0.1:1/none")
    app = create_app(broken)
    token = Links(broken).token("open", 1, "n" * 22)
    response = app.test_client().get(f"/o/{token}.gif", headers=HUMAN)
    assert_pixel(response)
    app.extensions["renewals.database"].dispose()


def test_past_its_rate_limit_the_pixel_answers_the_gif_and_records_nothing(app: Flask, client: FlaskClient) -> None:
    sent = send_one(app)
    path = sent.path(links_of(app), "open")
    for _ in range(32):
        assert_pixel(client.get(path, headers=HUMAN))
    assert len(events(app, sent.message_id)) == 30
    opened = task(app, "opened", sent.message_id)
    assert opened is not None and opened.count == 30


def test_threads_appending_opens_at_once_all_succeed(app: Flask) -> None:
    sent = send_one(app)
    path = sent.path(links_of(app), "open")
    answers: list[bytes] = []

    def worker() -> None:
        client = app.test_client()
        for _ in range(10):
            answers.append(client.get(path, headers=HUMAN).data)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [PIXEL] * 30
    assert len(events(app, sent.message_id)) == 30
    opened = task(app, "opened", sent.message_id)
    assert opened is not None and opened.count == 30


# --- Bursts, on both databases -----------------------------------------------------------------------------


@pytest.fixture
def store_app(store: sessionmaker[Session], settings: Settings) -> Iterator[tuple[Flask, Session]]:
    """An app context for the settings, and a session on a fresh store of each backend."""
    app = create_app(settings)
    with app.app_context(), store() as session:
        yield app, session
    app.extensions["renewals.database"].dispose()


def at(message: models.EmailMessage, seconds: float) -> datetime:
    assert message.sent_at is not None
    return message.sent_at + timedelta(seconds=seconds)


def browser_hit(purpose: str, when: datetime) -> Hit:
    return Hit(purpose=purpose, method="GET", ip="198.51.100.30", user_agent=BROWSER, at=when)


def test_a_burst_relabels_its_earlier_hits_and_takes_back_their_task(store_app: tuple[Flask, Session]) -> None:
    _, session = store_app
    message = make_message(session)
    message.status, message.sent_at = "sent", utcnow() - timedelta(hours=1)
    session.commit()
    start = 600.0
    record_event(session, message, kind="open", hit=browser_hit("open", at(message, start)))
    session.commit()
    assert session.scalar(
        select(models.OutboxItem.count).where(models.OutboxItem.key == event_key("opened", message.id))
    )
    for offset, purpose in ((1, "renew"), (2, "review"), (3, "contact")):
        hit = browser_hit(purpose, at(message, start + offset))
        record_event(session, message, kind="click", hit=hit)
        session.commit()
    rows = session.scalars(select(models.EmailEvent).order_by(models.EmailEvent.occurred_at)).all()
    assert [(e.purpose, e.label) for e in rows] == [
        ("open", "machine"),
        ("renew", "machine"),
        ("review", "machine"),
        ("contact", "machine"),
    ]
    assert rows[0].reasons == ["part of a burst of 3 different links within 5 s"]
    assert rows[3].reasons == ["3 different links of the email within 5 s"]
    assert session.scalar(select(func.count()).select_from(models.OutboxItem)) == 0


def test_a_burst_leaves_a_task_a_push_has_claimed(store_app: tuple[Flask, Session]) -> None:
    _, session = store_app
    message = make_message(session)
    message.status, message.sent_at = "sent", utcnow() - timedelta(hours=1)
    session.commit()
    record_event(session, message, kind="open", hit=browser_hit("open", at(message, 600)))
    session.commit()
    item = session.scalar(select(models.OutboxItem).where(models.OutboxItem.key == event_key("opened", message.id)))
    assert item is not None
    item.attempts = 1  # what a push's claim does
    session.commit()
    for offset, purpose in ((1, "renew"), (2, "review"), (3, "contact")):
        record_event(session, message, kind="click", hit=browser_hit(purpose, at(message, 600 + offset)))
        session.commit()
    session.refresh(item)
    assert (item.status, item.count) == ("pending", 1)


def test_a_burst_takes_back_only_its_own_share_of_a_bumped_task(store_app: tuple[Flask, Session]) -> None:
    _, session = store_app
    message = make_message(session)
    message.status, message.sent_at = "sent", utcnow() - timedelta(hours=1)
    session.commit()
    record_event(session, message, kind="open", hit=browser_hit("open", at(message, 60)))
    record_event(session, message, kind="open", hit=browser_hit("open", at(message, 900)))
    session.commit()
    for offset, purpose in ((1, "renew"), (2, "review"), (3, "contact")):
        record_event(session, message, kind="click", hit=browser_hit(purpose, at(message, 900 + offset)))
        session.commit()
    item = session.scalar(select(models.OutboxItem).where(models.OutboxItem.key == event_key("opened", message.id)))
    assert item is not None and item.count == 1
    labels = session.scalars(select(models.EmailEvent.label).order_by(models.EmailEvent.occurred_at)).all()
    assert labels == ["human", "machine", "machine", "machine", "machine"]


# --- The quote download ------------------------------------------------------------------------------------

PDF_A = b"%PDF-1.4\n% quote for account A\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


@pytest.fixture
def org(tmp_path: Path) -> Iterator[RunningOrg]:
    running = start_seeded_copy(tmp_path / "org", "--seed-contracts", "2", "--flavour", "salesforce_cpq")
    yield running
    stop_org(running)


def with_org(settings: Settings, org: RunningOrg, **overrides: str) -> Settings:
    env = {
        "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
        "RENEWALS_DATABASE_URL": settings.database_url,
        "RENEWALS_REDIS_URL": settings.redis_url,
        "RENEWALS_PUBLIC_BASE_URL": BASE,
        "RENEWALS_SALESFORCE_AUTH": "password",
        "RENEWALS_SALESFORCE_LOGIN_URL": org.url,
        "RENEWALS_SALESFORCE_USERNAME": org.info["username"],
        "RENEWALS_SALESFORCE_PASSWORD": org.info["password"],
        "RENEWALS_SALESFORCE_SECURITY_TOKEN": org.info["security_token"],
        "RENEWALS_SALESFORCE_CA_BUNDLE": str(org.ca),
    }
    env.update(overrides)
    return load_settings(env)


@dataclass
class Scene:
    app: Flask
    client: FlaskClient
    org: RunningOrg
    a: Sent  # its document: a ContentVersion made in the org
    b: Sent  # another account's contract; its document: a seeded Document
    pdf_b: bytes

    def get(self, path: str, *, method: str = "GET") -> TestResponse:
        """A browser's request; buffered, so the streamed file is read and closed."""
        return self.client.open(path, method=method, headers=HUMAN, buffered=True)


@pytest.fixture
def scene(settings: Settings, org: RunningOrg) -> Iterator[Scene]:
    sf = connect(org.connection("password"))
    version_id = str(
        sf.ContentVersion.create(
            {"Title": "Quote A", "PathOnClient": "quote-a.pdf", "VersionData": base64.b64encode(PDF_A).decode()}
        )["id"]
    )
    document_id = str(sf.query("SELECT Id FROM Document ORDER BY Id LIMIT 1")["records"][0]["Id"])
    with sf.session.get(f"{sf.base_url}sobjects/Document/{document_id}/Body", headers=sf.headers) as body:
        pdf_b = body.content
    assert pdf_b.startswith(b"%PDF") and pdf_b != PDF_A
    app = create_app(with_org(settings, org))
    a, b = send_one(app), send_one(app)
    with app.app_context():
        session = current_session()
        for sent, source, blob in ((a, "ContentVersion", version_id), (b, "Document", document_id)):
            quote = session.get(models.RenewalQuote, sent.quote_id)
            assert quote is not None
            [document] = quote.documents
            document.source_object, document.blob_sf_id = source, blob
        session.commit()
    yield Scene(app, app.test_client(), org, a, b, pdf_b)
    app.extensions["renewals.database"].dispose()


def blob_requests(org: RunningOrg, since: float) -> list[str]:
    return [e["path"] for e in org.requests_since(since) if e["path"].endswith(("/VersionData", "/Body"))]


def api_usage(app: Flask) -> int:
    with app.app_context():
        usage = current_session().scalar(
            select(models.ApiUsage.calls).where(models.ApiUsage.job_name == "quote_download")
        )
        return int(usage or 0)


def test_the_quote_streams_from_the_org_once_then_from_the_local_copy(scene: Scene) -> None:
    path = scene.a.path(links_of(scene.app), "quote")
    since = time.time()
    response = scene.get(path)
    assert response.status_code == 200
    assert response.data == PDF_A
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{scene.a.quote_number}.pdf"'
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Length"] == str(len(PDF_A))
    assert len(blob_requests(scene.org, since)) == 1
    assert api_usage(scene.app) == 1

    since = time.time()
    again = scene.get(path)
    assert (again.status_code, again.data) == (200, PDF_A)
    assert blob_requests(scene.org, since) == []
    assert api_usage(scene.app) == 1

    [first, second] = events(scene.app, scene.a.message_id)
    assert [(e.kind, e.purpose, e.label) for e in (first, second)] == [("download", "quote", "human")] * 2
    downloaded = task(scene.app, "downloaded", scene.a.message_id)
    assert downloaded is not None and downloaded.count == 2
    assert "Renewal quote downloaded" in downloaded.payload["subject"]


def test_the_local_copy_serves_when_the_org_is_gone(scene: Scene) -> None:
    path = scene.a.path(links_of(scene.app), "quote")
    assert scene.get(path).data == PDF_A
    stop_org(scene.org)
    assert scene.get(path).data == PDF_A


def test_a_classic_document_streams_too(scene: Scene) -> None:
    response = scene.get(scene.b.path(links_of(scene.app), "quote"))
    assert (response.status_code, response.data) == (200, scene.pdf_b)


def test_a_regenerated_quote_is_fetched_again(scene: Scene) -> None:
    path = scene.a.path(links_of(scene.app), "quote")
    scene.get(path)
    with scene.app.app_context():
        session = current_session()
        quote = session.get(models.RenewalQuote, scene.a.quote_id)
        assert quote is not None
        quote.document_generated_at = utcnow()
        session.commit()
    since = time.time()
    assert scene.get(path).data == PDF_A
    assert len(blob_requests(scene.org, since)) == 1
    cache = Path(scene.app.extensions["renewals.quote_files"].directory)
    assert len(list(cache.glob("*.pdf"))) == 1  # the older copy is gone


def test_a_head_costs_no_api_call_and_is_labelled_machine(scene: Scene) -> None:
    since = time.time()
    response = scene.get(scene.a.path(links_of(scene.app), "quote"), method="HEAD")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="{scene.a.quote_number}.pdf"'
    assert blob_requests(scene.org, since) == []
    [event] = events(scene.app, scene.a.message_id)
    assert (event.method, event.label, event.reasons) == ("HEAD", "machine", ["HEAD request"])
    assert task(scene.app, "downloaded", scene.a.message_id) is None


@pytest.mark.parametrize(
    "suffix",
    [
        "?quote={quote}",
        "?quote_id={quote}&contract={contract}",
        "?document={blob}",
        "/{quote}",
        ".pdf",
        "%2F..%2F{quote}",
        "?token={token_b}",
    ],
)
def test_a_token_of_one_account_never_reaches_another_accounts_quote(scene: Scene, suffix: str) -> None:
    links = links_of(scene.app)
    with scene.app.app_context():
        quote_b = current_session().get(models.RenewalQuote, scene.b.quote_id)
        assert quote_b is not None
        blob_b = quote_b.documents[0].blob_sf_id
    filled = suffix.format(
        quote=scene.b.quote_id,
        contract=scene.b.contract_id,
        blob=blob_b,
        token_b=links.token("quote", scene.b.message_id, scene.b.nonce),
    )
    response = scene.get(scene.a.path(links, "quote") + filled)
    assert scene.pdf_b not in response.data
    assert (response.status_code, response.data) == (200, PDF_A) or response.status_code == 404


def test_another_purposes_token_is_not_a_download(scene: Scene) -> None:
    links = links_of(scene.app)
    for purpose in ("open", "renew", "review", "rep"):
        token = links.token(purpose, scene.b.message_id, scene.b.nonce)  # type: ignore[arg-type]
        response = scene.get(f"/q/{token}")
        assert response.status_code == 404
        assert scene.pdf_b not in response.data and b"This link is not valid" in response.data
    assert events(scene.app, scene.b.message_id) == []


def test_an_expired_download_link_offers_a_fresh_one(scene: Scene) -> None:
    token = expired_token("quote", scene.a.message_id, scene.a.nonce, days=200)
    response = scene.get(f"/q/{token}")
    assert response.status_code == 410
    assert b"This link has expired" in response.data
    assert events(scene.app, scene.a.message_id) == []


def test_no_document_is_a_friendly_404(app: Flask, client: FlaskClient) -> None:
    sent = send_one(app)
    with app.app_context():
        session = current_session()
        quote = session.get(models.RenewalQuote, sent.quote_id)
        assert quote is not None
        quote.documents.clear()
        session.commit()
    response = client.get(sent.path(links_of(app), "quote"), headers=HUMAN)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert b"Your quote is not available to download" in response.data
    assert b"Northwind" in response.data  # the brand's page, not a bare error
    [event] = events(app, sent.message_id)
    assert (event.kind, event.purpose, event.label) == ("click", "quote", "human")
    assert task(app, "downloaded", sent.message_id) is None


def test_no_quote_at_all_is_a_friendly_404(app: Flask, client: FlaskClient) -> None:
    sent = send_one(app)
    with app.app_context():
        session = current_session()
        quote = session.get(models.RenewalQuote, sent.quote_id)
        assert quote is not None
        quote.is_deleted = True
        session.commit()
    response = client.get(sent.path(links_of(app), "quote"), headers=HUMAN)
    assert response.status_code == 404 and b"Your quote is not available to download" in response.data


def test_a_document_the_org_no_longer_has_is_a_friendly_404(scene: Scene) -> None:
    with scene.app.app_context():
        session = current_session()
        quote = session.get(models.RenewalQuote, scene.a.quote_id)
        assert quote is not None
        quote.documents[0].blob_sf_id = "068000000000999AAA"
        session.commit()
    response = scene.get(scene.a.path(links_of(scene.app), "quote"))
    assert response.status_code == 404
    assert b"Your quote is not available to download" in response.data


def test_an_unreachable_org_is_a_friendly_503(settings: Settings, org: RunningOrg) -> None:
    app = create_app(with_org(settings, org, RENEWALS_SALESFORCE_LOGIN_URL=f"https://127.0.0.1:{free_port()}"))
    try:
        sent = send_one(app)
        response = app.test_client().get(sent.path(links_of(app), "quote"), headers=HUMAN)
        assert response.status_code == 503
        assert b"Your quote cannot be downloaded right now" in response.data
        assert b"Traceback" not in response.data and b"127.0.0.1" not in response.data
        [event] = events(app, sent.message_id)
        assert event.kind == "click"
    finally:
        app.extensions["renewals.database"].dispose()


def test_a_spent_api_budget_is_a_503_without_an_org_call(scene: Scene) -> None:
    with scene.app.app_context():
        session = current_session()
        session.add(models.ApiUsage(day=datetime.now(UTC).date(), job_name="pull:cpq", calls=10_000))
        session.commit()
    since = time.time()
    response = scene.get(scene.a.path(links_of(scene.app), "quote"))
    assert response.status_code == 503
    assert blob_requests(scene.org, since) == []


def test_downloads_are_rate_limited_per_email(scene: Scene) -> None:
    path = scene.a.path(links_of(scene.app), "quote")
    answers = [scene.get(path).status_code for _ in range(11)]
    assert answers == [200] * 10 + [429]
    limited = scene.get(path)
    assert b"Too many downloads" in limited.data and 0 < int(limited.headers["Retry-After"]) <= 60
    # Another email's link is not held back by the first one's limit.
    assert scene.get(scene.b.path(links_of(scene.app), "quote")).status_code == 200
