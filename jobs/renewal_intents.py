"""Completing the renewals the org could not confirm at the Renew POST (sync_service.renewal_intents): every
minute by the scheduler. An idle tick costs one local query and no API call; each pending intent costs one
live read of its quote (the org answering or not), in a transaction of its own.

No RQ retry: an intent the org still does not answer stays pending and the next tick is its retry. The push
of a completed renewal and the emails (the confirmation, or the 'renewal_refused' email saying why) are
enqueued after each commit.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import structlog

from config.settings import Settings, get_settings
from jobs.base import enqueue, enqueue_after_commit
from jobs.email import send_batch_job
from jobs.push import enqueue_push
from jobs.queues import EMAIL
from sync_service.outbox.tasks import active_mapping
from sync_service.renewal_intents import pending_intents, settle_intent
from sync_service.salesforce.record_reads import RecordReader
from sync_service.store.db import current_database

log = structlog.get_logger(__name__)


@lru_cache(maxsize=1)
def _reader(settings: Settings) -> RecordReader:
    """One reader (one signed-in client) per worker process and settings."""
    return RecordReader(settings)


def settle_renewal_intents_job() -> dict[str, Any]:
    db = current_database()
    with db.session_scope() as session:
        ids = pending_intents(session)
    if not ids:
        return {"pending": 0}
    reader = _reader(get_settings())
    counts: dict[str, int] = {}
    for intent_id in ids:
        with db.session_scope() as session:
            mapping = active_mapping(session)
            settled = settle_intent(session, reader, db.sessionmaker, intent_id, mapping)
            session.commit()
        counts[settled.status] = counts.get(settled.status, 0) + 1
        if settled.status != "pending":
            log.info("renewal intent settled", intent_id=intent_id, status=settled.status, reason=settled.reason)
        if settled.pushed or settled.emails:
            with enqueue_after_commit("the settled renewal's push and email"):
                if settled.pushed:
                    enqueue_push()
                if settled.emails:
                    enqueue(EMAIL, send_batch_job, settled.emails)
    return {"pending": len(ids), **counts}
