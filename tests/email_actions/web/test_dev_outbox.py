"""The development outbox: what moto's SES accepted, listed and shown exactly as sent; absent unless enabled."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage as MimeMessage
from typing import Any

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from email_actions.web.app import create_app
from sync_service.store.db import session_scope
from tests.conftest import sent_emails
from tests.factories import make_contract, make_email
from tests.processes import free_port

SENDER = "Northwind Renewals <renewals@northwind.example>"
RENEW_URL = "http://renewals.test/a/renew/" + "r" * 120
UNSUBSCRIBE_URL = "http://renewals.test/u/" + "u" * 60


def build_email(*, to: str, subject: str, body_cte: str | None = None) -> MimeMessage:
    """A renewal-shaped email: text and HTML alternatives and one-click unsubscribe headers."""
    message = MimeMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Reply-To"] = "Riley Rep <riley.rep@vendor.example>"
    message["Subject"] = subject
    message["List-Unsubscribe"] = f"<{UNSUBSCRIBE_URL}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text = f"Dear Dana,\n\nyour contract ends soon. Renew: {RENEW_URL}\n\nGrüße, Northwind\n"
    html = (
        "<!doctype html><html><head><title>Renewal</title></head><body>"
        f'<p>Dear Dana, your contract ends soon.</p><p><a class="renew" href="{RENEW_URL}">Renew now</a></p>'
        "<p>Grüße, Northwind</p></body></html>"
    )
    if body_cte is None:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    else:
        message.set_content(text, cte=body_cte)
        message.add_alternative(html, subtype="html", cte=body_cte)
    return message


def send(endpoint: str, message: MimeMessage, *, smtp_line_endings: bool = False) -> str:
    """Sends through SESv2 as the sending code does (a raw message, no Destination); returns the MessageId."""
    sesv2 = boto3.client("sesv2", endpoint_url=endpoint, region_name="us-east-1")
    raw = message.as_bytes(policy=policy.SMTP if smtp_line_endings else policy.default)
    response = sesv2.send_email(FromEmailAddress="renewals@northwind.example", Content={"Raw": {"Data": raw}})
    return str(response["MessageId"])


def outbox_settings(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, dev_outbox=True, **changes)


@pytest.fixture
def outbox_app(settings: Settings, ses_endpoint: str) -> Iterator[Flask]:
    app = create_app(outbox_settings(settings, ses_endpoint_url=ses_endpoint))
    app.config["TESTING"] = True
    yield app
    app.extensions["renewals.database"].dispose()


@pytest.fixture
def outbox(outbox_app: Flask) -> FlaskClient:
    return outbox_app.test_client()


@dataclasses.dataclass
class Sent:
    reminder: str
    rep_notice: str
    unknown: str


@pytest.fixture
def sent(outbox_app: Flask, ses_endpoint: str) -> Sent:
    """Three emails in sending order: a reminder and a rep notice the store knows, and one it does not."""
    reminder = send(
        ses_endpoint,
        build_email(to="Dana Scully <buyer@customer.example>", subject="Ihre Verlängerung: Vertrag 00042 läuft ab"),
    )
    rep_notice = send(
        ses_endpoint,
        build_email(to="riley.rep@vendor.example", subject="Rep notice: Acme renewal", body_cte="quoted-printable"),
        smtp_line_endings=True,
    )
    unknown = send(ses_endpoint, build_email(to="stray@customer.example", subject="Stray send €", body_cte="base64"))
    with outbox_app.app_context(), session_scope() as session:
        contract = make_contract(session, end_date=date(2027, 3, 31), number="00042")
        sent_at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
        make_email(session, contract, kind="reminder", status="delivered", ses_message_id=reminder, sent_at=sent_at)
        make_email(session, contract, kind="rep_notice", status="bounced", ses_message_id=rep_notice, sent_at=sent_at)
    return Sent(reminder=reminder, rep_notice=rep_notice, unknown=unknown)


def raw_data(endpoint: str, message_id: str) -> str:
    return next(str(item["raw_data"]) for item in sent_emails(endpoint) if item["id"] == message_id)


# --- The list ----------------------------------------------------------------------------------------------


def test_the_list_shows_every_sent_email_newest_first_with_decoded_subjects(outbox: FlaskClient, sent: Sent) -> None:
    response = outbox.get("/dev/outbox")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "not delivered anywhere" in page
    newest_first = (sent.unknown, sent.rep_notice, sent.reminder)
    positions = [page.index(f'data-ses-message-id="{message_id}"') for message_id in newest_first]
    assert positions == sorted(positions)
    assert "Ihre Verlängerung: Vertrag 00042 läuft ab" in page
    assert "Stray send €" in page
    assert "=?utf-8?" not in page
    for message_id in (sent.reminder, sent.rep_notice, sent.unknown):
        assert f'href="/dev/outbox/{message_id}"' in page


def test_the_list_takes_kind_stage_status_and_contract_from_the_store(outbox: FlaskClient, sent: Sent) -> None:
    page = outbox.get("/dev/outbox").get_data(as_text=True)
    reminder_row = _table_row(page, sent.reminder)
    assert "<td>reminder</td>" in reminder_row and "<td>-30</td>" in reminder_row
    assert "<td>delivered</td>" in reminder_row and "<td>00042</td>" in reminder_row
    assert "2026-11-02 09:30:00" in reminder_row
    rep_row = _table_row(page, sent.rep_notice)
    assert "<td>rep_notice</td>" in rep_row and "<td>bounced</td>" in rep_row
    assert "not in the store" in _table_row(page, sent.unknown)
    assert "stray@customer.example" in _table_row(page, sent.unknown)


def test_an_empty_outbox_says_so(outbox: FlaskClient) -> None:
    response = outbox.get("/dev/outbox")
    assert response.status_code == 200
    assert b"No emails sent yet" in response.data


def _table_row(page: str, message_id: str) -> str:
    start = page.index(f'data-ses-message-id="{message_id}"')
    return page[start : page.index("</tr>", start)]


# --- One email ---------------------------------------------------------------------------------------------


def test_the_show_page_has_every_header_decoded(outbox: FlaskClient, sent: Sent) -> None:
    response = outbox.get(f"/dev/outbox/{sent.reminder}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for name in ("From", "To", "Reply-To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version"):
        assert f'<td class="header-name">{name}</td>' in page
    assert "Ihre Verlängerung: Vertrag 00042 läuft ab" in page
    assert "Northwind Renewals &lt;renewals@northwind.example&gt;" in page
    assert f"&lt;{UNSUBSCRIBE_URL}&gt;" in page
    assert "List-Unsubscribe=One-Click" in page
    assert "<td>delivered</td>" in page and "<td>00042</td>" in page
    assert f'href="/dev/outbox/{sent.reminder}.eml"' in page


def test_the_show_page_frames_the_html_part_in_a_sandbox(outbox: FlaskClient, sent: Sent) -> None:
    page = outbox.get(f"/dev/outbox/{sent.reminder}").get_data(as_text=True)
    assert (
        '<iframe class="email-html" title="The email\'s HTML part" '
        'sandbox="allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"'
    ) in page
    assert f'src="/dev/outbox/{sent.reminder}/html"' in page
    assert "allow-scripts" not in page and "allow-same-origin" not in page


@pytest.mark.parametrize("which", ["reminder", "rep_notice", "unknown"])
def test_the_text_part_is_decoded_whatever_its_transfer_encoding(outbox: FlaskClient, sent: Sent, which: str) -> None:
    message_id = getattr(sent, which)
    page = outbox.get(f"/dev/outbox/{message_id}").get_data(as_text=True)
    assert f'<pre class="email-text">Dear Dana,\n\nyour contract ends soon. Renew: {RENEW_URL}' in page
    assert "Grüße, Northwind" in page


@pytest.mark.parametrize("which", ["reminder", "rep_notice", "unknown"])
def test_the_html_route_serves_the_html_with_its_links_intact(outbox: FlaskClient, sent: Sent, which: str) -> None:
    message_id = getattr(sent, which)
    response = outbox.get(f"/dev/outbox/{message_id}/html")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert f'<a class="renew" href="{RENEW_URL}">Renew now</a>' in html
    assert "<p>Grüße, Northwind</p>" in html
    # Links leave the frame for a new tab; the document keeps its doctype first (no quirks mode).
    assert html.startswith('<!doctype html><html><head><base target="_blank"><title>Renewal</title>')
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "form-action 'none'" in csp and "frame-ancestors 'self'" in csp
    assert "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation" in csp
    assert "script-src" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_encoded_bodies_really_were_encoded_on_the_wire(ses_endpoint: str, sent: Sent) -> None:
    assert RENEW_URL not in raw_data(ses_endpoint, sent.unknown)  # base64
    assert "Content-Transfer-Encoding: quoted-printable" in raw_data(ses_endpoint, sent.rep_notice)
    assert "=?utf-8?" in raw_data(ses_endpoint, sent.reminder)


@pytest.mark.parametrize("which", ["reminder", "rep_notice", "unknown"])
def test_the_eml_download_is_byte_identical_to_what_ses_accepted(
    outbox: FlaskClient, ses_endpoint: str, sent: Sent, which: str
) -> None:
    message_id = getattr(sent, which)
    response = outbox.get(f"/dev/outbox/{message_id}.eml")
    assert response.status_code == 200
    assert response.mimetype == "message/rfc822"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{message_id}.eml"'
    assert response.data == raw_data(ses_endpoint, message_id).encode("utf-8")


def test_the_smtp_line_endings_survive_in_the_download(outbox: FlaskClient, sent: Sent) -> None:
    assert b"\r\nSubject: Rep notice: Acme renewal\r\n" in outbox.get(f"/dev/outbox/{sent.rep_notice}.eml").data


def test_an_email_without_a_store_row_still_shows(outbox: FlaskClient, sent: Sent) -> None:
    response = outbox.get(f"/dev/outbox/{sent.unknown}")
    assert response.status_code == 200
    assert b"No email message row has this MessageId." in response.data


def test_a_text_only_email_has_no_html_route(outbox: FlaskClient, ses_endpoint: str) -> None:
    message = MimeMessage()
    message["From"] = SENDER
    message["To"] = "buyer@customer.example"
    message["Subject"] = "Plain"
    message.set_content("Just text.\n")
    message_id = send(ses_endpoint, message)
    page = outbox.get(f"/dev/outbox/{message_id}").get_data(as_text=True)
    assert "This email has no HTML part." in page and "<iframe" not in page
    assert outbox.get(f"/dev/outbox/{message_id}/html").status_code == 404


# --- Ids, methods, and when it is off or cannot reach SES --------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/html", ".eml"])
def test_unknown_ids_are_404(outbox: FlaskClient, sent: Sent, suffix: str) -> None:
    response = outbox.get(f"/dev/outbox/no-such-message-0000{suffix}")
    assert response.status_code == 404
    assert b"Page not found" in response.data


@pytest.mark.parametrize("bad", ["has.dot", "under_score", "sp%20ace", "x" * 101, "%C3%A9", "..%2F..%2Fetc"])
def test_malformed_ids_are_404_before_the_ses_endpoint_is_asked(settings: Settings, bad: str) -> None:
    # The endpoint is unreachable: a 404 rather than a 503 shows the id was refused before any fetch.
    unreachable = outbox_settings(settings, ses_endpoint_url=f"http://127.0.0.1:{free_port()}")
    client = create_app(unreachable).test_client()
    for suffix in ("", "/html", ".eml"):
        assert client.get(f"/dev/outbox/{bad}{suffix}").status_code == 404


def test_nothing_but_get_is_served(outbox: FlaskClient, sent: Sent) -> None:
    for url in ("/dev/outbox", f"/dev/outbox/{sent.reminder}", f"/dev/outbox/{sent.reminder}.eml"):
        assert outbox.post(url).status_code == 405
        assert outbox.delete(url).status_code == 405
    assert outbox.get("/dev/outbox").get_data(as_text=True).count('class="outbox-entry"') == 3


def test_the_outbox_does_not_exist_unless_enabled(settings: Settings, ses_endpoint: str) -> None:
    message_id = send(ses_endpoint, build_email(to="buyer@customer.example", subject="Hidden"))
    assert settings.dev_outbox is False
    client = create_app(dataclasses.replace(settings, ses_endpoint_url=ses_endpoint)).test_client()
    for url in ("/dev/outbox", f"/dev/outbox/{message_id}", f"/dev/outbox/{message_id}/html"):
        response = client.get(url)
        assert response.status_code == 404
        assert b"Hidden" not in response.data
    assert client.get(f"/dev/outbox/{message_id}.eml").status_code == 404


def test_an_unreachable_ses_endpoint_gets_a_friendly_page(settings: Settings) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    client = create_app(outbox_settings(settings, ses_endpoint_url=endpoint)).test_client()
    for url in ("/dev/outbox", "/dev/outbox/some-message-id", "/dev/outbox/some-message-id.eml"):
        response = client.get(url)
        assert response.status_code == 503
        page = response.get_data(as_text=True)
        assert f"The SES endpoint {endpoint} did not answer. Is the local moto server running?" in page
        assert "not delivered anywhere" in page
        assert "Traceback" not in page and "ConnectionError" not in page


def test_no_ses_endpoint_configured_gets_a_friendly_page(settings: Settings) -> None:
    client = create_app(outbox_settings(settings, ses_endpoint_url=None)).test_client()
    response = client.get("/dev/outbox")
    assert response.status_code == 503
    assert b"No SES endpoint is configured (RENEWALS_SES_ENDPOINT_URL)" in response.data


def test_an_endpoint_that_is_not_moto_gets_a_friendly_page(settings: Settings, ses_endpoint: str) -> None:
    client = create_app(outbox_settings(settings, ses_endpoint_url=f"{ses_endpoint}/not-moto")).test_client()
    response = client.get("/dev/outbox")
    assert response.status_code == 503
    assert b"is not a moto server" in response.data
