"""Pulling every active mapping (or one): what the scheduled job and `renewals sync` both call.

A mapping whose last pull failed permanently is not pulled again on schedule until its active version
changes, an admin runs `renewals sync`, or `RETRY_FAILED_AFTER` has passed — so a renamed field shows up
as one clear failure, not a failure every few minutes. A pull that ended on a transient failure ("retrying")
blocks nothing: the next tick pulls again. Only pulls (full and incremental) decide: a push or a reconcile
neither blocks pulls nor clears their block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import Settings
from mappings.loader import load
from mappings.model import Mapping
from sync_service import console_settings
from sync_service.pull.reconcile import ReconcileResult, reconcile
from sync_service.pull.run import Progress, Puller, PullResult, transient_retrying
from sync_service.salesforce.budget import check_budget
from sync_service.salesforce.client import SalesforceNotConfigured, connect
from sync_service.salesforce.connect_settings import connection_from_settings
from sync_service.salesforce.runs import record_run
from sync_service.salesforce.transport import meter_of
from sync_service.store import models
from sync_service.store.db import Database

RETRY_FAILED_AFTER = timedelta(hours=6)
# The runs that can block the scheduled pull, and clear its block by a later status.
PULL_RUN_KINDS = ("full", "incremental")
# The longest wait between the quick retries of a transient failure inside a scheduled pull.
RETRY_MAX_WAIT = 30.0


class NothingToPull(Exception):
    """No mapping is active (or the named one is not); the message says how to activate one."""


@dataclass
class Skipped:
    mapping_name: str
    reason: str


def active_mappings(session: Session, name: str | None = None) -> list[tuple[models.MappingVersion, Mapping]]:
    query = select(models.MappingVersion).where(models.MappingVersion.is_active.is_(True))
    if name is not None:
        query = query.where(models.MappingVersion.name == name)
    rows = session.scalars(query.order_by(models.MappingVersion.name)).all()
    if not rows:
        target = f"mapping {name!r}" if name else "mapping"
        raise NothingToPull(
            f"no active {target}: import and activate one, e.g. "
            "`renewals mappings import --preset salesforce_cpq --activate`"
        )
    return [(row, load(row.yaml)) for row in rows]


def _blocked(session: Session, version: models.MappingVersion, now: datetime) -> str | None:
    last = session.scalar(
        select(models.SyncRun)
        .where(models.SyncRun.mapping_name == version.name, models.SyncRun.kind.in_(PULL_RUN_KINDS))
        .order_by(models.SyncRun.started_at.desc(), models.SyncRun.id.desc())
        .limit(1)
    )
    if last is None or last.status != "failed":
        return None
    if version.created_at > last.started_at or now - last.started_at > RETRY_FAILED_AFTER:
        return None
    return f"the last pull failed ({last.error}); fix the mapping or run `renewals sync` to retry now"


def _needs_full(session: Session, version: models.MappingVersion) -> bool:
    """No full pull of the mapping has succeeded since its active version was saved. Incremental pulls only
    rewrite records the org changed, so a new version's fields, transforms and write-back lookups would
    otherwise never reach the records already in the store (and a first pull reads everything anyway)."""
    last_full = session.scalar(
        select(func.max(models.SyncRun.started_at)).where(
            models.SyncRun.mapping_name == version.name,
            models.SyncRun.kind == "full",
            models.SyncRun.status == "succeeded",
        )
    )
    return last_full is None or last_full < version.created_at


def _connect(settings: Settings) -> Salesforce:
    try:
        return connect(connection_from_settings(settings))
    except SalesforceAuthenticationFailed as exc:
        raise SalesforceNotConfigured(f"Salesforce sign-in failed: {exc.code}: {exc.auth_message}") from exc


def pull_all(
    db: Database,
    settings: Settings,
    *,
    mapping_name: str | None = None,
    full: bool = False,
    force: bool = False,
    progress: Callable[[str], Progress] | None = None,
) -> list[PullResult | Skipped]:
    """Pull each active mapping (or `mapping_name`); `progress(mapping)` gives a per-mapping callback."""
    now = datetime.now(UTC)
    with db.session_scope() as session:
        targets = active_mappings(session, mapping_name)
        blocked = {v.name: _blocked(session, v, now) for v, _ in targets}
        needs_full = {v.name: _needs_full(session, v) for v, _ in targets}
        budget = console_settings.api_budget(session, settings)
    out: list[PullResult | Skipped] = []
    sf: Salesforce | None = None
    for version, mapping in targets:
        reason = None if force else blocked[version.name]
        if reason is not None:
            out.append(Skipped(version.name, reason))
            continue
        sf = sf or _connect(settings)
        puller = Puller(
            db.sessionmaker,
            sf,
            meter_of(sf.session),
            mapping,
            budget,
            progress=progress(mapping.name) if progress else None,
            max_wait=RETRY_MAX_WAIT,
        )
        out.append(puller.pull(full=full or needs_full[version.name]))
    return out


def reconcile_all(
    db: Database, settings: Settings, *, mapping_name: str | None = None, allow_mass_removal: bool = False
) -> dict[str, ReconcileResult]:
    with db.session_scope() as session:
        targets = active_mappings(session, mapping_name)
        budget = console_settings.api_budget(session, settings)
    sf = _connect(settings)
    meter = meter_of(sf.session)
    results = {}
    for _, mapping in targets:
        before = meter.calls
        started = datetime.now(UTC)
        result = reconcile(
            db.sessionmaker,
            sf,
            mapping,
            check_budget=lambda: check_budget(db.sessionmaker, meter, budget),
            retrying=transient_retrying(),
            allow_mass_removal=allow_mass_removal,
        )
        status, error = result.status, result.error
        with db.session_scope() as session:
            record_run(
                session,
                mapping_name=mapping.name,
                kind="reconcile",
                started=started,
                status=status,
                error=error,
                rows={f"{k}_removed": v for k, v in result.removed.items()},
                api_calls=meter.calls - before,
            )
        results[mapping.name] = result
    return results
