"""Scheduled pulls: incremental every few minutes, a full reconcile nightly (sync_service.pull).

Pull jobs get no RQ retry: transient errors are retried inside the pull (one that outlasts those retries
leaves the run "retrying", blocking nothing), permanent ones are recorded on the run for the admin, and the
next tick is the retry. Records skipped as malformed are counted in the summary.
"""

from __future__ import annotations

from typing import Any

import structlog

from config.settings import get_settings
from sync_service.pull.run import PullResult
from sync_service.pull.service import NothingToPull, pull_all, reconcile_all
from sync_service.store.db import current_database

log = structlog.get_logger(__name__)


def pull_job(full: bool = False) -> list[dict[str, Any]]:
    try:
        outcomes = pull_all(current_database(), get_settings(), full=full)
    except NothingToPull as exc:
        log.info("nothing to pull", reason=str(exc))
        return []
    summary = []
    for outcome in outcomes:
        if isinstance(outcome, PullResult):
            entry = {
                "run_id": outcome.run_id,
                "status": outcome.status,
                "rows": outcome.rows,
                "skipped": {entity: n for entity, n in outcome.skipped_count.items() if n},
                "api_calls": outcome.api_calls,
                "error": outcome.error,
            }
        else:
            entry = {"mapping": outcome.mapping_name, "status": "skipped", "reason": outcome.reason}
        log.info("pull", **entry)
        summary.append(entry)
    return summary


def reconcile_job() -> dict[str, dict[str, int]]:
    try:
        results = reconcile_all(current_database(), get_settings())
    except NothingToPull as exc:
        log.info("nothing to reconcile", reason=str(exc))
        return {}
    for name, result in results.items():
        log.info("reconcile", mapping=name, status=result.status, removed=result.removed, error=result.error)
    return {name: result.removed for name, result in results.items()}
