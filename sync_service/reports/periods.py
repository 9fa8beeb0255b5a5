"""The period a report covers, and the first day of a month in SQL (SQLite and PostgreSQL spell it
differently)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

MAX_PERIOD_DAYS = 5 * 366


@dataclass(frozen=True)
class Period:
    """From `start` to `end`, both days included."""

    start: date
    end: date

    def months(self) -> list[date]:
        """The first day of every month the period touches, in order."""
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = _next_month(month)
        return months


class PeriodError(ValueError):
    """A period filter that cannot be used; `errors` maps the field ("from", "to") to the reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors.items()))
        self.errors = errors


ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def today_utc() -> date:
    return datetime.now(UTC).date()


def default_period(today: date) -> Period:
    """Twelve calendar months: the current one and the eleven before it."""
    start = today.replace(day=1)
    for _ in range(11):
        start = (start - timedelta(days=1)).replace(day=1)
    return Period(start, _next_month(today.replace(day=1)) - timedelta(days=1))


def parse_period(start_text: str | None, end_text: str | None, today: date) -> Period:
    """The period of the filter's `from` and `to` fields (``YYYY-MM-DD``); an empty field takes the default
    period's day. Raises :class:`PeriodError` naming each bad field."""
    default = default_period(today)
    errors: dict[str, str] = {}
    start = _parse_day(start_text, default.start, "from", errors)
    end = _parse_day(end_text, default.end, "to", errors)
    if not errors:
        if end < start:
            errors["to"] = "The end of the period is before its start."
        elif (end - start).days >= MAX_PERIOD_DAYS:
            errors["to"] = "A period is at most five years long."
    if errors:
        raise PeriodError(errors)
    return Period(start, end)


def _parse_day(text: str | None, default: date, field: str, errors: dict[str, str]) -> date:
    text = (text or "").strip()
    if not text:
        return default
    if ISO_DAY.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    errors[field] = f"“{text[:40]}” is not a date: use YYYY-MM-DD, e.g. {default.isoformat()}."
    return default


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


class month_of(FunctionElement[date]):
    """The first day of a date's month, in each database's own date functions."""

    type = Date()
    name = "month_of"
    inherit_cache = True


@compiles(month_of, "postgresql")
def _month_of_postgresql(element: month_of, compiler: SQLCompiler, **kw: Any) -> str:
    (day,) = list(element.clauses)
    return f"CAST(date_trunc('month', CAST({compiler.process(day, **kw)} AS TIMESTAMP)) AS DATE)"


@compiles(month_of, "sqlite")
def _month_of_sqlite(element: month_of, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps dates as ISO text; date() with "start of month" answers in the same format.
    (day,) = list(element.clauses)
    return f"date({compiler.process(day, **kw)}, 'start of month')"
