"""`renew_to_task_p50_s` / `_p95_s` of `renewals bench push`: from a customer's Renew POST to the "renewed"
Task being visible in the org, through every real part.

A stand-in org (200 seeded Salesforce CPQ contracts) is pulled through the shipped preset; a sent reminder
email is recorded for each of `renewals` renewable contracts; a real `renewals worker --queue push` process
listens on a throwaway redis-server. For each email, one at a time, the bench opens the Renew page (GET),
confirms it (POST, through the app in-process, as a browser's form would), and from the POST's start polls
the org (SOQL on the Task's Subject marker, every 20 ms) until the Task is there. The time includes the
commit, the enqueue after commit, the worker picking the job up, the push's sObject Collections call and
the org's own write.

The baseline beside it is the org's round trip for one sObject Collections create of one Task, made
directly with simple-salesforce: the floor any write-back latency sits on.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Worker
from sqlalchemy import func, select

from email_actions.mail.links import LINKS, Links
from email_actions.web.app import create_app
from jobs.queues import PUSH
from sync_service.outbox.record import event_key
from sync_service.outbox.writeback import live_quote
from sync_service.renewability import active_rules, refusal
from sync_service.store import models
from sync_service.store.db import Database
from sync_service.store.models import utcnow
from tests.bench.devorg import pulled_store, start_seeded_org
from tests.factories import make_sent_reminder_email
from tests.processes import RestartableRedis, renewals_env, start_renewals, stop_processes, wait_until
from tests.standin_org import RunningOrg

FORM_FIELD = re.compile(r'name="(form_token|total_seen)" value="([^"]*)"')
POLL_SECONDS = 0.02


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def renewable_reminders(db: Database, count: int) -> list[tuple[int, str]]:
    """A sent reminder email for each of `count` contracts the active mapping's renewal rules let the customer
    renew from the email (a contact with an address, a rep); returns (email id, nonce) pairs."""
    made: list[tuple[int, str]] = []
    today = utcnow().date()
    with db.session_scope() as session:
        mapping = active_rules(session)
        for contract in session.scalars(select(models.Contract).order_by(models.Contract.id)):
            if len(made) == count:
                break
            if contract.contact is None or not contract.contact.email or contract.rep is None:
                continue
            if refusal(contract, live_quote(session, contract), mapping, today=today) is not None:
                continue
            message = make_sent_reminder_email(session, contract, offset_days=-30, due_on=today)
            made.append((message.id, message.nonce))
    if len(made) < count:
        raise RuntimeError(f"the bench org has only {len(made)} renewable contracts, {count} asked for")
    return made


def _baseline_seconds(sf: Any, what_id: str, runs: int) -> list[float]:
    times = []
    for n in range(runs):
        record = {"attributes": {"type": "Task"}, "Subject": f"Baseline {n}", "WhatId": what_id, "Status": "Completed"}
        started = time.perf_counter()
        answer = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [record]})
        times.append(time.perf_counter() - started)
        assert answer[0]["success"], answer
    return times


def _wait_for_worker(redis_url: str, timeout: float) -> None:
    """Until the worker has registered with Redis: its start-up is not part of any renewal's latency."""
    redis = Redis.from_url(redis_url)
    try:
        wait_until(lambda: bool(Worker.count(connection=redis)), "the push worker", timeout=timeout)
    finally:
        redis.close()


def renew_to_task_figures(renewals: int = 20, timeout: float = 60.0) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="renewals-bench-renew-"))
    processes: list[subprocess.Popen[Any]] = []
    org: RunningOrg | None = None
    redis: RestartableRedis | None = None
    db = None
    try:
        org = start_seeded_org(work / "org", 200)
        redis = RestartableRedis(work)
        redis.start()
        store = pulled_store(work, org, redis.url)
        environment, settings, db, conventions = store.environment, store.settings, store.db, store.conventions
        emails = renewable_reminders(db, renewals)

        processes.append(start_renewals(["worker", "--queue", PUSH], renewals_env(environment), work / "worker.log"))
        _wait_for_worker(redis.url, timeout)
        sf = org.salesforce(timeout=300)
        baseline_what = sf.query("SELECT Id FROM Contract LIMIT 1")["records"][0]["Id"]
        baseline = _baseline_seconds(sf, baseline_what, 5)  # also warms the org's connection

        app = create_app(settings)
        client = app.test_client()
        links = Links(settings)
        latencies: list[float] = []
        for message_id, nonce in emails:
            path = LINKS["renew"].path + links.token("renew", message_id, nonce)
            page = client.get(path)
            if page.status_code != 200:
                raise RuntimeError(f"the Renew page answered {page.status_code}")
            form = dict(FORM_FIELD.findall(page.get_data(as_text=True)))
            marker = f"[{event_key('renewed', message_id)}]"
            started = time.perf_counter()
            answer = client.post(path, data=form)
            if answer.status_code != 200:
                raise RuntimeError(f"the Renew POST answered {answer.status_code}")
            soql = f"SELECT Id FROM Task WHERE Subject LIKE '{conventions.subject_prefix}: %{marker}'"
            while not sf.query(soql)["records"]:
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(f"no Task for email {message_id} after {timeout} s (see {work}/worker.log)")
                time.sleep(POLL_SECONDS)
            latencies.append(time.perf_counter() - started)
        with db.session_scope() as session:
            renewed = session.scalar(select(func.count()).select_from(models.Renewal))
        p50, p95 = statistics.median(latencies), _percentile(latencies, 0.95)
        floor = statistics.median(baseline)
        return {
            "renewals": len(latencies),
            "renewed_rows": renewed,
            "renew_to_task_p50_s": round(p50, 3),
            "renew_to_task_p95_s": round(p95, 3),
            "renew_to_task_max_s": round(max(latencies), 3),
            "baseline_collections_call_s": round(floor, 3),
            "renew_to_task_p50_ratio_vs_baseline": round(p50 / floor, 1) if floor else None,
        }
    finally:
        if db is not None:
            db.dispose()
        stop_processes(processes)  # the worker, before the Redis and the org it talks to
        if redis is not None:
            redis.stop()
        if org is not None:
            org.stop()
        shutil.rmtree(work, ignore_errors=True)
