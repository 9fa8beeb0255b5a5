"""How the Operations pages word what they show: durations, a run's row counts and skipped records, previews
of long texts, and Redis being unreachable (said without its URL: it may hold a password). Formatting only:
nothing here reads the store or Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from sync_service.pull.run import SKIPPED_KEY

ERROR_PREVIEW = 300
# Skipped records listed per entity on the sync runs page (the run's row keeps a few more, the count all).
SKIPPED_SHOWN = 5


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
    """The counts of a run's rows; the skipped records' examples are `skipped_examples`'."""
    counts = sorted((k, v) for k, v in (rows or {}).items() if k != SKIPPED_KEY)
    return " · ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in counts)


def skipped_examples(rows: dict[str, Any] | None, limit: int = SKIPPED_SHOWN) -> list[str]:
    """ "<entity> <sf id>: why" for the first records a pull skipped, per entity."""
    examples = (rows or {}).get(SKIPPED_KEY)
    if not isinstance(examples, dict):
        return []
    return [f"{entity} {text}" for entity, texts in sorted(examples.items()) for text in list(texts)[:limit]]


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
