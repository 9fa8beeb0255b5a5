"""`renewals bench admin` at a tiny scale: the seeder fills a store within its constraints, the console's pages
are found in the URL map, and the JSON has the figures the issue asks for. Figures are printed, never
asserted against a speed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from sync_service.store import models
from sync_service.store.db import make_engine
from tests.bench.cli import bench

TINY = ["--contracts", "300", "--events", "3000", "--repeat", "1"]


def run_bench(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(bench, ["admin", *TINY, "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


def is_measured(value: Any) -> bool:
    """A figure that was measured: a number, never negative. How big is not asserted: a fast machine rounds a
    tiny page to 0.0, a slow one takes longer; neither is a defect."""
    return isinstance(value, int | float) and value >= 0


def check_figures(figures: dict[str, Any], database: str) -> None:
    assert figures["database"] == database
    assert figures["contracts"] == 300
    assert figures["events"] == 3000
    pages = figures["pages"]
    assert "operations" in pages
    assert "reports" in pages
    assert not {"login", "logout"} & set(pages)
    failed = {name: page["error"] for name, page in pages.items() if "error" in page}
    assert not failed
    for name, page in pages.items():
        assert page["path"].startswith("/admin")
        assert is_measured(page["seconds"]), name
        assert page["sql_statements"] > 0, name  # at least the sign-in check
        assert page["ratio_vs_event_scan"] is None or is_measured(page["ratio_vs_event_scan"]), name
    for name, export in figures["exports"].items():
        assert is_measured(export["seconds"]), name
        assert export["sql_statements"] > 0, name
    assert figures["redirects"]["index"]["redirect"] == "/admin/operations"
    scan = figures["baseline"]["event_scan"]
    assert scan["rows"] == 3000
    assert is_measured(scan["seconds"])
    assert figures["baseline"]["healthz"]["sql_statements"] == 2  # the outbox's age and the stale mappings


def test_admin_bench_on_a_temporary_sqlite_store() -> None:
    figures = run_bench()
    check_figures(figures, "sqlite")
    assert is_measured(figures["seed_seconds"])
    rows = figures["seeded_rows"]
    assert rows["contracts"] == 300
    assert rows["email_events"] == 3000
    for table in ("renewals", "renewal_quotes", "quote_lines", "reminders", "email_messages", "outbox_items"):
        assert rows[table] > 0, table


def test_admin_bench_on_postgresql_and_reusing_the_store(empty_database: Callable[[str], str]) -> None:
    url = empty_database("postgresql")
    figures = run_bench("--database-url", url)
    check_figures(figures, "postgresql")
    engine = make_engine(url)
    with engine.connect() as connection:
        statuses = set(connection.scalars(select(models.EmailMessage.status).distinct()))
        labels = dict(
            connection.execute(select(models.EmailEvent.label, func.count()).group_by(models.EmailEvent.label)).all()
        )
    engine.dispose()
    assert {"delivered", "sent", "queued"} <= statuses
    assert labels["human"] > labels["machine"] > 0

    refused = CliRunner().invoke(bench, ["admin", *TINY, "--json", "--database-url", url])
    assert refused.exit_code != 0
    assert "already holds contracts" in str(refused.exception)

    # Reused as it is, timing only the pages named (a variant with a query string among them).
    again = run_bench(
        "--database-url",
        url,
        "--reuse",
        "--only",
        "reports",
        "--only",
        "audit_by_rep",
        "--only",
        "nonexistent",
        "--page",
        "audit_by_rep=/admin/audit?action=rep.",
    )
    assert again["seed_seconds"] is None
    assert again["contracts"] == 300
    assert set(again["pages"]) == {"reports", "audit_by_rep", "nonexistent"}
    assert again["pages"]["audit_by_rep"]["path"] == "/admin/audit?action=rep."
    assert again["pages"]["audit_by_rep"]["sql_statements"] > 0
    assert is_measured(again["pages"]["reports"]["seconds"])
    assert "error" in again["pages"]["nonexistent"]
    assert again["exports"] == {}
