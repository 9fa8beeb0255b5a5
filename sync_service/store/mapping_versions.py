"""Saved versions of the field mappings: every save is a new version with its author and time, and at most
one version per mapping name is active.

The YAML text is kept exactly as given, comments included, so an export returns what the admin wrote and
a diff shows their edits. The functions work in the caller's session and only flush: the caller commits,
so activating a version and deactivating the previous one land in the same transaction.

Nothing is saved that does not load as a mapping (`MappingError`), and nothing is activated with problems
outstanding (`MappingInvalid`): the caller validates against the org and passes the result in.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mappings.loader import UnknownPreset, load, preset_text
from mappings.model import Mapping
from mappings.problems import MappingProblem
from sync_service.store.models import MappingVersion, utcnow

# Presets are the version 0 every mapping can start from; stored versions count from 1.
PRESET_VERSION = 0


class MappingVersionNotFound(LookupError):
    pass


class MappingInvalid(Exception):
    """Activation refused: the mapping does not fit the org. `problems` says where and why."""

    def __init__(self, name: str, version: int, problems: Sequence[MappingProblem]):
        self.name, self.version, self.problems = name, version, list(problems)
        listed = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{name} version {version} is not valid, so it was not activated:\n{listed}")


def save_version(session: Session, yaml_text: str, *, author: str, now: datetime | None = None) -> MappingVersion:
    """Store `yaml_text` as the next version of the mapping it names. Raises MappingError, storing nothing,
    if the text is not a mapping."""
    name = load(yaml_text).name
    latest = session.scalar(select(func.max(MappingVersion.version)).where(MappingVersion.name == name))
    row = MappingVersion(
        name=name,
        version=(latest or PRESET_VERSION) + 1,
        yaml=yaml_text,
        author=author,
        created_at=now or utcnow(),
        is_active=False,
    )
    session.add(row)
    session.flush()
    return row


def list_versions(session: Session, name: str | None = None) -> list[MappingVersion]:
    query = select(MappingVersion).order_by(MappingVersion.name, MappingVersion.version)
    if name is not None:
        query = query.where(MappingVersion.name == name)
    return list(session.scalars(query))


def get_version(session: Session, name: str, version: int) -> MappingVersion:
    row = session.scalar(select(MappingVersion).where(MappingVersion.name == name, MappingVersion.version == version))
    if row is None:
        raise MappingVersionNotFound(f"mapping {name!r} has no version {version}")
    return row


def get_latest(session: Session, name: str) -> MappingVersion:
    row = session.scalar(
        select(MappingVersion).where(MappingVersion.name == name).order_by(MappingVersion.version.desc()).limit(1)
    )
    if row is None:
        raise MappingVersionNotFound(f"no mapping {name!r} is saved")
    return row


def get_current(session: Session, name: str) -> MappingVersion:
    """The version in use: the active one, or else the latest (what an admin means by "the mapping")."""
    return get_active(session, name) or get_latest(session, name)


def get_active(session: Session, name: str) -> MappingVersion | None:
    return session.scalar(select(MappingVersion).where(MappingVersion.name == name, MappingVersion.is_active))


def activate(session: Session, name: str, version: int, problems: Sequence[MappingProblem]) -> MappingVersion:
    """Make `version` the active one, given the problems its validation against the org found; refuses
    (changing nothing) unless there are none."""
    row = get_version(session, name, version)
    if problems:
        raise MappingInvalid(name, version, problems)
    # Lock the name's rows (PostgreSQL) so two concurrent activations cannot leave two versions active.
    session.scalars(select(MappingVersion.id).where(MappingVersion.name == name).with_for_update()).all()
    session.execute(
        update(MappingVersion)
        .where(MappingVersion.name == name, MappingVersion.is_active, MappingVersion.id != row.id)
        .values(is_active=False)
        .execution_options(synchronize_session="fetch")
    )
    row.is_active = True
    session.flush()
    return row


def rollback(
    session: Session, name: str, version: int, check: Callable[[Mapping], Sequence[MappingProblem]]
) -> MappingVersion:
    """Activate an earlier version again, after `check` (validation against the org as it is now) passes:
    the org may have changed since that version was active."""
    row = get_version(session, name, version)
    return activate(session, name, version, check(load(row.yaml)))


def diff(session: Session, name: str, old: int, new: int) -> str:
    """A unified diff of two versions' YAML."""
    before, after = get_version(session, name, old), get_version(session, name, new)
    return "".join(
        difflib.unified_diff(
            before.yaml.splitlines(keepends=True),
            after.yaml.splitlines(keepends=True),
            fromfile=f"{name} v{old}",
            tofile=f"{name} v{new}",
        )
    )


def export(session: Session, name: str, version: int | None = None) -> str:
    """The YAML of a version (default: the active one, else the latest), exactly as saved."""
    return (get_current(session, name) if version is None else get_version(session, name, version)).yaml


def import_yaml(session: Session, yaml_text: str, *, author: str) -> MappingVersion:
    """A new version from exported (or hand-written) YAML; invalid YAML raises MappingError, storing nothing."""
    return save_version(session, yaml_text, author=author)


def import_preset(session: Session, preset: str, *, author: str, version: int = PRESET_VERSION) -> MappingVersion:
    """A new version from a shipped preset (which exists only as version 0). An unknown preset or version
    raises UnknownPreset, storing nothing."""
    if version != PRESET_VERSION:
        raise UnknownPreset(f"preset {preset!r} has no version {version}; presets exist only as version 0")
    return save_version(session, preset_text(preset), author=author)
