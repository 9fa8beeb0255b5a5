"""Log output for the long-running processes (web, worker, scheduler): one line per event on stderr, one format.

Our structlog loggers go through the standard library, and every standard-library record — ours, RQ's, gunicorn's,
werkzeug's, SQLAlchemy's, boto's — ends in the one handler on the root logger, whose formatter renders it as a
logfmt line: ``timestamp=… level=info logger=jobs.push event="…" request_id=… job=… job_id=… key=value``. Context
bound with ``structlog.contextvars`` (the job in a work horse, the request id in the web app) is in every line,
whichever library wrote it. Newlines in a value or a traceback are escaped, so one event stays one line and a
value cannot start a line of its own.

A leaf of the layers: it imports nothing of ours, and logs nothing itself. What goes into a line is the caller's
choice: ids and counts, never a secret, a link token or a URL carrying one.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import Processor

HANDLER_NAME = "renewals"

# Put first in every line, in this order; the rest follow in the order they were given.
KEY_ORDER = ["timestamp", "level", "logger", "event", "request_id", "job", "job_id"]

# Loggers that libraries give handlers (and a format) of their own, and stop from propagating: RQ's
# setup_loghandlers does it when no ancestor has a handler yet, werkzeug's dev server and gunicorn likewise. Once
# ours is on the root, they add none; these lose any they already have, so each line comes out once, in our format,
# and follow the root's level (RQ sets rq.worker's to INFO when imported). (gunicorn's own Logger re-detaches its
# two when the server starts: config/commands/web.py gives it a class that does not.)
LIBRARY_LOGGERS = (
    "rq.worker",
    "rq.job",
    "rq.scheduler",
    "rq.cron",
    "gunicorn.error",
    "gunicorn.access",
    "werkzeug",
)


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library to one handler at `level` (DEBUG, INFO, WARNING, ERROR), writing
    to `stream` (stderr by default).

    Calling it again replaces what the previous call installed."""
    # Both structlog's events and foreign records get these, so both carry the same fields.
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.LogfmtRenderer(key_order=KEY_ORDER, drop_missing=True),
        ],
    )
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        for own in list(library_logger.handlers):
            library_logger.removeHandler(own)
        library_logger.propagate = True
        library_logger.setLevel(logging.NOTSET)
