"""Sending one raw email through SES (boto3, SESv2), with every failure sorted by what it means for a resend.

boto3 is configured with no retries of its own (``total_max_attempts=1``; beware: ``max_attempts`` in botocore's
``retries`` counts *retries*, so ``max_attempts=1`` still retries once): a retry after a read timeout is how a
customer gets the same email twice, since ``SendEmail`` has no idempotency key. This module owns the one
retry layer, and it only retries what provably did not send:

==========================================  ====================  =========================================
SES answer                                  exception             what the caller does
==========================================  ====================  =========================================
``Throttling`` / ``TooManyRequestsException``  retried here, then  put the email back in the queue
(per-second rate), HTTP 5xx, no connection   :class:`NotSent`
"Daily message quota exceeded",             :class:`Paused`       pause all sending, email back in queue
``LimitExceededException``, sending paused
``MessageRejected``, unverified sender,     :class:`Rejected`     mark the email failed, with SES's message
bad request
read timeout / connection lost mid-request  :class:`OutcomeUnknown`  mark the email unknown: never resend
==========================================  ====================  =========================================

At most ``SEND_ATTEMPTS`` calls are made for one email, each in a slot from the shared rate limiter
(``ratelimit.py``); with the RQ job's own retry (which only re-runs emails still queued) that bounds the calls
per email.

**Timing.** The slot is reserved first; the caller's ``before_call`` (the claim, a database commit) runs
shortly before the slot comes (``lead``: twice what the claim and building the request took lately), and
the request leaves at the slot itself: a botocore ``before-send`` hook, run after the request is built and
signed, sleeps until the slot and then passes the limiter's one-second window (``RateLimiter.dispatch``),
so the moment the limiter counts is the moment the request goes on the wire. An email is claimed a
fraction of a second before it goes, so a worker killed while it waits leaves little in ``sending``. A
caller with a deadline (a batch job before its timeout) gets :class:`Deferred` instead of a slot after it;
SES was not called for that email then.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from redis import Redis
from redis.exceptions import RedisError

from config.settings import Settings
from email_actions.mail.sending.ratelimit import SENT_SINCE_QUOTA_KEY, RateLimiter, SendQuota, Slot

log = structlog.get_logger(__name__)

SEND_ATTEMPTS = 4
BACKOFF_BASE = 0.25  # seconds; full jitter, doubling per attempt
BACKOFF_CAP = 5.0
QUOTA_KEY = "renewals:email:quota"
QUOTA_TTL = 300  # seconds between GetSendQuota reads (SES allows one a second)
# How long before its slot an email is claimed, in seconds: adapted to what the claim took lately, within these.
LEAD_MIN = 0.02
LEAD_MAX = 1.0

THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException"})
PAUSE_CODES = frozenset({"LimitExceededException", "SendingPausedException", "AccountSuspendedException"})


class SendError(Exception):
    """Base of the outcomes of a send that did not return a MessageId."""


class NotSent(SendError):
    """SES provably did not take the email (throttled past the retries, a 5xx answer, no connection)."""


class Paused(SendError):
    """Sending must stop for everyone for a while (daily quota, account paused); the email did not go."""

    def __init__(self, message: str, *, seconds: int) -> None:
        self.seconds = seconds
        super().__init__(message)


class Deferred(NotSent):
    """No send slot before the caller's deadline; SES was not called for this email."""


class _NotDispatched(Exception):
    """The rate limiter failed (Redis unreachable) before the request left: SES was not called."""


class Rejected(SendError):
    """SES refused this email for good (a rejected address, an unverified sender); do not retry it."""


class OutcomeUnknown(SendError):
    """The request may have reached SES and the answer was lost: never send this email again by itself."""


def ses_client(settings: Settings, service: str = "sesv2") -> Any:
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=20,
        tcp_keepalive=True,
    )
    return boto3.client(service, region_name=settings.ses_region, endpoint_url=settings.ses_endpoint_url, config=config)


def classify(error: Exception) -> SendError:
    """What a boto3 exception from SendEmail means for a resend."""
    if isinstance(error, ConnectTimeoutError | EndpointConnectionError):
        return NotSent(f"could not connect to SES: {error}")
    if isinstance(error, ReadTimeoutError | ConnectionClosedError):
        return OutcomeUnknown(f"no answer from SES ({type(error).__name__}); it may have sent the email")
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        message = str(error.response.get("Error", {}).get("Message", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in THROTTLE_CODES and "daily" in message.lower():
            return Paused(f"SES daily sending quota reached: {message}", seconds=600)
        if code in THROTTLE_CODES:
            return NotSent(f"SES throttled the send ({code}): {message}")
        if code in PAUSE_CODES:
            return Paused(f"SES refuses to send for now ({code}): {message}", seconds=600)
        if status >= 500:
            return NotSent(f"SES answered {status} ({code}): {message}")
        return Rejected(f"SES rejected the email ({code}): {message}")
    return OutcomeUnknown(f"unexpected error while sending: {type(error).__name__}: {error}")


def read_quota(settings: Settings, redis: Redis) -> SendQuota:
    """The account's quota (GetSendQuota, cached in Redis for all workers), with the settings' overrides."""
    cached = cast(bytes | None, redis.get(QUOTA_KEY))
    if cached is not None:
        raw = json.loads(cached)
    else:
        answer = ses_client(settings, "ses").get_send_quota()
        raw = {
            "max_24_hour_send": float(answer.get("Max24HourSend", -1)),
            "max_send_rate": float(answer.get("MaxSendRate", 1)),
            "sent_last_24_hours": float(answer.get("SentLast24Hours", 0)),
        }
        pipe = redis.pipeline()
        pipe.set(QUOTA_KEY, json.dumps(raw), ex=QUOTA_TTL)
        pipe.set(SENT_SINCE_QUOTA_KEY, 0)
        pipe.execute()
    if settings.ses_max_send_rate is not None:
        raw["max_send_rate"] = settings.ses_max_send_rate
    if settings.ses_daily_quota is not None:
        raw["max_24_hour_send"] = float(settings.ses_daily_quota)
    return SendQuota(**raw)


def _retryable(error: SendError) -> bool:
    return isinstance(error, NotSent)


class SesSender:
    """Sends raw emails under the shared rate limit; one instance per job or CLI run."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        *,
        client: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.client = client if client is not None else ses_client(settings)
        self._sleep = sleep
        self.throttled = 0  # throttling answers seen, for the bench and the summary
        self._limiter: RateLimiter | None = None
        self._lock = threading.Lock()
        self._lead = LEAD_MIN * 2
        # The slot of the SendEmail call this thread is making, for the before-send hook.
        self._local = threading.local()
        self.client.meta.events.register("before-send.sesv2.SendEmail", self._at_slot)

    def quota(self) -> SendQuota:
        """The account's quota (GetSendQuota, cached in Redis for all workers), with the settings' overrides."""
        return read_quota(self.settings, self.redis)

    def limiter(self) -> RateLimiter:
        with self._lock:
            if self._limiter is None:
                self._limiter = RateLimiter(self.redis, self.quota().max_send_rate)
            return self._limiter

    def send(
        self,
        raw: bytes,
        *,
        sender: str,
        tags: dict[str, str],
        before_call: Callable[[], None],
        deadline: float | None = None,
    ) -> str:
        """Send `raw` (a complete MIME message) and return SES's MessageId.

        `before_call` runs shortly before each SES call, once a slot is reserved: the caller commits its
        "sending" record there, so an email is recorded before it can leave. No slot is taken after
        `deadline` (a `time.monotonic()` value): :class:`Deferred` then. Raises a :class:`SendError`
        subclass otherwise.
        """
        request: dict[str, Any] = {
            "FromEmailAddress": sender,
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": name, "Value": value} for name, value in tags.items()],
        }
        if self.settings.ses_configuration_set:
            request["ConfigurationSetName"] = self.settings.ses_configuration_set
        last: SendError | None = None
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                self._sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)))
            try:
                answer = self._call_in_a_slot(request, before_call, deadline)
            except Deferred:
                raise
            except NotSent as exc:  # the limiter failed before the request left
                last = exc
                log.info("SES not called; trying again", attempt=attempt + 1, reason=str(exc))
                continue
            except Exception as exc:
                last = classify(exc)
                if isinstance(last, NotSent) and "throttled" in str(last):
                    with self._lock:
                        self.throttled += 1
                    # Without Redis the retry below fails at the limiter anyway, and says so.
                    with contextlib.suppress(RedisError):
                        self.limiter().widen()
                if not _retryable(last):
                    raise last from exc
                log.info("SES did not take the email; trying again", attempt=attempt + 1, reason=str(last))
                continue
            return str(answer["MessageId"])
        assert last is not None
        raise last

    def _call_in_a_slot(
        self, request: dict[str, Any], before_call: Callable[[], None], deadline: float | None
    ) -> dict[str, Any]:
        """One SendEmail call, made in a slot of the shared limiter."""
        limiter = self.limiter()
        slot = limiter.reserve(deadline=deadline)
        if slot is None:
            raise Deferred("no send slot before the batch's deadline; the email waits in the queue")
        early = slot.at - self._lead - time.monotonic()
        if early > 0:
            time.sleep(early)
        self._local.started = time.monotonic()
        before_call()
        self._local.slot = slot
        try:
            return cast(dict[str, Any], self.client.send_email(**request))
        except _NotDispatched as exc:
            raise NotSent(f"the send rate limiter failed before the request left: {exc.__cause__}") from exc
        finally:
            self._local.slot = None

    def _at_slot(self, request: Any, **_: Any) -> None:
        """botocore's before-send hook: the request is built and signed; it leaves at its slot, once the
        one-second window has room."""
        slot: Slot | None = getattr(self._local, "slot", None)
        if slot is None:
            return
        took = time.monotonic() - self._local.started
        with self._lock:
            self._lead = min(LEAD_MAX, max(LEAD_MIN, 0.8 * self._lead + 0.2 * 2 * took))
        slot.wait()
        try:
            self.limiter().dispatch()
        except RedisError as exc:
            raise _NotDispatched from exc
