"""The API budget setting (``sync_service.console_settings.api_budget``): the check that refuses a bad budget
field by field, and the budget check of pulls and pushes keeping to the console's budget (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from sync_service import console_settings as cs
from sync_service.salesforce.budget import check_budget
from sync_service.salesforce.errors import BudgetPaused
from sync_service.store import models

ACTOR = "admin:test"


def test_the_budget_check_pauses_at_the_console_budget(store: sessionmaker[Session], settings: Settings) -> None:
    class Meter:
        org_remaining = 50_000

    with store() as session:
        session.add(models.ApiUsage(day=datetime.now(UTC).date(), job_name="pull", calls=30))
        cs.store(session, cs.API_BUDGET, cs.check_api_budget("30", "0"), actor=ACTOR)
        session.commit()
        budget = cs.api_budget(session, settings)
    with pytest.raises(BudgetPaused, match="used 30 of its 30 API calls"):
        check_budget(store, Meter(), budget)  # type: ignore[arg-type]
    with store() as session:
        cs.store(session, cs.API_BUDGET, cs.check_api_budget("1000", "60000"), actor=ACTOR)
        session.commit()
        budget = cs.api_budget(session, settings)
    with pytest.raises(BudgetPaused, match="50000 API calls left today and 60000 are kept in reserve"):
        check_budget(store, Meter(), budget)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("budget", "reserve", "problems"),
    [
        ("0", "0", {"daily_budget": "must be from 1 to 100,000,000, not 0"}),
        ("-5", "10", {"daily_budget": "must be from 1 to 100,000,000, not -5"}),
        ("ten", "", {"daily_budget": "'ten' is not a whole number", "reserve": "required"}),
        (
            "1.5",
            "-1",
            {"daily_budget": "'1.5' is not a whole number", "reserve": "must be from 0 to 100,000,000, not -1"},
        ),
        ("100000001", "0", {"daily_budget": "must be from 1 to 100,000,000, not 100,000,001"}),
    ],
)
def test_a_bad_budget_is_refused_field_by_field(budget: str, reserve: str, problems: dict[str, str]) -> None:
    with pytest.raises(cs.SettingProblems) as refused:
        cs.check_api_budget(budget, reserve)
    assert refused.value.problems == problems


def test_a_reserve_above_the_budget_is_fine() -> None:
    # They count different things: this service's calls, and what is left of the org's shared limit.
    assert cs.check_api_budget(" 10,000 ", "20000") == {"daily_budget": 10_000, "reserve": 20_000}
