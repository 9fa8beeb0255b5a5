"""The email's evidence routes: the open pixel and the quote download. Both are GETs by nature and change
no state; each hit is appended raw (``email_actions.web.act.link_events``) and later stored as an event with its bot
classification, a human open or download recording or bumping the rep's Task, pushed to Salesforce in batches.

- ``GET /o/<token>.gif``: always a transparent GIF of 1 by 1 pixel, for any token (a pixel never shows an
  error page; a bad or expired token, or a database that cannot be reached, records nothing). The token is
  checked by its signature (no database), its rate limit is counted in the worker's memory (no Redis), and
  the store sees one INSERT of the raw hit, group-committed before the GIF answers, so no open is lost once
  answered (``link_events``); its classification and a human open's Task come later, in batches
  (``sync_service.link_hits``). No Salesforce call, ever. Past its rate limit it still answers the GIF, and
  records nothing.

  The limit is per email (``PIXEL_LIMIT``), in each web worker's memory: a request's only waits are then the
  commit's flush and nothing else. Across workers the drain enforces the same limit exactly
  (``sync_service.link_hits.OPENS_PER_HOUR``: opens past it are dropped, not stored), so the memory limit only
  bounds what a flood can append: a token is unforgeable, so that is the email's limit times the workers, per
  hour, and a flood of bad tokens writes nothing. A per-address limit would add a Redis round trip to every
  open and protect only against someone holding many emails' genuine links, which a mail gateway fetching a
  whole company's mail is, legitimately.
- ``GET /q/<token>``: the renewal quote PDF of *the email's contract* — no quote or document id is ever
  read from the URL — as an attachment (``<quote number>.pdf``), from the local copy or fetched from the
  org once (``sync_service.salesforce.quote_files``). No document: a branded 404 page; org unreachable, failing or out
  of API budget: a branded 503 page. A HEAD is answered from what the store knows and never costs an API
  call (scanners send HEADs). Rate-limited per client address and per email.

Both answer ``Cache-Control: private, no-store``; this module's response hook must run after the security
headers' (see ``create_app``), which would otherwise say ``no-store`` only.
"""

from __future__ import annotations

import contextlib
from typing import cast

import structlog
from flask import Blueprint, Flask, Response, current_app, g, request
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.wsgi import wrap_file

from config.settings import Settings
from email_actions.mail.brands import Brand
from email_actions.mail.links import LinkInvalid, Purpose
from email_actions.web.act.link_events import append_hit, push_evidence_soon, surely_machine
from email_actions.web.security import limit_key_for_message, limiter
from email_actions.web.token_pages import brand_of, links, open_link, render_page
from sync_service.link_hits import OPENS_PER_HOUR
from sync_service.outbox.writeback import live_quote
from sync_service.salesforce.quote_files import (
    CHUNK,
    DocumentMissing,
    QuoteFiles,
    QuoteUnavailable,
    document_of,
    download_name,
)
from sync_service.store import models
from sync_service.store.db import current_database, current_session

log = structlog.get_logger(__name__)

bp = Blueprint("evidence", __name__)

# The smallest transparent GIF: 1 by 1 pixel, a two-colour palette, colour 0 transparent (43 bytes).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
PRIVATE_CACHE = "private, no-store"
QUOTE_FILES_KEY = "renewals.quote_files"
# The pixel verifies its own token (and keys its own limits).
PURPOSE_OF_ENDPOINT: dict[str, Purpose] = {"evidence.quote": "quote"}

# A person opens one email a handful of times; scanners and image proxies a few more.
PIXEL_LIMIT = parse(f"{OPENS_PER_HOUR}/hour")
PIXEL_LIMITER_KEY = "renewals.pixel_limiter"
QUOTE_LIMITS = ("30/minute", "10/minute;50/day")
# What a page says when the PDF cannot be served, by status.
UNAVAILABLE = {
    404: (
        "Your quote is not available to download",
        "We could not find a quote document for this renewal. Reply to your renewal email and your account "
        "manager will send it to you.",
    ),
    429: ("Too many downloads", "This quote has been downloaded many times in a short while. Please try again later."),
    503: (
        "Your quote cannot be downloaded right now",
        "We could not fetch your quote just now. Please try again in a few minutes.",
    ),
}


@bp.url_value_preprocessor
def _email_of_token(endpoint: str | None, values: dict[str, object] | None) -> None:
    """Key the per-email rate limits on the email the token names (signature only, no database)."""
    token = (values or {}).get("token")
    purpose = PURPOSE_OF_ENDPOINT.get(endpoint or "")
    if isinstance(token, str) and purpose is not None:
        with contextlib.suppress(LinkInvalid):
            g.email_message_id = links().verify(purpose, token).message_id


@bp.get("/o/<token>.gif")
@limiter.exempt
def pixel(token: str) -> Response:
    try:
        claims = links().verify("open", token)
    except LinkInvalid:
        return _gif()
    if not _within_pixel_limit(claims.message_id):
        return _gif()  # past the limit a pixel just records nothing
    try:
        hit = append_hit(current_database(), claims.message_id, claims.nonce, kind="open", purpose="open")
    except SQLAlchemyError:
        log.exception("open pixel: the open could not be recorded")
        return _gif()
    if not surely_machine(hit):
        push_evidence_soon()
    return _gif()


def _within_pixel_limit(message_id: int) -> bool:
    """Count the hit against the pixel's limit per email in this worker's memory; False past it."""
    limiter_of_worker = current_app.extensions.get(PIXEL_LIMITER_KEY)
    if limiter_of_worker is None:
        limiter_of_worker = current_app.extensions.setdefault(
            PIXEL_LIMITER_KEY, MovingWindowRateLimiter(MemoryStorage())
        )
    return cast(MovingWindowRateLimiter, limiter_of_worker).hit(PIXEL_LIMIT, "pixel", str(message_id))


@bp.get("/q/<token>")
@limiter.limit(QUOTE_LIMITS[0], key_func=get_remote_address)
@limiter.limit(QUOTE_LIMITS[1], key_func=limit_key_for_message)
def quote(token: str) -> Response:
    opened = open_link("quote", token)
    session = current_session()
    renewal_quote = live_quote(session, opened.message.contract)
    response, served = _quote_response(session, renewal_quote, opened.brand)
    message, kind = opened.message, "download" if served else "click"
    try:
        hit = append_hit(current_database(), message.id, message.nonce, kind=kind, purpose="quote")
    except BaseException:
        response.close()  # the open PDF
        raise
    if served and not surely_machine(hit):
        push_evidence_soon()
    return response


def quote_pdf_response(db: Session, quote: models.RenewalQuote, *, brand: Brand | None = None) -> Response:
    """`quote`'s PDF as a download, or the branded page saying why not (404, 503). For callers that have
    authorised the quote themselves (the portal's scope); records no event."""
    return _quote_response(db, quote, brand or brand_of(None))[0]


def _quote_response(db: Session, quote: models.RenewalQuote | None, brand: Brand) -> tuple[Response, bool]:
    """(response, whether the PDF is in it)."""
    files = cast(QuoteFiles, current_app.extensions[QUOTE_FILES_KEY])
    try:
        if quote is None:
            raise DocumentMissing("the contract has no live renewal quote")
        if request.method == "HEAD":
            return _head(files, quote), True
        document = document_of(quote)
        if document is not None and files.cached(quote, document) is None:
            db.commit()  # no transaction is held open across the org call
        handle, size = files.open(current_database().sessionmaker, quote)
    except QuoteUnavailable as exc:
        # The reason names Salesforce ids and statuses, never the link's token or the org's URL.
        if isinstance(exc, DocumentMissing):
            log.info("quote download unavailable", reason=str(exc), status=exc.status)
        else:
            log.warning("quote download unavailable", reason=str(exc), status=exc.status)
        return _unavailable(brand, exc.status), False
    response = current_app.response_class(
        wrap_file(request.environ, handle, CHUNK), mimetype="application/pdf", direct_passthrough=True
    )
    response.headers["Content-Length"] = str(size)
    _attachment(response, quote)
    return response, True


def _head(files: QuoteFiles, quote: models.RenewalQuote) -> Response:
    document = document_of(quote)
    if document is None:
        raise DocumentMissing(f"quote {quote.sf_id} has no document")
    response = current_app.response_class(b"", mimetype="application/pdf")
    cached = files.cached(quote, document)
    if cached is not None:
        response.headers["Content-Length"] = str(cached.stat().st_size)
    else:
        response.headers.pop("Content-Length", None)
    _attachment(response, quote)
    return response


def _attachment(response: Response, quote: models.RenewalQuote) -> None:
    response.headers["Content-Disposition"] = f'attachment; filename="{download_name(quote)}"'
    response.headers["X-Content-Type-Options"] = "nosniff"


def _unavailable(brand: Brand, status: int) -> Response:
    title, text = UNAVAILABLE[status]
    body, code = render_page("public/quote_unavailable.html", brand=brand, status=status, title=title, text=text)
    return current_app.response_class(body, status=code, mimetype="text/html")


def _gif() -> Response:
    return current_app.response_class(PIXEL, mimetype="image/gif")


@bp.errorhandler(RateLimitExceeded)
def _too_many(error: RateLimitExceeded) -> Response:
    if request.endpoint == "evidence.pixel":
        return _gif()  # a pixel answers a GIF whatever happens; past the limit it just records nothing
    message_id = g.get("email_message_id")
    message = current_session().get(models.EmailMessage, message_id) if message_id is not None else None
    return _unavailable(brand_of(message), 429)  # Flask-Limiter adds Retry-After


def _private(response: Response) -> Response:
    if request.blueprint == bp.name:
        response.headers["Cache-Control"] = PRIVATE_CACHE
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app: Flask) -> None:
    """Register the routes; call before ``security.init_app`` so this module's header hook runs after its."""
    settings = cast(Settings, app.extensions["renewals.settings"])
    app.extensions[QUOTE_FILES_KEY] = QuoteFiles(settings)
    app.register_blueprint(bp)
    app.after_request(_private)
