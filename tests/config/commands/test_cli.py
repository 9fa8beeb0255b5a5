"""The renewals console script."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from config.commands.cli import main
from config.settings import SettingsError
from email_actions.web.app import create_app
from sync_service.store.db import make_engine
from tests.conftest import TEST_SECRET_KEY


def test_help_lists_every_command(cli_runner: CliRunner) -> None:
    result = cli_runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert {"web", "worker", "scheduler", "db", "bench", "devorg", "demo"} <= listed


def test_help_imports_no_subcommand(cli_runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("sync_service.devorg.cli", "config.commands.demo", "config.commands.worker", "config.commands.web"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    cli_runner.invoke(main, ["--help"])
    assert "sync_service.devorg.cli" not in sys.modules
    assert "config.commands.demo" not in sys.modules


def test_worker_help_lists_the_queues(cli_runner: CliRunner) -> None:
    result = cli_runner.invoke(main, ["worker", "--help"])
    assert result.exit_code == 0
    assert "push" in result.output and "pull" in result.output


def test_db_upgrade_creates_the_schema(cli_runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    env = {"RENEWALS_SECRET_KEYS": TEST_SECRET_KEY, "RENEWALS_DATABASE_URL": url}
    result = cli_runner.invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    engine = make_engine(url)
    assert {"contracts", "alembic_version"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_bad_configuration_is_a_clean_error_without_traceback(cli_runner: CliRunner) -> None:
    result = cli_runner.invoke(main, ["db", "upgrade"], env={"RENEWALS_SECRET_KEYS": ""})
    assert result.exit_code == 1
    assert "RENEWALS_SECRET_KEYS is required" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("variable", "text", "problem"),
    [
        ("RENEWALS_CADENCE_FILE", "default: {days_before_end: [90, 90]}\n", "90 appears twice"),
        ("RENEWALS_BRANDS_FILE", "default: nowhere\nbrands: {}\n", "a non-empty `brands:` section"),
    ],
)
def test_a_bad_cadence_or_brands_file_stops_every_command_at_start_naming_it(
    cli_runner: CliRunner, tmp_path: Path, variable: str, text: str, problem: str
) -> None:
    """The files are checked when a process starts (config.commands.cli.settings_from_environment), not when
    the settings are parsed: the settings stay a leaf that imports nothing of ours."""
    path = tmp_path / "file.yaml"
    path.write_text(text)
    env = {
        "RENEWALS_SECRET_KEYS": TEST_SECRET_KEY,
        "RENEWALS_DATABASE_URL": f"sqlite:///{tmp_path}/r.db",
        variable: str(path),
    }
    result = cli_runner.invoke(main, ["plan"], env=env)
    assert result.exit_code == 1
    assert f"{variable}={str(path)!r}" in result.output and problem in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.db").exists()  # stopped before anything was written


def test_the_web_app_made_from_the_environment_checks_the_files_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    path = tmp_path / "brands.yaml"
    path.write_text("default: nowhere\nbrands: {}\n")
    monkeypatch.setenv("RENEWALS_SECRET_KEYS", TEST_SECRET_KEY)
    monkeypatch.setenv("RENEWALS_BRANDS_FILE", str(path))
    with pytest.raises(SettingsError, match="RENEWALS_BRANDS_FILE="):
        create_app()
