"""One log set-up: structlog's lines and the standard library's (ours, RQ's) in the same format, once each, with the
context bound by structlog.contextvars."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import structlog
from rq.logutils import setup_loghandlers

from config.settings.logs import configure_logging
from tests.log_capture import captured_log

# timestamp, level, logger and event first, in that order, then key=value pairs.
LINE = re.compile(r'timestamp=\S+Z level=(\w+) logger=(\S+) event=("[^"]*"|\S+)( \S+=("[^"]*"|\S+))*')


def test_a_structlog_line_and_an_rq_line_come_out_in_one_format_once_each(tmp_path: Path) -> None:
    with captured_log(tmp_path / "log", level="INFO") as log:
        structlog.get_logger("jobs.push").info("pushed", rows=3)
        logging.getLogger("rq.worker").info("Worker %s: started", "w1")

    lines = log.lines()
    assert len(lines) == 2, lines
    for line in lines:
        assert LINE.fullmatch(line), line
    structlog_line, rq_line = lines
    assert LINE.fullmatch(structlog_line).groups()[:3] == ("info", "jobs.push", "pushed")  # type: ignore[union-attr]
    assert structlog_line.endswith(" rows=3")
    assert LINE.fullmatch(rq_line).groups()[:3] == ("info", "rq.worker", '"Worker w1: started"')  # type: ignore[union-attr]


def test_rq_adds_no_handler_of_its_own_once_ours_is_set_up(tmp_path: Path) -> None:
    """What `Worker.work()` does first (rq.logutils.setup_loghandlers): it finds our handler on the root logger."""
    with captured_log(tmp_path / "log", level="INFO") as log:
        setup_loghandlers("INFO", name="rq.worker")
        setup_loghandlers("INFO", name="rq.job")
        assert logging.getLogger("rq.worker").handlers == []
        logging.getLogger("rq.worker").info("Worker w1: started")

    assert len(log.lines()) == 1
    assert LINE.fullmatch(log.lines()[0])


def test_handlers_rq_installed_before_are_removed(tmp_path: Path) -> None:
    rq_logger = logging.getLogger("rq.worker")
    own = logging.StreamHandler(io.StringIO())
    rq_logger.addHandler(own)
    rq_logger.propagate = False
    try:
        with captured_log(tmp_path / "log", level="INFO") as log:
            rq_logger.info("Worker w1: started")
    finally:
        rq_logger.removeHandler(own)
        rq_logger.propagate = True

    assert len(log.lines()) == 1 and LINE.fullmatch(log.lines()[0])
    assert own.stream.getvalue() == ""


def test_a_second_set_up_replaces_the_first(tmp_path: Path) -> None:
    with (
        captured_log(tmp_path / "log", level="INFO") as log,
        (tmp_path / "log").open("a", encoding="utf-8", buffering=1) as again,
    ):
        configure_logging("INFO", stream=again)
        structlog.get_logger("jobs.push").info("pushed")
        logging.getLogger("jobs.push").info("pushed too")

    assert len(log.lines()) == 2


def test_bound_context_is_in_structlog_and_stdlib_lines(tmp_path: Path) -> None:
    with captured_log(tmp_path / "log", level="INFO") as log:
        with structlog.contextvars.bound_contextvars(request_id="r-1", job="jobs.push.push_job", job_id="j-1"):
            structlog.get_logger("jobs.push").info("pushed", rows=3)
            logging.getLogger("werkzeug").info("127.0.0.1 GET /")
        logging.getLogger("werkzeug").info("after the request")

    during_structlog, during_stdlib, after = log.lines()
    for line in (during_structlog, during_stdlib):
        assert " request_id=r-1 job=jobs.push.push_job job_id=j-1" in line, line
    assert "request_id" not in after and "job_id" not in after


def test_the_level_holds_for_both(tmp_path: Path) -> None:
    with captured_log(tmp_path / "log", level="WARNING") as log:
        structlog.get_logger("jobs.push").info("quiet")
        logging.getLogger("rq.worker").info("quiet")
        structlog.get_logger("jobs.push").warning("loud")
        logging.getLogger("rq.worker").error("louder")

    assert [LINE.fullmatch(line).group(1) for line in log.lines()] == ["warning", "error"]  # type: ignore[union-attr]


def test_a_traceback_and_a_newline_in_a_value_stay_on_their_line(tmp_path: Path) -> None:
    with captured_log(tmp_path / "log", level="INFO") as log:
        structlog.get_logger("jobs.push").info("forged?", note="one\ntimestamp=x level=error event=forged")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            structlog.get_logger("jobs.push").exception("failed")
            logging.getLogger("sqlalchemy.pool").exception("failed too")

    lines = log.lines()
    assert len(lines) == 3, lines
    assert all(line.startswith("timestamp=") for line in lines)
    for line in lines[1:]:
        assert "exception=" in line and "RuntimeError: boom" in line and "\\n" in line
