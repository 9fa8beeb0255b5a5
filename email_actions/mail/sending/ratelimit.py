"""The SES send rate and daily quota, shared by every worker through Redis.

**Rate.** SES throttles when more than ``MaxSendRate`` emails arrive within one second, measured on arrival.
A token bucket lets a burst of its capacity through at once, and a burst on top of a full rate crosses that
line; a limiter that stays well clear of it leaves rate unused. So sending is paced in two steps, both in
Lua scripts on Redis's own clock (concurrent workers never race, and workers on hosts with skewed clocks
share one pace):

1. **Slots** (:meth:`RateLimiter.reserve`): evenly spaced, with no burst at all (GCRA, the generic cell rate
   algorithm: one key holds the time of the next free slot, moved on by one interval per slot). The
   interval is ``1 / (HEADROOM x rate)``. A slot is reserved in advance and the caller sleeps until it
   comes, so waiting workers are served in order without polling Redis, and a caller with a deadline (a
   batch job near its timeout) reserves nothing it could not use in time.
2. **The window** (:meth:`RateLimiter.dispatch`), at the moment the request leaves: SES's own rule, kept
   with a margin. The times requests actually left are logged (a sorted set); one may leave only while
   fewer than ``rate`` left in the last ``1 + WINDOW_MARGIN`` seconds, else it waits until the oldest drops
   out. A sender a busy machine woke late still goes when its turn allows (no slot is thrown away), and
   never lands in the next one's second; the margin covers the way from the dispatch to SES's door. Each
   throttling answer SES still gives widens the margin for every worker (:meth:`RateLimiter.widen`, by
   ``WIDEN_STEP`` up to ``WIDEN_MAX``) until a minute passes without one: the way to SES was slower than
   the margin allowed.

``rate`` consecutive slots span ``1 / HEADROOM`` seconds, a little more than the window, so on time the
window never holds anyone back; it only corrects for lateness.

The daily quota (``Max24HourSend``) is checked against SES's own ``SentLast24Hours`` plus what was sent
since that figure was read; reaching it pauses sending (a Redis key with the reason, visible to the CLI
and the admin console) until the figure is read again.

Hand-written rather than a rate-limit library: the libraries for Redis (e.g. ``limits``) offer a moving
window or a token bucket on the caller's clock, not a reservation that says when to come back, and not
both steps at the request's own moment of departure.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

from redis import Redis

PREFIX = "renewals:email:"
HEADROOM = 0.95
# Seconds added to SES's one-second window: the jitter between a request's dispatch and its arrival at SES.
WINDOW_MARGIN = 0.05
WIDEN_STEP = 0.025  # seconds added to the margin per throttling answer
WIDEN_MAX = 0.25
WIDEN_FOR = 60  # seconds after the last throttling answer the margin goes back to WINDOW_MARGIN
SLOT_KEY = PREFIX + "next-slot"
WINDOW_KEY = PREFIX + "sent-window"
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

# KEYS[1]: the dispatch log (a sorted set, scores in microseconds on Redis's clock); KEYS[2]: microseconds the
# window is widened by (see WIDEN_LUA). ARGV: how many may leave per window, the window in microseconds, a
# member name unique to this dispatch. Returns 0 when the dispatch is logged now, else the microseconds until
# the oldest logged dispatch leaves the window.
WINDOW_LUA = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2]) + tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_us - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now_us, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.floor(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now_us)
"""

# KEYS[1]: microseconds the window is widened by. ARGV: the step and the most, in microseconds; how long the
# widening lasts, in milliseconds. Returns the new widening.
WIDEN_LUA = """
local extra = math.min(tonumber(ARGV[2]), redis.call('INCRBY', KEYS[1], ARGV[1]))
redis.call('SET', KEYS[1], extra, 'PX', ARGV[3])
return extra
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


class RateLimiter:
    """Evenly spaced send slots and SES's one-second window, shared by every worker through Redis (see the
    module docstring)."""

    def __init__(self, redis: Redis, rate: float, *, key: str = SLOT_KEY, window_key: str = WINDOW_KEY) -> None:
        if rate <= 0:
            raise ValueError("the send rate must be positive")
        self.redis = redis
        self.rate = rate * HEADROOM
        self.interval = 1.0 / self.rate
        # SES counts whole emails: at most floor(rate) in any one second (one, below one a second).
        self.per_window = max(1, int(rate))
        self.window = (1.0 if rate >= 1 else 1.0 / rate) + WINDOW_MARGIN
        self.key = key
        self.window_key = window_key
        self.widen_key = window_key + ":extra"
        self._slot_script = redis.register_script(SLOT_LUA)
        self._window_script = redis.register_script(WINDOW_LUA)
        self._widen_script = redis.register_script(WIDEN_LUA)

    def reserve(self, *, deadline: float | None = None) -> Slot | None:
        """The next free slot, reserved for the caller; None (nothing reserved) if it would come after
        `deadline` (a `time.monotonic()` value)."""
        max_wait = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1_000_000))
        answer = cast(list[Any], self._slot_script(keys=[self.key], args=[int(self.interval * 1e6), max_wait]))
        reserved, wait_us = answer
        if not int(reserved):
            return None
        return Slot(at=time.monotonic() + int(wait_us) / 1_000_000)

    def try_dispatch(self) -> float:
        """Log a request leaving now if the window has room (0.0); otherwise the seconds until it has."""
        member = secrets.token_hex(8)
        wait_us = int(
            self._window_script(
                keys=[self.window_key, self.widen_key], args=[self.per_window, int(self.window * 1e6), member]
            )
        )
        return wait_us / 1_000_000

    def widen(self) -> float:
        """SES throttled a request that passed the window: widen it for every worker (returns the seconds
        it is widened by now)."""
        args = [int(WIDEN_STEP * 1e6), int(WIDEN_MAX * 1e6), WIDEN_FOR * 1000]
        return int(self._widen_script(keys=[self.widen_key], args=args)) / 1_000_000

    def dispatch(self) -> None:
        """Wait until the window lets a request leave, and log it leaving now: call right before the request."""
        while (wait := self.try_dispatch()) > 0:
            time.sleep(wait)

    def take(self, *, deadline: float | None = None) -> bool:
        """Wait for a slot and the window; False (nothing taken) if the slot would come after `deadline`."""
        slot = self.reserve(deadline=deadline)
        if slot is None:
            return False
        slot.wait()
        self.dispatch()
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
