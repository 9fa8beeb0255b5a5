"""The Salesforce API budget in force, and the check of a budget an admin types in the console.

Stored as ``{"daily_budget": int, "reserve": int}``; without it, ``RENEWALS_API_DAILY_BUDGET`` and
``RENEWALS_API_RESERVE`` apply. Pulls, pushes and quote downloads read it on every run, never the environment
directly, so a change applies at once. Nothing here stores: see :mod:`sync_service.console_settings.store`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from sync_service.console_settings.store import API_BUDGET, SettingProblems, stored
from sync_service.console_settings.typed_numbers import whole_number
from sync_service.salesforce.budget import Budget, check_budget
from sync_service.salesforce.transport import ApiMeter

MAX_API_CALLS = 100_000_000  # far above any org's daily limit: a bigger number is a typing mistake


def api_budget(session: Session, settings: Settings) -> Budget:
    """The daily API budget and reserve in force: the console's, else RENEWALS_API_DAILY_BUDGET/_RESERVE."""
    value = stored(session, API_BUDGET) or {}
    return Budget(
        daily_budget=int(value.get("daily_budget", settings.api_daily_budget)),
        reserve=int(value.get("reserve", settings.api_reserve)),
    )


def check_budget_in_force(sessions: sessionmaker[Session], meter: ApiMeter, settings: Settings) -> None:
    """`check_budget` against the budget in force (:func:`api_budget`, read in a session of its own): raises
    BudgetPaused, saying why, when the org's reserve or the service's daily budget is reached."""
    with sessions() as session:
        budget = api_budget(session, settings)
    check_budget(sessions, meter, budget)


def check_api_budget(daily_budget: str, reserve: str) -> dict[str, Any]:
    """The value to store for the budget fields as typed; raises SettingProblems.

    The budget must be at least 1 and the reserve at least 0. They are not compared: the budget caps the calls
    *this service* makes in a day, the reserve is what it leaves of *the org's* remaining daily limit (shared
    with every other integration), so a reserve larger than the budget is ordinary (an org with 100,000 calls
    a day keeps 20,000 for others and lets this service use 10,000).
    """
    problems: dict[str, str] = {}
    budget = whole_number(daily_budget, "daily_budget", 1, MAX_API_CALLS, problems)
    kept = whole_number(reserve, "reserve", 0, MAX_API_CALLS, problems)
    if problems:
        raise SettingProblems(problems)
    return {"daily_budget": budget, "reserve": kept}
