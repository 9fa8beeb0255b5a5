"""The audit log of the console: every admin change is one :class:`AuditEntry` (who, what, before, after),
written in the same transaction as the change. The page lists them newest first, filtered by actor and
action, and exports to CSV."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from email_actions.web.console.auth import current_user
from email_actions.web.console.blueprint import bp
from email_actions.web.console.csvout import csv_response
from sync_service.store.db import current_session
from sync_service.store.models import AuditEntry

PAGE_SIZE = 100


def record_change(
    session: Session,
    action: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEntry:
    """Log a change the signed-in admin makes, in the caller's transaction (`action` e.g. "mapping.activate")."""
    entry = AuditEntry(actor=current_user().actor, action=action, before=before or {}, after=after or {}, reason=reason)
    session.add(entry)
    return entry


def _filtered(actor: str, action: str) -> Any:
    query = select(AuditEntry)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    return query


@bp.get("/audit")
def audit() -> ResponseReturnValue:
    session = current_session()
    actor, action = request.args.get("actor", "").strip(), request.args.get("action", "").strip()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    query = _filtered(actor, action)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    entries = session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    actors = session.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor)).all()
    return render_template(
        "admin/audit.html",
        entries=entries,
        total=total,
        page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        actor=actor,
        action=action,
        actors=actors,
    )


@bp.get("/audit.csv")
def audit_csv() -> ResponseReturnValue:
    actor, action = request.args.get("actor", "").strip(), request.args.get("action", "").strip()
    entries = current_session().scalars(_filtered(actor, action).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()))
    return csv_response(
        "audit-log.csv",
        ["at", "actor", "action", "contract_id", "before", "after", "reason"],
        ((e.at, e.actor, e.action, e.contract_id, e.before, e.after, e.reason) for e in entries),
    )
