"""The filters of the console's Reports pages, and how a report is answered with them.

Filters travel in the query string and are checked before anything is queried: ``from`` and ``to`` (the
period, ``YYYY-MM-DD``, both days included; by default the current month and the eleven before it),
``currency`` (amounts are never added across currencies: a page that adds amounts shows one currency, by
default the one most contracts due in the period are in) and, on the at-risk list, ``days``. A bad value
answers 400 with the reason beside its field (a CSV link answers 400 with the reason as text). The filters are
read by hand from the query string (a GET that changes nothing, shared by every report and its CSV link).

Reading only: nothing here writes to the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import Response, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from sync_service import reports as queries
from sync_service.reports import MIN_DUE_FOR_RATE, NO_CURRENCY, CurrencyCount, Period, PeriodError
from sync_service.store.db import current_session

AT_RISK_DAYS, AT_RISK_MAX_DAYS = 30, 365
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
ALL = "ALL"
RANKING_ORDERS = {"revenue": "renewed amount", "rate": "renewal rate"}


class BadFilter(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass
class Filters:
    today: date
    period: Period
    currency: str | None = None  # None: every currency (the at-risk list only)
    currencies: list[CurrencyCount] = field(default_factory=list)
    days: int = AT_RISK_DAYS

    def args(self, **extra: Any) -> dict[str, Any]:
        """The query string that gives the same report (for links and CSV exports)."""
        values: dict[str, Any] = {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()}
        if request.args.get("currency"):
            values["currency"] = self.currency or ALL
        return {**values, **extra}


def _filters(
    session: Session,
    *,
    period: bool = True,
    currency: bool = True,
    all_currencies: bool = False,
    days: bool = False,
    listing: bool = True,
) -> Filters:
    """The request's filters that the report takes, checked; raises :class:`BadFilter`. With `listing` (a
    page's currency selector), or when it must find the default currency, it queries the currencies: one
    statement."""
    today = queries.today_utc()
    errors: dict[str, str] = {}
    chosen_period = queries.default_period(today)
    if period:
        try:
            chosen_period = queries.parse_period(request.args.get("from"), request.args.get("to"), today)
        except PeriodError as bad:
            errors.update(bad.errors)
    window = AT_RISK_DAYS
    if days:
        text = request.args.get("days", "").strip()
        if text:
            if text.isdigit() and 1 <= int(text) <= AT_RISK_MAX_DAYS:
                window = int(text)
            else:
                errors["days"] = f"Give a whole number of days from 1 to {AT_RISK_MAX_DAYS}."
    chosen = request.args.get("currency", "").strip().upper() if currency else ""
    if chosen and not CURRENCY_CODE.match(chosen) and not (all_currencies and chosen == ALL):
        errors["currency"] = "Choose a currency from the list (a three-letter ISO code such as USD)."
    if errors:
        raise BadFilter(errors)
    filters = Filters(today, chosen_period, days=window)
    if currency:
        every = chosen == ALL or (all_currencies and not chosen)
        if listing or not (chosen or every):
            scope = Period(today, today + timedelta(days=window)) if days else chosen_period
            filters.currencies = queries.currencies(session, scope)
        if every:
            filters.currency = None
        else:
            filters.currency = chosen or (filters.currencies[0].currency if filters.currencies else NO_CURRENCY)
    return filters


def report_page(
    template: str, build: Callable[[Session, Filters], dict[str, Any]], **options: Any
) -> ResponseReturnValue:
    """A report's page: `build` gives its figures for the request's filters (`options`: which filters it takes);
    bad filters answer 400 with the page's form and the reasons."""
    session = current_session()
    try:
        filters = _filters(session, **options)
    except BadFilter as bad:
        return render_template(template, filters=None, errors=bad.errors, **_common()), 400
    return render_template(template, filters=filters, errors={}, **_common(), **build(session, filters))


def report_csv(build: Callable[[Session, Filters], Response], **options: Any) -> ResponseReturnValue:
    """A report's CSV, built by `build` for the request's filters; bad filters answer 400 with the reasons as text."""
    session = current_session()
    try:
        filters = _filters(session, listing=False, **options)
    except BadFilter as bad:
        return Response("\n".join(bad.errors.values()) + "\n", status=400, mimetype="text/plain")
    return build(session, filters)


def _common() -> dict[str, Any]:
    """What every Reports page shows whether its filters are good or not."""
    return {
        "presets": _presets(queries.today_utc()),
        "args": request.args,
        # The filters the section's navigation carries from page to page: those the user chose.
        "keep": {name: request.args[name] for name in ("from", "to", "currency") if request.args.get(name)},
        "orders": RANKING_ORDERS,
        "min_due_for_rate": MIN_DUE_FOR_RATE,
    }


def _quarter(day: date) -> Period:
    start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    after = date(start.year + 1, 1, 1) if start.month == 10 else date(start.year, start.month + 3, 1)
    return Period(start, after - timedelta(days=1))


def _presets(today: date) -> list[tuple[str, Period]]:
    this_quarter = _quarter(today)
    return [
        ("Last 12 months", queries.default_period(today)),
        ("Last quarter", _quarter(this_quarter.start - timedelta(days=1))),
        ("This quarter", this_quarter),
        ("Next quarter", _quarter(this_quarter.end + timedelta(days=1))),
        ("This year", Period(date(today.year, 1, 1), date(today.year, 12, 31))),
    ]
