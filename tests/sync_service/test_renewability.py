"""Which renewal rules apply, on SQLite and PostgreSQL: the active mapping version's, read and parsed once per
version, and an edit (a new version made active) applies at once."""

from __future__ import annotations

import yaml
from sqlalchemy import update
from sqlalchemy.orm import Session

from sync_service.renewability import active_rules
from sync_service.store import models
from tests.paths import SALESFORCE_CPQ_PRESET


def add_version(session: Session, version: int, renewable_statuses: list[str], *, active: bool = True) -> None:
    data = yaml.safe_load(SALESFORCE_CPQ_PRESET.read_text())
    data["renewal"]["renewable_statuses"] = renewable_statuses
    if active:
        session.execute(update(models.MappingVersion).values(is_active=False))
    text = str(yaml.safe_dump(data, sort_keys=False))
    session.add(models.MappingVersion(name="cpq", version=version, yaml=text, author="test", is_active=active))
    session.flush()


def test_without_an_active_mapping_there_are_no_rules(db_session: Session) -> None:
    add_version(db_session, 1, ["Approved"], active=False)
    assert active_rules(db_session) is None


def test_the_active_versions_rules_apply_and_an_edit_applies_at_once(db_session: Session) -> None:
    add_version(db_session, 1, ["Approved"])
    first = active_rules(db_session)
    assert first is not None and first.renewal.renewable_statuses == ["Approved"]
    assert active_rules(db_session) is first  # parsed once per version

    add_version(db_session, 2, ["Presented"])
    edited = active_rules(db_session)
    assert edited is not None and edited.renewal.renewable_statuses == ["Presented"]

    db_session.execute(update(models.MappingVersion).values(is_active=False))
    assert active_rules(db_session) is None
