"""`renewals bench scale`: the push and the send on 1, 2 and 4 `renewals worker` processes sharing one PostgreSQL
store and one Redis, against a stand-in org and an SES that answer each call after an added latency (50 ms by
default; the SES one may differ), so that waiting on the remote end bounds one worker. Per worker count: seconds
from the queued job to the last row settled, items per second, the ratio to one worker, what arrived twice or not
at all (target: 4 workers at least 3 times one worker, 0 duplicates), and the CPU seconds the workers, the org and
this process (moto, the SES proxy) used meanwhile, with the machine's load average. Those say when the cores, not
the latency, bound a run: the org, PostgreSQL, moto and every worker share this machine's cores, where in
production the org and SES compute on their own.

Push: `tasks` Task events are recorded in the outbox, then one push job is queued as the scheduler's sweep
queues it; the product's push fans a backlog out over the idle workers (jobs/push.py), each push claiming its
own batches. Duplicates are Tasks the org holds more than once for one key (the key ends the Subject).

Send: `reminders` due reminders (two emails each, the customer's and the rep's) and one send job, which fans
out batches of emails over the email queue (jobs/email.py). SES is moto's server behind the send bench's
rate-enforcing proxy, with the allowed rate set far above what the latency lets through, and a delay in front
of every SendEmail. Duplicates are emails moto received more than once (by the header naming each email row).

Each worker count gets a fresh database (a copy of one migrated at the start) and an emptied Redis; the org,
moto and Redis serve every run. The store is PostgreSQL: the shared engine is the point. Its server comes
from --database-url (a database on it the bench may create databases beside) or from the PG* variables that
`pg_virtualenv` sets (`pg_virtualenv -- .venv/bin/renewals bench scale`); SQLite is refused.
"""

from __future__ import annotations

import logging
import os
import resource
import secrets
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_string
from pathlib import Path
from typing import Any

import requests
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from jobs.base import get_queue
from jobs.queues import EMAIL, PUSH
from mappings.loader import load
from mappings.model import TaskConventions
from sync_service.outbox.record import event_key, record_task
from sync_service.store import migrate, models
from sync_service.store.db import make_engine
from sync_service.store.mapping_versions import activate, import_preset
from sync_service.store.models import utcnow
from tests.bench.devorg import start_seeded_org
from tests.bench.send import AWS_ENV, SEND_PATH, RateEnforcingSes, seed_due_reminders
from tests.processes import (
    RestartableRedis,
    children,
    moto_server,
    pg_env_missing,
    pg_env_url,
    renewals_env,
    serve_wsgi,
    start_renewals,
    stop_process,
    verify_brand_senders,
    wait_until,
)
from tests.standin_org import RunningOrg

WORKER_COUNTS = (1, 2, 4)
# A backlog of 100 batches of 200: long enough that the figure is throughput, not each push's start (a fork, a
# sign-in, a describe), which a backlog of a few batches would mostly measure.
DEFAULT_TASKS = 20_000
LATENCY_MS = 50.0
# Contracts in the org the Tasks hang on.
ORG_CONTRACTS = 200
# Far above what the workers reach through the latency: the rate limiter must not be what bounds them.
SEND_RATE = 2000.0
DRAIN_TIMEOUT = 900.0

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    del message


# --- PostgreSQL ---------------------------------------------------------------------------------------------


def server_url(database_url: str | None) -> URL:
    """The PostgreSQL database the bench connects to to create its own: `database_url`, else pg_virtualenv's."""
    if database_url is None:
        missing = pg_env_missing()
        if missing:
            raise RuntimeError(
                f"no PostgreSQL: pass --database-url, or run under pg_virtualenv ({', '.join(missing)} unset), "
                "e.g. `pg_virtualenv -- .venv/bin/renewals bench scale`"
            )
        return pg_env_url()
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise RuntimeError(f"the scale bench needs PostgreSQL (a store several processes share), not {url.drivername}")
    return url


@dataclass
class Stores:
    """Fresh migrated databases on one PostgreSQL server: copies of a template migrated once, all dropped at
    the end."""

    server: URL
    made: list[str] = field(default_factory=list)
    template: str | None = None

    def _execute(self, statement: str) -> None:
        admin = make_engine(self.server.render_as_string(hide_password=False))
        try:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text(statement))
        finally:
            admin.dispose()

    def _url(self, name: str) -> str:
        return self.server.set(database=name).render_as_string(hide_password=False)

    def fresh(self) -> str:
        if self.template is None:
            template = f"renewals_bench_scale_{uuid.uuid4().hex[:10]}"
            self._execute(f'CREATE DATABASE "{template}"')
            self.made.append(template)
            migrate.upgrade(self._url(template))
            self.template = template
        name = f"renewals_bench_scale_{uuid.uuid4().hex[:10]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.made.append(name)
        return self._url(name)

    def drop_all(self) -> None:
        for name in reversed(self.made):
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.clear()


# --- SES with latency ---------------------------------------------------------------------------------------


class DistantSes:
    """A WSGI app in front of the rate-enforcing SES proxy: every SendEmail waits `seconds` first, as a call to
    an SES region does (the werkzeug server is threaded, so calls wait side by side)."""

    def __init__(self, app: RateEnforcingSes, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == SEND_PATH and self.seconds:
            time.sleep(self.seconds)
        return self.app(environ, start_response)


# --- one run ------------------------------------------------------------------------------------------------


@dataclass
class Shared:
    """What every run uses: the org, SES, Redis, the stores, and the environment of the workers."""

    work: Path
    org: RunningOrg
    moto_url: str
    ses_url: str
    redis_url: str
    stores: Stores
    progress: Progress


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) a process and its descendants have used so far, ended ones included: its
    own, its ended children's (which the kernel adds to it once reaped) and its live children's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: utime, stime, cutime and cstime are the 12th to the 15th fields.
    ticks = sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK") + sum(cpu_seconds(child) for child, _ in children(pid))


@dataclass
class Running:
    """The workers of one run, on an emptied Redis."""

    redis: Redis
    queue: Queue
    processes: list[subprocess.Popen[bytes]]

    def cpu(self) -> float:
        return sum(cpu_seconds(process.pid) for process in self.processes)

    def horses(self) -> int:
        """Work horses alive or not yet reaped (RQ puts each in a process group of its own)."""
        return sum(1 for process in self.processes for pid, group in children(process.pid) if pid == group)

    def wait_idle(self) -> None:
        """Until no job is queued or running (a push may record its run after its last row is settled) and every
        work horse is reaped, so that its CPU time is in its worker's and counted once."""
        started = StartedJobRegistry(queue=self.queue)
        wait_until(
            lambda: self.queue.count == 0 and started.count == 0 and not self.horses(), "idle workers", timeout=120
        )


@contextmanager
def _workers(shared: Shared, count: int, queue: str, env: dict[str, str]) -> Iterator[Running]:
    """`count` workers on `queue`, returned once all are registered in Redis (their start is not timed)."""
    redis = Redis.from_url(shared.redis_url)
    redis.flushall()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            processes.append(start_renewals(["worker", "--queue", queue], env, shared.work / f"{queue}-workers.log"))
        rq_queue = get_queue(queue, redis)
        wait_until(lambda: Worker.count(queue=rq_queue) == count, f"{count} workers on {queue}", timeout=120)
        yield Running(redis, rq_queue, processes)
    finally:
        # Side by side: each worker's warm shutdown takes a second or more, and they wait on nothing of each other.
        with ThreadPoolExecutor(max_workers=max(1, len(processes))) as pool:
            list(pool.map(stop_process, processes))
        redis.close()


def _environment(shared: Shared, database_url: str, extra: dict[str, str]) -> dict[str, str]:
    return renewals_env(
        {
            "RENEWALS_SECRET_KEYS": secrets.token_urlsafe(32),
            "RENEWALS_DATABASE_URL": database_url,
            "RENEWALS_REDIS_URL": shared.redis_url,
            "RENEWALS_PUBLIC_BASE_URL": "https://renewals.example",
            "RENEWALS_LOG_LEVEL": "WARNING",
            **extra,
        }
    )


def _wait_settled(sessions: sessionmaker[Session], settled: Callable[[Session], bool], what: str) -> None:
    def done() -> bool:
        with sessions() as session:
            return settled(session)

    wait_until(done, what, timeout=DRAIN_TIMEOUT)


@dataclass
class Clocks:
    """Wall time and the CPU time of the workers, the org and this process (moto and the SES proxy) during a run."""

    running: Running
    org_pid: int | None
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        return {
            "workers": self.running.cpu(),
            "org": cpu_seconds(self.org_pid) if self.org_pid else 0.0,
            "bench": resource.getrusage(resource.RUSAGE_SELF).ru_utime
            + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
        }

    def start(self) -> None:
        self.cpu = self._now()
        self.wall = time.perf_counter()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self.wall
        self.running.wait_idle()
        self.cpu = {name: seconds - self.cpu[name] for name, seconds in self._now().items()}


def _figures(items: int, clocks: Clocks, duplicates: int, missing: int, **more: Any) -> dict[str, Any]:
    seconds = clocks.wall
    return {
        "seconds": round(seconds, 2),
        "per_second": round(items / seconds, 1) if seconds else 0.0,
        "duplicates": duplicates,
        "missing": missing,
        # CPU seconds used meanwhile, beside the cores there are: when their sum nears cores x seconds, the machine,
        # not the latency, bounds the run.
        "cpu_seconds": {name: round(value, 2) for name, value in clocks.cpu.items()},
        # The machine's 1-minute load average at the end: other processes' share of the cores (benches on a
        # shared machine compete with whatever else runs there).
        "load_average": round(os.getloadavg()[0], 2),
        **more,
    }


def push_run(shared: Shared, workers: int, tasks: int, what_ids: list[str]) -> dict[str, Any]:
    """`tasks` Tasks recorded, one push job queued, `workers` workers: the time until every row is settled."""
    database_url = shared.stores.fresh()
    engine = make_engine(database_url)
    try:
        sessions = sessionmaker(engine, expire_on_commit=False)
        run = uuid.uuid4().hex[:8]
        with sessions.begin() as session:
            version = import_preset(session, "salesforce_cpq", author="bench")
            activate(session, version.name, version.version, [])
            conventions = load(version.yaml).write_back.tasks
        keys = _record_tasks(sessions, tasks, what_ids, conventions, run)
        env = _environment(shared, database_url, shared.org.salesforce_env())
        with _workers(shared, workers, PUSH, env) as running:
            clocks = Clocks(running, shared.org.process.pid)
            clocks.start()
            queued_at = datetime.now(UTC)
            job = running.queue.enqueue_call("jobs.push.push_job")
            _wait_settled(
                sessions,
                lambda s: (
                    not s.scalar(
                        select(func.count()).select_from(models.OutboxItem).where(models.OutboxItem.status == "pending")
                    )
                ),
                f"the push of {tasks} Tasks on {workers} workers",
            )
            clocks.stop()
            helpers = _result(job).get("helpers")
        with sessions() as session:
            statuses = dict(
                session.execute(select(models.OutboxItem.status, func.count()).group_by(models.OutboxItem.status)).all()
            )
            runs = session.execute(
                select(
                    models.SyncRun.started_at, models.SyncRun.finished_at, models.SyncRun.rows, models.SyncRun.api_calls
                )
                .where(models.SyncRun.kind == "push")
                .order_by(models.SyncRun.started_at)
            ).all()
    finally:
        engine.dispose()
    found = _tasks_in_org(shared.org, keys)
    return _figures(
        tasks,
        clocks,
        duplicates=sum(n - 1 for n in found.values() if n > 1),
        missing=len(keys - set(found)),
        statuses={str(k): int(v) for k, v in statuses.items()},
        helpers_queued=helpers,
        pushes_with_work=len(runs),
        # Each push: seconds from the queued job to its start (signed in after it) and to its end, rows, calls.
        pushes=[
            {
                "started_s": round((started - queued_at).total_seconds(), 2),
                "finished_s": round((finished - queued_at).total_seconds(), 2) if finished else None,
                "done": rows.get("done"),
                "api_calls": calls,
            }
            for started, finished, rows, calls in runs
        ],
    )


def _result(job: Job) -> dict[str, Any]:
    """The job's return value once it has finished (it may still be recording its run after the last row)."""
    wait_until(lambda: job.get_status(refresh=True) in ("finished", "failed"), f"job {job.id}", timeout=60)
    value = job.return_value()
    return value if isinstance(value, dict) else {}


def _record_tasks(
    sessions: sessionmaker[Session], tasks: int, what_ids: list[str], conventions: TaskConventions, run: str
) -> set[str]:
    keys: set[str] = set()
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for n in range(tasks):
            key = event_key("scale", run, n)
            keys.add(key)
            record_task(
                session,
                key=key,
                what_id=what_ids[n % len(what_ids)],
                who_id=None,
                owner_id=None,
                subject="Renewal email opened",
                description=f"Email {n}: opened.",
                event_at=now,
                conventions=conventions,
            )
    return keys


def _tasks_in_org(org: RunningOrg, keys: set[str]) -> Counter[str]:
    """How many Tasks the org holds for each of `keys` (the Subject ends with `[key]`)."""
    sf = org.salesforce(timeout=300)
    found: Counter[str] = Counter()
    for record in sf.query_all_iter("SELECT Subject FROM Task WHERE Subject LIKE '%[rnw-%]'"):
        subject = str(record["Subject"])
        key = subject[subject.rindex("[") + 1 : -1]
        if key in keys:
            found[key] += 1
    return found


def send_run(shared: Shared, workers: int, reminders: int) -> dict[str, Any]:
    """`reminders` due reminders, one send job queued, `workers` workers: the time until every email is settled."""
    requests.post(f"{shared.moto_url}/moto-api/reset", timeout=30)
    verify_brand_senders(shared.moto_url)
    database_url = shared.stores.fresh()
    engine = make_engine(database_url)
    try:
        sessions = sessionmaker(engine, expire_on_commit=False)
        seed_due_reminders(sessions, reminders, utcnow().date())
        env = _environment(
            shared,
            database_url,
            {
                "RENEWALS_SES_ENDPOINT_URL": shared.ses_url,
                "RENEWALS_SES_MAX_SEND_RATE": str(SEND_RATE),
                "RENEWALS_SES_DAILY_QUOTA": "1000000",
            },
        )
        emails = 2 * reminders
        with _workers(shared, workers, EMAIL, env) as running:
            clocks = Clocks(running, None)
            clocks.start()
            running.queue.enqueue_call("jobs.email.send_due_job")
            _wait_settled(
                sessions,
                lambda s: (
                    s.scalar(select(func.count()).where(models.EmailMessage.status.not_in(("queued", "sending"))))
                    == emails
                ),
                f"the send of {emails} emails on {workers} workers",
            )
            clocks.stop()
        with sessions() as session:
            statuses = dict(
                session.execute(
                    select(models.EmailMessage.status, func.count()).group_by(models.EmailMessage.status)
                ).all()
            )
            sent_at = sorted(t for t in session.scalars(select(models.EmailMessage.sent_at)) if t is not None)
    finally:
        engine.dispose()
    received = _emails_at_ses(shared.moto_url)
    # The send job queues every email before the first batch goes: the span from the first email sent to the
    # last is the part the workers share.
    span = (sent_at[-1] - sent_at[0]).total_seconds() if len(sent_at) > 1 else 0.0
    return _figures(
        emails,
        clocks,
        duplicates=sum(n - 1 for n in received.values() if n > 1),
        missing=emails - len(received),
        statuses={str(k): int(v) for k, v in statuses.items()},
        first_to_last_sent_seconds=round(span, 2),
        sent_per_second_in_that_span=round((len(sent_at) - 1) / span, 1) if span else 0.0,
    )


def _emails_at_ses(moto_url: str) -> Counter[str]:
    """How many times moto received each email row (the X-Renewals-Email header names it)."""
    data = requests.get(f"{moto_url}/moto-api/data.json", timeout=60).json()
    return Counter(
        str(message_from_string(raw["raw_data"])["X-Renewals-Email"])
        for raw in data.get("ses", {}).get("RawMessage", [])
    )


# --- the bench ----------------------------------------------------------------------------------------------


def _with_ratios(runs: dict[int, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    first = runs[min(runs)]["per_second"]
    return {
        f"workers_{count}": {**figures, "ratio_vs_1": round(figures["per_second"] / first, 2) if first else None}
        for count, figures in sorted(runs.items())
    }


def scale_figures(
    *,
    workers: Sequence[int] = WORKER_COUNTS,
    tasks: int = DEFAULT_TASKS,
    reminders: int = 400,
    latency_ms: float = LATENCY_MS,
    ses_latency_ms: float | None = None,
    database_url: str | None = None,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    server = server_url(database_url)
    for name, value in AWS_ENV.items():
        os.environ.setdefault(name, value)
    with ExitStack() as stack:
        # werkzeug logs every request the SES proxy serves: thousands of lines between the figures.
        requests_log = logging.getLogger("werkzeug")
        stack.callback(requests_log.setLevel, requests_log.level)
        requests_log.setLevel(logging.WARNING)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="renewals-bench-scale-")))
        org = stack.enter_context(start_seeded_org(work / "org", ORG_CONTRACTS))
        moto_url = stack.enter_context(moto_server())
        ses_latency_ms = latency_ms if ses_latency_ms is None else ses_latency_ms
        ses = DistantSes(RateEnforcingSes(moto_url, SEND_RATE), ses_latency_ms / 1000)
        ses_url = stack.enter_context(serve_wsgi(ses))
        redis_url = stack.enter_context(RestartableRedis(work)).url
        stores = Stores(server)
        stack.callback(stores.drop_all)
        shared = Shared(work, org, moto_url, ses_url, redis_url, stores, progress)

        sf = org.salesforce(timeout=300)
        what_ids = [str(r["Id"]) for r in sf.query(f"SELECT Id FROM Contract LIMIT {ORG_CONTRACTS}")["records"]]
        org.faults(latency_ms=latency_ms)
        push: dict[int, dict[str, Any]] = {}
        for count in workers:
            progress(f"push: {tasks} Tasks on {count} worker(s)")
            push[count] = push_run(shared, count, tasks, what_ids)
        org.faults()
        send: dict[int, dict[str, Any]] = {}
        for count in workers:
            progress(f"send: {2 * reminders} emails on {count} worker(s)")
            send[count] = send_run(shared, count, reminders)
        throttled = ses.app.throttled
    return {
        "database": "postgresql",
        "cores": os.cpu_count(),
        "latency_ms": latency_ms,
        "ses_latency_ms": ses_latency_ms,
        "push_tasks": tasks,
        "push": _with_ratios(push),
        "send_emails": 2 * reminders,
        "send_allowed_rate": SEND_RATE,
        "send_throttle_errors": throttled,
        "send": _with_ratios(send),
    }


def pull_scale_figures(
    contracts: int, baseline: int, data_root: Path, database_url: str | None = None, progress: Progress = _quiet
) -> dict[str, Any]:
    """A full pull of `contracts` contracts on PostgreSQL beside one of `baseline` contracts (each org seeded in
    `data_root` on first use and reused): seconds per contract of each and their ratio (target: at most 1.3), and
    the large pull's peak memory (target: at most 400 MB)."""
    # Imported here: tests.bench.pull imports this module's PostgreSQL helpers.
    from tests.bench.pull import pull_scale

    progress(f"pull: {baseline} contracts")
    small = pull_scale(data_root / f"devorg-scale-{baseline}", baseline, database_url)
    progress(f"pull: {contracts} contracts")
    large = pull_scale(data_root / f"devorg-scale-{contracts}", contracts, database_url)
    ratio = (
        large["seconds_per_contract"] / small["seconds_per_contract"]
        if large["seconds_per_contract"] and small["seconds_per_contract"]
        else None
    )
    return {
        "pull_baseline": small,
        "pull": large,
        "pull_seconds_per_contract_ratio": round(ratio, 3) if ratio is not None else None,
        "pull_peak_rss_mb": large["peak_rss_mb"],
    }
