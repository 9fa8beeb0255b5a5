"""Housekeeping jobs."""

from __future__ import annotations

from datetime import UTC, datetime

from redis import Redis

from jobs.base import redis_connection

HEARTBEAT_KEY = "renewals:heartbeat"
# Long enough to survive a missed beat or two, short enough that a stopped scheduler shows up as stale.
HEARTBEAT_TTL_SECONDS = 3600


def heartbeat() -> str:
    """Record that the scheduler enqueued and a worker ran this job just now; the ops view reads it."""
    now = datetime.now(UTC).isoformat()
    redis_connection().set(HEARTBEAT_KEY, now, ex=HEARTBEAT_TTL_SECONDS)
    return now


def last_heartbeat(connection: Redis) -> datetime | None:
    raw = connection.get(HEARTBEAT_KEY)
    if raw is None:
        return None
    return datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else str(raw))
