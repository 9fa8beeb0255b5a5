"""`renewals bench renew-calls`: the Salesforce API calls one renewal from the email costs, end to end, against
what the same renewal cost before issue 13, measured in the same run (target: at most 2 more).

A CPQ stand-in org (200 seeded contracts) is pulled through the shipped preset; a sent reminder is recorded for
each of `renewals` contracts the renewal rules allow. For each one, alone: the Renew page (GET), its confirm
(POST, in process), then one push of everything the renewal recorded (the "renewed" Task and the write-back to
the quote and its opportunity). The org counts every API call it serves.

- Now: the POST reads the quote live (one sObject Rows GET) and the quote's write-back is a conditional sObject
  Rows PATCH (If-Unmodified-Since the LastModifiedDate read); the opportunity's goes through sObject Collections.
- Before (the baseline, every other renewal of the same run): the POST read nothing from the org, and every
  write-back went through sObject Collections unconditionally: the same renewal with the write's seen values
  removed before the push, and no read at the POST (the read is counted and left out; it did not exist).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from email_actions.mail.links import LINKS, Links
from email_actions.web.app import create_app
from sync_service.outbox import wire
from sync_service.outbox.push import Pusher
from sync_service.salesforce.budget import Budget
from sync_service.store import models
from sync_service.store.db import Database
from tests.bench.devorg import pulled_store, start_seeded_org
from tests.bench.renew import renewable_reminders
from tests.processes import RestartableRedis

FORM_FIELD = re.compile(r'name="(form_token|total_seen)" value="([^"]*)"')
TARGET_EXTRA_CALLS = 2


def _unconditional(db: Database) -> None:
    """Today's write path: the pending write-backs lose their seen values (sObject Collections, no check)."""
    with db.session_scope() as session:
        for item in session.scalars(
            select(models.OutboxItem).where(
                models.OutboxItem.status == "pending", models.OutboxItem.kind == "field_update"
            )
        ):
            item.payload = {"values": item.payload["values"]}


def renew_call_figures(renewals: int = 10) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="renewals-bench-renew-calls-"))
    redis = RestartableRedis(work)
    org = None
    db = None
    try:
        org = start_seeded_org(work / "org", 200)
        redis.start()
        store = pulled_store(work, org, redis.url)
        settings, db, conventions = store.settings, store.db, store.conventions
        emails = renewable_reminders(db, 2 * renewals)

        sf = org.salesforce(timeout=300)
        sessions = sessionmaker(db.engine, expire_on_commit=False)
        pusher = Pusher(sessions, sf, conventions, Budget(daily_budget=10**9, reserve=0), retry_base=0)
        pusher.push()  # what the set-up recorded, if anything
        wire.task_shape(sf, conventions)  # the Task describe, cached for an hour: not a renewal's cost

        app = create_app(settings)
        client = app.test_client()
        links = Links(settings)
        client.get("/healthz")
        now: list[tuple[int, int]] = []
        before: list[tuple[int, int]] = []
        for index, (message_id, nonce) in enumerate(emails):
            path = LINKS["renew"].path + links.token("renew", message_id, nonce)
            page = client.get(path)
            if page.status_code != 200:
                raise RuntimeError(f"the Renew page answered {page.status_code}")
            form = dict(FORM_FIELD.findall(page.get_data(as_text=True)))
            used = org.api_used()
            answer = client.post(path, data=form)
            if answer.status_code != 200:
                raise RuntimeError(f"the Renew POST answered {answer.status_code}")
            post_calls = org.api_used() - used
            today = index % 2 == 1
            if today:
                _unconditional(db)
            used = org.api_used()
            result = pusher.push()
            if result.status != "succeeded" or result.dead or result.conflicts:
                raise RuntimeError(f"the push after renewal {index} ended {result}")
            push_calls = org.api_used() - used
            (before if today else now).append((0 if today else post_calls, push_calls))
        with db.session_scope() as session:
            renewed = len(session.scalars(select(models.Renewal.id)).all())
        per_now = sum(a + b for a, b in now) / len(now)
        per_before = sum(a + b for a, b in before) / len(before)
        return {
            "renewals": len(now) + len(before),
            "renewed_rows": renewed,
            "calls_per_renewal": round(per_now, 2),
            "post_calls_per_renewal": round(sum(a for a, _ in now) / len(now), 2),
            "push_calls_per_renewal": round(sum(b for _, b in now) / len(now), 2),
            "calls_per_renewal_before": round(per_before, 2),
            "push_calls_per_renewal_before": round(sum(b for _, b in before) / len(before), 2),
            "extra_calls_per_renewal": round(per_now - per_before, 2),
            "target_extra_calls": TARGET_EXTRA_CALLS,
        }
    finally:
        if db is not None:
            db.dispose()
        redis.stop()
        if org is not None:
            org.stop()
        shutil.rmtree(work, ignore_errors=True)
