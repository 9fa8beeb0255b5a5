"""Run records: a finished reconcile or push as a ``sync_runs`` row the admin console lists beside the pulls
(which record their own run as they go, see :class:`sync_service.pull.run.Puller`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from sync_service.salesforce.budget import record_api_usage
from sync_service.store import models


def record_run(
    session: Session,
    *,
    mapping_name: str,
    kind: str,
    started: datetime,
    status: str,
    error: str | None,
    rows: dict[str, Any],
    api_calls: int,
    usage_recorded: bool = False,
) -> None:
    """A finished reconcile or push as a `sync_runs` row, and (unless the job already did) its API calls
    against the day's budget."""
    session.add(
        models.SyncRun(
            mapping_name=mapping_name,
            kind=kind,
            started_at=started,
            finished_at=datetime.now(UTC),
            status=status,
            error=error,
            rows=rows,
            api_calls=api_calls,
        )
    )
    if not usage_recorded:
        record_api_usage(session, f"{kind}:{mapping_name}", api_calls)
