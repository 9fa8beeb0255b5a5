"""Date literal semantics against an injected clock and user time zone (reference 2.3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from sync_service.devorg.ids import make_id
from tests.sync_service.devorg.soql.records import TZ, DictSource, run

SUNDAY_15_MARCH = datetime(2026, 3, 15, 18, 30, tzinfo=UTC)  # 11:30 PDT, a Sunday


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


CANDIDATES = _days(date(2024, 12, 1), date(2028, 1, 31))


def _opportunities() -> DictSource:
    rows = [
        {"Id": make_id("006", i + 1), "IsDeleted": False, "Name": day.isoformat(), "CloseDate": day.isoformat()}
        for i, day in enumerate(CANDIDATES)
    ]
    return DictSource({"Opportunity": rows})


OPPORTUNITIES = _opportunities()


def close_dates(where: str, now: datetime = SUNDAY_15_MARCH) -> list[date]:
    result = run(f"SELECT CloseDate FROM Opportunity WHERE {where}", OPPORTUNITIES, now=now)
    return sorted(date.fromisoformat(rec["CloseDate"]) for rec in result.records)


def span(where: str, now: datetime = SUNDAY_15_MARCH) -> tuple[date, date, int]:
    found = close_dates(where, now)
    assert found, where
    assert found == _days(found[0], found[-1]), f"{where} is not one contiguous range"
    return found[0], found[-1], len(found)


D = date


@pytest.mark.parametrize(
    ("literal", "first", "last"),
    [
        ("TODAY", D(2026, 3, 15), D(2026, 3, 15)),
        ("YESTERDAY", D(2026, 3, 14), D(2026, 3, 14)),
        ("TOMORROW", D(2026, 3, 16), D(2026, 3, 16)),
        ("LAST_N_DAYS:1", D(2026, 3, 14), D(2026, 3, 15)),
        ("LAST_N_DAYS:30", D(2026, 2, 13), D(2026, 3, 15)),
        ("NEXT_N_DAYS:1", D(2026, 3, 16), D(2026, 3, 16)),
        ("NEXT_N_DAYS:90", D(2026, 3, 16), D(2026, 6, 13)),
        ("LAST_90_DAYS", D(2025, 12, 15), D(2026, 3, 15)),
        ("NEXT_90_DAYS", D(2026, 3, 16), D(2026, 6, 13)),
        ("N_DAYS_AGO:3", D(2026, 3, 12), D(2026, 3, 12)),
        ("THIS_WEEK", D(2026, 3, 15), D(2026, 3, 21)),
        ("LAST_WEEK", D(2026, 3, 8), D(2026, 3, 14)),
        ("NEXT_WEEK", D(2026, 3, 22), D(2026, 3, 28)),
        ("THIS_MONTH", D(2026, 3, 1), D(2026, 3, 31)),
        ("LAST_MONTH", D(2026, 2, 1), D(2026, 2, 28)),
        ("NEXT_MONTH", D(2026, 4, 1), D(2026, 4, 30)),
        ("LAST_N_MONTHS:2", D(2026, 1, 1), D(2026, 2, 28)),
        ("NEXT_N_MONTHS:2", D(2026, 4, 1), D(2026, 5, 31)),
        ("THIS_QUARTER", D(2026, 1, 1), D(2026, 3, 31)),
        ("LAST_QUARTER", D(2025, 10, 1), D(2025, 12, 31)),
        ("NEXT_QUARTER", D(2026, 4, 1), D(2026, 6, 30)),
        ("NEXT_N_QUARTERS:3", D(2026, 4, 1), D(2026, 12, 31)),
        ("LAST_N_QUARTERS:2", D(2025, 7, 1), D(2025, 12, 31)),
        ("THIS_YEAR", D(2026, 1, 1), D(2026, 12, 31)),
        ("LAST_YEAR", D(2025, 1, 1), D(2025, 12, 31)),
        ("NEXT_YEAR", D(2027, 1, 1), D(2027, 12, 31)),
        ("NEXT_N_YEARS:1", D(2027, 1, 1), D(2027, 12, 31)),
        ("THIS_FISCAL_YEAR", D(2026, 1, 1), D(2026, 12, 31)),
        ("LAST_FISCAL_YEAR", D(2025, 1, 1), D(2025, 12, 31)),
        ("NEXT_FISCAL_YEAR", D(2027, 1, 1), D(2027, 12, 31)),
        ("THIS_FISCAL_QUARTER", D(2026, 1, 1), D(2026, 3, 31)),
    ],
)
def test_literal_ranges_and_operators_on_date_fields(literal: str, first: date, last: date) -> None:
    assert span(f"CloseDate = {literal}") == (first, last, (last - first).days + 1)
    assert close_dates(f"CloseDate > {literal}")[0] == last + timedelta(days=1)
    assert close_dates(f"CloseDate < {literal}")[-1] == first - timedelta(days=1)
    assert close_dates(f"CloseDate >= {literal}")[0] == first
    assert close_dates(f"CloseDate <= {literal}")[-1] == last
    assert len(close_dates(f"CloseDate != {literal}")) == len(CANDIDATES) - ((last - first).days + 1)


def test_window_from_the_reference_today_through_next_90_days() -> None:
    assert span("CloseDate >= TODAY AND CloseDate <= NEXT_N_DAYS:90") == (D(2026, 3, 15), D(2026, 6, 13), 91)


def test_today_is_the_users_local_day_not_the_utc_day() -> None:
    late_evening_in_la = datetime(2026, 3, 16, 3, 0, tzinfo=UTC)  # 20:00 on 15 March in Los Angeles
    assert span("CloseDate = TODAY", late_evening_in_la)[:2] == (D(2026, 3, 15), D(2026, 3, 15))


def test_this_month_at_the_end_of_a_month() -> None:
    last_minute_of_january = datetime(2026, 2, 1, 7, 59, tzinfo=UTC)  # 23:59 on 31 Jan, PST
    assert span("CloseDate = THIS_MONTH", last_minute_of_january)[:2] == (D(2026, 1, 1), D(2026, 1, 31))
    first_minute_of_february = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    assert span("CloseDate = THIS_MONTH", first_minute_of_february)[:2] == (D(2026, 2, 1), D(2026, 2, 28))


def test_last_month_in_january_and_next_month_in_december() -> None:
    january = datetime(2026, 1, 10, 20, 0, tzinfo=UTC)
    assert span("CloseDate = LAST_MONTH", january)[:2] == (D(2025, 12, 1), D(2025, 12, 31))
    december = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
    assert span("CloseDate = NEXT_MONTH", december)[:2] == (D(2027, 1, 1), D(2027, 1, 31))


def test_leap_day_month() -> None:
    leap = datetime(2028, 1, 15, 20, 0, tzinfo=UTC)
    assert span("CloseDate = NEXT_MONTH", datetime(2027, 12, 15, 20, tzinfo=UTC))[:2] == (D(2028, 1, 1), D(2028, 1, 31))
    assert span("CloseDate = LAST_N_DAYS:0", leap)[:2] == (D(2028, 1, 15), D(2028, 1, 15))


def test_in_with_date_literals() -> None:
    assert close_dates("CloseDate IN (YESTERDAY, TOMORROW)") == [D(2026, 3, 14), D(2026, 3, 16)]


def test_next_n_days_zero_is_empty_and_huge_n_is_clamped() -> None:
    assert close_dates("CloseDate = NEXT_N_DAYS:0") == []
    assert len(close_dates("CloseDate = LAST_N_YEARS:100000")) > 0
    assert len(close_dates("CloseDate = NEXT_N_DAYS:99999999")) > 0


# --- datetime fields: boundaries are the user's local midnights in UTC ---

STAMPS = [
    "2026-03-14T06:59:59.000+0000",  # 23:59:59 on 13 March (PDT since 8 March: UTC-7)
    "2026-03-14T07:00:00.000+0000",  # 00:00 on 14 March
    "2026-03-15T06:59:59.000+0000",  # 23:59:59 on 14 March
    "2026-03-15T07:00:00.000+0000",  # 00:00 on 15 March
    "2026-03-16T06:59:59.999+0000",  # last instant of 15 March
    "2026-03-16T07:00:00.000+0000",  # 00:00 on 16 March
]


def _stamped() -> DictSource:
    rows = [
        {"Id": make_id("001", i + 1), "IsDeleted": False, "Name": stamp, "CreatedDate": stamp}
        for i, stamp in enumerate(STAMPS)
    ]
    return DictSource({"Account": rows})


def stamps(where: str, now: datetime = SUNDAY_15_MARCH) -> list[str]:
    result = run(f"SELECT Name FROM Account WHERE {where}", _stamped(), now=now)
    return sorted(rec["Name"] for rec in result.records)


def test_datetime_today_uses_local_midnights() -> None:
    assert stamps("CreatedDate = TODAY") == STAMPS[3:5]
    assert stamps("CreatedDate = YESTERDAY") == STAMPS[1:3]
    assert stamps("CreatedDate > TODAY") == STAMPS[5:]
    assert stamps("CreatedDate < TODAY") == STAMPS[:3]
    assert stamps("CreatedDate >= TODAY") == STAMPS[3:]
    assert stamps("CreatedDate <= TODAY") == STAMPS[:5]
    assert stamps("CreatedDate = LAST_N_DAYS:1") == STAMPS[1:5]
    assert stamps("CreatedDate = NEXT_N_DAYS:1") == STAMPS[5:]


def test_datetime_literal_ranges_in_utc_and_tokyo() -> None:
    from zoneinfo import ZoneInfo

    utc_today = run(
        "SELECT Name FROM Account WHERE CreatedDate = TODAY", _stamped(), now=SUNDAY_15_MARCH, tz=UTC
    ).records
    assert sorted(rec["Name"] for rec in utc_today) == STAMPS[2:4]
    tokyo = run(
        "SELECT Name FROM Account WHERE CreatedDate = YESTERDAY",
        _stamped(),
        now=SUNDAY_15_MARCH,
        tz=ZoneInfo("Asia/Tokyo"),
    ).records  # 03:30 on 16 March in Tokyo; yesterday = 15 March JST = [14 Mar 15:00Z, 15 Mar 15:00Z)
    assert sorted(rec["Name"] for rec in tokyo) == STAMPS[2:4]


def test_default_time_zone_fixture_is_los_angeles() -> None:
    assert str(TZ) == "America/Los_Angeles"
