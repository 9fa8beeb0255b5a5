"""Queues by workload, with the default timeout of a job on each.

Workers listen in the order of ``QUEUES``: Salesforce writes first (a customer's renewal should show up in
the rep's org within seconds), then email, then housekeeping, then the long pulls.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueSpec:
    name: str
    timeout_seconds: int
    holds: str


PUSH = "push"
EMAIL = "email"
DEFAULT = "default"
PULL = "pull"

QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(PUSH, 120, "Salesforce writes from the outbox; latency-sensitive, small batches."),
    QueueSpec(EMAIL, 300, "Rendering and sending reminder emails through SES."),
    QueueSpec(DEFAULT, 300, "Planning, housekeeping and the scheduler's heartbeat."),
    QueueSpec(PULL, 3600, "Pulls and reconciles from Salesforce; long-running, may use Bulk API 2.0."),
)

QUEUE_NAMES: tuple[str, ...] = tuple(spec.name for spec in QUEUES)


def queue_spec(name: str) -> QueueSpec:
    for spec in QUEUES:
        if spec.name == name:
            return spec
    raise ValueError(f"unknown queue {name!r}; the queues are {', '.join(QUEUE_NAMES)}")
