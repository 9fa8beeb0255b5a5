"""How the Operations pages word what they show: durations, a run's row counts, previews of long texts, and
Redis being unreachable (said without its URL: it may hold a password). Formatting only: nothing here reads
the store or Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

ERROR_PREVIEW = 300


def run_seconds(started: datetime | None, finished: datetime | None) -> float | None:
    """How long a run took, or has been running (None when it never started)."""
    if started is None:
        return None
    end = finished or datetime.now(UTC)
    return max((end - started).total_seconds(), 0.0)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def rows_total(rows: dict[str, Any] | None) -> int:
    """The rows a run handled, skipped rows left out."""
    return sum(v for k, v in (rows or {}).items() if isinstance(v, int) and not k.endswith("_skipped"))


def rows_text(rows: dict[str, Any] | None) -> str:
    return " · ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in sorted((rows or {}).items()))


def preview(text: str | None, limit: int = ERROR_PREVIEW) -> str:
    """`text` on one line, cut to `limit` characters."""
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redis_problem(exc: RedisError) -> str:
    """What to tell the admin when Redis fails: the kind of failure, never the URL (it may hold a password)."""
    return (
        f"Redis is unreachable ({type(exc).__name__}), so queue depths and failed jobs cannot be shown. "
        "Check that redis-server runs and that RENEWALS_REDIS_URL points at it; jobs queue again once it is back."
    )
