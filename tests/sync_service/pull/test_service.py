"""`renewals sync` and the scheduled pull: the active mapping is pulled, a summary is printed, and a mapping
that failed permanently is not retried on every tick."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from config.commands.cli import main
from config.settings import Settings
from sync_service.pull.run import PullResult
from sync_service.pull.service import NothingToPull, Skipped, pull_all
from sync_service.store import mapping_versions, models
from sync_service.store.db import Database
from tests.standin_org import RunningOrg
from tests.sync_service.pull.conftest import activate_preset, org_environment, org_settings


@pytest.fixture
def database_url(migrated_database: Callable[[str], str]) -> str:
    return migrated_database("sqlite")


def test_sync_without_an_active_mapping_says_how_to_make_one(
    flavour_org: Callable[[str], RunningOrg], database_url: str
) -> None:
    env = org_environment(flavour_org("salesforce_cpq"), database_url)
    result = CliRunner().invoke(main, ["sync"], env=env)
    assert result.exit_code != 0
    assert "no active mapping" in result.output and "renewals mappings import" in result.output


def test_sync_pulls_the_active_mapping_and_prints_a_summary(
    flavour_org: Callable[[str], RunningOrg], database_url: str
) -> None:
    activate_preset(database_url)
    env = org_environment(flavour_org("salesforce_cpq"), database_url)
    result = CliRunner().invoke(main, ["sync", "--full", "--reconcile"], env=env)
    assert result.exit_code == 0, result.output
    assert "full pull succeeded" in result.output and "API calls" in result.output
    assert "contract" in result.output and "quote_line" in result.output
    db = Database(database_url)
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(models.Contract)) == 60
        kinds = set(session.scalars(select(models.SyncRun.kind)))
    db.dispose()
    assert kinds == {"full", "reconcile"}


def _settings(org: RunningOrg, database_url: str) -> Settings:
    return org_settings(org, database_url)


def test_a_permanently_failing_mapping_is_not_retried_on_every_tick(mutable_org: RunningOrg, database_url: str) -> None:
    activate_preset(database_url)
    settings = _settings(mutable_org, database_url)
    db = Database(database_url)
    first = pull_all(db, settings, full=True)
    assert isinstance(first[0], PullResult) and first[0].status == "succeeded"
    mutable_org.admin("POST", "schema", {"op": "delete", "object": "Contract", "field": "Auto_Renew__c"})
    failed = pull_all(db, settings)
    assert isinstance(failed[0], PullResult) and failed[0].status == "failed"
    assert failed[0].error is not None and "Auto_Renew__c" in failed[0].error
    again = pull_all(db, settings)
    assert isinstance(again[0], Skipped) and "last pull failed" in again[0].reason
    with db.session_scope() as session:
        runs = session.scalar(select(func.count()).select_from(models.SyncRun))
    assert runs == 2  # the skipped tick recorded no new failure
    forced = pull_all(db, settings, force=True)
    assert isinstance(forced[0], PullResult) and forced[0].status == "failed"
    db.dispose()


def test_no_active_mapping_is_reported_not_crashed(database_url: str, flavour_org: Callable[[str], RunningOrg]) -> None:
    db = Database(database_url)
    with pytest.raises(NothingToPull):
        pull_all(db, _settings(flavour_org("salesforce_cpq"), database_url))
    db.dispose()


def test_the_scheduled_pull_is_full_until_one_succeeds_for_the_active_version(
    mutable_org: RunningOrg, database_url: str
) -> None:
    activate_preset(database_url)
    settings = _settings(mutable_org, database_url)
    db = Database(database_url)
    kinds = []
    for _ in range(2):
        [outcome] = pull_all(db, settings)
        assert isinstance(outcome, PullResult) and outcome.status == "succeeded", outcome
        kinds.append(outcome.kind)
    assert kinds == ["full", "incremental"]
    # A new version (here an edited comment) is saved and activated: its first pull rewrites every record.
    with db.session_scope() as session:
        text = "# edited\n" + mapping_versions.get_active(session, "salesforce_cpq").yaml  # type: ignore[union-attr]
        version = mapping_versions.save_version(session, text, author="test")
        mapping_versions.activate(session, version.name, version.version, [])
    [outcome] = pull_all(db, settings)
    assert isinstance(outcome, PullResult) and outcome.kind == "full"
    assert outcome.rows["contract"] == 40
    db.dispose()


def test_sync_reports_a_failed_reconcile_and_exits_1(mutable_org: RunningOrg, database_url: str) -> None:
    activate_preset(database_url)
    env = org_environment(mutable_org, database_url)
    assert CliRunner().invoke(main, ["sync", "--full"], env=env).exit_code == 0
    mutable_org.faults(rules=[{"route": "query", "error": "500", "rate": 1.0}])
    result = CliRunner().invoke(main, ["sync", "--reconcile"], env=env)
    assert result.exit_code == 1, result.output
    assert "reconcile failed" in result.output
