"""The SES send rate and daily quota, shared by every worker through Redis.

A token bucket (one Lua script, so concurrent workers never race) refills using Redis's own clock, so workers
on hosts with skewed clocks still share one rate. SES counts recipients per second (every email here has
one), and measures on arrival, where network jitter bunches sends that left evenly spaced; so the bucket
holds a single token and refills at ``HEADROOM`` of the allowed rate: any one-second window then sees at
most 0.95 x rate + 1 sends, and the rare throttling answer that still comes is retried (``ses.py``).

The daily quota (``Max24HourSend``) is checked against SES's own ``SentLast24Hours`` plus what was sent
since that figure was read; reaching it pauses sending (a Redis key with the reason, visible to the CLI
and the admin console) until the figure is read again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from redis import Redis

PREFIX = "renewals:email:"
HEADROOM = 0.95
BUCKET_KEY = PREFIX + "bucket"
PAUSE_KEY = PREFIX + "paused"
SENT_SINCE_QUOTA_KEY = PREFIX + "sent-since-quota"

# KEYS[1]: the bucket. ARGV: rate (tokens per second), capacity. Returns the milliseconds to wait before a
# token is available (0: one was taken now).
BUCKET_LUA = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now_ms
end
tokens = math.min(capacity, tokens + math.max(0, now_ms - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now_ms))
redis.call('PEXPIRE', KEYS[1], 60000)
return wait
"""


@dataclass(frozen=True)
class SendQuota:
    max_24_hour_send: float  # -1: unlimited
    max_send_rate: float
    sent_last_24_hours: float


class RateLimiter:
    """One send at a time per token; `take()` blocks until the shared bucket has one."""

    def __init__(self, redis: Redis, rate: float, *, key: str = BUCKET_KEY) -> None:
        if rate <= 0:
            raise ValueError("the send rate must be positive")
        self.redis = redis
        self.rate = rate * HEADROOM
        self.capacity = 1.0
        self.key = key
        self._script = redis.register_script(BUCKET_LUA)

    def try_take(self) -> float:
        """Take a token if one is available; otherwise the seconds to wait (nothing taken)."""
        wait_ms = int(self._script(keys=[self.key], args=[repr(self.rate), repr(self.capacity)]))
        return wait_ms / 1000

    def take(self, *, deadline: float | None = None) -> bool:
        """Wait for a token; False if `deadline` (a `time.monotonic()` value) would pass first."""
        while True:
            wait = self.try_take()
            if wait == 0:
                return True
            if deadline is not None and time.monotonic() + wait > deadline:
                return False
            time.sleep(wait)


def pause(redis: Redis, reason: str, *, seconds: int) -> None:
    """Stop every worker's sending for `seconds` (e.g. the daily quota is used up)."""
    redis.set(PAUSE_KEY, reason, ex=max(1, seconds))


def paused(redis: Redis) -> str | None:
    """Why sending is paused, or None."""
    value = redis.get(PAUSE_KEY)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def resume(redis: Redis) -> None:
    redis.delete(PAUSE_KEY)


def count_sent(redis: Redis) -> None:
    redis.incr(SENT_SINCE_QUOTA_KEY)


def daily_room(redis: Redis, quota: SendQuota) -> float:
    """How many more emails the daily quota allows now (infinite when unlimited)."""
    if quota.max_24_hour_send < 0:
        return float("inf")
    since = int(cast(Any, redis.get(SENT_SINCE_QUOTA_KEY)) or 0)
    return quota.max_24_hour_send - quota.sent_last_24_hours - since
