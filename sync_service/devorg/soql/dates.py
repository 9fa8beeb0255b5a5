"""Date literals (TODAY, LAST_N_DAYS:n, THIS_QUARTER...), wire formats, and the SOQL date functions.

Each literal is an inclusive range of local calendar days computed from the injected clock and the querying
user's time zone. Date fields compare on those days; datetime fields on the UTC instants of the local
midnights that bound them. Fiscal periods follow the calendar year (the default org fiscal year setting),
and weeks start on Sunday (the en_US locale).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

# Literals without a number, mapped to (unit, first period offset, last period offset) from the current one.
_FIXED: dict[str, tuple[str, int, int]] = {
    "YESTERDAY": ("DAY", -1, -1),
    "TODAY": ("DAY", 0, 0),
    "TOMORROW": ("DAY", 1, 1),
    "LAST_WEEK": ("WEEK", -1, -1),
    "THIS_WEEK": ("WEEK", 0, 0),
    "NEXT_WEEK": ("WEEK", 1, 1),
    "LAST_MONTH": ("MONTH", -1, -1),
    "THIS_MONTH": ("MONTH", 0, 0),
    "NEXT_MONTH": ("MONTH", 1, 1),
    "LAST_90_DAYS": ("DAY", -90, 0),
    "NEXT_90_DAYS": ("DAY", 1, 90),
    "LAST_QUARTER": ("QUARTER", -1, -1),
    "THIS_QUARTER": ("QUARTER", 0, 0),
    "NEXT_QUARTER": ("QUARTER", 1, 1),
    "LAST_YEAR": ("YEAR", -1, -1),
    "THIS_YEAR": ("YEAR", 0, 0),
    "NEXT_YEAR": ("YEAR", 1, 1),
}
for _name, _spec in list(_FIXED.items()):
    if _spec[0] in ("QUARTER", "YEAR"):
        _FIXED[_name.replace("_QUARTER", "_FISCAL_QUARTER").replace("_YEAR", "_FISCAL_YEAR")] = _spec

_UNITS = {"DAYS": "DAY", "WEEKS": "WEEK", "MONTHS": "MONTH", "QUARTERS": "QUARTER", "YEARS": "YEAR"}
_WITH_N: dict[str, tuple[str, str]] = {}  # name → (unit, LAST|NEXT|AGO)
for _plural, _unit in _UNITS.items():
    for _fiscal in ("", "FISCAL_") if _unit in ("QUARTER", "YEAR") else ("",):
        _WITH_N[f"LAST_N_{_fiscal}{_plural}"] = (_unit, "LAST")
        _WITH_N[f"NEXT_N_{_fiscal}{_plural}"] = (_unit, "NEXT")
        _WITH_N[f"N_{_fiscal}{_plural}_AGO"] = (_unit, "AGO")

RANGE_LITERALS = frozenset(_FIXED)
RANGE_LITERALS_N = frozenset(_WITH_N)


def local_today(now: datetime, tz: tzinfo) -> date:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(tz).date()


def literal_days(name: str, n: int | None, today: date) -> tuple[date, date]:
    """The first and last local day (inclusive) that the literal covers."""
    if n is None:
        unit, first, last = _FIXED[name]
    else:
        unit, kind = _WITH_N[name]
        if unit == "DAY":
            # LAST_N_DAYS includes today; NEXT_N_DAYS starts tomorrow; N_DAYS_AGO is one day.
            first, last = {"LAST": (-n, 0), "NEXT": (1, n), "AGO": (-n, -n)}[kind]
        else:
            # Longer units cover whole periods and leave out the current one.
            first, last = {"LAST": (-n, -1), "NEXT": (1, n), "AGO": (-n, -n)}[kind]
    start = _period_start(today, unit)
    return _shift(start, unit, first), _shift(start, unit, last + 1) - timedelta(days=1)


def _period_start(today: date, unit: str) -> date:
    if unit == "DAY":
        return today
    if unit == "WEEK":
        return today - timedelta(days=(today.weekday() + 1) % 7)  # back to Sunday
    if unit == "MONTH":
        return today.replace(day=1)
    if unit == "QUARTER":
        return today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    return today.replace(month=1, day=1)


def _shift(start: date, unit: str, k: int) -> date:
    # Huge n (LAST_N_YEARS:999999) clamps to the calendar's ends instead of overflowing.
    try:
        if unit == "DAY":
            return start + timedelta(days=k)
        if unit == "WEEK":
            return start + timedelta(weeks=k)
    except OverflowError:
        return date.min + timedelta(days=1) if k < 0 else date.max
    months = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[unit] * k
    index = start.year * 12 + start.month - 1 + months
    if index < 12:
        return date.min + timedelta(days=1)
    if index >= 10000 * 12:
        return date.max
    return date(index // 12, index % 12 + 1, 1)


def datetime_bounds(first: date, last: date, tz: tzinfo) -> tuple[str, str]:
    """Wire-form UTC instants [start, end) of the local days first..last, for comparing datetime fields."""
    return _midnight(first, tz, ""), _midnight(last + timedelta(days=1) if last < date.max else last, tz, "\uffff")


def _midnight(day: date, tz: tzinfo, beyond: str) -> str:
    if day <= date.min + timedelta(days=1) or day >= date.max:
        return beyond if day >= date.max else ""  # outside any stored value
    try:
        return local_midnight_utc(day, tz)
    except (OverflowError, ValueError):
        return beyond


def local_midnight_utc(day: date, tz: tzinfo) -> str:
    """The wire form of the UTC instant at which `day` begins in the user's time zone."""
    return format_datetime(datetime(day.year, day.month, day.day, tzinfo=tz))


def format_datetime(moment: datetime) -> str:
    """Salesforce's wire form, always UTC: 2026-11-22T10:00:00.000+0000."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}+0000"


def parse_wire_datetime(value: str) -> datetime | None:
    try:
        return datetime(
            int(value[0:4]),
            int(value[5:7]),
            int(value[8:10]),
            int(value[11:13]),
            int(value[14:16]),
            int(value[17:19]),
            tzinfo=UTC,
        )
    except (ValueError, TypeError, IndexError):
        return None


def parse_wire_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value[:10])
    except (ValueError, TypeError):
        return None


# SOQL date functions: name → what they take from a date, and whether the result is a date.
DATE_FUNCTIONS = frozenset(
    {
        "DAY_ONLY",
        "CALENDAR_YEAR",
        "CALENDAR_QUARTER",
        "CALENDAR_MONTH",
        "DAY_IN_MONTH",
        "DAY_IN_WEEK",
        "DAY_IN_YEAR",
        "WEEK_IN_MONTH",
        "WEEK_IN_YEAR",
        "FISCAL_YEAR",
        "FISCAL_QUARTER",
        "FISCAL_MONTH",
        "HOUR_IN_DAY",
    }
)


def date_function(name: str, value: str | None, is_datetime: bool, tz: tzinfo | None) -> str | int | None:
    """Apply a date function to a wire value. Datetimes are read in UTC unless `tz` is given
    (convertTimezone()), which is how Salesforce evaluates them."""
    if value is None:
        return None
    if is_datetime:
        moment = parse_wire_datetime(value)
        if moment is None:
            return None
        if tz is not None:
            moment = moment.astimezone(tz)
        day, hour = moment.date(), moment.hour
    else:
        parsed = parse_wire_date(value)
        if parsed is None:
            return None
        day, hour = parsed, 0
    if name == "DAY_ONLY":
        return day.isoformat()
    if name in ("CALENDAR_YEAR", "FISCAL_YEAR"):
        return day.year
    if name in ("CALENDAR_QUARTER", "FISCAL_QUARTER"):
        return (day.month - 1) // 3 + 1
    if name in ("CALENDAR_MONTH", "FISCAL_MONTH"):
        return day.month
    if name == "DAY_IN_MONTH":
        return day.day
    if name == "DAY_IN_WEEK":
        return (day.weekday() + 1) % 7 + 1  # 1 = Sunday
    if name == "DAY_IN_YEAR":
        return day.timetuple().tm_yday
    if name == "WEEK_IN_MONTH":
        return (day.day - 1) // 7 + 1
    if name == "WEEK_IN_YEAR":
        return (day.timetuple().tm_yday - 1) // 7 + 1
    return hour  # HOUR_IN_DAY
