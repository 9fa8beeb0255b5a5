"""``renewals preview``: one email of a contract from the store, as HTML, text or a whole MIME message,
without writing anything."""

from __future__ import annotations

import email
import shutil
from datetime import date
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from config.commands.cli import main
from config.settings import DEFAULT_BRANDS_FILE
from sync_service.store import models
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_contract

END_DATE = date(2026, 3, 31)


@pytest.fixture
def seeded(store: sessionmaker[Session]) -> dict[str, object]:
    """Two contracts in the store (one sold through a reseller) and the environment to reach it."""
    with store() as session:
        direct = make_contract(session, end_date=END_DATE, locale="de_DE", currency="EUR", number="00004711")
        resold = make_contract(session, end_date=END_DATE, reseller="Some Partner", number="00004712")
        session.commit()
        ids = {"direct": direct.id, "direct_sf": direct.sf_id, "resold": resold.id}
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    env = {
        "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
        "RENEWALS_DATABASE_URL": url,
        "RENEWALS_PUBLIC_BASE_URL": "https://renewals.test",
    }
    return {"env": env, **ids}


def _row_counts(store: sessionmaker[Session]) -> dict[str, int]:
    with store() as session:
        tables = inspect(session.get_bind()).get_table_names()
        return {
            table: session.scalar(select(func.count()).select_from(models.Base.metadata.tables[table])) or 0
            for table in tables
            if table in models.Base.metadata.tables
        }


def test_preview_prints_the_reminders_html_and_writes_nothing(
    cli_runner: CliRunner, store: sessionmaker[Session], seeded: dict[str, object]
) -> None:
    before = _row_counts(store)
    result = cli_runner.invoke(
        main, ["preview", "--contract", str(seeded["direct"]), "--stage", "-30"], env=seeded["env"]
    )
    assert result.exit_code == 0, result.output
    html = result.output
    assert html.startswith("<!DOCTYPE html>")
    assert "expires in 30 days" in html and "00004711" in html
    assert "12.500,00\xa0€" in html  # de_DE
    assert 'src="https://renewals.test/brand/northwind/logo.png"' in html
    assert "https://renewals.test/a/renew/" in html
    assert _row_counts(store) == before
    assert before["email_messages"] == 0


def test_preview_by_salesforce_id_as_text_on_the_end_date(cli_runner: CliRunner, seeded: dict[str, object]) -> None:
    args = ["preview", "--contract", str(seeded["direct_sf"]), "--stage", "0", "--format", "text"]
    result = cli_runner.invoke(main, args, env=seeded["env"])
    assert result.exit_code == 0, result.output
    assert "is due for renewal today" in result.output
    assert "Renew:" in result.output and "<" not in result.output.split("Renew:")[0]


def test_preview_writes_a_mime_message_to_a_file(
    cli_runner: CliRunner, seeded: dict[str, object], tmp_path: Path
) -> None:
    out = tmp_path / "reminder.eml"
    args = ["preview", "--contract", str(seeded["resold"]), "--stage", "7", "--format", "eml", "--out", str(out)]
    result = cli_runner.invoke(main, args, env=seeded["env"])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "brand partner" in result.output
    parsed = email.message_from_bytes(out.read_bytes(), policy=policy.default)
    assert "expired 7 days ago" in str(parsed["Subject"])
    assert parsed["To"] == "buyer@customer.example"
    assert str(parsed["List-Unsubscribe"]).startswith("<https://renewals.test/u/")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Reply-To"] == "riley.rep@vendor.example"
    assert "Northwind Partner Renewals" in str(parsed["From"])
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize("kind", ["rep_notice", "confirmation", "contact_request"])
def test_preview_renders_the_other_kinds(cli_runner: CliRunner, seeded: dict[str, object], kind: str) -> None:
    args = ["preview", "--contract", str(seeded["direct"]), "--kind", kind, "--format", "text"]
    result = cli_runner.invoke(main, args, env=seeded["env"])
    assert result.exit_code == 0, result.output
    assert "00004711" in result.output
    assert ("https://renewals.test/rep/" in result.output) == (kind != "confirmation")


def test_an_unknown_contract_is_a_clear_error(cli_runner: CliRunner, seeded: dict[str, object]) -> None:
    for reference in ("999999", "800000000000000XYZ"):
        result = cli_runner.invoke(main, ["preview", "--contract", reference, "--stage", "-30"], env=seeded["env"])
        assert result.exit_code == 1
        assert f"no contract with the id or Salesforce id '{reference}'" in result.output
        assert "Traceback" not in result.output


def test_a_reminder_needs_a_stage(cli_runner: CliRunner, seeded: dict[str, object]) -> None:
    result = cli_runner.invoke(main, ["preview", "--contract", str(seeded["direct"])], env=seeded["env"])
    assert result.exit_code == 2
    assert "--stage" in result.output


def test_a_brand_that_cannot_be_used_is_a_clear_error(
    cli_runner: CliRunner, seeded: dict[str, object], tmp_path: Path
) -> None:
    shutil.copytree(DEFAULT_BRANDS_FILE.parent / "brands", tmp_path / "brands")
    text = DEFAULT_BRANDS_FILE.read_text().replace('primary: "#2d5f3f"', 'primary: "#dddddd"')
    (tmp_path / "brands.yaml").write_text(text)
    env = {**seeded["env"], "RENEWALS_BRANDS_FILE": str(tmp_path / "brands.yaml")}  # type: ignore[dict-item]
    result = cli_runner.invoke(main, ["preview", "--contract", str(seeded["resold"]), "--stage", "-7"], env=env)
    assert result.exit_code == 1
    assert "brand 'partner' cannot be used" in result.output and "contrast" in result.output
    assert "Traceback" not in result.output
    # The vendor's brand is fine, so its contracts still preview.
    result = cli_runner.invoke(main, ["preview", "--contract", str(seeded["direct"]), "--stage", "-7"], env=env)
    assert result.exit_code == 0, result.output


def test_a_missing_store_is_a_clear_error_and_creates_no_file(cli_runner: CliRunner, tmp_path: Path) -> None:
    database = tmp_path / "none.db"
    env = {"RENEWALS_SECRET_KEYS": TEST_SECRET_KEY, "RENEWALS_DATABASE_URL": f"sqlite:///{database}"}
    result = cli_runner.invoke(main, ["preview", "--contract", "1", "--stage", "-30"], env=env)
    assert result.exit_code == 1
    assert "renewals db upgrade" in result.output and "Traceback" not in result.output
    assert not database.exists()
