"""`renewals bench send`: real `renewals worker` processes send due reminders through boto3 into moto's SES server,
under the rate limit they share in Redis.

moto accepts any rate, so the SES in front of it here is a small proxy that behaves like SES at the allowed rate:
more than that many sends in any one-second window are answered `TooManyRequestsException` (HTTP 429).
`throttle_errors` counts those answers: zero means the shared limiter kept every worker inside the rate. `duplicates`
counts emails that reached SES more than once (by the header naming each email row). `batch_size` is the size the
send job chose from the rate; `requeued` and `deferred` sum what the batches left queued (SES said "not sent"; the
batch's deadline came), and `fan_outs` counts the send jobs run (the first, and one more each time every batch had
run with emails still queued, as the scheduler would). The baseline beside it is one process sending the same kind of
email straight through boto3 with no limiter, to show the limiter, not moto, is what sets the pace.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import secrets
import subprocess
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from decimal import Decimal
from email import message_from_string
from itertools import pairwise
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import boto3
import requests
from redis import Redis
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from jobs.base import get_queue
from jobs.queues import EMAIL
from sync_service.store import migrate, models
from sync_service.store.db import make_engine
from sync_service.store.models import utcnow
from tests.factories import make_contract, make_reminder, make_rep
from tests.processes import (
    QuietRequestHandler,
    RestartableRedis,
    moto_server,
    renewals_env,
    start_renewals,
    stop_processes,
    verify_brand_senders,
)

SEND_PATH = "/v2/email/outbound-emails"
THROTTLED_PATH = "/_bench/throttled"  # the proxy's count of throttling answers
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


class RateEnforcingSes:
    """A WSGI proxy to moto that throttles SendEmail above `rate` per sliding second, as SES does."""

    def __init__(self, upstream: str, rate: float) -> None:
        self.upstream = upstream
        self.rate = rate
        self.window: deque[float] = deque()
        self.throttled = 0
        self.lock = threading.Lock()
        self.local = threading.local()  # one keep-alive session to moto per proxy thread

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        return session

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == THROTTLED_PATH:
            return Response(str(self.throttled))(environ, start_response)
        if request.method == "POST" and request.path == SEND_PATH:
            with self.lock:
                now = time.monotonic()
                while self.window and now - self.window[0] >= 1.0:
                    self.window.popleft()
                if len(self.window) >= self.rate:
                    self.throttled += 1
                    answer = Response(
                        '{"message": "Maximum sending rate exceeded."}',
                        status=429,
                        headers={"x-amzn-ErrorType": "TooManyRequestsException:", "Content-Type": "application/json"},
                    )
                    return answer(environ, start_response)
                self.window.append(now)
        upstream = self._session().request(
            request.method,
            self.upstream + request.full_path.rstrip("?"),
            data=request.get_data(),
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            timeout=30,
        )
        headers = [
            (k, v)
            for k, v in upstream.headers.items()
            if k.lower() not in ("connection", "transfer-encoding", "content-encoding", "content-length")
        ]
        return Response(upstream.content, status=upstream.status_code, headers=headers)(environ, start_response)


def _serve_rate_enforcing_ses(upstream: str, rate: float, port: Connection) -> None:
    server = make_server(
        "127.0.0.1", 0, RateEnforcingSes(upstream, rate), threaded=True, request_handler=QuietRequestHandler
    )
    port.send(server.server_port)
    server.serve_forever()


@contextmanager
def rate_enforcing_ses(upstream: str, rate: float) -> Iterator[str]:
    """:class:`RateEnforcingSes` in a process of its own (SES's door is on other machines; in this process it
    would wait for moto's threads to let go of the interpreter lock, and stamp arrivals late by as much);
    yields its URL."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_serve_rate_enforcing_ses, args=(upstream, rate, sender), daemon=True)
    process.start()
    try:
        if not receiver.poll(60):
            raise RuntimeError("the rate-enforcing SES proxy did not start within 60 s")
        yield f"http://127.0.0.1:{receiver.recv()}"
    finally:
        process.terminate()
        process.join(timeout=10)


def seed_due_reminders(sessions: sessionmaker[Session], reminders: int, today: date) -> None:
    """`reminders` contracts of one rep, each with a quote and a reminder due `today`: each sends two emails,
    the customer's and the rep's."""
    with sessions.begin() as session:
        rep = make_rep(session, name="Bench Rep", email="rep@vendor.example")
        for n in range(reminders):
            contract = make_contract(
                session,
                end_date=today + timedelta(days=30),
                email=f"buyer{n}@customer.example",
                locale="de_DE",
                currency="EUR",
                amount=Decimal("1200.00"),
                rep=rep,
                account_name=f"Customer {n}",
                lines=[("Platform", "Platform", Decimal(1), Decimal("1200.00"))],
            )
            make_reminder(session, contract, offset_days=-30, due_on=today)


def _baseline_rate(endpoint: str, sends: int) -> float:
    client = boto3.client("sesv2", endpoint_url=endpoint, region_name="us-east-1")
    raw = b"From: renewals@northwind.example\r\nTo: baseline@customer.example\r\nSubject: x\r\n\r\nbaseline"
    started = time.perf_counter()
    for _ in range(sends):
        client.send_email(FromEmailAddress="renewals@northwind.example", Content={"Raw": {"Data": raw}})
    return sends / (time.perf_counter() - started)


def send_figures(*, reminders: int = 500, rate: float = 50.0, workers: int = 2, timeout: float = 600) -> dict[str, Any]:
    for name, value in AWS_ENV.items():
        os.environ.setdefault(name, value)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="renewals-bench-send-")))
        moto_url = stack.enter_context(moto_server())
        proxy_url = stack.enter_context(rate_enforcing_ses(moto_url, rate))
        redis_url = stack.enter_context(RestartableRedis(work)).url
        processes: list[subprocess.Popen[bytes]] = []
        stack.callback(stop_processes, processes)  # the workers first, before the servers they use

        verify_brand_senders(moto_url)
        baseline = _baseline_rate(moto_url, 200)
        requests.post(f"{moto_url}/moto-api/reset", timeout=10)
        verify_brand_senders(moto_url)

        database_url = f"sqlite:///{work / 'renewals.db'}"
        migrate.upgrade(database_url)
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        sessions = sessionmaker(engine, expire_on_commit=False)
        seed_due_reminders(sessions, reminders, utcnow().date())
        env = renewals_env(
            {
                "RENEWALS_SECRET_KEYS": secrets.token_urlsafe(32),
                "RENEWALS_DATABASE_URL": database_url,
                "RENEWALS_REDIS_URL": redis_url,
                "RENEWALS_SES_ENDPOINT_URL": proxy_url,
                "RENEWALS_SES_MAX_SEND_RATE": str(rate),
                "RENEWALS_SES_DAILY_QUOTA": "1000000",
                "RENEWALS_LOG_LEVEL": "WARNING",
                "RENEWALS_PUBLIC_BASE_URL": "https://renewals.example",
            }
        )
        for _ in range(workers):
            processes.append(start_renewals(["worker", "--queue", EMAIL], env, work / "workers.log"))
        redis = Redis.from_url(redis_url)
        stack.callback(redis.close)
        queue = get_queue(EMAIL, redis)
        # moto keeps every message in this process's memory, and a full pass of Python's collector over that
        # heap stalls the fake SES (proxy and moto alike) for 100-200 ms: requests queue meanwhile and then
        # arrive together, closer than they left, which SES on its own machines would never do (measured: up
        # to 225 ms between a request's dispatch and its arrival at the proxy; 1.7 ms at the median). The
        # collector stays off here for the measured run; the workers, the product, keep theirs.
        gc.freeze()
        gc.disable()
        stack.callback(gc.enable)
        fan_out = queue.enqueue_call("jobs.email.send_due_job", result_ttl=3600)
        expected = 2 * reminders
        deadline = time.monotonic() + timeout
        fan_outs = [fan_out]
        idle_checks = 0  # consecutive checks that found no batch queued or running (one can be between the two)
        while time.monotonic() < deadline:
            with sessions() as session:
                done = session.scalar(
                    select(func.count()).where(models.EmailMessage.status.not_in(("queued", "sending")))
                )
            if done == expected:
                break
            idle = queue.count == 0 and not queue.started_job_registry.get_job_ids() and fan_outs[-1].is_finished
            idle_checks = idle_checks + 1 if idle else 0
            if idle_checks >= 3:
                # Every batch ran and some emails are still queued (SES or its quota read said "not sent"):
                # the scheduler's next send job would fan them out again; here that is now, not in 5 minutes.
                fan_outs.append(queue.enqueue_call("jobs.email.send_due_job", result_ttl=3600))
                idle_checks = 0
            time.sleep(0.5)
        batch_results = [
            job.return_value() or {}
            for job in Job.fetch_many(queue.finished_job_registry.get_job_ids(), connection=redis)
            if job is not None and job.func_name == "jobs.email.send_batch_job"
        ]
        with sessions() as session:
            sent_at = sorted(t for t in session.scalars(select(models.EmailMessage.sent_at)) if t is not None)
            by_status = dict(
                session.execute(
                    select(models.EmailMessage.status, func.count()).group_by(models.EmailMessage.status)
                ).all()
            )
        data = requests.get(f"{moto_url}/moto-api/data.json", timeout=30).json()
        headers = Counter(
            str(message_from_string(raw["raw_data"])["X-Renewals-Email"])
            for raw in data.get("ses", {}).get("RawMessage", [])
        )
        span = (sent_at[-1] - sent_at[0]).total_seconds() if len(sent_at) > 1 else 0.0
        achieved = (len(sent_at) - 1) / span if span else 0.0
        return {
            "emails": expected,
            "workers": workers,
            "sent": len(sent_at),
            "statuses": by_status,
            "seconds": round(span, 2),
            "allowed_rate": rate,
            "achieved_rate": round(achieved, 2),
            "ratio_vs_allowed": round(achieved / rate, 3),
            # The longest pauses between two sends (seconds): where the rate went when the ratio falls short.
            "longest_gaps_s": sorted(round((b - a).total_seconds(), 3) for a, b in pairwise(sent_at))[-5:],
            "throttle_errors": int(requests.get(proxy_url + THROTTLED_PATH, timeout=10).text),
            "duplicates": sum(count - 1 for count in headers.values() if count > 1),
            "batch_size": (fan_out.return_value() or {}).get("batch_size"),
            "fan_outs": len(fan_outs),
            "requeued": sum(int(result.get("requeued", 0)) for result in batch_results),
            "deferred": sum(int(result.get("deferred", 0)) for result in batch_results),
            "baseline_unlimited_rate": round(baseline, 1),
        }
