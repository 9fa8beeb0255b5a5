"""The production log set-up (config/settings/logs.py) for one test, writing to a file the test reads.

A file rather than a string buffer: RQ's work horse is a forked process, and what it writes to an inherited file
reaches the parent; what it writes to an in-memory buffer does not. Everything the set-up changes (the root
logger, the libraries' loggers, structlog's configuration) is put back afterwards, so other tests keep pytest's
and structlog's defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from config.settings.logs import LIBRARY_LOGGERS, configure_logging


@dataclass(frozen=True)
class CapturedLog:
    path: Path

    def lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines()


@contextmanager
def captured_log(path: Path, level: str = "DEBUG") -> Iterator[CapturedLog]:
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved_libraries = {
        name: (list(logger.handlers), logger.propagate, logger.level)
        for name, logger in ((name, logging.getLogger(name)) for name in LIBRARY_LOGGERS)
    }
    was_configured, saved_structlog = structlog.is_configured(), structlog.get_config()
    # Line-buffered and appending: each line reaches the file whole, whichever process wrote it.
    with path.open("a", encoding="utf-8", buffering=1) as stream:
        configure_logging(level, stream=stream)
        try:
            yield CapturedLog(path)
        finally:
            root.handlers[:] = saved_root[0]
            root.setLevel(saved_root[1])
            for name, (handlers, propagate, library_level) in saved_libraries.items():
                logger = logging.getLogger(name)
                logger.handlers[:] = handlers
                logger.propagate = propagate
                logger.setLevel(library_level)
            if was_configured:
                structlog.configure(**saved_structlog)
            else:
                structlog.reset_defaults()
