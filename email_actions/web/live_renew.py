"""What the web app's Renew (the email's and the portal's) shares: the process's live reader of the org.

The Renew POST reads the renewal quote from Salesforce (:mod:`sync_service.renewal_live`) through one
:class:`~sync_service.salesforce.record_reads.RecordReader` per app (one signed-in client per process; it
signs in on the first Renew, never at start-up), and the pages say the same things about a renewal that is
waiting for the org (:func:`pending_intent`).
"""

from __future__ import annotations

import threading
from typing import cast

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from sync_service.salesforce.record_reads import RecordReader
from sync_service.store import models

READER_KEY = "renewals.record_reader"
_lock = threading.Lock()


def record_reader() -> RecordReader:
    """The app's live reader, made on first use."""
    extensions = current_app.extensions
    with _lock:
        if READER_KEY not in extensions:
            extensions[READER_KEY] = RecordReader(cast(Settings, extensions["renewals.settings"]))
        return cast(RecordReader, extensions[READER_KEY])


def pending_intent(session: Session, contract: models.Contract) -> models.RenewalIntent | None:
    """The customer's Renew of `contract` that waits for the org to answer, if one does."""
    return session.scalar(
        select(models.RenewalIntent).where(
            models.RenewalIntent.contract_id == contract.id, models.RenewalIntent.status == "pending"
        )
    )
