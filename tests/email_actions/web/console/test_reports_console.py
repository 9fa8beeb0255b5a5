"""The console's Reports pages: every page answers admins and viewers, bad filters answer 400 with the reason
beside the field, every CSV export equals the figures computed from the store row by row, and each page
issues a fixed number of SQL statements however much the store holds."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from werkzeug.test import TestResponse

from email_actions.web.console import reports as views
from sync_service.store import models
from tests.sync_service.reports.data import PERIOD, TODAY, Builder, Reference, build, csv_figures

PAGES = [
    "/admin/reports",
    "/admin/reports/breakdowns",
    "/admin/reports/rankings",
    "/admin/reports/rankings?by=rate",
    "/admin/reports/cancellations",
    "/admin/reports/at-risk",
    "/admin/reports/health",
]
PERIOD_ARGS = f"from={PERIOD.start.isoformat()}&to={PERIOD.end.isoformat()}"


@pytest.fixture(autouse=True)
def today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's story happens around 2026-06-15: the pages take that as today."""
    monkeypatch.setattr(views.queries, "today_utc", lambda: TODAY)


@pytest.fixture
def reference(app: Flask) -> Reference:
    with app.extensions["renewals.database"].session_scope() as session:
        build(session)
    with app.extensions["renewals.database"].session_scope() as session:
        return Reference(session)


def rows_of(response: TestResponse) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def pct(part: int, whole: int) -> str:
    return str(round(part / whole * 100, 1)) if whole else ""


def test_every_report_page_answers_admins_and_viewers(
    reference: Reference, admin_client: FlaskClient, viewer_client: FlaskClient
) -> None:
    for client in (admin_client, viewer_client):
        for page in PAGES:
            response = client.get(page)
            body = response.get_data(as_text=True)
            assert response.status_code == 200, page
            assert "<table" in body and "Export CSV" in body, page
            assert "<script" not in body, page
        overview = client.get(f"/admin/reports?{PERIOD_ARGS}").get_data(as_text=True)
        assert overview.count('class="chart-svg"') == 2  # the funnel and revenue by month
        assert 'class="bar"' in overview
        assert "Renewed ÷ due" in overview  # the definitions are on the page


def test_the_overview_shows_the_funnel_of_the_period(reference: Reference, admin_client: FlaskClient) -> None:
    body = admin_client.get(f"/admin/reports?{PERIOD_ARGS}").get_data(as_text=True)
    assert re.search(r'id="figure-due">8<', body)
    assert re.search(r'id="figure-renewed">2<', body)
    assert re.search(r'id="figure-rate">25.0 %<', body)
    assert 'value="2026-01-01"' in body and 'value="2026-06-30"' in body
    assert '<option value="USD" selected>USD (7 due)</option>' in body


BAD_FILTERS = [
    ("/admin/reports?from=2026-13-01", "from", "is not a date"),
    ("/admin/reports/breakdowns?from=2026-06-01&to=2026-01-01", "to", "before its start"),
    ("/admin/reports/rankings?from=2019-01-01&to=2026-01-01", "to", "at most five years"),
    ("/admin/reports/cancellations?currency=dollars", "currency", "three-letter ISO code"),
    ("/admin/reports/at-risk?days=0", "days", "from 1 to 365"),
    ("/admin/reports/at-risk?days=many", "days", "from 1 to 365"),
]


def test_a_bad_filter_is_a_400_with_the_reason_beside_its_field(admin_client: FlaskClient) -> None:
    for url, field, reason in BAD_FILTERS:
        response = admin_client.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 400, url
        match = re.search(rf'<p class="field-error" id="error-{field}" role="alert">([^<]*)</p>', body)
        assert match and reason in match.group(1), url
        assert f'aria-describedby="error-{field}"' in body, url  # the field points at its error
        assert "<table" not in body, url  # nothing is reported on filters that could not be used


def test_a_bad_filter_on_a_csv_link_is_a_400_with_the_reason(admin_client: FlaskClient) -> None:
    response = admin_client.get("/admin/reports/revenue.csv?to=yesterday")
    assert response.status_code == 400
    assert "is not a date" in response.get_data(as_text=True)
    assert admin_client.get("/admin/reports/breakdowns.csv?by=planet").status_code == 404


def test_the_funnel_revenue_and_cancellation_csvs_equal_the_store(
    reference: Reference, admin_client: FlaskClient
) -> None:
    funnel = rows_of(admin_client.get(f"/admin/reports/funnel.csv?{PERIOD_ARGS}"))
    expected = reference.funnel(PERIOD)
    assert {row["step"]: int(row["contracts"]) for row in funnel} == expected
    assert [row["share_of_due_pct"] for row in funnel] == [pct(n, expected["Due"]) for n in expected.values()]

    for currency in ("USD", "EUR"):
        months = rows_of(admin_client.get(f"/admin/reports/revenue.csv?{PERIOD_ARGS}&currency={currency}"))
        assert csv_figures(months, "month") == reference.by_month(PERIOD, currency)
        assert {row["currency"] for row in months} == {currency}
    check_cancellations(reference, admin_client)


def test_the_breakdown_csvs_equal_the_store(reference: Reference, admin_client: FlaskClient) -> None:
    for dimension in ("rep", "reseller", "brand"):
        check_breakdown(reference, admin_client, dimension)
    rows = rows_of(admin_client.get(f"/admin/reports/breakdowns.csv?by=product_line&{PERIOD_ARGS}"))
    # Hand-checked in tests/sync_service/test_reports.py: A counts its older quote, J its newer one.
    assert [(r["product_line"], r["due"], r["renewed"], r["due_amount"], r["renewed_amount"]) for r in rows] == [
        ("Platform", "6", "1", "7000.00", "1000.00"),
        ("Services", "6", "1", "2300.00", "800.00"),
    ]


def check_breakdown(reference: Reference, admin_client: FlaskClient, dimension: str) -> None:
    rows = rows_of(admin_client.get(f"/admin/reports/breakdowns.csv?by={dimension}&{PERIOD_ARGS}"))
    found = csv_figures(rows, dimension)
    assert found == reference.by_group(PERIOD, "USD", getattr(reference, dimension))
    for row in rows:
        assert row["renewal_rate_pct"] == pct(int(row["renewed"]), int(row["due"]))
        assert int(row["renewed_from_email"]) + int(row["renewed_in_salesforce"]) == int(row["renewed"])


def test_each_ranking_csv_is_the_whole_ranking(reference: Reference, admin_client: FlaskClient) -> None:
    for of in ("customer", "reseller", "rep"):
        check_ranking(reference, admin_client, of)


def check_ranking(reference: Reference, admin_client: FlaskClient, of: str) -> None:
    rows = rows_of(admin_client.get(f"/admin/reports/rankings.csv?of={of}&{PERIOD_ARGS}"))
    expected = reference.by_group(PERIOD, "USD", getattr(reference, of))
    assert {
        r[of]: (int(r["due"]), int(r["renewed"]), int(r["renewed_in_salesforce"]), Decimal(r["renewed_amount"]))
        for r in rows
    } == {
        name: (due, renewed, in_salesforce, renewed_amount)
        for name, (due, renewed, in_salesforce, _, renewed_amount) in expected.items()
    }
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    amounts = [Decimal(r["renewed_amount"]) for r in rows]
    assert amounts == sorted(amounts, reverse=True)


def check_cancellations(reference: Reference, admin_client: FlaskClient) -> None:
    months = rows_of(admin_client.get(f"/admin/reports/cancellations-by-month.csv?{PERIOD_ARGS}"))
    assert {
        row["month"]: (int(row["due"]), int(row["cancelled"]), Decimal(row["cancelled_amount"])) for row in months
    } == reference.cancelled_by_month(PERIOD, "USD")
    contracts = rows_of(admin_client.get(f"/admin/reports/cancellations.csv?{PERIOD_ARGS}"))
    assert [row["contract"] for row in contracts] == reference.cancelled(PERIOD, "USD")


def check_at_risk(reference: Reference, admin_client: FlaskClient) -> None:
    for days in (9, 30, 365):
        rows = rows_of(admin_client.get(f"/admin/reports/at-risk.csv?days={days}"))
        assert [row["contract"] for row in rows] == reference.at_risk(TODAY, days)
    usd = rows_of(admin_client.get("/admin/reports/at-risk.csv?days=30&currency=USD"))
    assert [row["contract"] for row in usd] == reference.at_risk(TODAY, 30, "USD")
    assert {row["currency"] for row in usd} == {"USD"}
    assert {(row["customer"], row["rep"], row["days_left"]) for row in usd} == {
        ("Acme", "Sam", "10"),
        ("Initech", "Sam", "5"),
    }


def test_the_health_and_at_risk_csvs_equal_the_store(reference: Reference, admin_client: FlaskClient) -> None:
    check_health(reference, admin_client)
    check_at_risk(reference, admin_client)


def check_health(reference: Reference, admin_client: FlaskClient) -> None:
    rows = rows_of(admin_client.get("/admin/reports/health.csv"))
    assert {row["customer"]: int(row["score"]) for row in rows} == reference.health(TODAY)
    assert [int(row["score"]) for row in rows] == sorted(int(row["score"]) for row in rows)
    bands = rows_of(admin_client.get("/admin/reports/health-bands.csv"))
    assert sum(int(row["accounts"]) for row in bands) == len(rows)


@pytest.fixture
def renewed_in_salesforce(app: Flask, reference: Reference) -> Reference:
    """The hand-built store, with B (Acme, February) and H (Initech, June, at risk) renewed by a rep in
    Salesforce as the pull leaves them (the mark, no renewals row)."""
    with app.extensions["renewals.database"].session_scope() as session:
        numbers = {reference.contracts[i].number for i in (1, 7)}  # B and H, in build order
        b = Builder(session)
        for contract in session.scalars(select(models.Contract).where(models.Contract.number.in_(numbers))):
            b.renewed_in_salesforce(contract)
    with app.extensions["renewals.database"].session_scope() as session:
        return Reference(session)


def test_a_renewal_in_salesforce_shows_as_its_own_channel_on_the_pages_and_in_every_csv(
    renewed_in_salesforce: Reference, admin_client: FlaskClient
) -> None:
    reference = renewed_in_salesforce
    body = admin_client.get(f"/admin/reports?{PERIOD_ARGS}").get_data(as_text=True)
    assert re.search(r'id="figure-renewed">4<', body)
    assert re.search(r'id="figure-rate">50.0 %<', body)
    assert '<div class="muted" id="figure-renewed-channels">2 from the email, 2 in Salesforce</div>' in body
    funnel = rows_of(admin_client.get(f"/admin/reports/funnel.csv?{PERIOD_ARGS}"))
    assert [(row["step"], row["contracts"], row["share_of_due_pct"]) for row in funnel][4:] == [
        ("Renewed", "4", "50.0"),
        ("Renewed from the email", "2", "25.0"),
        ("Renewed in Salesforce", "2", "25.0"),
    ]
    assert {row["step"]: int(row["contracts"]) for row in funnel} == reference.funnel(PERIOD)
    months = rows_of(admin_client.get(f"/admin/reports/revenue.csv?{PERIOD_ARGS}&currency=USD"))
    assert csv_figures(months, "month") == reference.by_month(PERIOD, "USD")
    february = next(row for row in months if row["month"] == "2026-02")
    assert (february["renewed_from_email"], february["renewed_in_salesforce"], february["renewed_amount"]) == (
        "1",
        "1",
        "3000.00",
    )
    for dimension in ("rep", "reseller", "brand"):
        check_breakdown(reference, admin_client, dimension)
    for of in ("customer", "reseller", "rep"):
        check_ranking(reference, admin_client, of)
    breakdowns = admin_client.get(f"/admin/reports/breakdowns?{PERIOD_ARGS}").get_data(as_text=True)
    assert ">in Salesforce</th>" in breakdowns
    check_health(reference, admin_client)
    health = rows_of(admin_client.get("/admin/reports/health.csv"))
    acme = next(row for row in health if row["customer"] == "Acme")
    assert (acme["renewed"], acme["renewed_in_salesforce"]) == ("2", "1")
    listed = [row["contract"] for row in rows_of(admin_client.get("/admin/reports/at-risk.csv?days=30"))]
    assert listed == reference.at_risk(TODAY, 30)
    assert reference.contracts[7].number not in listed  # H is renewed


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    engine = app.extensions["renewals.database"].engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_each_page_issues_a_fixed_number_of_statements(
    reference: Reference, app: Flask, admin_client: FlaskClient, statements: list[str]
) -> None:
    def per_page() -> dict[str, int]:
        counts = {}
        for page in PAGES:
            statements.clear()
            assert admin_client.get(page).status_code == 200
            counts[page] = len([s for s in statements if s.strip().upper() not in ("BEGIN", "COMMIT", "ROLLBACK")])
        return counts

    before = per_page()
    with app.extensions["renewals.database"].session_scope() as session:
        b = Builder(session)
        rep = b.rep("Mo")
        for n in range(40):
            contract = b.contract(
                b.account(f"Extra {n}"), rep, f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}", "10.00", "GBP"
            )
            b.event(b.email(contract), "open", "human")
    assert per_page() == before
    # The sign-in check's statements, then one per table or chart (plus the currency list).
    guard = before["/admin/reports/health"] - 1
    assert {page: count - guard for page, count in before.items()} == {
        "/admin/reports": 3,
        "/admin/reports/breakdowns": 5,
        "/admin/reports/rankings": 4,
        "/admin/reports/rankings?by=rate": 4,
        "/admin/reports/cancellations": 3,
        "/admin/reports/at-risk": 2,
        "/admin/reports/health": 1,
    }
