"""Processes the fault tests run and kill: a Redis server that can be restarted, and `renewals worker`
processes that can be SIGKILLed mid-job (with their work horses)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.conftest import free_port

# --- a Redis of this test's own, so it can be restarted -----------------------------------------------------


class RestartableRedis:
    def __init__(self, directory: Path):
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail("redis-server is not installed; run the tests via `make test`, which installs it.")
        self.executable = executable
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [self.executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen([*argv, "--dir", str(self.directory)], stdout=subprocess.DEVNULL)
        client = Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except RedisConnectionError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        pytest.fail(f"redis-server did not start on port {self.port}")
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


# --- worker processes ---------------------------------------------------------------------------------------


def _children(pid: int) -> list[tuple[int, int]]:
    """The child processes of `pid`, as (pid, process group)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its closing parenthesis.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append((int(entry.name), int(fields[2])))
    return found


@dataclass
class Workers:
    env: dict[str, str]
    log: Path
    queue: str
    current: subprocess.Popen[bytes] | None = None
    started: int = 0
    died: list[int] = field(default_factory=list)  # exit codes of workers that stopped on their own

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.current = subprocess.Popen(
                [str(Path(sys.executable).with_name("renewals")), "worker", "--queue", self.queue],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started += 1

    def ensure_running(self) -> None:
        if self.current is not None and self.current.poll() is not None:
            self.died.append(self.current.returncode)
            self.start()

    def kill(self) -> int:
        """SIGKILL the worker and its children: the work horse running a job (which RQ puts in a process group
        of its own) and the scheduler. Returns the number of work horses killed."""
        assert self.current is not None
        children = _children(self.current.pid)
        os.kill(self.current.pid, signal.SIGKILL)
        for pid, _ in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.current.wait(timeout=10)
        for pid, _ in children:
            _wait_gone(pid)
        self.current = None
        return sum(1 for pid, group in children if pid == group)

    def stop(self) -> None:
        if self.current is not None and self.current.poll() is None:
            self.kill()


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return  # a zombie of the killed worker: it runs nothing any more
        except OSError:
            return
        time.sleep(0.01)
