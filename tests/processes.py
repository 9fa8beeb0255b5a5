"""The processes tests and benchmarks run beside the code under test, each started and stopped one way: a
redis-server, moto's server (SES and SNS), `renewals worker` and `renewals web`, and WSGI apps (the web app, proxies)
served in a thread. The stand-in org's process is `tests/standin_org.py`, built on these helpers.

Ports are chosen free at start, by the operating system wherever the server can bind port 0 (the org, moto,
the WSGI apps); redis-server and gunicorn are given a port found free just before. A start returns once the
server answers, never after a fixed sleep, and a stop also ends the children a process leaves behind (an RQ
work horse, gunicorn's workers), so nothing outlives the test or benchmark that started it.

It must not import pytest: `renewals bench ...` uses it in a development install. Failures raise
RuntimeError with what to do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import URL
from werkzeug.serving import WSGIRequestHandler, make_server

from config.settings import DEFAULT_BRANDS_FILE
from email_actions.mail.brands import load_brands

POLL_SECONDS = 0.05
START_TIMEOUT = 30.0

# --- ports, commands, waiting -------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nothing listens on right now, for servers that cannot be told to pick one (and for
    addresses that must refuse connections)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def renewals_command() -> str:
    """The `renewals` console script of the running virtualenv."""
    return str(Path(sys.executable).with_name("renewals"))


def renewals_env(variables: dict[str, str]) -> dict[str, str]:
    """This process's environment without any RENEWALS_* variable of its own, plus `variables`: what a
    `renewals` child process is configured by."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RENEWALS_")}
    env.update(variables)
    return env


def wait_until(
    ready: Callable[[], bool],
    what: str,
    *,
    process: subprocess.Popen[Any] | None = None,
    timeout: float = START_TIMEOUT,
) -> None:
    """Poll `ready` until it is true; RuntimeError naming `what` if `process` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready within {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def answers_http(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with requests.get(url, timeout=10) as response:
                return response.status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False  # not listening yet, or a worker still importing the app

    return ready


# --- stopping a process and its children --------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ... (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its closing parenthesis.
    return stat.rsplit(")", 1)[1].split()


def _start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return None if fields is None else fields[19]  # field 22 of stat: when the process started


def children(pid: int) -> list[tuple[int, int]]:
    """The child processes of `pid`, as (pid, process group)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None and int(fields[1]) == pid:
            found.append((int(entry.name), int(fields[2])))
    return found


def _descendants(pid: int) -> list[tuple[int, str]]:
    """Every process below `pid`, as (pid, start time): the start time tells a survivor from a new process
    that reused its pid."""
    found: list[tuple[int, str]] = []
    pending = [pid]
    while pending:
        for child, _ in children(pending.pop()):
            started = _start_time(child)
            if started is not None:
                found.append((child, started))
                pending.append(child)
    return found


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = _stat(pid)
        if fields is None or fields[0] == "Z":
            return  # gone, or a zombie waiting for its parent: it runs nothing any more
        time.sleep(0.01)


def _kill_survivors(family: list[tuple[int, str]]) -> None:
    for pid, started in family:
        if _start_time(pid) == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM (SIGKILL if it has not ended within `timeout`), then SIGKILL whatever of its children is left."""
    family = _descendants(process.pid) if process.poll() is None else []
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    _kill_survivors(family)


def stop_processes(processes: list[subprocess.Popen[Any]], timeout: float = 10.0) -> None:
    """Stop processes newest first: a worker before the Redis and the org it talks to."""
    for process in reversed(processes):
        stop_process(process, timeout)


def kill_with_children(process: subprocess.Popen[Any]) -> int:
    """SIGKILL a process and its children at once, as a crash would; returns how many of the children led
    a process group of their own (RQ puts each work horse in one)."""
    direct = children(process.pid)
    family = _descendants(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    for pid, _ in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=10)
    for pid, _ in family:
        _wait_gone(pid)
    return sum(1 for pid, group in direct if pid == group)


# --- Redis --------------------------------------------------------------------------------------------------


class RestartableRedis:
    """A redis-server of its own (no persistence) on a free port, which `stop` and `start` again on the same
    port, as a Redis restart looks to its clients. Usable as a context manager."""

    def __init__(self, directory: Path):
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed; `make test` (or `make demo`) installs it")
        self.executable = executable
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        try:
            self._start()
        except RuntimeError:
            if self.started:
                raise  # a restart keeps its port: the clients know this one
            self.port = free_port()  # another process took the port between finding it and binding it
            self._start()
        self.started += 1

    def _start(self) -> None:
        argv = [self.executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen([*argv, "--dir", str(self.directory)], stdout=subprocess.DEVNULL)
        client = Redis(host="127.0.0.1", port=self.port)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except RedisConnectionError:
                return False

        try:
            wait_until(answers, f"redis-server on port {self.port}", process=self.process, timeout=10)
        except RuntimeError:
            stop_process(self.process)
            self.process = None
            raise
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def __enter__(self) -> RestartableRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- moto's server and WSGI apps in a thread ----------------------------------------------------------------


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server (SES, SNS, ...) in a thread on a port the OS picks; yields its URL."""
    # Imported here: moto takes about half a second to import, and most test sessions never start it.
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def verify_brand_senders(ses_url: str) -> None:
    """moto's SES sends only from verified addresses: verify every shipped brand's sender (after a reset too)."""
    ses = boto3.client("ses", endpoint_url=ses_url, region_name="us-east-1")
    for brand in load_brands(DEFAULT_BRANDS_FILE).brands.values():
        ses.verify_email_identity(EmailAddress=brand.sender_address)


class QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's handler without a log line per request (errors are still logged): a bench's proxy answers
    thousands of requests, and writing each line costs the CPU the bench measures."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """A WSGI app served by werkzeug in a thread on a port the OS picks; yields its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


class LateApp:
    """A WSGI app served before it is built, for an app whose settings name its own URL (its public base URL):
    `serve_wsgi(late)` picks the port, the test builds the app for that URL and sets `late.app`. Until then
    every request gets a 503."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"not built yet\n"]
        return self.app(environ, start_response)


# --- `renewals worker` and `renewals web` -------------------------------------------------------------------


def start_renewals(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`renewals <args>` with `env` as its whole environment, its output appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen([renewals_command(), *args], env=env, stdout=output, stderr=subprocess.STDOUT)


def start_web(env: dict[str, str], log: Path, ready_url: str, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """`renewals web` (gunicorn; give it a free RENEWALS_WEB_PORT), once `ready_url` answers 200."""
    process = start_renewals(["web"], env, log)
    try:
        wait_until(answers_http(ready_url), f"`renewals web` at {ready_url}", process=process, timeout=timeout)
    except RuntimeError:
        stop_process(process)
        raise
    return process


@dataclass
class Workers:
    """`renewals worker` processes on one queue, one at a time, which a fault test SIGKILLs mid-job and starts
    again; `died` keeps the exit codes of those that stopped on their own."""

    env: dict[str, str]
    log: Path
    queue: str
    current: subprocess.Popen[bytes] | None = None
    started: int = 0
    died: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.current = start_renewals(["worker", "--queue", self.queue], self.env, self.log)
        self.started += 1

    def ensure_running(self) -> None:
        if self.current is not None and self.current.poll() is not None:
            self.died.append(self.current.returncode)
            self.start()

    def kill(self) -> int:
        """SIGKILL the worker and its children: the work horse running a job (which RQ puts in a process group
        of its own) and the scheduler. Returns the number of work horses killed."""
        assert self.current is not None
        horses = kill_with_children(self.current)
        self.current = None
        return horses

    def stop(self) -> None:
        if self.current is not None and self.current.poll() is None:
            self.kill()


# --- PostgreSQL --------------------------------------------------------------------------------------------

PG_ENV = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


def pg_env_missing() -> list[str]:
    """The libpq variables pg_virtualenv exports that are unset here."""
    return [name for name in PG_ENV if not os.environ.get(name)]


def pg_env_url(database: str | None = None) -> URL:
    """The PostgreSQL server pg_virtualenv started (its PG* variables), at `database` or its own database."""
    return URL.create(
        "postgresql+psycopg",
        username=os.environ["PGUSER"],
        password=os.environ["PGPASSWORD"],
        host=os.environ["PGHOST"],
        port=int(os.environ["PGPORT"]),
        database=database or os.environ["PGDATABASE"],
    )
