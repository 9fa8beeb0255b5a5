"""The stand-in org's one source of "now": real time plus an offset that tests move forward.

Every stamp the org writes (CreatedDate, LastModifiedDate, SystemModstamp), its SOQL date literals and its
Bulk jobs' times read this clock, so advancing it makes the org's next writes land later without a test
sleeping. Sessions' idle timeout follows it too (:meth:`OrgClock.monotonic`): time the clock moved forward is
time a session sat idle, as it would have in Salesforce. It only moves forward: stamps never go back, as they
never do in Salesforce. Left alone it is real time. Query cursors, the API usage window and the request log
keep real time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

# The most one advance may move the clock: a year is far past any test's need and keeps datetimes in range.
MAX_ADVANCE_SECONDS = 366 * 24 * 3600


def real_time() -> datetime:
    return datetime.now(UTC)


class OrgClock:
    """Callable like `datetime.now(UTC)`: the source's time plus the offset advanced so far."""

    def __init__(self, source: Callable[[], datetime] | None = None, offset_seconds: float = 0.0):
        self.source = source or real_time
        self.offset = timedelta(seconds=offset_seconds)

    def __call__(self) -> datetime:
        return self.source() + self.offset

    def monotonic(self) -> float:
        """`time.monotonic()` plus the offset: for intervals (a session's idle time) that advancing counts in."""
        return time.monotonic() + self.offset.total_seconds()

    @property
    def offset_seconds(self) -> float:
        return self.offset.total_seconds()

    def advance(self, seconds: object) -> None:
        """Move the clock forward by `seconds` (a number above 0, at most a year); anything else is refused
        with a ValueError that names the input."""
        self.offset += timedelta(seconds=checked_advance(seconds))


def checked_advance(seconds: object) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"advance_seconds must be a number of seconds, not {seconds!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"advance_seconds must be above 0 (the clock only moves forward), not {seconds!r}")
    if seconds > MAX_ADVANCE_SECONDS:
        raise ValueError(f"advance_seconds must be at most {MAX_ADVANCE_SECONDS} (a year), not {seconds!r}")
    return float(seconds)
