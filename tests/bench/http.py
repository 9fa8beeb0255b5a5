"""`renewals bench http`: the open pixel and the Renew confirmation page under the product's gunicorn set-up
(`renewals web`'s, two workers), beside a trivial endpoint of the same app, served by the same server in the same
run.

The web process runs against a temporary SQLite store seeded with contracts and one sent reminder each,
and a temporary Redis (rate limits). The server is `tests.bench.http_server`: `renewals web`'s gunicorn
configuration serving the web app with one route added, the trivial endpoint `GET /_bench/trivial` (an empty 200
through the same app, hooks and headers included); the product itself has no such route.
Requests come from a thread pool of keep-alive `requests` sessions, each endpoint in turn,
after a warm-up, with a desktop browser's user agent an hour after the emails were sent, so the pixel's
opens are a person's (the raw hit appended and a push asked for; the events and Tasks are the push's drain,
not measured here) rather than a machine's. Each request
claims its own client address through `X-Forwarded-For` (one proxy hop configured), and the requests
spread over the emails, as real opens do, so neither per-address nor per-email rate limits trip.

Printed: per endpoint the requests per second, p50/p99 latency in ms and the answers by status, and
`ratio_pixel` / `ratio_confirm`: the endpoint's requests per second divided by the trivial one's. The
confirmation page (`GET /a/renew/<token>`) is measured when it answers 200, else reported as null.

Then two measurements of pages under pressure:

- **During a pull** (`page_p95_during_pull_s`): a full pull of a seeded stand-in Salesforce CPQ org
  (`--pull-contracts`, seeded once under `var/bench/`) writes into the same store, through the product's
  `Puller`, while one client asks for confirmation pages one after another (and `/healthz` every tenth
  request); the pages' p95 latency in seconds and the answers by status (a page waiting out a writer shows as a
  long latency or a 500; `/healthz` as a 503).
- **With slow clients** (`requests_served_with_slow_clients`): `SLOW_CLIENTS` connections each send a request one
  byte at a time (`SLOW_BYTE_SECONDS` apart) and hold their connections, while the usual clients ask for
  confirmation pages for `SLOW_WINDOW_SECONDS`: the requests answered 200 in that window and their p95 latency.
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
import yaml
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from config.settings import load_settings
from email_actions.mail.links import Links
from mappings.model import Mapping
from sync_service.pull.run import Puller
from sync_service.salesforce.budget import Budget
from sync_service.salesforce.transport import meter_of
from sync_service.store import migrate, models
from sync_service.store.db import make_engine
from sync_service.store.models import utcnow
from tests.bench.devorg import start_seeded_org
from tests.bench.http_server import TRIVIAL_PATH
from tests.bench.send import seed_due_reminders
from tests.factories import make_email
from tests.paths import SALESFORCE_CPQ_PRESET
from tests.processes import (
    RestartableRedis,
    answers_http,
    free_port,
    renewals_env,
    stop_process,
    stop_processes,
    wait_until,
)

CHECKOUT = Path(__file__).resolve().parents[2]  # the directory holding the `tests` package
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
# Apple Mail Privacy Protection's agent: the pixel's machine path (event only, no Task).
APPLE_MPP = "Mozilla/5.0"
WEB_WORKERS = 2


ROUNDS = 5
SLOW_CLIENTS = 4
SLOW_BYTE_SECONDS = 0.5
SLOW_WINDOW_SECONDS = 10.0
PULL_CONTRACTS = 3000


def http_figures(
    *,
    requests_per_endpoint: int = 2000,
    concurrency: int = 4,
    emails: int = 500,
    pull_contracts: int = PULL_CONTRACTS,
) -> dict[str, Any]:
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="renewals-bench-http-")))
        redis_url = stack.enter_context(RestartableRedis(work)).url
        processes: list[subprocess.Popen[bytes]] = []
        stack.callback(stop_processes, processes, 15)
        database_url = f"sqlite:///{work / 'renewals.db'}"
        migrate.upgrade(database_url)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = renewals_env(
            {
                "RENEWALS_SECRET_KEYS": secrets.token_urlsafe(32),
                "RENEWALS_DATABASE_URL": database_url,
                "RENEWALS_REDIS_URL": redis_url,
                "RENEWALS_PUBLIC_BASE_URL": base_url,
                "RENEWALS_WEB_HOST": "127.0.0.1",
                "RENEWALS_WEB_PORT": str(port),
                "RENEWALS_WEB_WORKERS": str(WEB_WORKERS),
                "RENEWALS_WEB_PROXY_HOPS": "1",
                "RENEWALS_LOG_LEVEL": "WARNING",
                # The server (tests.bench.http_server) lives in the checkout, which no installed package carries.
                "PYTHONPATH": os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")])),
            }
        )
        links = Links(load_settings(env))
        pixels, confirms = _seed_emails(database_url, links, emails)
        processes.append(start_bench_web(env, work / "web.log", base_url + TRIVIAL_PATH))

        count = requests_per_endpoint
        endpoints: dict[str, tuple[Callable[[int], str], str]] = {
            "trivial": (lambda n: base_url + TRIVIAL_PATH, BROWSER),
            "pixel": (lambda n: pixels[n % len(pixels)], BROWSER),
            "pixel_machine": (lambda n: pixels[n % len(pixels)], APPLE_MPP),
        }
        with requests.get(confirms[0], headers=_headers(0), timeout=30) as probe:
            if probe.status_code == 200:
                endpoints["confirm"] = (lambda n: confirms[n % len(confirms)], BROWSER)
        measured = _measure_in_rounds(endpoints, count, concurrency)
        trivial, pixel, pixel_machine = measured["trivial"], measured["pixel"], measured["pixel_machine"]
        confirm = measured.get("confirm")
        slow = _with_slow_clients(port, lambda n: confirms[n % len(confirms)], concurrency)
        during_pull = _during_pull(database_url, base_url, confirms, pull_contracts)
        return {
            "requests_per_endpoint": count,
            "concurrency": concurrency,
            "web_workers": WEB_WORKERS,
            "emails": emails,
            "trivial": trivial,
            "pixel": pixel,
            "pixel_machine": pixel_machine,
            "confirm": confirm,
            "ratio_pixel": _ratio(pixel, trivial),
            "ratio_pixel_machine": _ratio(pixel_machine, trivial),
            "ratio_confirm": _ratio(confirm, trivial) if confirm else None,
            "page_p95_during_pull_s": during_pull["p95_s"],
            "during_pull": during_pull,
            "requests_served_with_slow_clients": slow["served"],
            "with_slow_clients": slow,
        }


def _during_pull(database_url: str, base_url: str, confirms: list[str], contracts: int) -> dict[str, Any]:
    """Confirmation pages (and `/healthz`) asked for one after another while a full pull writes the store."""
    mapping = Mapping.model_validate(yaml.safe_load(SALESFORCE_CPQ_PRESET.read_text()))
    with start_seeded_org(CHECKOUT / "var" / "bench" / f"devorg-http-{contracts}", contracts) as org:
        engine = make_engine(database_url, sqlite_immediate=True)  # as the worker's pull job has it
        sessions = sessionmaker(engine, expire_on_commit=False)
        sf = org.salesforce(timeout=300)
        budget = Budget(daily_budget=10**9, reserve=0)
        puller = Puller(sessions, sf, meter_of(sf.session), mapping, budget, overlap=timedelta(0))
        outcome: dict[str, Any] = {}

        def pull() -> None:
            started = time.perf_counter()
            outcome["status"] = puller.pull(full=True).status
            outcome["seconds"] = round(time.perf_counter() - started, 2)

        pulling = threading.Thread(target=pull)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        health: Counter[int] = Counter()
        with requests.Session() as client:
            pulling.start()
            n = 0
            while pulling.is_alive():
                if n % 10 == 9:
                    with client.get(base_url + "/healthz", timeout=60) as response:
                        health[response.status_code] += 1
                started = time.perf_counter()
                with client.get(confirms[n % len(confirms)], headers=_headers(n), timeout=60) as response:
                    response.content  # noqa: B018
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] += 1
                n += 1
            pulling.join()
        engine.dispose()
    latencies.sort()
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[18] if len(latencies) > 1 else None
    return {
        "pull_contracts": contracts,
        "pull_status": outcome.get("status"),
        "pull_seconds": outcome.get("seconds"),
        "pages": len(latencies),
        "p95_s": round(p95, 3) if p95 is not None else None,
        "max_s": round(latencies[-1], 3) if latencies else None,
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "healthz_statuses": {str(status): n for status, n in sorted(health.items())},
    }


def _with_slow_clients(port: int, url_of: Callable[[int], str], concurrency: int) -> dict[str, Any]:
    """Pages asked for by `concurrency` clients while SLOW_CLIENTS connections trickle their requests in."""
    stop = threading.Event()
    request = f"GET {TRIVIAL_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\n" + "X-Pad: x\r\n" * 200

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
            for byte in request.encode():
                if stop.wait(SLOW_BYTE_SECONDS):
                    return
                connection.sendall(bytes([byte]))

    slow = [threading.Thread(target=trickle) for _ in range(SLOW_CLIENTS)]
    for thread in slow:
        thread.start()
    time.sleep(2 * SLOW_BYTE_SECONDS)  # every slow client connected and sending
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + SLOW_WINDOW_SECONDS

    def client(offset: int) -> None:
        with requests.Session() as session:
            n = offset
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    with session.get(url_of(n), headers=_headers(n), timeout=SLOW_WINDOW_SECONDS) as response:
                        response.content  # noqa: B018
                        status = response.status_code
                except requests.RequestException:
                    status = 0  # no answer within the window
                with lock:
                    latencies.append(time.perf_counter() - started)
                    statuses[status] += 1
                n += concurrency

    try:
        clients = [threading.Thread(target=client, args=(offset,)) for offset in range(concurrency)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
    finally:
        stop.set()
        for thread in slow:
            thread.join()
    latencies.sort()
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[18] if len(latencies) > 1 else None
    return {
        "slow_clients": SLOW_CLIENTS,
        "window_s": SLOW_WINDOW_SECONDS,
        "served": statuses.get(200, 0),
        "p95_s": round(p95, 3) if p95 is not None else None,
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
    }


def _seed_emails(database_url: str, links: Links, emails: int) -> tuple[list[str], list[str]]:
    """Contracts with a quote (the send benchmark's), each with a reminder sent an hour ago; their links."""
    engine = make_engine(database_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    seed_due_reminders(sessions, emails, utcnow().date())
    sent_at = utcnow() - timedelta(hours=1)
    pixels, confirms = [], []
    with sessions.begin() as session:
        for reminder in session.scalars(select(models.Reminder).order_by(models.Reminder.id)):
            message = make_email(session, reminder.contract, reminder=reminder, sent_at=sent_at)
            pixels.append(links.url("open", message.id, message.nonce))
            confirms.append(links.url("renew", message.id, message.nonce))
    engine.dispose()
    return pixels, confirms


def _headers(n: int, agent: str = BROWSER) -> dict[str, str]:
    # A distinct client address per request (10.0.0.0/8), read through the one configured proxy hop.
    return {"User-Agent": agent, "X-Forwarded-For": f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"}


def _ratio(figures: dict[str, Any], trivial: dict[str, Any]) -> float:
    return round(figures["rps"] / trivial["rps"], 3)


def _measure_in_rounds(
    endpoints: dict[str, tuple[Callable[[int], str], str]], count: int, concurrency: int
) -> dict[str, dict[str, Any]]:
    """`count` GETs of each endpoint (url of the request's number, user agent) over `concurrency` keep-alive
    sessions, in ROUNDS rounds that take the endpoints in turn, so that a machine whose load drifts during the
    run weighs on every endpoint alike; after a warm-up of a tenth as many each."""
    latencies: dict[str, list[float]] = {name: [] for name in endpoints}
    statuses: dict[str, Counter[int]] = {name: Counter() for name in endpoints}
    elapsed = dict.fromkeys(endpoints, 0.0)
    per_round = max(count // ROUNDS, 1)
    warm = max(count // 10, concurrency)
    clients = Clients()
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            for url_of, agent in endpoints.values():
                clients.run(pool, url_of, range(count * 2, count * 2 + warm), agent)
            for round_number in range(ROUNDS):
                numbers = range(round_number * per_round, (round_number + 1) * per_round)
                for name, (url_of, agent) in endpoints.items():
                    seconds, results = clients.run(pool, url_of, numbers, agent)
                    elapsed[name] += seconds
                    latencies[name].extend(latency for latency, _ in results)
                    statuses[name].update(status for _, status in results)
    finally:
        clients.close()
    figures = {}
    for name in endpoints:
        ordered = sorted(latencies[name])
        percentiles = statistics.quantiles(ordered, n=100, method="inclusive")
        figures[name] = {
            "rps": round(len(ordered) / elapsed[name], 1),
            "p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(percentiles[98] * 1000, 2),
            "statuses": {str(status): n for status, n in sorted(statuses[name].items())},
        }
    return figures


class Clients:
    """One keep-alive `requests` session per pool thread, kept across runs."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.sessions: list[requests.Session] = []
        self.lock = threading.Lock()

    def run(
        self, pool: ThreadPoolExecutor, url_of: Callable[[int], str], numbers: range, agent: str
    ) -> tuple[float, list[tuple[float, int]]]:
        """GET each numbered request on the pool's threads: (seconds, [(latency, status)])."""

        def one(n: int) -> tuple[float, int]:
            session = getattr(self.local, "session", None)
            if session is None:
                session = self.local.session = requests.Session()
                with self.lock:
                    self.sessions.append(session)
            started = time.perf_counter()
            with session.get(url_of(n), headers=_headers(n, agent), timeout=60) as response:
                response.content  # noqa: B018  (read the body: it is part of the request's time)
            return time.perf_counter() - started, response.status_code

        started = time.perf_counter()
        results = list(pool.map(one, numbers))
        return time.perf_counter() - started, results

    def close(self) -> None:
        for session in self.sessions:
            session.close()


def start_bench_web(env: dict[str, str], log: Path, ready_url: str) -> subprocess.Popen[bytes]:
    """The web app under the product's gunicorn set-up with the trivial route (tests.bench.http_server), once
    `ready_url` answers."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.http_server"],
            env=env,
            cwd=CHECKOUT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(answers_http(ready_url), f"the bench's web app at {ready_url}", process=process, timeout=60)
    except RuntimeError:
        stop_process(process)
        raise
    return process
