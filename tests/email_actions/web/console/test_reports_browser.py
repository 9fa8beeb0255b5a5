"""The Reports pages in Chromium: sign in through the form, open a report, see its charts drawn (server-side
SVG, no script, no CDN), and download its CSV through the page's own link: the file holds the figures
computed from the store row by row."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from config.settings import Settings
from email_actions.web.app import create_app
from email_actions.web.console import reports as views
from tests.email_actions.web.console.conftest import PASSWORD, add_user
from tests.paths import ARTIFACTS as ARTIFACTS_ROOT
from tests.processes import serve_wsgi
from tests.sync_service.reports.data import PERIOD, TODAY, Reference, build, csv_figures

ARTIFACTS = ARTIFACTS_ROOT / "admin"


@pytest.fixture
def served(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Flask]]:
    """The app on a real port, its store holding the hand-built report data; today is 2026-06-15 there."""
    monkeypatch.setattr(views.queries, "today_utc", lambda: TODAY)
    app = create_app(settings)
    with app.extensions["renewals.database"].session_scope() as session:
        build(session)
    add_user(app, "alice", "viewer")
    try:
        with serve_wsgi(app) as base:
            yield base, app
    finally:
        app.extensions["renewals.database"].dispose()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    yield context.new_page()
    context.close()


@pytest.mark.timeout(120)
def test_a_report_draws_its_charts_and_its_csv_holds_the_stores_figures(
    served: tuple[str, Flask], page: Page, tmp_path: Path
) -> None:
    base, app = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    outside: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(base) else outside.append(request.url))

    page.goto(f"{base}/admin/reports?from={PERIOD.start.isoformat()}&to={PERIOD.end.isoformat()}")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Reports: funnel and revenue").wait_for()

    # The charts are drawn: the funnel's five steps, and revenue by month with bars of a real height.
    funnel_bars = page.locator("figure.report-chart").nth(0).locator("svg rect.bar")
    assert funnel_bars.count() == 5
    revenue_bars = page.locator("figure.report-chart").nth(1).locator("svg rect.bar")
    assert revenue_bars.count() == 12  # six months, due and renewed
    heights = [float(revenue_bars.nth(i).get_attribute("height") or 0) for i in range(revenue_bars.count())]
    assert max(heights) > 100
    box = page.locator("figure.report-chart svg").nth(1).bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 150  # laid out, not collapsed
    assert page.locator("#figure-rate").inner_text() == "25.0 %"
    page.screenshot(path=str(ARTIFACTS / "reports-overview.png"), full_page=True)

    with page.expect_download() as download_info:
        page.locator("#csv-revenue").click()
    download = download_info.value
    assert download.suggested_filename == "revenue-by-month-USD.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with saved.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with app.extensions["renewals.database"].session_scope() as session:
        reference = Reference(session)
    assert csv_figures(rows, "month") == reference.by_month(PERIOD, "USD")

    # Another currency from the page's own selector: the page and its CSV follow it.
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("heading", name="Revenue due and renewed by month (EUR)").wait_for()
    with page.expect_download() as download_info:
        page.locator("#csv-revenue").click()
    saved = tmp_path / "eur.csv"
    download_info.value.save_as(saved)
    with saved.open(newline="") as handle:
        eur = {row["month"]: Decimal(row["due_amount"]) for row in csv.DictReader(handle)}
    assert eur == {month: figures[3] for month, figures in reference.by_month(PERIOD, "EUR").items()}

    page.get_by_role("link", name="Breakdowns").click()
    page.get_by_role("heading", name="By rep").wait_for()
    assert page.locator("figure.report-chart").count() == 4
    assert page.locator("figure.report-chart svg rect.bar").count() > 0
    page.screenshot(path=str(ARTIFACTS / "reports-breakdowns.png"), full_page=True)

    page.get_by_role("link", name="Account health").click()
    page.get_by_role("heading", name="Accounts, least healthy first").wait_for()
    assert page.get_by_text("score = renewal points + engagement points").is_visible()
    page.screenshot(path=str(ARTIFACTS / "reports-health.png"), full_page=True)

    assert not failed, failed
    assert not outside, outside  # no CDN, no external asset
