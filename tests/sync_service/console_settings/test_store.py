"""The console's override store (``sync_service.console_settings.store``): each setting the domain holds is its
file or environment default until a value is stored, the stored value once it is (who stored it is kept), and the
default again after a reset — on SQLite and PostgreSQL. (The brands' part: tests/email_actions/mail/
test_brand_settings.py.)"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from sync_service import console_settings as cs
from sync_service.bot_classifier import BotRules
from sync_service.salesforce.budget import Budget
from sync_service.store import models

ACTOR = "admin:test"


def test_every_setting_is_its_default_until_stored_and_again_after_reset(
    store: sessionmaker[Session], settings: Settings
) -> None:
    with store() as session:
        assert cs.api_budget(session, settings) == Budget(settings.api_daily_budget, settings.api_reserve)
        assert cs.cadence(session, settings).default.offsets == (-90, -60, -30, -7, 7, 30)
        assert cs.cadence_text(session, settings) == settings.cadence_file.read_text()
        assert cs.bot_rules(session, settings) == BotRules(ranges=settings.bot_address_ranges)

        cs.store(session, cs.API_BUDGET, cs.check_api_budget("2,500", "100000"), actor=ACTOR)
        cs.store(session, cs.CADENCE, cs.check_cadence_text("default: {days_before_end: [45, 15]}"), actor=ACTOR)
        rules = cs.check_bot_rules("40.92.0.0/15\n2a01:111::/32", "AcmeScan", "2.5", "10", "4")
        cs.store(session, cs.BOT_RULES, rules, actor=ACTOR)
        session.commit()

    with store() as session:
        assert cs.api_budget(session, settings) == Budget(daily_budget=2500, reserve=100_000)
        assert cs.cadence(session, settings).default.offsets == (-45, -15)
        assert cs.bot_rules(session, settings) == BotRules(
            ranges=("40.92.0.0/15", "2a01:111::/32"),
            agent_substrings=("AcmeScan",),
            too_soon_seconds=2.5,
            burst_seconds=10.0,
            burst_links=4,
        )
        found = cs.row(session, cs.CADENCE)
        assert found is not None and found.updated_by == ACTOR
        for name in (cs.API_BUDGET, cs.CADENCE, cs.BOT_RULES):
            cs.reset(session, name)
        session.commit()

    with store() as session:
        assert session.scalars(select(models.ConsoleSetting)).all() == []
        assert cs.api_budget(session, settings).daily_budget == settings.api_daily_budget
        assert cs.cadence(session, settings).default.offsets == (-90, -60, -30, -7, 7, 30)


def test_storing_again_replaces_the_value_and_resetting_a_default_changes_nothing(
    store: sessionmaker[Session],
) -> None:
    with store() as session:
        cs.reset(session, cs.API_BUDGET)  # nothing stored: nothing to forget
        cs.store(session, cs.API_BUDGET, {"daily_budget": 5, "reserve": 0}, actor="admin:first")
        cs.store(session, cs.API_BUDGET, {"daily_budget": 7, "reserve": 1}, actor=ACTOR)
        session.commit()
    with store() as session:
        [row] = session.scalars(select(models.ConsoleSetting)).all()
        assert (row.name, row.value, row.updated_by) == (cs.API_BUDGET, {"daily_budget": 7, "reserve": 1}, ACTOR)
        assert cs.stored(session, cs.API_BUDGET) == {"daily_budget": 7, "reserve": 1}
        assert cs.stored(session, cs.CADENCE) is None and cs.row(session, cs.CADENCE) is None


def test_a_problem_names_each_field_with_why() -> None:
    problems = cs.SettingProblems({"daily_budget": "required", "reserve": "must be from 0"})
    assert problems.problems == {"daily_budget": "required", "reserve": "must be from 0"}
    assert str(problems) == "daily_budget: required; reserve: must be from 0"
    assert isinstance(problems, ValueError)
