"""Injectable faults: what a real org does on a bad day, switched on by flags or the admin endpoint.

Rules pick requests by route family and fire by rate or for the next N requests. Per-record lock errors
and validation rules apply inside sObject Collections and Bulk ingest, where Salesforce reports them per
record. Faults never fire on the admin and web-view routes.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from sync_service.devorg.errors import ApiError, invalid_session, request_limit_exceeded, unable_to_lock_row

ROUTES = ("*", "login", "query", "sobjects", "collections", "composite", "bulk", "describe", "limits", "blob")
ERRORS = ("500", "503", "UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "INVALID_SESSION_ID", "malformed_json")


@dataclass
class FaultRule:
    route: str = "*"
    error: str = "503"
    rate: float = 0.0
    count: int = 0  # fire on the next `count` matching requests, before `rate` applies

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"route must be one of {', '.join(ROUTES)}")
        if self.error not in ERRORS:
            raise ValueError(f"error must be one of {', '.join(ERRORS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if self.count < 0:
            raise ValueError("count must not be negative")


@dataclass
class ValidationRule:
    """A stand-in for a validation rule: refuse records whose `field` equals `equals`."""

    object: str
    field: str
    equals: Any
    message: str = "Validation rule failed"


@dataclass
class Faults:
    rules: list[FaultRule] = field(default_factory=list)
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    record_lock_rate: float = 0.0
    validation_rules: list[ValidationRule] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def configure(self, config: dict[str, Any]) -> None:
        """Replace the fault configuration; raises ValueError on anything malformed and changes nothing."""
        rules = [FaultRule(**r) for r in config.get("rules", [])]
        validation = [ValidationRule(**v) for v in config.get("validation_rules", [])]
        latency = float(config.get("latency_ms", 0.0))
        jitter = float(config.get("latency_jitter_ms", 0.0))
        lock_rate = float(config.get("record_lock_rate", 0.0))
        if not (0 <= latency < math.inf and 0 <= jitter < math.inf and 0.0 <= lock_rate <= 1.0):
            raise ValueError("latency must be >= 0 and record_lock_rate between 0 and 1")
        if "seed" in config:
            self.rng.seed(int(config["seed"]))
        self.rules, self.validation_rules = rules, validation
        self.latency_ms, self.latency_jitter_ms, self.record_lock_rate = latency, jitter, lock_rate

    def as_dict(self) -> dict[str, Any]:
        return {
            "rules": [asdict(r) for r in self.rules],
            "latency_ms": self.latency_ms,
            "latency_jitter_ms": self.latency_jitter_ms,
            "record_lock_rate": self.record_lock_rate,
            "validation_rules": [asdict(v) for v in self.validation_rules],
        }

    def delay_seconds(self) -> float:
        if not self.latency_ms and not self.latency_jitter_ms:
            return 0.0
        return (self.latency_ms + self.rng.uniform(0, self.latency_jitter_ms)) / 1000.0

    def request_fault(self, route: str) -> str | None:
        """The error to answer this request with, if a rule fires."""
        for rule in self.rules:
            if rule.route not in ("*", route):
                continue
            if rule.count > 0:
                rule.count -= 1
                return rule.error
            if rule.rate and self.rng.random() < rule.rate:
                return rule.error
        return None

    def record_fault(self, sobject: str, record: dict[str, Any]) -> ApiError | None:
        """A per-record failure for one row of a collection or bulk job, if one applies."""
        for rule in self.validation_rules:
            if rule.object.lower() != sobject.lower():
                continue
            value = next((v for k, v in record.items() if k.lower() == rule.field.lower()), None)
            if value == rule.equals:
                return ApiError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, [])
        if self.record_lock_rate and self.rng.random() < self.record_lock_rate:
            return unable_to_lock_row()
        return None


def error_for(name: str) -> ApiError:
    if name == "503":
        return ApiError(503, "SERVER_UNAVAILABLE", "Server is temporarily unavailable. Please try again later.")
    if name == "500":
        return ApiError(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId "
            "if you contact support: 1234567890-12345 (-1234567890)",
        )
    if name == "UNABLE_TO_LOCK_ROW":
        return unable_to_lock_row()
    if name == "REQUEST_LIMIT_EXCEEDED":
        return request_limit_exceeded()
    if name == "INVALID_SESSION_ID":
        return invalid_session()
    raise ValueError(name)
