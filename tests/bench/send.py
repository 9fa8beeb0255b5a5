"""`renewals bench send`: real `renewals worker` processes send due reminders through boto3 into moto's SES
server, under the rate limit they share in Redis.

moto accepts any rate, so the SES in front of it here is a small proxy that behaves like SES at the
allowed rate: more than that many sends in any one-second window are answered `TooManyRequestsException`
(HTTP 429). `throttle_errors` counts those answers: zero means the shared limiter kept every worker
inside the rate. `duplicates` counts emails that reached SES more than once (by the header naming each
email row). The baseline beside it is one process sending the same kind of email straight through boto3
with no limiter, to show the limiter, not moto, is what sets the pace.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from datetime import date, timedelta
from decimal import Decimal
from email import message_from_string
from pathlib import Path
from typing import Any

import boto3
import requests
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from config.settings import DEFAULT_BRANDS_FILE
from email_actions.mail.brands import load_brands
from jobs.base import get_queue
from jobs.queues import EMAIL
from sync_service.store import migrate, models
from sync_service.store.db import make_engine
from sync_service.store.models import utcnow

SEND_PATH = "/v2/email/outbound-emails"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


class RateEnforcingSes:
    """A WSGI proxy to moto that throttles SendEmail above `rate` per sliding second, as SES does."""

    def __init__(self, upstream: str, rate: float) -> None:
        self.upstream = upstream
        self.rate = rate
        self.window: deque[float] = deque()
        self.throttled = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
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
        upstream = requests.request(
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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(app: Any) -> tuple[str, Any]:
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}", server


def start_redis(work: Path, processes: list[subprocess.Popen[Any]]) -> str:
    """A throwaway redis-server (no persistence) in `work`, appended to `processes`; its URL once it answers.
    The benchmarks' one way to start Redis."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server is not installed; `make demo` or `make test` installs it")
    port = _free_port()
    argv = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    processes.append(subprocess.Popen([*argv, "--dir", str(work)], stdout=subprocess.DEVNULL))
    url = f"redis://127.0.0.1:{port}/0"
    redis = Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    redis.close()
    return url


def stop_processes(processes: list[subprocess.Popen[Any]], timeout: float = 10) -> None:
    """Stop a benchmark's child processes, newest first, killing any that do not end within `timeout`."""
    for process in reversed(processes):
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def _seed(sessions: sessionmaker[Session], reminders: int, today: date) -> None:
    with sessions() as session:
        rep = models.Rep(sf_id="005BENCH0000000AAA", name="Bench Rep", email="rep@vendor.example")
        session.add(rep)
        for n in range(reminders):
            account = models.Account(sf_id=f"001B{n:011d}AAA", name=f"Customer {n}", currency="EUR")
            contact = models.Contact(
                sf_id=f"003B{n:011d}AAA", account=account, email=f"buyer{n}@customer.example", locale="de_DE"
            )
            contract = models.Contract(
                sf_id=f"800B{n:011d}AAA",
                number=f"{n:08d}",
                account=account,
                contact=contact,
                rep=rep,
                end_date=today + timedelta(days=30),
                status="Activated",
                amount=Decimal("1200.00"),
                currency="EUR",
            )
            quote = models.RenewalQuote(
                sf_id=f"a0QB{n:011d}AAA", contract=contract, number=f"Q-{n}", total=Decimal("1200.00"), currency="EUR"
            )
            quote.lines.append(
                models.QuoteLine(
                    sf_id=f"a0RB{n:011d}AAA",
                    product="Platform",
                    quantity=Decimal(1),
                    unit_price=Decimal("1200.00"),
                    net=Decimal("1200.00"),
                )
            )
            session.add_all([contract, quote])
            session.add(models.Reminder(contract=contract, offset_days=-30, due_on=today, segment="default"))
        session.commit()


def _baseline_rate(endpoint: str, sends: int) -> float:
    client = boto3.client("sesv2", endpoint_url=endpoint, region_name="us-east-1")
    raw = b"From: renewals@northwind.example\r\nTo: baseline@customer.example\r\nSubject: x\r\n\r\nbaseline"
    started = time.perf_counter()
    for _ in range(sends):
        client.send_email(FromEmailAddress="renewals@northwind.example", Content={"Raw": {"Data": raw}})
    return sends / (time.perf_counter() - started)


def send_figures(*, reminders: int = 500, rate: float = 50.0, workers: int = 2, timeout: float = 600) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    for name, value in AWS_ENV.items():
        os.environ.setdefault(name, value)
    work = Path(tempfile.mkdtemp(prefix="renewals-bench-send-"))
    processes: list[subprocess.Popen[bytes]] = []
    moto_port = _free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    moto_url = f"http://127.0.0.1:{moto_port}"
    proxy = RateEnforcingSes(moto_url, rate)
    proxy_url, proxy_server = _serve(proxy)
    try:
        redis_url = start_redis(work, processes)
        redis = Redis.from_url(redis_url)
        ses = boto3.client("ses", endpoint_url=moto_url, region_name="us-east-1")
        for brand in load_brands(DEFAULT_BRANDS_FILE).brands.values():
            ses.verify_email_identity(EmailAddress=brand.sender_address)
        baseline = _baseline_rate(moto_url, 200)
        requests.post(f"{moto_url}/moto-api/reset", timeout=10)
        for brand in load_brands(DEFAULT_BRANDS_FILE).brands.values():
            ses.verify_email_identity(EmailAddress=brand.sender_address)

        database_url = f"sqlite:///{work / 'renewals.db'}"
        migrate.upgrade(database_url)
        engine = make_engine(database_url)
        sessions = sessionmaker(engine, expire_on_commit=False)
        _seed(sessions, reminders, utcnow().date())
        env = {k: v for k, v in os.environ.items() if not k.startswith("RENEWALS_")}
        env.update(
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
        renewals = str(Path(sys.executable).with_name("renewals"))
        log = (work / "workers.log").open("ab")
        for _ in range(workers):
            processes.append(
                subprocess.Popen([renewals, "worker", "--queue", EMAIL], env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        get_queue(EMAIL, redis).enqueue_call("jobs.email.send_due_job")
        expected = 2 * reminders
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with sessions() as session:
                done = session.scalar(
                    select(func.count()).where(models.EmailMessage.status.not_in(("queued", "sending")))
                )
            if done == expected:
                break
            time.sleep(0.5)
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
        engine.dispose()
        return {
            "emails": expected,
            "workers": workers,
            "sent": len(sent_at),
            "statuses": by_status,
            "seconds": round(span, 2),
            "allowed_rate": rate,
            "achieved_rate": round(achieved, 2),
            "ratio_vs_allowed": round(achieved / rate, 3),
            "throttle_errors": proxy.throttled,
            "duplicates": sum(count - 1 for count in headers.values() if count > 1),
            "baseline_unlimited_rate": round(baseline, 1),
        }
    finally:
        stop_processes(processes)
        proxy_server.shutdown()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
