"""The renewal quote PDF: which of a quote's documents is the one to serve, its bytes from the org, and a
copy on local disk.

The bytes stay in Salesforce (a ``Document`` body or a ``ContentVersion``'s version data, as the mapping's
``quote_document.source`` says) and are fetched on the first download with the service's own
simple-salesforce client, one API call counted against the day's budget (job ``quote_download``). The copy
is kept in ``RENEWALS_QUOTE_CACHE_DIR`` under a name made of the blob's id and the quote's generation time
(``document_generated_at``, else the document record's ``SystemModstamp``): a regenerated quote gets a new
name and is fetched again, and the older copy is removed. Files are written whole to a temporary name and
renamed, so a reader never sees half a PDF; they are never held in memory.

Nothing here decides *which* quote may be served: callers pass the quote of the contract they have
authorised (the email's contract, the portal's scope), never an id from a URL.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import requests
import structlog
from simple_salesforce import Salesforce
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from sync_service import console_settings
from sync_service.salesforce.budget import add_api_usage
from sync_service.salesforce.connect_settings import SignedInClient, SignInFailed
from sync_service.salesforce.errors import BudgetPaused
from sync_service.salesforce.transport import meter_of
from sync_service.store import models

log = structlog.get_logger(__name__)

API_JOB = "quote_download"
BLOB_FIELDS = {"Document": "Body", "ContentVersion": "VersionData"}
# A quote PDF is a few hundred kB; anything far larger is not one and is not written to disk.
MAX_BYTES = 50 * 1024 * 1024
CHUNK = 64 * 1024
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


class QuoteUnavailable(Exception):
    """The PDF cannot be served; `status` is the HTTP status the page says it with."""

    status = 503


class DocumentMissing(QuoteUnavailable):
    """The quote has no document, or the org no longer has the record holding its bytes."""

    status = 404


class OrgUnavailable(QuoteUnavailable):
    """The org cannot be reached or signed in to, answered an error, or the API budget is used up."""

    status = 503


def document_of(quote: models.RenewalQuote) -> models.QuoteDocument | None:
    """The quote's document to serve: the primary one when the quote names it, else the newest; only
    documents whose bytes can be fetched (a known source object and blob id) count."""
    documents = [d for d in quote.documents if d.blob_sf_id and d.source_object in BLOB_FIELDS]
    if not documents:
        return None
    if quote.primary_document_sf_id:
        for document in documents:
            if quote.primary_document_sf_id in (document.sf_id, document.blob_sf_id):
                return document
    oldest = datetime.min.replace(tzinfo=UTC)
    return max(documents, key=lambda d: (d.sf_system_modstamp or oldest, d.id or 0))


def download_name(quote: models.RenewalQuote) -> str:
    """`<quote number>.pdf`, reduced to characters that are safe in a header and a file name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", quote.number or "").strip(".-")[:100]
    return f"{stem or 'quote'}.pdf"


def cache_directory(settings: Settings) -> Path:
    """`RENEWALS_QUOTE_CACHE_DIR`, else `quote-cache` beside a SQLite store, else `var/quote-cache`."""
    if settings.quote_cache_dir is not None:
        return settings.quote_cache_dir
    url = make_url(settings.database_url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        return Path(database).parent / "quote-cache"
    return Path("var/quote-cache")


class QuoteFiles:
    """Quote PDFs of one web app: the disk copies, and a Salesforce client signed in on first need (one per
    process; gunicorn forks before any request, so workers share nothing live)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.directory = cache_directory(settings)
        self._client = SignedInClient(settings)

    def cache_path(self, quote: models.RenewalQuote, document: models.QuoteDocument) -> Path:
        blob = document.blob_sf_id or ""
        if not _SF_ID.match(blob):
            raise DocumentMissing(f"quote document {document.sf_id} has no valid blob id")
        stamps = [quote.document_generated_at, document.sf_system_modstamp]
        version = "|".join(stamp.isoformat() if stamp is not None else "-" for stamp in stamps)
        digest = hashlib.sha256(f"{document.source_object}|{blob}|{version}".encode()).hexdigest()[:16]
        return self.directory / f"{blob}-{digest}.pdf"

    def cached(self, quote: models.RenewalQuote, document: models.QuoteDocument) -> Path | None:
        path = self.cache_path(quote, document)
        return path if path.is_file() else None

    def open(self, sessions: sessionmaker[Session], quote: models.RenewalQuote) -> tuple[BinaryIO, int]:
        """The quote's PDF opened for reading and its size, fetched from the org unless a copy is on disk.
        Raises DocumentMissing or OrgUnavailable."""
        document = document_of(quote)
        if document is None:
            raise DocumentMissing(f"quote {quote.sf_id} has no document")
        path = self.cache_path(quote, document)
        for _ in range(2):
            try:
                handle = path.open("rb")
            except FileNotFoundError:
                self._fetch(sessions, document, path)
                continue
            return handle, os.fstat(handle.fileno()).st_size
        raise OrgUnavailable(f"the copy of {document.blob_sf_id} vanished as it was written")

    # ------------------------------------------------------------------ the org

    def _fetch(self, sessions: sessionmaker[Session], document: models.QuoteDocument, target: Path) -> None:
        sf = self._signed_in()
        meter = meter_of(sf.session)
        try:
            console_settings.check_budget_in_force(sessions, meter, self.settings)
        except BudgetPaused as exc:
            raise OrgUnavailable(str(exc)) from exc
        calls, start = 0, meter.calls
        try:
            response = self._get(sf, document)
            if response.status_code == 401:
                # The session expired or was revoked: sign in again, once.
                response.close()
                calls += meter.calls - start
                sf = self._signed_in(fresh=True)
                meter = meter_of(sf.session)
                start = meter.calls
                response = self._get(sf, document)
            with response:
                if response.status_code == 404:
                    raise DocumentMissing(f"the org has no {document.source_object} {document.blob_sf_id}")
                if response.status_code != 200:
                    raise OrgUnavailable(f"the org answered {response.status_code} for {document.blob_sf_id}")
                self._write(response, target)
        except requests.RequestException as exc:
            raise OrgUnavailable(f"the org could not be reached: {exc.__class__.__name__}") from exc
        finally:
            count_api_calls(sessions, calls + meter.calls - start)

    def _get(self, sf: Salesforce, document: models.QuoteDocument) -> requests.Response:
        field = BLOB_FIELDS[document.source_object]
        url = f"{sf.base_url}sobjects/{document.source_object}/{document.blob_sf_id}/{field}"
        return sf.session.get(url, headers=sf.headers, stream=True)

    def _signed_in(self, *, fresh: bool = False) -> Salesforce:
        try:
            return self._client.get(fresh=fresh)
        except SignInFailed as exc:
            raise OrgUnavailable(f"could not sign in to Salesforce: {exc}") from exc

    # ------------------------------------------------------------------ the disk

    def _write(self, response: requests.Response, target: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".part-", suffix=".pdf")
        try:
            size = 0
            with os.fdopen(descriptor, "wb") as out:
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise OrgUnavailable(f"the document {target.name} is larger than {MAX_BYTES} bytes")
                    out.write(chunk)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        blob = target.name.split("-", 1)[0]
        for older in self.directory.glob(f"{blob}-*.pdf"):
            if older != target:
                older.unlink(missing_ok=True)


def count_api_calls(sessions: sessionmaker[Session], calls: int) -> None:
    """Add `calls` to today's `quote_download` usage (several web workers may add at once)."""
    if not add_api_usage(sessions, API_JOB, calls):
        log.warning("could not record the Salesforce API calls of quote downloads", calls=calls)
