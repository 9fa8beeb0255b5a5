"""The SES send rate and daily quota, shared by every worker through Redis.

**Rate.** SES throttles when more than ``MaxSendRate`` emails arrive within one second, measured on arrival;
a token bucket lets a burst of its capacity through at once, and any burst on top of a full rate crosses
that line. So the limiter hands out *slots* instead, evenly spaced with no burst at all (GCRA, the generic
cell rate algorithm: one Redis key holds the time of the next free slot, moved on by one interval per slot
in one Lua script, so concurrent workers never race, on Redis's own clock, so workers on hosts with skewed
clocks still share one pace). The interval is ``1 / (HEADROOM x rate)``: ``rate`` consecutive slots span
``1 / HEADROOM`` seconds, about 53 ms more than the second SES looks at, and that margin absorbs the jitter
between a slot and the email's arrival at SES. A caller holds its slot only if it calls SES within
``LATE_LIMIT`` of it (:class:`Slot`); later, it gives the slot up and takes a new one, so a sender that a
busy machine or a slow database commit delayed never lands in the next one's second. A reserved slot that
goes unused costs one interval of throughput, never a throttling answer.

A slot is reserved in advance (the caller sleeps until it comes), so waiting workers are served in order
without polling Redis, and a caller with a deadline (a batch job near its timeout) reserves nothing it
could not use in time.

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
# How late after its slot a send may still go: well inside the margin HEADROOM leaves (1/HEADROOM - 1 s per
# `rate` slots), the rest of which covers the way from the call to SES's door.
LATE_LIMIT = 0.02
SLOT_KEY = PREFIX + "next-slot"
PAUSE_KEY = PREFIX + "paused"
SENT_SINCE_QUOTA_KEY = PREFIX + "sent-since-quota"

# KEYS[1]: the time of the next free slot (microseconds on Redis's clock). ARGV: the interval between slots
# and the longest wait the caller accepts (-1: any), in microseconds. Returns {reserved (1 or 0), the wait
# until the slot in microseconds}; nothing is reserved when the wait is longer than the caller accepts.
SLOT_LUA = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]))
if slot == nil or slot < now_us then
  slot = now_us
end
local wait = slot - now_us
if max_wait >= 0 and wait > max_wait then
  return {0, wait}
end
redis.call('SET', KEYS[1], string.format('%d', slot + interval), 'PX', math.floor((wait + interval) / 1000) + 60000)
return {1, wait}
"""


@dataclass(frozen=True)
class SendQuota:
    max_24_hour_send: float  # -1: unlimited
    max_send_rate: float
    sent_last_24_hours: float


@dataclass(frozen=True)
class Slot:
    """A moment (``time.monotonic()``) at which one email may be handed to SES."""

    at: float

    def wait(self) -> None:
        """Sleep until the slot comes."""
        delay = self.at - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def missed(self) -> bool:
        """True once it is too late to use this slot (see ``LATE_LIMIT``)."""
        return time.monotonic() > self.at + LATE_LIMIT


class RateLimiter:
    """Evenly spaced send slots shared by every worker through Redis (see the module docstring)."""

    def __init__(self, redis: Redis, rate: float, *, key: str = SLOT_KEY) -> None:
        if rate <= 0:
            raise ValueError("the send rate must be positive")
        self.redis = redis
        self.rate = rate * HEADROOM
        self.interval = 1.0 / self.rate
        self.key = key
        self._script = redis.register_script(SLOT_LUA)

    def reserve(self, *, deadline: float | None = None) -> Slot | None:
        """The next free slot, reserved for the caller; None (nothing reserved) if it would come after
        `deadline` (a `time.monotonic()` value)."""
        max_wait = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1_000_000))
        reserved, wait_us = cast(list[Any], self._script(keys=[self.key], args=[int(self.interval * 1e6), max_wait]))
        if not int(reserved):
            return None
        return Slot(at=time.monotonic() + int(wait_us) / 1_000_000)

    def take(self, *, deadline: float | None = None) -> bool:
        """Wait for a slot; False (nothing taken) if it would come after `deadline`."""
        slot = self.reserve(deadline=deadline)
        if slot is None:
            return False
        slot.wait()
        return True


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
