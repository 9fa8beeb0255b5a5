"""Settings an admin changes in the console, stored in ``console_settings``; each overrides the file or
environment default it stands for until an admin resets it.

Readers ask for the *effective* value here (never read the environment default directly when an override
can exist), so a change in the console reaches the jobs and the web app on their next use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from sync_service.pull.run import Budget
from sync_service.store.models import ConsoleSetting, utcnow

API_BUDGET = "api_budget"


def stored(session: Session, name: str) -> dict[str, Any] | None:
    """The admin's value of setting `name`, or None when the default applies."""
    value = session.scalar(select(ConsoleSetting.value).where(ConsoleSetting.name == name))
    return dict(value) if value is not None else None


def store(session: Session, name: str, value: dict[str, Any], *, actor: str) -> None:
    """Save the admin's value (the caller validated it, audits it and commits)."""
    row = session.scalar(select(ConsoleSetting).where(ConsoleSetting.name == name))
    if row is None:
        session.add(ConsoleSetting(name=name, value=value, updated_by=actor, updated_at=utcnow()))
    else:
        row.value, row.updated_by, row.updated_at = value, actor, utcnow()
    session.flush()


def reset(session: Session, name: str) -> None:
    """Forget the admin's value: the file or environment default applies again."""
    row = session.scalar(select(ConsoleSetting).where(ConsoleSetting.name == name))
    if row is not None:
        session.delete(row)
        session.flush()


def api_budget(session: Session, settings: Settings) -> Budget:
    """The daily API budget and reserve in force: the console's, else RENEWALS_API_DAILY_BUDGET/_RESERVE."""
    value = stored(session, API_BUDGET) or {}
    return Budget(
        daily_budget=int(value.get("daily_budget", settings.api_daily_budget)),
        reserve=int(value.get("reserve", settings.api_reserve)),
    )
