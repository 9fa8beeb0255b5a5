"""The cadence setting (``sync_service.console_settings.cadence``): the checks that refuse a bad cadence, typed
as YAML or stage by stage, beside the field at fault; the per-stage form keeping the segments' rules; and the
planner planning the console's cadence (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from sync_service import console_settings as cs
from sync_service.planning.cadence import parse_cadence_text
from sync_service.planning.planner import plan_reminders
from sync_service.store import models
from tests.factories import make_contract

ACTOR = "admin:test"


def test_the_planner_plans_the_console_cadence(store: sessionmaker[Session], settings: Settings) -> None:
    today = date(2026, 6, 1)
    with store() as session:
        contract = make_contract(session, end_date=today + timedelta(days=40))
        cs.store(session, cs.CADENCE, cs.check_cadence_text("default: {days_before_end: [45]}\n"), actor=ACTOR)
        session.commit()
        summary = plan_reminders(session, today=today, cadence=cs.cadence(session, settings))
        session.commit()
        assert summary.planned == 1
        offsets = session.scalars(select(models.Reminder.offset_days).where(models.Reminder.contract_id == contract.id))
        assert offsets.all() == [-45]  # the file's cadence has no stage 45 days before the end


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the cadence is empty"),
        ("default: {days_before_end: [30, 30]}", "default.days_before_end: 30 appears twice"),
        ("default: {days_before_end: [400]}", "400 is outside 0 to 365 days"),
        ("default: {days_before_end: [30]}\ndefault: {days_after_end: [7]}", "the key 'default' is given twice"),
        ("segments: []", "default: missing"),
        ("default: {days_before: [30]}", "did you mean 'days_before_end'?"),
        ("default: [", "not valid YAML"),
    ],
)
def test_a_bad_cadence_is_refused_with_the_problem(text: str, reason: str) -> None:
    with pytest.raises(cs.SettingProblems) as refused:
        cs.check_cadence_text(text)
    assert reason in refused.value.problems["yaml"]


SEGMENTED = """\
catch_up_days: 30
default:
  days_before_end: [90, 30]
segments:
  - name: enterprise
    when: {amount_at_least: 50000, currency: [USD, EUR]}
    days_before_end: [120, 60]
    days_after_end: [7]
"""


def test_the_stage_form_changes_stages_and_keeps_the_segment_rules() -> None:
    parsed = parse_cadence_text(SEGMENTED)
    assert cs.stage_fields(parsed) == [
        cs.StageFields("default", "90, 30", ""),
        cs.StageFields("enterprise", "120, 60", "7"),
    ]
    value = cs.check_stages(SEGMENTED, "14", {"default": ("60 30 7", "7"), "enterprise": ("180,90", "")})
    cadence = parse_cadence_text(value["yaml"])
    assert cadence.catch_up_days == 14
    assert cadence.default.offsets == (-60, -30, -7, 7)
    [enterprise, _] = cadence.segments
    assert enterprise.offsets == (-180, -90)
    assert enterprise.rule is not None and enterprise.rule.currencies == ("USD", "EUR")


@pytest.mark.parametrize(
    ("stages", "catch_up", "problems"),
    [
        ({"default": ("90, soon", "")}, "30", {"default.days_before_end": "'soon': write whole numbers of days"}),
        ({"enterprise": ("400", "")}, "30", {"enterprise.days_before_end": "400 is outside 0 to 365 days"}),
        ({"enterprise": ("", "")}, "30", {"enterprise.days_before_end": "no stages"}),
        ({"default": ("0", "0")}, "30", {"default.days_after_end": "0 days before and after the end date"}),
        ({"default": ("30", "")}, "-1", {"catch_up_days": "must be from 0"}),
        ({"default": ("30", "")}, "400", {"catch_up_days": "catch_up_days: must be a whole number of days from 0"}),
        ({"retired": ("30", "")}, "30", {"retired.days_before_end": "no segment 'retired'"}),
    ],
)
def test_bad_stages_are_refused_beside_their_field(
    stages: dict[str, tuple[str, str]], catch_up: str, problems: dict[str, str]
) -> None:
    with pytest.raises(cs.SettingProblems) as refused:
        cs.check_stages(SEGMENTED, catch_up, stages)
    assert set(refused.value.problems) == set(problems)
    for field, reason in problems.items():
        assert reason in refused.value.problems[field]
