"""Every line a job writes, through structlog or the standard library, and RQ's own lines about it, carry the job's
id and function; the worker's lines come out in the one format (config/settings/logs.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import structlog
from flask import Flask
from redis import Redis
from rq.job import JobStatus

from config.settings import Settings
from jobs.base import enqueue
from jobs.queues import DEFAULT, PUSH
from jobs.worker import make_worker
from tests.jobs import sample_jobs
from tests.log_capture import captured_log


def write_lines(marker: str) -> str:
    """The job: one line through structlog, one through the standard library (as a library would write it)."""
    structlog.get_logger("tests.jobs.sample").info("job says hello", marker=marker)
    logging.getLogger("tests.jobs.library").warning("library says %s", marker)
    return marker


def test_a_jobs_lines_carry_its_id_and_function(app: Flask, settings: Settings, redis: Redis, tmp_path: Path) -> None:
    with app.app_context():
        first = enqueue(DEFAULT, write_lines, "one")
        second = enqueue(DEFAULT, write_lines, "two")

    with captured_log(tmp_path / "worker.log", level="INFO") as log:
        assert make_worker(settings, (DEFAULT,)).work(burst=True)

    assert first.get_status(refresh=True) == JobStatus.FINISHED
    lines = log.lines()
    assert lines and all(line.startswith("timestamp=") for line in lines), lines  # RQ's too: no format of its own
    function = f"job={__name__}.write_lines"
    for job, marker in ((first, "one"), (second, "two")):
        own = [line for line in lines if f"job_id={job.id}" in line]
        hello = [line for line in own if 'event="job says hello"' in line]
        library = [line for line in own if f'event="library says {marker}"' in line]
        assert len(hello) == 1 and f"marker={marker}" in hello[0], own
        assert len(library) == 1 and "logger=tests.jobs.library" in library[0], own
        assert any("logger=rq.worker" in line and "Job OK" in line for line in own), own  # RQ's, in the work horse
        assert all(function in line for line in own), own
    # Outside a job (the worker's own start and stop lines) nothing is bound.
    assert any("logger=rq.worker" in line and "job_id=" not in line for line in lines)


def test_a_failing_jobs_error_and_traceback_carry_its_id(
    app: Flask, settings: Settings, redis: Redis, tmp_path: Path
) -> None:
    with app.app_context():
        job = enqueue(PUSH, sample_jobs.fail)

    with captured_log(tmp_path / "worker.log", level="INFO") as log:
        make_worker(settings, (PUSH,)).work(burst=True)

    errors = [line for line in log.lines() if "level=error" in line]
    assert errors, log.lines()
    for line in errors:
        assert f"job_id={job.id}" in line and "job=tests.jobs.sample_jobs.fail" in line, line
    assert any("this job always fails" in line and "Traceback" in line for line in errors), errors
