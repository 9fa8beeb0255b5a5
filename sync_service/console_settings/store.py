"""The console's override store: one row per setting an admin changed (table ``console_settings``), holding the
admin's value as JSON, who changed it and when. A setting without a row is at its file or environment default.

Generic: it knows the settings' names and nothing of their values. Each setting's module checks a value before
it is stored here (raising :class:`SettingProblems` when it cannot be used) and reads it back. Nothing here
commits: the caller stores, audits the change and commits, all in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync_service.store.models import ConsoleSetting, utcnow

CADENCE = "cadence"
BRANDS = "brands"
API_BUDGET = "api_budget"
BOT_RULES = "bot_rules"
SALESFORCE_ROLES = "salesforce_roles"
NAMES = (CADENCE, BRANDS, API_BUDGET, BOT_RULES, SALESFORCE_ROLES)


class SettingProblems(ValueError):
    """What an admin entered cannot be used: each form field named, with why. Nothing was stored."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in self.problems.items()))


def stored(session: Session, name: str) -> dict[str, Any] | None:
    """The admin's value of setting `name`, or None when the default applies."""
    value = session.scalar(select(ConsoleSetting.value).where(ConsoleSetting.name == name))
    return dict(value) if value is not None else None


def row(session: Session, name: str) -> ConsoleSetting | None:
    """The stored row of setting `name` (who changed it and when), or None when the default applies."""
    return session.scalar(select(ConsoleSetting).where(ConsoleSetting.name == name))


def store(session: Session, name: str, value: dict[str, Any], *, actor: str) -> None:
    """Save the admin's value (the caller validated it, audits it and commits)."""
    found = row(session, name)
    if found is None:
        session.add(ConsoleSetting(name=name, value=value, updated_by=actor, updated_at=utcnow()))
    else:
        found.value, found.updated_by, found.updated_at = value, actor, utcnow()
    session.flush()


def reset(session: Session, name: str) -> None:
    """Forget the admin's value: the file or environment default applies again."""
    found = row(session, name)
    if found is not None:
        session.delete(found)
        session.flush()
