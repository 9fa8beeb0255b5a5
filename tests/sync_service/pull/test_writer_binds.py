"""The pull's own bind processors for SQLite give the driver exactly what SQLAlchemy's column types give it, and
refuse what those refuse (the pull writes with them instead of the types' chains of wrappers); values that repeat
across a batch, converted once each, come out as each would alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from sync_service.pull.writer import _bind, _processor
from sync_service.store import models

DIALECT = sqlite.dialect()
STAMP = models.Contract.__table__.c.sf_system_modstamp
AMOUNT = models.QuoteLine.__table__.c.unit_price


def _theirs(column: Any, value: Any) -> Any:
    return column.type._cached_bind_processor(DIALECT)(value)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive; `timezones` sets the zone
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
    )
)
def test_timestamps_are_written_as_sqlalchemy_writes_them(value: datetime) -> None:
    assert _processor(DIALECT, STAMP)(value) == _theirs(STAMP, value)


@given(st.decimals(min_value=-(10**15), max_value=10**15, allow_nan=False, places=2) | st.integers(-(10**12), 10**12))
def test_amounts_are_written_as_sqlalchemy_writes_them(value: Decimal | int) -> None:
    assert _processor(DIALECT, AMOUNT)(value) == _theirs(AMOUNT, value)


@pytest.mark.parametrize(
    ("column", "value", "error"),
    [
        (STAMP, datetime(2024, 5, 7, 9, 30), ValueError),  # noqa: DTZ001 - naive on purpose
        (STAMP, "2024-05-07T09:30:00Z", ValueError),  # text
        (AMOUNT, Decimal("1.005"), ValueError),  # more decimals than the column keeps
        (AMOUNT, 1.5, TypeError),  # a float has lost the exact amount already
        (AMOUNT, Decimal("NaN"), ValueError),
    ],
)
def test_what_the_types_refuse_the_pulls_processors_refuse(column: Any, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        _theirs(column, value)
    with pytest.raises(error):
        _processor(DIALECT, column)(value)


def test_nulls_stay_null() -> None:
    assert _processor(DIALECT, STAMP)(None) is None and _processor(DIALECT, AMOUNT)(None) is None


def _per_value(column: Any, values: list[Any]) -> list[Any]:
    process = _processor(DIALECT, column)
    return [None if process is None else process(v) for v in values]


@given(
    st.lists(st.sampled_from([Decimal("1200.00"), Decimal("99.5"), None, Decimal("0.01")]), max_size=60),
    st.lists(st.sampled_from([date(2027, 1, 31), date(2027, 3, 1), None]), max_size=60),
    st.lists(
        st.sampled_from([datetime(2026, 12, 1, 9, 30, tzinfo=UTC), datetime(2026, 12, 1, 9, 31, tzinfo=UTC)]),
        max_size=60,
    ),
)
def test_repeated_values_are_written_as_each_would_be_alone(
    amounts: list[Any], dates: list[Any], stamps: list[Any]
) -> None:
    size = min(len(amounts), len(dates), len(stamps))
    columns = {"unit_price": amounts[:size], "end_date": dates[:size], "sf_system_modstamp": stamps[:size]}
    table = models.QuoteLine.__table__
    tables = {"unit_price": table, "end_date": models.Contract.__table__, "sf_system_modstamp": table}
    for name, values in columns.items():
        refused: dict[int, str] = {}
        bound = _bind(DIALECT, tables[name], {name: values}, set(), refused)
        assert bound[name] == _per_value(tables[name].c[name], values) and refused == {}


def test_a_refused_amount_that_repeats_refuses_each_record_holding_it_and_no_other() -> None:
    amounts = [Decimal("1.005"), Decimal("10.00")] * 20  # 1.005: more decimals than the column keeps
    refused: dict[int, str] = {}
    bound = _bind(DIALECT, models.QuoteLine.__table__, {"unit_price": amounts}, set(), refused)
    assert sorted(refused) == list(range(0, 40, 2))
    assert all("unit_price" in why for why in refused.values())
    assert bound["unit_price"][1::2] == [1000] * 20
