"""The staleness guard's question, on SQLite and PostgreSQL: which active mappings' data is older than the limit
since their last successful pull, and the reason the console, the jobs and /healthz show."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from config.settings import Settings
from sync_service.freshness import freshness_limit, reminders_paused, stale_mappings
from sync_service.store import models

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LIMIT = timedelta(hours=6)


def add_mapping(session: Session, name: str = "cpq", *, active: bool = True) -> None:
    session.add(models.MappingVersion(name=name, version=1, yaml="name: x", author="test", is_active=active))
    session.flush()


def add_run(
    session: Session, name: str, *, ended: datetime, kind: str = "incremental", status: str = "succeeded"
) -> None:
    session.add(
        models.SyncRun(
            mapping_name=name, kind=kind, status=status, started_at=ended - timedelta(minutes=2), finished_at=ended
        )
    )
    session.flush()


def test_without_an_active_mapping_nothing_is_stale(db_session: Session) -> None:
    """Bad input: only an inactive mapping, never pulled."""
    add_mapping(db_session, "old", active=False)
    assert stale_mappings(db_session, limit=LIMIT, now=NOW) == []


def test_a_mapping_never_pulled_is_stale_and_says_so(db_session: Session) -> None:
    add_mapping(db_session)
    [stale] = stale_mappings(db_session, limit=LIMIT, now=NOW)
    assert (stale.mapping, stale.last_pull_at, stale.stale_since) == ("cpq", None, None)
    assert stale.reason == "paused: mapping cpq has no successful pull yet (limit 6 h)"


def test_data_older_than_the_limit_is_stale_with_its_age_and_last_pull(db_session: Session) -> None:
    add_mapping(db_session)
    add_run(db_session, "cpq", ended=NOW - timedelta(hours=7, minutes=30))
    [stale] = stale_mappings(db_session, limit=LIMIT, now=NOW)
    assert stale.last_pull_at == NOW - timedelta(hours=7, minutes=30)
    assert stale.stale_since == NOW - timedelta(hours=1, minutes=30)
    assert stale.reason == "paused: data is 7.5 h old, last pull 2026-11-22 04:30 UTC (mapping cpq, limit 6 h)"
    assert stale.as_dict()["age_hours"] == 7.5


def test_only_a_successful_pull_makes_data_fresh(db_session: Session) -> None:
    """Bad input: since the last successful pull 8 h ago, a failed pull, a retrying one, a reconcile and a push,
    all recent."""
    add_mapping(db_session)
    add_run(db_session, "cpq", ended=NOW - timedelta(hours=8))
    add_run(db_session, "cpq", ended=NOW - timedelta(minutes=5), status="failed")
    add_run(db_session, "cpq", ended=NOW - timedelta(minutes=4), status="retrying")
    add_run(db_session, "cpq", ended=NOW - timedelta(minutes=3), kind="reconcile")
    add_run(db_session, "cpq", ended=NOW - timedelta(minutes=2), kind="push")
    [stale] = stale_mappings(db_session, limit=LIMIT, now=NOW)
    assert stale.last_pull_at == NOW - timedelta(hours=8)

    add_run(db_session, "cpq", ended=NOW - timedelta(minutes=1), kind="full")
    assert stale_mappings(db_session, limit=LIMIT, now=NOW) == []


def test_each_active_mapping_is_judged_by_its_own_pulls(db_session: Session) -> None:
    add_mapping(db_session, "cpq")
    add_mapping(db_session, "conga")
    add_run(db_session, "cpq", ended=NOW - timedelta(hours=1))
    add_run(db_session, "conga", ended=NOW - timedelta(hours=30))
    assert [item.mapping for item in stale_mappings(db_session, limit=LIMIT, now=NOW)] == ["conga"]


def test_the_limit_comes_from_the_settings(db_session: Session, settings: Settings) -> None:
    add_mapping(db_session)
    add_run(db_session, "cpq", ended=NOW - timedelta(hours=3))
    assert freshness_limit(settings) == timedelta(hours=6)
    assert reminders_paused(db_session, settings, now=NOW) is None
    tighter = dataclasses.replace(settings, freshness_limit_hours=2.0)
    assert reminders_paused(db_session, tighter, now=NOW) == (
        "paused: data is 3 h old, last pull 2026-11-22 09:00 UTC (mapping cpq, limit 2 h)"
    )
