"""The console's Reports section: the renewal funnel and revenue by month, breakdowns, rankings,
cancellations, the at-risk list and the account health score, each table with its CSV export.

The figures come from :mod:`sync_service.reports` (one aggregate query per table or chart), their definitions
are on the pages, and the charts are SVG drawn here on the server (:mod:`.charts`): the pages need no script.
Reading only: no view here writes to the store.

Filters travel in the query string and are checked before anything is queried: ``from`` and ``to`` (the
period, ``YYYY-MM-DD``, both days included; by default the current month and the eleven before it),
``currency`` (amounts are never added across currencies: a page that adds amounts shows one currency, by
default the one most contracts due in the period are in) and, on the at-risk list, ``days``. A bad value
answers 400 with the reason beside its field (a CSV link answers 400 with the reason as text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from email_actions.web.console import report_tables as tables
from email_actions.web.console.blueprint import bp
from email_actions.web.console.charts import Series, bar_chart, funnel_chart
from sync_service import reports as queries
from sync_service.reports import (
    DIMENSIONS,
    MIN_DUE_FOR_RATE,
    NO_CURRENCY,
    ZERO,
    CurrencyCount,
    Period,
    PeriodError,
)
from sync_service.store.db import current_session

SHOWN_ROWS = 200  # rows of a list shown on a page; its CSV has all of them
RANKING_TOP = 20
HEALTH_SHOWN = 100
CHART_GROUPS = 12  # bars of a breakdown's chart: its largest groups
CHART_WIDTH = 650  # the plot's width, in the chart's SVG units
CHART_CHARACTER = 6.5  # the width of one character of a bar's label, in the same units
AT_RISK_DAYS, AT_RISK_MAX_DAYS = 30, 365
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
ALL = "ALL"
BREAKDOWNS = ("product_line", "rep", "reseller", "brand")
RANKINGS = ("customer", "reseller", "rep")
RANKING_ORDERS = {"revenue": "renewed amount", "rate": "renewal rate"}


# --- Filters -----------------------------------------------------------------------------------------------


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


def _page(template: str, build: Callable[[Session, Filters], dict[str, Any]], **options: Any) -> ResponseReturnValue:
    session = current_session()
    try:
        filters = _filters(session, **options)
    except BadFilter as bad:
        return render_template(template, filters=None, errors=bad.errors, **_common()), 400
    return render_template(template, filters=filters, errors={}, **_common(), **build(session, filters))


def _csv(build: Callable[[Session, Filters], Response], **options: Any) -> ResponseReturnValue:
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


def _short(labels: Sequence[str]) -> list[str]:
    """`labels` cut to fit under their bars side by side (the table next to the chart has them whole)."""
    fits = max(4, int(CHART_WIDTH / max(len(labels), 1) / CHART_CHARACTER) - 1)
    return [label if len(label) <= fits else label[: fits - 1] + "…" for label in labels]


def _amounts_chart(title: str, labels: list[str], rows: Sequence[queries.Figures]) -> Any:
    return bar_chart(
        title,
        labels,
        [Series("Due", [g.due_amount for g in rows]), Series("Renewed", [g.renewed_amount for g in rows])],
    )


# --- Overview: the funnel and revenue by month -------------------------------------------------------------


def _overview(session: Session, filters: Filters) -> dict[str, Any]:
    currency = filters.currency or NO_CURRENCY
    funnel = queries.funnel(session, filters.period)
    months = queries.revenue_by_month(session, filters.period, currency)
    due_amount = sum((m.due_amount for m in months), ZERO)
    renewed_amount = sum((m.renewed_amount for m in months), ZERO)
    return {
        "funnel": funnel,
        "funnel_table": tables.funnel_table(funnel),
        "funnel_chart": funnel_chart("Contracts due in the period, step by step", funnel.steps),
        "revenue_table": tables.revenue_table(months, currency),
        "revenue_chart": _amounts_chart(
            f"Revenue due and renewed by month ({currency})", [tables.month_label(m.month) for m in months], months
        ),
        "due_amount": due_amount,
        "renewed_amount": renewed_amount,
        "revenue_rate": float(renewed_amount / due_amount) if due_amount else None,
    }


@bp.get("/reports")
def reports() -> ResponseReturnValue:
    return _page("admin/reports/overview.html", _overview)


@bp.get("/reports/funnel.csv")
def reports_funnel_csv() -> ResponseReturnValue:
    return _csv(
        lambda session, f: tables.funnel_table(queries.funnel(session, f.period)).csv("renewal-funnel.csv"),
        currency=False,
    )


@bp.get("/reports/revenue.csv")
def reports_revenue_csv() -> ResponseReturnValue:
    def build(session: Session, f: Filters) -> Response:
        currency = f.currency or NO_CURRENCY
        return tables.revenue_table(queries.revenue_by_month(session, f.period, currency), currency).csv(
            f"revenue-by-month-{currency}.csv"
        )

    return _csv(build)


# --- Breakdowns and rankings -------------------------------------------------------------------------------


def _breakdowns(session: Session, filters: Filters) -> dict[str, Any]:
    currency = filters.currency or NO_CURRENCY
    sections = []
    for dimension in BREAKDOWNS:
        groups = queries.breakdown(session, filters.period, currency, dimension)
        charted = groups[:CHART_GROUPS]
        sections.append(
            {
                "dimension": dimension,
                "title": DIMENSIONS[dimension],
                "table": tables.group_table(dimension, groups[:SHOWN_ROWS], currency),
                "total": len(groups),
                "chart": _amounts_chart(
                    f"Due and renewed by {DIMENSIONS[dimension].lower()} ({currency}, largest {len(charted)})",
                    _short([g.label for g in charted]),
                    charted,
                ),
            }
        )
    return {"sections": sections, "shown_rows": SHOWN_ROWS}


@bp.get("/reports/breakdowns")
def reports_breakdowns() -> ResponseReturnValue:
    return _page("admin/reports/breakdowns.html", _breakdowns)


@bp.get("/reports/breakdowns.csv")
def reports_breakdowns_csv() -> ResponseReturnValue:
    dimension = request.args.get("by", BREAKDOWNS[0])
    if dimension not in BREAKDOWNS:
        abort(404)

    def build(session: Session, f: Filters) -> Response:
        currency = f.currency or NO_CURRENCY
        groups = queries.breakdown(session, f.period, currency, dimension)
        return tables.group_table(dimension, groups, currency).csv(f"by-{dimension}-{currency}.csv")

    return _csv(build)


def _ranking_order() -> str:
    order = request.args.get("by", "revenue")
    if order not in RANKING_ORDERS:
        abort(404)
    return order


def _rankings(session: Session, filters: Filters) -> dict[str, Any]:
    currency, order = filters.currency or NO_CURRENCY, _ranking_order()
    sections = []
    for of in RANKINGS:
        groups = queries.breakdown(session, filters.period, currency, of, order=order, limit=RANKING_TOP)
        sections.append(
            {
                "of": of,
                "title": {"customer": "Customers", "reseller": "Resellers", "rep": "Reps"}[of],
                "table": tables.ranking_table(of, groups, currency),
                "chart": bar_chart(
                    f"Renewed ({currency}) of the top {min(len(groups), 10)}",
                    _short([g.label for g in groups[:10]]),
                    [Series("Renewed", [g.renewed_amount for g in groups[:10]])],
                ),
            }
        )
    return {"sections": sections, "order": order, "top": RANKING_TOP}


@bp.get("/reports/rankings")
def reports_rankings() -> ResponseReturnValue:
    return _page("admin/reports/rankings.html", _rankings)


@bp.get("/reports/rankings.csv")
def reports_rankings_csv() -> ResponseReturnValue:
    of, order = request.args.get("of", RANKINGS[0]), _ranking_order()
    if of not in RANKINGS:
        abort(404)

    def build(session: Session, f: Filters) -> Response:
        currency = f.currency or NO_CURRENCY
        groups = queries.breakdown(session, f.period, currency, of, order=order)
        return tables.ranking_table(of, groups, currency).csv(f"ranking-{of}-by-{order}-{currency}.csv")

    return _csv(build)


# --- Cancellations -----------------------------------------------------------------------------------------


def _cancellations(session: Session, filters: Filters) -> dict[str, Any]:
    currency = filters.currency or NO_CURRENCY
    months = queries.cancellations_by_month(session, filters.period, currency)
    cancelled = queries.cancelled_contracts(session, filters.period, currency, limit=SHOWN_ROWS)
    labels = [tables.month_label(m.month) for m in months]
    return {
        "months_table": tables.cancellation_months_table(months, currency),
        "months_chart": bar_chart(
            f"Contracts cancelled by month ({currency})",
            labels,
            [Series("Cancelled", [m.cancelled for m in months])],
        ),
        "contracts_table": tables.cancelled_table(cancelled.rows),
        "total": cancelled.total,
        "shown_rows": SHOWN_ROWS,
    }


@bp.get("/reports/cancellations")
def reports_cancellations() -> ResponseReturnValue:
    return _page("admin/reports/cancellations.html", _cancellations)


@bp.get("/reports/cancellations-by-month.csv")
def reports_cancellations_months_csv() -> ResponseReturnValue:
    def build(session: Session, f: Filters) -> Response:
        currency = f.currency or NO_CURRENCY
        months = queries.cancellations_by_month(session, f.period, currency)
        return tables.cancellation_months_table(months, currency).csv(f"cancellations-by-month-{currency}.csv")

    return _csv(build)


@bp.get("/reports/cancellations.csv")
def reports_cancellations_csv() -> ResponseReturnValue:
    def build(session: Session, f: Filters) -> Response:
        currency = f.currency or NO_CURRENCY
        rows = queries.cancelled_contracts(session, f.period, currency).rows
        return tables.cancelled_table(rows).csv(f"cancelled-contracts-{currency}.csv")

    return _csv(build)


# --- At risk -----------------------------------------------------------------------------------------------


def _at_risk(session: Session, filters: Filters) -> dict[str, Any]:
    found = queries.at_risk(session, filters.today, filters.days, currency=filters.currency, limit=SHOWN_ROWS)
    csv_args = {"days": filters.days, "currency": filters.currency or ALL}
    return {
        "table": tables.at_risk_table(found.rows, filters.today),
        "total": found.total,
        "shown_rows": SHOWN_ROWS,
        "csv_args": csv_args,
    }


AT_RISK_OPTIONS = {"period": False, "all_currencies": True, "days": True}


@bp.get("/reports/at-risk")
def reports_at_risk() -> ResponseReturnValue:
    return _page("admin/reports/at_risk.html", _at_risk, **AT_RISK_OPTIONS)


@bp.get("/reports/at-risk.csv")
def reports_at_risk_csv() -> ResponseReturnValue:
    def build(session: Session, f: Filters) -> Response:
        rows = queries.at_risk(session, f.today, f.days, currency=f.currency).rows
        return tables.at_risk_table(rows, f.today).csv(f"at-risk-{f.today.isoformat()}.csv")

    return _csv(build, **AT_RISK_OPTIONS)


# --- Account health ----------------------------------------------------------------------------------------


def _health(session: Session, filters: Filters) -> dict[str, Any]:
    lowest = queries.account_health(session, filters.today, limit=HEALTH_SHOWN)
    bands = lowest.bands
    return {
        "bands_table": tables.bands_table(bands),
        "bands_chart": bar_chart(
            "Accounts by health score",
            [f"{b.low}-{b.high}" for b in bands],
            [Series("Accounts", [b.accounts for b in bands])],
        ),
        "table": tables.health_table(lowest.rows),
        "total": lowest.total,
        "shown_rows": HEALTH_SHOWN,
    }


@bp.get("/reports/health")
def reports_health() -> ResponseReturnValue:
    return _page("admin/reports/health.html", _health, period=False, currency=False)


@bp.get("/reports/health.csv")
def reports_health_csv() -> ResponseReturnValue:
    return _csv(
        lambda session, f: tables.health_table(queries.account_health(session, f.today).rows).csv(
            f"account-health-{f.today.isoformat()}.csv"
        ),
        period=False,
        currency=False,
    )


@bp.get("/reports/health-bands.csv")
def reports_health_bands_csv() -> ResponseReturnValue:
    return _csv(
        lambda session, f: tables.bands_table(queries.health_bands(session, f.today)).csv(
            f"account-health-bands-{f.today.isoformat()}.csv"
        ),
        period=False,
        currency=False,
    )
