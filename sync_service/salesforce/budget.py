"""The Salesforce API budget: the calls this service may make per UTC day (all jobs together), and the part of
the org's remaining daily limit it always leaves to other integrations.

Pulls, pushes, quote downloads and the admin console's org calls check it before they call (:func:`check_budget`)
and count what they spent in ``api_usage`` (:func:`add_api_usage` in a transaction of its own,
:func:`record_api_usage` inside the caller's). The effective budget is the admin console's, else the environment's
(``sync_service.console_settings.api_budget``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sync_service.salesforce.errors import BudgetPaused
from sync_service.salesforce.transport import ApiMeter
from sync_service.store import models


@dataclass
class Budget:
    daily_budget: int  # calls this service may make per UTC day (all jobs together)
    reserve: int  # calls to leave unused of the org's remaining daily limit


def check_budget(sessions: sessionmaker[Session], meter: ApiMeter, budget: Budget, *, unrecorded: int = 0) -> None:
    """Raise BudgetPaused, saying why, when the org's reserve or the service's daily budget is reached.
    `unrecorded`: calls the running job made that are not in `api_usage` yet (it records them when it ends)."""
    remaining = meter.org_remaining
    if remaining is not None and remaining <= budget.reserve:
        raise BudgetPaused(
            f"paused: the org has {remaining} API calls left today and {budget.reserve} are kept in "
            "reserve for other integrations (the API reserve: admin console settings, else RENEWALS_API_RESERVE)"
        )
    with sessions() as session:
        total = sum(session.scalars(select(models.ApiUsage.calls).where(models.ApiUsage.day == _utc_today())).all())
    total += unrecorded
    if total >= budget.daily_budget:
        raise BudgetPaused(
            f"paused: the service used {total} of its {budget.daily_budget} API calls today "
            "(the API budget: admin console settings, else RENEWALS_API_DAILY_BUDGET)"
        )


def _utc_today() -> date:
    return datetime.now(UTC).date()


def add_api_usage(sessions: sessionmaker[Session], job_name: str, calls: int) -> bool:
    """Add `calls` to today's usage of `job_name` in a transaction of its own: one atomic increment, safe with
    several processes (the first call of a day inserts the row; a process that loses that race adds to the
    winner's). False if it could not be recorded after three tries."""
    if calls <= 0:
        return True
    day = _utc_today()
    for _ in range(3):
        with sessions() as session:
            result = cast(
                CursorResult[Any],
                session.execute(
                    update(models.ApiUsage)
                    .where(models.ApiUsage.day == day, models.ApiUsage.job_name == job_name)
                    .values(calls=models.ApiUsage.calls + calls)
                ),
            )
            if result.rowcount == 0:
                session.add(models.ApiUsage(day=day, job_name=job_name, calls=calls))
            try:
                session.commit()
                return True
            except IntegrityError:
                session.rollback()
    return False


def record_api_usage(session: Session, job_name: str, calls: int) -> None:
    if calls <= 0:
        return
    day = _utc_today()
    usage = session.scalar(
        select(models.ApiUsage).where(models.ApiUsage.day == day, models.ApiUsage.job_name == job_name)
    )
    if usage is None:
        session.add(models.ApiUsage(day=day, job_name=job_name, calls=calls))
    else:
        usage.calls += calls
