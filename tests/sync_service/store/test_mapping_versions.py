"""Mapping versions in the store, on SQLite and PostgreSQL: save, list, activate (never with problems),
roll back, diff, export and import."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mappings.loader import UnknownPreset, preset_text
from mappings.model import Mapping
from mappings.problems import MappingError, MappingProblem
from sync_service.store import mapping_versions as versions
from sync_service.store.models import MappingVersion

CPQ = preset_text("salesforce_cpq")
EDITED = CPQ.replace("bulk_threshold: 10000", "bulk_threshold: 5000  # smaller org")
PROBLEM = MappingProblem("entities.contract.fields.amount", "Contract has no field Total_Contract_Value__c", "TCV__c")


def all_rows(session: Session) -> list[tuple[str, int, bool]]:
    rows = session.scalars(select(MappingVersion).order_by(MappingVersion.name, MappingVersion.version))
    return [(r.name, r.version, r.is_active) for r in rows]


def test_saving_numbers_versions_per_name_and_keeps_the_text_as_given(db_session: Session) -> None:
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    first = versions.save_version(db_session, CPQ, author="alice", now=at)
    second = versions.save_version(db_session, EDITED, author="bob")
    other = versions.import_preset(db_session, "standard", author="carol")
    db_session.commit()
    assert (first.name, first.version, first.author, first.created_at) == ("salesforce_cpq", 1, "alice", at)
    assert (second.version, second.author, second.yaml) == (2, "bob", EDITED)
    assert (other.name, other.version) == ("standard", 1)
    assert second.created_at.tzinfo is not None
    assert [(r.name, r.version) for r in versions.list_versions(db_session)] == [
        ("salesforce_cpq", 1),
        ("salesforce_cpq", 2),
        ("standard", 1),
    ]
    assert [r.version for r in versions.list_versions(db_session, "standard")] == [1]
    assert versions.get_version(db_session, "salesforce_cpq", 1).yaml == CPQ


def test_activation_deactivates_the_previous_version(db_session: Session) -> None:
    versions.save_version(db_session, CPQ, author="alice")
    versions.save_version(db_session, EDITED, author="alice")
    versions.import_preset(db_session, "standard", author="alice")
    versions.activate(db_session, "standard", 1, [])
    versions.activate(db_session, "salesforce_cpq", 1, [])
    db_session.commit()
    versions.activate(db_session, "salesforce_cpq", 2, [])
    db_session.commit()
    assert all_rows(db_session) == [("salesforce_cpq", 1, False), ("salesforce_cpq", 2, True), ("standard", 1, True)]
    active = versions.get_active(db_session, "salesforce_cpq")
    assert active is not None and active.version == 2


def test_an_invalid_mapping_is_never_activated(db_session: Session) -> None:
    versions.save_version(db_session, CPQ, author="alice")
    versions.save_version(db_session, EDITED, author="alice")
    versions.activate(db_session, "salesforce_cpq", 1, [])
    db_session.commit()
    with pytest.raises(versions.MappingInvalid) as caught:
        versions.activate(db_session, "salesforce_cpq", 2, [PROBLEM])
    assert caught.value.problems == [PROBLEM]
    assert "did you mean TCV__c?" in str(caught.value)
    assert all_rows(db_session) == [("salesforce_cpq", 1, True), ("salesforce_cpq", 2, False)]


def test_rollback_re_validates_the_earlier_version(db_session: Session) -> None:
    versions.save_version(db_session, CPQ, author="alice")
    versions.save_version(db_session, EDITED, author="alice")
    versions.activate(db_session, "salesforce_cpq", 2, [])
    db_session.commit()
    checked: list[Mapping] = []

    def broken_org(mapping: Mapping) -> list[MappingProblem]:
        checked.append(mapping)
        return [PROBLEM]

    with pytest.raises(versions.MappingInvalid):
        versions.rollback(db_session, "salesforce_cpq", 1, broken_org)
    assert checked[0].bulk_threshold == 10000
    assert all_rows(db_session) == [("salesforce_cpq", 1, False), ("salesforce_cpq", 2, True)]
    versions.rollback(db_session, "salesforce_cpq", 1, lambda mapping: [])
    db_session.commit()
    assert all_rows(db_session) == [("salesforce_cpq", 1, True), ("salesforce_cpq", 2, False)]


def test_diff_of_two_versions(db_session: Session) -> None:
    versions.save_version(db_session, CPQ, author="alice")
    versions.save_version(db_session, EDITED, author="bob")
    diff = versions.diff(db_session, "salesforce_cpq", 1, 2)
    assert diff.startswith("--- salesforce_cpq v1\n+++ salesforce_cpq v2\n@@ ")
    assert "\n-bulk_threshold: 10000\n+bulk_threshold: 5000  # smaller org\n" in diff
    assert versions.diff(db_session, "salesforce_cpq", 2, 2) == ""


def test_export_and_import_round_trip(db_session: Session) -> None:
    versions.save_version(db_session, CPQ, author="alice")
    versions.save_version(db_session, EDITED, author="alice")
    versions.activate(db_session, "salesforce_cpq", 1, [])
    # Without a version, export gives the active one; comments and layout come back exactly.
    assert versions.export(db_session, "salesforce_cpq") == CPQ
    assert versions.export(db_session, "salesforce_cpq", 2) == EDITED
    imported = versions.import_yaml(db_session, versions.export(db_session, "salesforce_cpq", 2), author="dave")
    assert (imported.version, imported.yaml, imported.is_active) == (3, EDITED, False)
    assert versions.diff(db_session, "salesforce_cpq", 2, 3) == ""


def test_export_without_an_active_version_gives_the_latest(db_session: Session) -> None:
    versions.save_version(db_session, CPQ, author="alice")
    versions.save_version(db_session, EDITED, author="alice")
    assert versions.export(db_session, "salesforce_cpq") == EDITED


@pytest.mark.parametrize(
    "bad",
    [
        "name: [unclosed\n",
        CPQ.replace("      end_date: EndDate\n", ""),
        CPQ.replace("name: salesforce_cpq", "name: Not A Name"),
    ],
)
def test_an_import_of_invalid_yaml_changes_nothing(db_session: Session, bad: str) -> None:
    versions.save_version(db_session, CPQ, author="alice")
    versions.activate(db_session, "salesforce_cpq", 1, [])
    before = all_rows(db_session)
    with pytest.raises(MappingError):
        versions.import_yaml(db_session, bad, author="mallory")
    assert all_rows(db_session) == before


@pytest.mark.parametrize(("name", "version"), [("salesforce_cqp", 0), ("salesforce_cpq", 1)])
def test_an_import_of_an_unknown_preset_version_changes_nothing(db_session: Session, name: str, version: int) -> None:
    with pytest.raises(UnknownPreset):
        versions.import_preset(db_session, name, author="mallory", version=version)
    assert all_rows(db_session) == []


def test_missing_versions_are_reported(db_session: Session) -> None:
    with pytest.raises(versions.MappingVersionNotFound, match="no mapping 'nothing' is saved"):
        versions.export(db_session, "nothing")
    versions.save_version(db_session, CPQ, author="alice")
    with pytest.raises(versions.MappingVersionNotFound, match="has no version 7"):
        versions.activate(db_session, "salesforce_cpq", 7, [])
    with pytest.raises(versions.MappingVersionNotFound):
        versions.diff(db_session, "salesforce_cpq", 1, 7)
