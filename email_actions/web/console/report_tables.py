"""The tables of the Reports section, described once and drawn twice: as HTML on the page and as the CSV its
"Export CSV" link downloads, from the same rows, so the two never disagree.

A :class:`Column` names a figure, how to read it from a row and what kind of figure it is. On the page,
numbers are formatted for people (thousands separators, rates as percentages); in the CSV they are plain
numbers: money with two decimals, rates as percentages with one decimal, dates in ISO format.

The second half of the module describes each table of the section (its columns, over the dataclasses of
:mod:`sync_service.reports`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from flask import Response

from email_actions.web.console.csvout import csv_response
from sync_service import reports
from sync_service.reports import DIMENSIONS, GroupFigures

Kind = Literal["text", "int", "money", "rate", "date", "datetime"]
NUMERIC: frozenset[str] = frozenset({"int", "money", "rate"})


@dataclass(frozen=True)
class Column:
    title: str  # the page's header
    csv: str  # the CSV's header
    value: Callable[[Any], Any]
    kind: Kind = "text"

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    @property
    def css(self) -> str:
        """The class of the column's cells on the page: numbers right-aligned, dates kept on one line."""
        return "num" if self.numeric else ("nowrap" if self.kind in ("date", "datetime") else "")

    def shown(self, row: Any) -> str:
        return show(self.value(row), self.kind)

    def exported(self, row: Any) -> Any:
        value = self.value(row)
        if value is None:
            return None
        if self.kind == "rate":
            return round(float(value) * 100, 1)
        if self.kind == "money":
            return Decimal(value).quantize(Decimal("0.01"))
        return value


def show(value: Any, kind: Kind) -> str:
    if value is None:
        return "—"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "money":
        return f"{Decimal(value):,.2f}"
    if kind == "rate":
        return f"{float(value) * 100:.1f} %"
    if kind == "datetime" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Table:
    columns: Sequence[Column]
    rows: Sequence[Any]

    @property
    def cells(self) -> Iterable[list[tuple[str, str]]]:
        """Each row's cells as (text, CSS class) for the page."""
        for row in self.rows:
            yield [(column.shown(row), column.css) for column in self.columns]

    def csv(self, filename: str) -> Response:
        return csv_response(
            filename,
            [column.csv for column in self.columns],
            ([column.exported(row) for column in self.columns] for row in self.rows),
        )


# --- The Reports section's tables ---------------------------------------------------------------------------


def month_label(value: date) -> str:
    return value.strftime("%Y-%m")


def funnel_table(funnel: reports.Funnel) -> Table:
    """The funnel's steps, then the renewed step by channel (from the email, in Salesforce)."""
    return Table(
        [
            Column("Step", "step", lambda step: step[0]),
            Column("Contracts", "contracts", lambda step: step[1], "int"),
            Column("Share of due", "share_of_due_pct", lambda step: reports.rate(step[1], funnel.due), "rate"),
        ],
        [*funnel.steps, *funnel.channels],
    )


def _figure_columns(currency: str) -> list[Column]:
    return [
        Column("Contracts due", "due", lambda g: g.due, "int"),
        Column("Renewed", "renewed", lambda g: g.renewed, "int"),
        Column("from the email", "renewed_from_email", lambda g: g.renewed_from_email, "int"),
        Column("in Salesforce", "renewed_in_salesforce", lambda g: g.renewed_in_salesforce, "int"),
        Column("Renewal rate", "renewal_rate_pct", lambda g: g.renewal_rate, "rate"),
        Column(f"Due ({currency})", "due_amount", lambda g: g.due_amount, "money"),
        Column(f"Renewed ({currency})", "renewed_amount", lambda g: g.renewed_amount, "money"),
        Column("Revenue renewed", "revenue_renewed_pct", lambda g: g.revenue_rate, "rate"),
        Column("Currency", "currency", lambda g: currency),
    ]


def revenue_table(months: Sequence[reports.MonthFigures], currency: str) -> Table:
    return Table([Column("Month", "month", lambda m: month_label(m.month)), *_figure_columns(currency)], months)


def group_table(dimension: str, groups: Sequence[GroupFigures], currency: str) -> Table:
    return Table([Column(DIMENSIONS[dimension], dimension, lambda g: g.label), *_figure_columns(currency)], groups)


def ranking_table(of: str, groups: Sequence[GroupFigures], currency: str) -> Table:
    ranked = list(enumerate(groups, start=1))
    columns = [Column("#", "rank", lambda r: r[0], "int"), Column(DIMENSIONS[of], of, lambda r: r[1].label)]
    columns.extend(_of_ranked(column) for column in _figure_columns(currency))
    return Table(columns, ranked)


def _of_ranked(column: Column) -> Column:
    """`column` of a group, read from a (rank, group) row."""
    return Column(column.title, column.csv, lambda ranked: column.value(ranked[1]), column.kind)


def cancellation_months_table(months: Sequence[reports.CancellationMonth], currency: str) -> Table:
    return Table(
        [
            Column("Month", "month", lambda m: month_label(m.month)),
            Column("Contracts due", "due", lambda m: m.due, "int"),
            Column("Cancelled", "cancelled", lambda m: m.cancelled, "int"),
            Column("Cancellation rate", "cancellation_rate_pct", lambda m: m.cancellation_rate, "rate"),
            Column(f"Cancelled ({currency})", "cancelled_amount", lambda m: m.cancelled_amount, "money"),
            Column("Currency", "currency", lambda m: currency),
        ],
        months,
    )


def cancelled_table(rows: Sequence[reports.ContractRow]) -> Table:
    return Table(
        [
            Column("Contract", "contract", lambda c: c.number),
            Column("Customer", "customer", lambda c: c.account),
            Column("End date", "end_date", lambda c: c.end_date, "date"),
            Column("Amount", "amount", lambda c: c.amount, "money"),
            Column("Currency", "currency", lambda c: c.currency),
            Column("Rep", "rep", lambda c: c.rep),
            Column("Reseller", "reseller", lambda c: c.reseller),
        ],
        rows,
    )


def at_risk_table(rows: Sequence[reports.AtRisk], today: date) -> Table:
    return Table(
        [
            Column("Customer", "customer", lambda r: r.account),
            Column("Contract", "contract", lambda r: r.number),
            Column("End date", "end_date", lambda r: r.end_date, "date"),
            Column("Days left", "days_left", lambda r: r.days_left(today), "int"),
            Column("Amount", "amount", lambda r: r.amount, "money"),
            Column("Currency", "currency", lambda r: r.currency),
            Column("Contact", "contact", lambda r: r.contact),
            Column("Contact email", "contact_email", lambda r: r.contact_email),
            Column("Rep", "rep", lambda r: r.rep),
            Column("Rep email", "rep_email", lambda r: r.rep_email),
            Column("Opens", "opens", lambda r: r.opens, "int"),
            Column("Clicks", "clicks", lambda r: r.clicks, "int"),
            Column("Downloads", "downloads", lambda r: r.downloads, "int"),
            Column("Contact requests", "contact_requests", lambda r: r.contact_requests, "int"),
            Column("Last engaged (UTC)", "last_engaged_at", lambda r: r.last_engaged_at, "datetime"),
        ],
        rows,
    )


def health_table(rows: Sequence[reports.Health]) -> Table:
    return Table(
        [
            Column("Customer", "customer", lambda h: h.account),
            Column("Score", "score", lambda h: h.score, "int"),
            Column("Ended (2 years)", "ended", lambda h: h.ended, "int"),
            Column("Renewed of those", "renewed", lambda h: h.renewed, "int"),
            Column("in Salesforce", "renewed_in_salesforce", lambda h: h.renewed_in_salesforce, "int"),
            Column("Emailed (1 year)", "emailed", lambda h: h.emailed, "int"),
            Column("Engaged of those", "engaged", lambda h: h.engaged, "int"),
            Column("Overdue", "overdue", lambda h: h.overdue, "int"),
        ],
        rows,
    )


def bands_table(bands: Sequence[reports.HealthBand]) -> Table:
    return Table(
        [
            Column("Score", "score", lambda b: f"{b.low}-{b.high}"),
            Column("Accounts", "accounts", lambda b: b.accounts, "int"),
        ],
        bands,
    )
