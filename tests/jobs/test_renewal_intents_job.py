"""The renewal intents job (jobs/renewal_intents.py) through a real RQ worker on a real Redis, on SQLite and
PostgreSQL, against a stand-in CPQ org of the test's own: the org is down (503) at the customer's Renew POST,
which keeps an intent; with the org answering again, the job settles it in the worker's work horse: the
contract is renewed once, the confirmation email is queued (and its send job enqueued), the push the job
enqueues lands the write-back and one Task in the org. Running the job again renews nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job, JobStatus
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from jobs.base import get_queue
from jobs.queues import EMAIL, PUSH
from jobs.worker import make_worker
from sync_service.store import models
from tests.email_actions.web.act.test_actions import renew_form, text
from tests.email_actions.web.org_scene import OrgScene, cpq_scene

JOB = "jobs.renewal_intents.settle_renewal_intents_job"


@pytest.fixture
def scene(tmp_path: Path, store: sessionmaker[Session], redis_url: str) -> Iterator[OrgScene]:
    """A CPQ org of the test's own (the renewal writes to it), pulled into a fresh store of each backend."""
    with cpq_scene(tmp_path, store, redis_url) as running:
        yield running


def run_job(scene: OrgScene, redis: Redis) -> Job:
    """The scheduler's tick: the job on its queue (push), and a burst worker of that queue until it is empty
    (the push the job enqueues included)."""
    job = get_queue(PUSH, redis).enqueue_call(JOB)
    assert make_worker(scene.settings, (PUSH,)).work(burst=True)
    job.refresh()
    assert job.get_status() == JobStatus.FINISHED, job.latest_result()
    return job


def renewed_tasks(scene: OrgScene, contract_sf_id: str) -> int:
    found = scene.sf.query_all(f"SELECT Id FROM Task WHERE WhatId = '{contract_sf_id}' AND Subject LIKE '%Renewed%'")
    return len(found["records"])


def test_the_job_in_a_worker_completes_the_intent_once_and_queues_the_confirmation(
    scene: OrgScene, redis: Redis
) -> None:
    contract_id = scene.renewable_contract()
    reminder, _ = scene.emails(contract_id)
    quote = scene.quote(contract_id)
    contract_sf_id = scene.contract(contract_id).sf_id
    customer = scene.client()
    path = scene.path("renew", reminder)
    form = renew_form(customer, path)
    scene.org.faults(rules=[{"route": "sobjects", "error": "503", "count": 1}])

    waiting = customer.post(path, data=form)

    assert waiting.status_code == 202 and "We'll confirm your renewal shortly" in text(waiting)
    assert scene.counts() == {"renewals": 0, "outbox_items": 0, "renewal_intents": 1}
    emails_queued = get_queue(EMAIL, redis).count

    # The org answers again (the fault was for one call): the scheduler's tick runs the job in a worker.
    first = run_job(scene, redis)

    assert first.return_value() == {"pending": 1, "renewed": 1}
    with scene.sessions() as session:
        [renewal] = session.scalars(select(models.Renewal))
        assert (renewal.contract_id, renewal.amount, renewal.email_message_id) == (contract_id, quote.total, reminder)
        [intent] = session.scalars(select(models.RenewalIntent))
        assert (intent.status, intent.attempts) == ("renewed", 1) and intent.settled_at is not None
        contract = session.get_one(models.Contract, contract_id)
        assert (contract.renewed_via, contract.renewed_at is not None) == ("email", True)
        [confirmation] = session.scalars(select(models.EmailMessage).where(models.EmailMessage.kind == "confirmation"))
        assert confirmation.status == "queued" and confirmation.contract_id == contract_id
        pending_writes = session.scalars(select(models.OutboxItem).where(models.OutboxItem.status != "done")).all()
        assert pending_writes == []  # the push the job enqueued ran in the same worker and landed every write
    [send] = get_queue(EMAIL, redis).jobs[emails_queued:]
    assert send.func_name == "jobs.email.send_batch_job" and send.args == ([confirmation.id],)
    assert scene.org_record("SBQQ__Quote__c", quote.sf_id)["SBQQ__Status__c"] == "Accepted"
    assert renewed_tasks(scene, contract_sf_id) == 1

    # The next tick finds nothing pending: nothing renewed, written, emailed or read twice.
    counts, api_used = scene.counts(), scene.org.api_used()
    second = run_job(scene, redis)

    assert second.return_value() == {"pending": 0}
    assert scene.counts() == counts
    assert scene.org.api_used() == api_used
    assert get_queue(EMAIL, redis).count == emails_queued + 1
    assert renewed_tasks(scene, contract_sf_id) == 1
    with scene.sessions() as session:
        assert session.scalars(select(models.Renewal.amount)).all() == [Decimal(str(quote.total))]
    assert "already renewed" in text(customer.get(path))
