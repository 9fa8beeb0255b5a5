"""Job functions for the worker tests (the work horse imports them by dotted path)."""

from __future__ import annotations

from flask import current_app

from config.settings import get_settings
from jobs.base import redis_connection


def report_app(marker: str) -> dict[str, str]:
    """Returns what the job could see of the app it ran in, and leaves a mark in Redis."""
    redis_connection().set("sample:marker", marker)
    return {"app": current_app.name, "public_base_url": get_settings().public_base_url, "marker": marker}


def fail() -> None:
    raise RuntimeError("this job always fails")


def add(a: int, b: int) -> int:
    return a + b


def nap(seconds: float) -> None:
    import time

    time.sleep(seconds)
