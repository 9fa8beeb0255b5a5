"""The console's Reports section: the renewal funnel and revenue by month, breakdowns, rankings,
cancellations, the at-risk list and the account health score, each table with its CSV export.

The figures come from :mod:`sync_service.reports` (one aggregate query per table or chart), their definitions
are on the pages, and the charts are SVG drawn here on the server (:mod:`.charts`): the pages need no script.
Each table is described once for the page and its CSV (:mod:`.report_tables`); the filters (period, currency,
days) are read and checked by :mod:`.report_filters` before anything is queried.
Reading only: no view here writes to the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, abort, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from email_actions.web.console import report_tables as tables
from email_actions.web.console.blueprint import bp
from email_actions.web.console.charts import Series, bar_chart, funnel_chart
from email_actions.web.console.report_filters import ALL, RANKING_ORDERS, Filters, report_csv, report_page
from sync_service import reports as queries
from sync_service.reports import DIMENSIONS, NO_CURRENCY, ZERO

SHOWN_ROWS = 200  # rows of a list shown on a page; its CSV has all of them
RANKING_TOP = 20
HEALTH_SHOWN = 100
CHART_GROUPS = 12  # bars of a breakdown's chart: its largest groups
CHART_WIDTH = 650  # the plot's width, in the chart's SVG units
CHART_CHARACTER = 6.5  # the width of one character of a bar's label, in the same units
BREAKDOWNS = ("product_line", "rep", "reseller", "brand")
RANKINGS = ("customer", "reseller", "rep")


# --- Charts ------------------------------------------------------------------------------------------------


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
    return report_page("admin/reports/overview.html", _overview)


@bp.get("/reports/funnel.csv")
def reports_funnel_csv() -> ResponseReturnValue:
    return report_csv(
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

    return report_csv(build)


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
    return report_page("admin/reports/breakdowns.html", _breakdowns)


@bp.get("/reports/breakdowns.csv")
def reports_breakdowns_csv() -> ResponseReturnValue:
    dimension = request.args.get("by", BREAKDOWNS[0])
    if dimension not in BREAKDOWNS:
        abort(404)

    def build(session: Session, f: Filters) -> Response:
        currency = f.currency or NO_CURRENCY
        groups = queries.breakdown(session, f.period, currency, dimension)
        return tables.group_table(dimension, groups, currency).csv(f"by-{dimension}-{currency}.csv")

    return report_csv(build)


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
    return report_page("admin/reports/rankings.html", _rankings)


@bp.get("/reports/rankings.csv")
def reports_rankings_csv() -> ResponseReturnValue:
    of, order = request.args.get("of", RANKINGS[0]), _ranking_order()
    if of not in RANKINGS:
        abort(404)

    def build(session: Session, f: Filters) -> Response:
        currency = f.currency or NO_CURRENCY
        groups = queries.breakdown(session, f.period, currency, of, order=order)
        return tables.ranking_table(of, groups, currency).csv(f"ranking-{of}-by-{order}-{currency}.csv")

    return report_csv(build)


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
    return report_page("admin/reports/cancellations.html", _cancellations)


@bp.get("/reports/cancellations-by-month.csv")
def reports_cancellations_months_csv() -> ResponseReturnValue:
    def build(session: Session, f: Filters) -> Response:
        currency = f.currency or NO_CURRENCY
        months = queries.cancellations_by_month(session, f.period, currency)
        return tables.cancellation_months_table(months, currency).csv(f"cancellations-by-month-{currency}.csv")

    return report_csv(build)


@bp.get("/reports/cancellations.csv")
def reports_cancellations_csv() -> ResponseReturnValue:
    def build(session: Session, f: Filters) -> Response:
        currency = f.currency or NO_CURRENCY
        rows = queries.cancelled_contracts(session, f.period, currency).rows
        return tables.cancelled_table(rows).csv(f"cancelled-contracts-{currency}.csv")

    return report_csv(build)


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
    return report_page("admin/reports/at_risk.html", _at_risk, **AT_RISK_OPTIONS)


@bp.get("/reports/at-risk.csv")
def reports_at_risk_csv() -> ResponseReturnValue:
    def build(session: Session, f: Filters) -> Response:
        rows = queries.at_risk(session, f.today, f.days, currency=f.currency).rows
        return tables.at_risk_table(rows, f.today).csv(f"at-risk-{f.today.isoformat()}.csv")

    return report_csv(build, **AT_RISK_OPTIONS)


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
    return report_page("admin/reports/health.html", _health, period=False, currency=False)


@bp.get("/reports/health.csv")
def reports_health_csv() -> ResponseReturnValue:
    return report_csv(
        lambda session, f: tables.health_table(queries.account_health(session, f.today).rows).csv(
            f"account-health-{f.today.isoformat()}.csv"
        ),
        period=False,
        currency=False,
    )


@bp.get("/reports/health-bands.csv")
def reports_health_bands_csv() -> ResponseReturnValue:
    return report_csv(
        lambda session, f: tables.bands_table(queries.health_bands(session, f.today)).csv(
            f"account-health-bands-{f.today.isoformat()}.csv"
        ),
        period=False,
        currency=False,
    )
