"""The development outbox: every email the local SES endpoint accepted, shown exactly as sent.

For the demo and development on one machine, where moto's server stands in for SES and no mail is delivered
anywhere. moto keeps each raw message it accepted (``/moto-api/data.json``, ``ses.RawMessage``); this page lists
them, joined to the store's :class:`EmailMessage` rows by SES MessageId for kind, stage, status and contract, and
shows one with its headers, its text part, its HTML part rendered with working links, and the ``.eml`` as sent.

The blueprint is registered only when ``settings.dev_outbox`` is true: otherwise its URLs are plain 404s. Every
route is a GET and nothing here writes: not to the store, not to moto. A message id from the URL is checked
against SES's alphabet before it is used for anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage as MimeMessage
from email.message import MIMEPart
from email.parser import Parser
from typing import Any, cast

import requests
from flask import Blueprint, Flask, Response, abort, current_app, render_template
from sqlalchemy import select

from config.settings import Settings, get_settings
from sync_service.store.db import current_session
from sync_service.store.models import Contract, EmailMessage

bp = Blueprint("dev_outbox", __name__, url_prefix="/dev/outbox")

MESSAGE_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
FETCH_TIMEOUT_SECONDS = 5.0
# Keeps the IN (...) list under SQLite's bound-parameter limit however many emails a demo sent.
_ROW_BATCH = 500

# The HTML part is served from its own URL into a sandboxed frame: no scripts, no forms, no plugins, nothing
# fetched but images, styles and fonts. Popups may escape the sandbox so a clicked link opens the app's real,
# unsandboxed page (where Renew's confirm button works), as it would from a webmail.
HTML_SANDBOX = "allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
HTML_CSP = (
    "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline' http: https:; "
    f"font-src http: https: data:; form-action 'none'; frame-ancestors 'self'; sandbox {HTML_SANDBOX}"
)
# Inserted into the served copy only (never the .eml): links open in a new tab, outside the frame.
_BASE_TARGET = '<base target="_blank">'
_HEAD_TAG = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)
_DOCTYPE = re.compile(r"\A\s*<!doctype[^>]*>", re.IGNORECASE)


class OutboxUnavailable(Exception):
    """The SES endpoint is not configured, not reachable, or not a moto server; the message says which."""


@dataclass(frozen=True)
class SentEmail:
    """One raw email as moto's SES accepted it; ``position`` counts from 1 in the order they were accepted."""

    ses_message_id: str
    source: str
    destinations: tuple[str, ...]
    raw: str
    position: int

    def parse(self, *, headers_only: bool = False) -> MimeMessage:
        parsed = Parser(policy=policy.default).parsestr(self.raw, headersonly=headers_only)
        return cast(MimeMessage, parsed)


@dataclass(frozen=True)
class OutboxEntry:
    """A sent email with its decoded headers and, when the store knows it, its row."""

    email: SentEmail
    message: MimeMessage
    row: EmailMessage | None
    contract_number: str | None

    def header(self, name: str) -> str:
        return str(self.message.get(name, ""))

    @property
    def sent_at(self) -> datetime | None:
        return self.row.sent_at if self.row is not None else None


def init_app(app: Flask) -> None:
    settings = cast(Settings, app.extensions["renewals.settings"])
    if settings.dev_outbox:
        app.register_blueprint(bp)


@bp.errorhandler(OutboxUnavailable)
def outbox_unavailable(error: OutboxUnavailable) -> tuple[str, int]:
    return render_template("dev_outbox/list.html", entries=[], unavailable=str(error)), 503


@bp.get("")
def index() -> str:
    emails = list(reversed(fetch_sent_emails()))
    messages = [email.parse(headers_only=True) for email in emails]
    rows = _rows_by_message_id(email.ses_message_id for email in emails)
    entries = [_entry(email, message, rows) for email, message in zip(emails, messages, strict=True)]
    return render_template("dev_outbox/list.html", entries=entries, unavailable=None)


@bp.get("/<message_id>")
def show(message_id: str) -> str:
    email = _find(message_id)
    message = email.parse()
    entry = _entry(email, message, _rows_by_message_id([email.ses_message_id]))
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    return render_template(
        "dev_outbox/show.html",
        entry=entry,
        headers=[(name, str(value)) for name, value in message.items()],
        has_html=html_part is not None,
        text=_content(text_part) if text_part is not None else None,
        attachments=[_attachment(part) for part in message.iter_attachments()],
        sandbox=HTML_SANDBOX,
    )


@bp.get("/<message_id>/html")
def html(message_id: str) -> Response:
    part = _find(message_id).parse().get_body(preferencelist=("html",))
    if part is None:
        abort(404)
    response = Response(_with_base_target(_content(part)), mimetype="text/html")
    response.headers["Content-Security-Policy"] = HTML_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/<message_id>.eml")
def eml(message_id: str) -> Response:
    email = _find(message_id)
    response = Response(email.raw.encode("utf-8"), mimetype="message/rfc822")
    response.headers["Content-Disposition"] = f'attachment; filename="{email.ses_message_id}.eml"'
    return response


def fetch_sent_emails() -> list[SentEmail]:
    """Every raw email the SES endpoint accepted, oldest first; :class:`OutboxUnavailable` if it cannot say."""
    endpoint = get_settings().ses_endpoint_url
    if endpoint is None:
        raise OutboxUnavailable(
            "No SES endpoint is configured (RENEWALS_SES_ENDPOINT_URL). The development outbox reads what a "
            "local moto server accepted; `make demo` starts one and sets it."
        )
    url = f"{endpoint.rstrip('/')}/moto-api/data.json"
    try:
        with requests.Session() as http:
            # A local moto server: no proxies or .netrc credentials from the environment.
            http.trust_env = False
            response = http.get(url, timeout=FETCH_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        current_app.logger.warning("dev outbox: %s did not answer: %s", url, type(exc).__name__)
        raise OutboxUnavailable(
            f"The SES endpoint {endpoint} did not answer. Is the local moto server running?"
        ) from None
    try:
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        return _parse_moto_data(response.json())
    except ValueError as exc:
        current_app.logger.warning("dev outbox: %s is not moto's state: %s", url, exc)
        raise OutboxUnavailable(
            f"The SES endpoint {endpoint} is not a moto server: it has no record of sent emails to show."
        ) from None


def _parse_moto_data(data: Any) -> list[SentEmail]:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    # A moto server that has not been sent anything yet may have no "ses" section at all.
    ses = data.get("ses") or {}
    if not isinstance(ses, dict):
        raise ValueError("ses is not a JSON object")
    raw_messages = ses.get("RawMessage") or []
    if not isinstance(raw_messages, list):
        raise ValueError("ses.RawMessage is not a list")
    emails = []
    for position, item in enumerate(raw_messages, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("raw_data"), str):
            raise ValueError(f"raw message {position} has no raw_data")
        emails.append(
            SentEmail(
                ses_message_id=str(item.get("id", "")),
                source=str(item.get("source") or ""),
                destinations=tuple(str(address) for address in item.get("destinations") or ()),
                raw=item["raw_data"],
                position=position,
            )
        )
    return emails


def _find(message_id: str) -> SentEmail:
    if not MESSAGE_ID.fullmatch(message_id):
        abort(404)
    for email in fetch_sent_emails():
        if email.ses_message_id == message_id:
            return email
    abort(404)


def _rows_by_message_id(message_ids: Iterable[str]) -> dict[str, tuple[EmailMessage, str | None]]:
    ids = list(message_ids)
    rows: dict[str, tuple[EmailMessage, str | None]] = {}
    session = current_session()
    for start in range(0, len(ids), _ROW_BATCH):
        query = (
            select(EmailMessage, Contract.number)
            .join(Contract, Contract.id == EmailMessage.contract_id)
            .where(EmailMessage.ses_message_id.in_(ids[start : start + _ROW_BATCH]))
        )
        for row, number in session.execute(query):
            rows[cast(str, row.ses_message_id)] = (row, number)
    return rows


def _entry(email: SentEmail, message: MimeMessage, rows: dict[str, tuple[EmailMessage, str | None]]) -> OutboxEntry:
    row, number = rows.get(email.ses_message_id, (None, None))
    return OutboxEntry(email=email, message=message, row=row, contract_number=number)


def _content(part: MIMEPart) -> str:
    """A text part's content: transfer encoding (quoted-printable, base64) and charset decoded, and the wire's
    CRLF line endings (kept by the parser in bodies) made plain newlines."""
    return cast(str, part.get_content()).replace("\r\n", "\n")


def _attachment(part: MIMEPart) -> dict[str, Any]:
    payload = part.get_payload(decode=True)
    size = len(payload) if isinstance(payload, bytes) else 0
    return {"filename": part.get_filename() or "(no name)", "content_type": part.get_content_type(), "size": size}


def _with_base_target(document: str) -> str:
    """The HTML with ``<base target="_blank">`` first in its head, so the first base target is ours."""
    head = _HEAD_TAG.search(document)
    if head is not None:
        return document[: head.end()] + _BASE_TARGET + document[head.end() :]
    # No head tag: after the doctype (anything before it would switch the page to quirks mode), else first.
    doctype = _DOCTYPE.match(document)
    at = doctype.end() if doctype is not None else 0
    return document[:at] + _BASE_TARGET + document[at:]
