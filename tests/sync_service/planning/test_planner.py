"""The planner on SQLite and PostgreSQL: which reminder rows each contract gets, and when.

The property tests state the rules against a plain-Python oracle over random end dates, run days, states
and cadences; the example tests read as the specification of single situations. Each example builds its
rows in bulk inside a SAVEPOINT of the test's transaction and rolls it back, so examples cost no schema
setup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from sync_service.planning.cadence import Cadence, parse_cadence
from sync_service.planning.planner import (
    CANCEL_CANCELLED,
    CANCEL_DELETED,
    CANCEL_HELD,
    CANCEL_NO_CONTACT,
    CANCEL_NOT_DUE,
    CANCEL_RENEWED,
    CANCEL_SUPERSEDED,
    CANCEL_SUPPRESSED,
    CANCELLED,
    PLANNED,
    SENT,
    SKIP_LATER_DUE,
    SKIPPED,
    PlanSummary,
    plan_reminders,
    skip_too_late,
)
from sync_service.store.db import make_engine
from sync_service.store.models import Account, Contact, Contract, Reminder

TODAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)

DEFAULT = parse_cadence({"default": {"days_before_end": [90, 60, 30, 7], "days_after_end": [7, 30]}})
SEGMENTED = parse_cadence(
    {
        "default": {"days_before_end": [90, 60, 30, 7], "days_after_end": [7, 30]},
        "segments": [
            {"name": "big", "when": {"amount_at_least": 50000}, "days_before_end": [120, 60], "days_after_end": [3]},
            {"name": "resold", "when": {"reseller": True}, "days_before_end": [45, 10]},
        ],
    }
)

# Every way a contract is not to be reminded, with the reason a planned reminder is cancelled for it.
EXCLUDED = {
    "cancelled": CANCEL_CANCELLED,
    "held": CANCEL_HELD,
    "renewed": CANCEL_RENEWED,
    "deleted": CANCEL_DELETED,
    "suppressed": CANCEL_SUPPRESSED,
    "no_contact": CANCEL_NO_CONTACT,
    "contact_deleted": CANCEL_NO_CONTACT,
    "no_email": CANCEL_NO_CONTACT,
}
STATES = ("live", *EXCLUDED)

DB_PROPERTY = settings(
    max_examples=100,
    # Each example rolls its own SAVEPOINT back, so sharing the test's session between examples is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Spec:
    """One contract of an example: its end date as days from the run day, and what state it is in."""

    end_in_days: int | None
    state: str = "live"
    reseller: bool = False
    amount: Decimal | None = None
    currency: str | None = "EUR"


# --- building rows in bulk ------------------------------------------------------------------------------


@contextmanager
def rolled_back(session: Session) -> Iterator[None]:
    savepoint = session.begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()


def add_contracts(session: Session, specs: Sequence[Spec], today: date) -> list[int]:
    """Insert the contracts (with account, contacts and a reseller) in three statements; returns their ids."""
    customer, reseller = session.scalars(
        insert(Account).returning(Account.id, sort_by_parameter_order=True),
        [
            {"sf_id": "001000000000000001", "name": "Customer"},
            {"sf_id": "001000000000000002", "name": "Reseller", "is_reseller": True},
        ],
    ).all()
    contacts = [
        {
            "sf_id": f"003{n:015d}",
            "account_id": customer,
            "email": None if spec.state == "no_email" else f"buyer{n}@example.com",
            "is_deleted": spec.state == "contact_deleted",
            "suppressed_at": NOW if spec.state == "suppressed" else None,
        }
        for n, spec in enumerate(specs)
        if spec.state != "no_contact"
    ]
    # An empty parameter list would insert one row of defaults, not none.
    returning = insert(Contact).returning(Contact.id, sort_by_parameter_order=True)
    contact_ids = iter(session.scalars(returning, contacts).all() if contacts else [])
    return list(
        session.scalars(
            insert(Contract).returning(Contract.id, sort_by_parameter_order=True),
            [
                {
                    "sf_id": f"800{n:015d}",
                    "account_id": customer,
                    "contact_id": None if spec.state == "no_contact" else next(contact_ids),
                    "reseller_account_id": reseller if spec.reseller else None,
                    "end_date": None if spec.end_in_days is None else today + timedelta(days=spec.end_in_days),
                    "status": "Activated",
                    "amount": spec.amount,
                    "currency": spec.currency,
                    "is_cancelled": spec.state == "cancelled",
                    "is_held": spec.state == "held",
                    "is_deleted": spec.state == "deleted",
                    "renewed_at": NOW if spec.state == "renewed" else None,
                }
                for n, spec in enumerate(specs)
            ],
        ).all()
    )


@dataclass(frozen=True)
class Row:
    status: str
    due_on: date
    segment: str
    reason: str | None


def reminders(session: Session) -> dict[tuple[int, int], Row]:
    """All reminder rows by (contract id, offset), read as plain values (never stale ORM objects)."""
    result = session.execute(
        select(
            Reminder.contract_id,
            Reminder.offset_days,
            Reminder.status,
            Reminder.due_on,
            Reminder.segment,
            Reminder.reason,
        )
    )
    rows = {(r.contract_id, r.offset_days): Row(r.status, r.due_on, r.segment, r.reason) for r in result.all()}
    count = session.scalar(select(func.count()).select_from(Reminder))
    assert count == len(rows), "a contract has two rows for one stage"
    return rows


def statuses(session: Session, contract_id: int) -> dict[int, str]:
    return {offset: row.status for (cid, offset), row in reminders(session).items() if cid == contract_id}


def set_contract(session: Session, contract_id: int, **values: Any) -> None:
    session.execute(update(Contract).where(Contract.id == contract_id).values(**values))


def send_planned(session: Session) -> None:
    """What the send job will do: take every planned reminder and send it."""
    session.execute(update(Reminder).where(Reminder.status == PLANNED).values(status=SENT))


# --- the oracle -----------------------------------------------------------------------------------------


def expected_rows(spec: Spec, cadence: Cadence, today: date) -> dict[int, Row]:
    """What one planner run on an empty store must leave for one contract, by offset, stated day by day."""
    if spec.state != "live" or spec.end_in_days is None:
        return {}
    end = today + timedelta(days=spec.end_in_days)
    segment = cadence.segment_for(reseller=spec.reseller, amount=spec.amount, currency=spec.currency)
    catch_up = cadence.catch_up_days
    if (today - (end + timedelta(days=segment.offsets[-1]))).days > catch_up:
        return {}  # its last stage is past catching up: a finished contract
    due = [offset for offset in segment.offsets if end + timedelta(days=offset) <= today]
    rows = {offset: Row(SKIPPED, end + timedelta(days=offset), segment.name, None) for offset in due}
    if due and (today - (end + timedelta(days=due[-1]))).days <= catch_up:
        rows[due[-1]] = Row(PLANNED, end + timedelta(days=due[-1]), segment.name, None)
    return rows


# --- strategies -----------------------------------------------------------------------------------------

AMOUNTS = (None, Decimal("999.99"), Decimal("49999.99"), Decimal("50000.00"), Decimal("120000.00"))

specs_strategy = st.lists(
    st.builds(
        Spec,
        end_in_days=st.one_of(st.none(), st.integers(-450, 450)),
        # Half live, half spread over the excluded states.
        state=st.one_of(st.just("live"), st.sampled_from(STATES)),
        reseller=st.booleans(),
        amount=st.sampled_from(AMOUNTS),
        currency=st.sampled_from((None, "EUR", "USD")),
    ),
    min_size=1,
    max_size=12,
)


def stage_lists(offsets: set[int]) -> dict[str, list[int]]:
    return {
        "days_before_end": sorted(-offset for offset in offsets if offset < 0),
        "days_after_end": sorted(offset for offset in offsets if offset >= 0),
    }


offsets_strategy = st.sets(st.integers(-365, 365), min_size=1, max_size=6)


@st.composite
def cadences(draw: st.DrawFn) -> Cadence:
    """A random valid cadence with up to two rule segments, built through the parser."""
    segments: list[dict[str, Any]] = []
    if draw(st.booleans()):
        segments.append({"name": "resold", "when": {"reseller": True}, **stage_lists(draw(offsets_strategy))})
    if draw(st.booleans()):
        rule = {"amount_at_least": 50000, "currency": ["EUR", "USD"]}
        big = {"name": "big", "when": rule, **stage_lists(draw(offsets_strategy))}
        segments.insert(draw(st.integers(0, len(segments))), big)
    return parse_cadence(
        {
            "catch_up_days": draw(st.integers(0, 60)),
            "default": stage_lists(draw(offsets_strategy)),
            "segments": segments,
        }
    )


days_strategy = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31))


# --- properties -----------------------------------------------------------------------------------------


@DB_PROPERTY
@given(specs=specs_strategy, cadence=cadences(), today=days_strategy)
def test_one_run_plans_only_the_latest_due_stage_of_each_live_contract(
    db_session: Session, specs: list[Spec], cadence: Cadence, today: date
) -> None:
    with rolled_back(db_session):
        ids = add_contracts(db_session, specs, today)
        summary = plan_reminders(db_session, today=today, cadence=cadence, now=NOW)
        rows = reminders(db_session)

        expected = {}
        for contract_id, spec in zip(ids, specs, strict=True):
            for offset, row in expected_rows(spec, cadence, today).items():
                expected[contract_id, offset] = row
        # Reasons are checked by the example tests; here: which rows, in which state, due when, which segment.
        assert {key: replace(row, reason=None) for key, row in rows.items()} == expected
        assert all(row.due_on <= today for row in rows.values())
        assert summary == PlanSummary(
            today=today,
            planned=sum(row.status == PLANNED for row in rows.values()),
            skipped=sum(row.status == SKIPPED for row in rows.values()),
        )

        again = plan_reminders(db_session, today=today, cadence=cadence, now=NOW + timedelta(hours=1))
        assert again == PlanSummary(today=today)
        assert reminders(db_session) == rows


CHANGES = ("hold", "resume", "cancel", "renew", "suppress", "end_later", "end_earlier", "end_unknown")


@DB_PROPERTY
@given(
    specs=specs_strategy,
    cadence=cadences(),
    start=days_strategy,
    steps=st.lists(
        st.tuples(
            st.integers(0, 45),  # days since the previous run
            st.lists(st.tuples(st.integers(0, 11), st.sampled_from(CHANGES)), max_size=3),
            st.booleans(),  # whether the send job ran after this run
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_over_time_no_contract_ever_has_two_planned_reminders_and_rows_only_move_forward(
    db_session: Session,
    specs: list[Spec],
    cadence: Cadence,
    start: date,
    steps: list[tuple[int, list[tuple[int, str]], bool]],
) -> None:
    with rolled_back(db_session):
        ids = add_contracts(db_session, specs, start)
        day = start
        before: dict[tuple[int, int], Row] = {}
        for gap, changes, sent in steps:
            day += timedelta(days=gap)
            for index, change in changes:
                apply_change(db_session, ids[index % len(ids)], change)
            plan_reminders(db_session, today=day, cadence=cadence, now=NOW)
            after = reminders(db_session)

            for key, row in before.items():
                # Rows are never removed, and only a planned row changes: to cancelled (or sent, by the send job).
                assert key in after
                assert after[key].status == row.status or (row.status == PLANNED and after[key].status == CANCELLED)
            assert all(row.due_on <= day for row in after.values())
            live = live_end_dates(db_session)
            for contract_id in ids:
                mine = {offset: row for (cid, offset), row in after.items() if cid == contract_id}
                planned = [offset for offset, row in mine.items() if row.status == PLANNED]
                assert len(planned) <= 1, f"a burst for contract {contract_id}: {mine}"
                new_planned = [o for o in planned if (contract_id, o) not in before]
                assert len(new_planned) <= 1
                if planned:
                    end = live.get(contract_id)
                    assert end is not None, f"contract {contract_id} is not live or has no end date"
                    assert end + timedelta(days=planned[0]) <= day
                    # Never backwards: nothing later than a planned stage was planned or sent before it.
                    later = [row.status for o, row in mine.items() if o > planned[0]]
                    assert set(later) <= {SKIPPED, CANCELLED}

            rerun = plan_reminders(db_session, today=day, cadence=cadence, now=NOW)
            assert rerun == PlanSummary(today=day)
            assert reminders(db_session) == after
            if sent:
                send_planned(db_session)
            before = reminders(db_session)


def apply_change(session: Session, contract_id: int, change: str) -> None:
    end = session.scalar(select(Contract.end_date).where(Contract.id == contract_id))
    if change == "hold":
        set_contract(session, contract_id, is_held=True)
    elif change == "resume":
        set_contract(session, contract_id, is_held=False)
    elif change == "cancel":
        set_contract(session, contract_id, is_cancelled=True)
    elif change == "renew":
        set_contract(session, contract_id, renewed_at=NOW)
    elif change == "suppress":
        contact_id = session.scalar(select(Contract.contact_id).where(Contract.id == contract_id))
        session.execute(update(Contact).where(Contact.id == contact_id).values(suppressed_at=NOW))
    elif change == "end_unknown":
        set_contract(session, contract_id, end_date=None)
    elif end is not None:
        set_contract(session, contract_id, end_date=end + timedelta(days=40 if change == "end_later" else -40))


def live_end_dates(session: Session) -> dict[int, date | None]:
    """Each live contract's end date, by id, worked out in Python from the rows (not by the planner's SQL)."""
    rows = session.execute(
        select(Contract, Contact)
        .outerjoin(Contact, Contract.contact_id == Contact.id)
        .execution_options(populate_existing=True)
    )
    return {
        contract.id: contract.end_date
        for contract, contact in rows
        if not (contract.is_cancelled or contract.is_held or contract.is_deleted or contract.renewed_at)
        and contact is not None
        and not contact.is_deleted
        and contact.email
        and contact.suppressed_at is None
    }


# --- a contract's life, day by day ----------------------------------------------------------------------


def test_planned_daily_and_sent_daily_a_contract_gets_every_stage_on_its_day(db_session: Session) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=100)], TODAY)
    end = TODAY + timedelta(days=100)
    planned_on: dict[int, date] = {}
    for day_number in range(5, 135):
        day = TODAY + timedelta(days=day_number)
        summary = plan_reminders(db_session, today=day, cadence=DEFAULT, now=NOW)
        for offset, status in statuses(db_session, contract_id).items():
            if status == PLANNED:
                planned_on[offset] = day
                assert summary.planned == 1
        send_planned(db_session)
    assert planned_on == {offset: end + timedelta(days=offset) for offset in (-90, -60, -30, -7, 7, 30)}
    assert set(statuses(db_session, contract_id).values()) == {SENT}


def test_stages_still_to_come_are_not_planned_yet(db_session: Session) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=91)], TODAY)
    assert plan_reminders(db_session, today=TODAY, cadence=DEFAULT) == PlanSummary(today=TODAY)
    assert statuses(db_session, contract_id) == {}


def test_a_contract_discovered_late_gets_only_the_latest_due_stage(db_session: Session) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=20)], TODAY)
    summary = plan_reminders(db_session, today=TODAY, cadence=DEFAULT, now=NOW)
    assert summary == PlanSummary(today=TODAY, planned=1, skipped=2)
    rows = {offset: row for (cid, offset), row in reminders(db_session).items() if cid == contract_id}
    end = TODAY + timedelta(days=20)
    assert rows == {
        -90: Row(SKIPPED, end - timedelta(days=90), "default", SKIP_LATER_DUE),
        -60: Row(SKIPPED, end - timedelta(days=60), "default", SKIP_LATER_DUE),
        -30: Row(PLANNED, end - timedelta(days=30), "default", None),
    }


def test_a_stage_found_more_than_catch_up_days_after_its_day_is_skipped(db_session: Session) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=15)], TODAY)
    plan_reminders(db_session, today=TODAY, cadence=replace(DEFAULT, catch_up_days=10))
    # Its latest due stage, 30 days before the end, was 15 days ago: recorded as skipped, nothing to send;
    # the next one, 7 days before the end, will be planned on its day.
    assert statuses(db_session, contract_id) == {-90: SKIPPED, -60: SKIPPED, -30: SKIPPED}
    assert reminders(db_session)[contract_id, -30] == Row(
        SKIPPED, TODAY - timedelta(days=15), "default", skip_too_late(10)
    )
    plan_reminders(db_session, today=TODAY + timedelta(days=8), cadence=replace(DEFAULT, catch_up_days=10))
    assert statuses(db_session, contract_id)[-7] == PLANNED


def test_within_catch_up_days_a_late_stage_is_still_planned(db_session: Session) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=-45)], TODAY)
    plan_reminders(db_session, today=TODAY, cadence=DEFAULT)
    assert statuses(db_session, contract_id)[30] == PLANNED


def test_a_contract_whose_last_stage_is_past_catching_up_is_left_alone(db_session: Session) -> None:
    ids = add_contracts(db_session, [Spec(end_in_days=-61), Spec(end_in_days=-900)], TODAY)
    assert plan_reminders(db_session, today=TODAY, cadence=DEFAULT) == PlanSummary(today=TODAY)
    assert all(statuses(db_session, contract_id) == {} for contract_id in ids)


@pytest.mark.parametrize("state", sorted(EXCLUDED))
def test_excluded_contracts_get_nothing(db_session: Session, state: str) -> None:
    ids = add_contracts(db_session, [Spec(end_in_days=days, state=state) for days in (90, 20, -7, -30)], TODAY)
    assert plan_reminders(db_session, today=TODAY, cadence=DEFAULT) == PlanSummary(today=TODAY)
    assert all(statuses(db_session, contract_id) == {} for contract_id in ids)


def test_a_contract_without_an_end_date_gets_nothing(db_session: Session) -> None:
    add_contracts(db_session, [Spec(end_in_days=None)], TODAY)
    assert plan_reminders(db_session, today=TODAY, cadence=DEFAULT) == PlanSummary(today=TODAY)
    assert reminders(db_session) == {}


EXCLUDING_CHANGES: dict[str, tuple[str, dict[str, Any]]] = {
    "cancelled": ("contract", {"is_cancelled": True}),
    "held": ("contract", {"is_held": True}),
    "renewed": ("contract", {"renewed_at": NOW}),
    "deleted": ("contract", {"is_deleted": True}),
    "suppressed": ("contact", {"suppressed_at": NOW}),
    "no_contact": ("contract", {"contact_id": None}),
    "contact_deleted": ("contact", {"is_deleted": True}),
    "no_email": ("contact", {"email": None}),
}


@pytest.mark.parametrize("state", sorted(EXCLUDED))
def test_a_planned_unsent_reminder_is_cancelled_with_the_reason_when_the_contract_is_excluded(
    db_session: Session, state: str
) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=90)], TODAY)
    plan_reminders(db_session, today=TODAY, cadence=DEFAULT)
    assert statuses(db_session, contract_id) == {-90: PLANNED}

    table, values = EXCLUDING_CHANGES[state]
    if table == "contract":
        set_contract(db_session, contract_id, **values)
    else:
        contact_id = db_session.scalar(select(Contract.contact_id).where(Contract.id == contract_id))
        db_session.execute(update(Contact).where(Contact.id == contact_id).values(**values))
    summary = plan_reminders(db_session, today=TODAY + timedelta(days=1), cadence=DEFAULT)

    assert summary == PlanSummary(today=TODAY + timedelta(days=1), cancelled={EXCLUDED[state]: 1})
    assert reminders(db_session)[contract_id, -90].status == CANCELLED
    assert reminders(db_session)[contract_id, -90].reason == EXCLUDED[state]


def test_sent_and_skipped_reminders_are_history_and_never_change(db_session: Session) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=50)], TODAY)
    plan_reminders(db_session, today=TODAY, cadence=DEFAULT)
    send_planned(db_session)
    set_contract(db_session, contract_id, is_cancelled=True)
    plan_reminders(db_session, today=TODAY + timedelta(days=30), cadence=DEFAULT)
    assert statuses(db_session, contract_id) == {-90: SKIPPED, -60: SENT}


def test_a_lifted_hold_goes_on_with_the_next_stage_without_reviving_the_cancelled_one(db_session: Session) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=90)], TODAY)
    plan_reminders(db_session, today=TODAY, cadence=DEFAULT)
    set_contract(db_session, contract_id, is_held=True)
    plan_reminders(db_session, today=TODAY, cadence=DEFAULT)
    assert statuses(db_session, contract_id) == {-90: CANCELLED}

    # Lifted ten days after the 60-days-before stage: that stage is planned, late but within catching up.
    set_contract(db_session, contract_id, is_held=False)
    summary = plan_reminders(db_session, today=TODAY + timedelta(days=40), cadence=DEFAULT)
    assert summary == PlanSummary(today=TODAY + timedelta(days=40), planned=1)
    assert statuses(db_session, contract_id) == {-90: CANCELLED, -60: PLANNED}


def test_a_reminder_still_unsent_when_the_next_stage_comes_is_cancelled_not_sent_with_it(db_session: Session) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=60)], TODAY)
    plan_reminders(db_session, today=TODAY, cadence=DEFAULT)
    assert statuses(db_session, contract_id) == {-90: SKIPPED, -60: PLANNED}
    summary = plan_reminders(db_session, today=TODAY + timedelta(days=30), cadence=DEFAULT)
    assert summary == PlanSummary(today=TODAY + timedelta(days=30), planned=1, cancelled={CANCEL_SUPERSEDED: 1})
    assert statuses(db_session, contract_id) == {-90: SKIPPED, -60: CANCELLED, -30: PLANNED}


def test_a_moved_end_date_cancels_a_planned_stage_that_is_no_longer_due(db_session: Session) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=7)], TODAY)
    plan_reminders(db_session, today=TODAY, cadence=DEFAULT)
    assert statuses(db_session, contract_id)[-7] == PLANNED
    set_contract(db_session, contract_id, end_date=TODAY + timedelta(days=200))
    summary = plan_reminders(db_session, today=TODAY, cadence=DEFAULT)
    assert summary.cancelled == {CANCEL_NOT_DUE: 1}
    assert reminders(db_session)[contract_id, -7].reason == CANCEL_NOT_DUE


def test_a_stage_earlier_than_one_already_sent_is_not_planned(db_session: Session) -> None:
    (contract_id,) = add_contracts(db_session, [Spec(end_in_days=30)], TODAY)
    plan_reminders(db_session, today=TODAY, cadence=DEFAULT)
    send_planned(db_session)
    # The end date moves 40 days out: the 60-days-before stage is now the latest due, but the customer has
    # already had the 30-days-before reminder; going back to "60 days left" would only confuse.
    set_contract(db_session, contract_id, end_date=TODAY + timedelta(days=70))
    summary = plan_reminders(db_session, today=TODAY + timedelta(days=15), cadence=DEFAULT)
    assert summary.planned == 0
    assert statuses(db_session, contract_id) == {-90: SKIPPED, -60: SKIPPED, -30: SENT}


# --- segments -------------------------------------------------------------------------------------------


def test_each_contract_gets_the_stages_of_its_segment(db_session: Session) -> None:
    big, resold, big_and_resold, unknown_amount, plain = add_contracts(
        db_session,
        [
            Spec(end_in_days=120, amount=Decimal("50000.00")),
            Spec(end_in_days=45, reseller=True, amount=Decimal("49999.99")),
            Spec(end_in_days=120, reseller=True, amount=Decimal("75000.00")),
            Spec(end_in_days=45, reseller=True, amount=None),
            Spec(end_in_days=90, amount=Decimal("10.00")),
        ],
        TODAY,
    )
    plan_reminders(db_session, today=TODAY, cadence=SEGMENTED)
    rows = reminders(db_session)
    assert {(cid, offset, row.segment) for (cid, offset), row in rows.items()} == {
        (big, -120, "big"),
        (resold, -45, "resold"),
        # The first matching segment wins.
        (big_and_resold, -120, "big"),
        (unknown_amount, -45, "resold"),
        (plain, -90, "default"),
    }


@DB_PROPERTY
@given(
    contracts=st.lists(
        st.tuples(st.booleans(), st.sampled_from(AMOUNTS), st.sampled_from((None, "EUR", "USD", "JPY"))),
        min_size=1,
        max_size=12,
    ),
    cadence=cadences(),
)
def test_sql_and_python_agree_on_every_contracts_segment(
    db_session: Session, contracts: list[tuple[bool, Decimal | None, str | None]], cadence: Cadence
) -> None:
    # Each contract's end date is chosen so its segment's first stage is due today: every one gets a row.
    specs = []
    for reseller, amount, currency in contracts:
        segment = cadence.segment_for(reseller=reseller, amount=amount, currency=currency)
        specs.append(Spec(-segment.offsets[0], reseller=reseller, amount=amount, currency=currency))
    with rolled_back(db_session):
        ids = add_contracts(db_session, specs, TODAY)
        plan_reminders(db_session, today=TODAY, cadence=replace(cadence, catch_up_days=0))
        segments = {cid: row.segment for (cid, _), row in reminders(db_session).items()}
        for contract_id, (reseller, amount, currency) in zip(ids, contracts, strict=True):
            expected = cadence.segment_for(reseller=reseller, amount=amount, currency=currency)
            assert segments[contract_id] == expected.name


# --- two planners at once -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_planners_at_once_plan_each_reminder_once(backend: str, migrated_database: Callable[[str], str]) -> None:
    """On a freshly migrated store of each backend (a copy of one migrated once, see tests/conftest.py), a
    second planner running while the first has not committed waits for it, then plans nothing: every
    reminder is planned once."""
    url = migrated_database(backend)
    engine = make_engine(url)
    try:
        with Session(engine) as setup:
            add_contracts(setup, [Spec(end_in_days=days) for days in range(-70, 100, 3)], TODAY)
            setup.commit()

        first = Session(engine)
        first_summary = plan_reminders(first, today=TODAY, cadence=DEFAULT)
        results: list[PlanSummary] = []

        def second_planner() -> None:
            with Session(engine) as second:
                results.append(plan_reminders(second, today=TODAY, cadence=DEFAULT))
                second.commit()

        thread = threading.Thread(target=second_planner)
        thread.start()
        # The second planner waits for the first's uncommitted rows (PostgreSQL: the unique index; SQLite:
        # the write lock), then finds them there.
        thread.join(timeout=0.5)
        assert thread.is_alive()
        first.commit()
        first.close()
        thread.join(timeout=30)
        assert not thread.is_alive()

        assert first_summary.planned > 0
        assert results == [PlanSummary(today=TODAY)]
        with Session(engine) as check:
            assert len(reminders(check)) == first_summary.planned + first_summary.skipped
    finally:
        engine.dispose()
