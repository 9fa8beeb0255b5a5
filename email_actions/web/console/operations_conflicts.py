"""The console's write conflicts (``/admin/operations/conflicts``): fields the service was to write that someone
changed in Salesforce since the service last saw them (:mod:`sync_service.outbox.conflicts`). Salesforce's value
stayed; each row shows the record, the field, the value the service last saw, ours, theirs and when, newest
first, open ones by default (resolved ones on their own tab, with who resolved them and how).

An admin marks one resolved once it is dealt with (the rep set the right value in Salesforce, or Salesforce's
value is the right one): a CSRF-protected POST, audited in the transaction that makes it, with an optional note.
Nothing is written to Salesforce from here. A viewer cannot (the console's guard answers 403); an id that is
unknown changes nothing and says so (404), as does one already resolved (409).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from email_actions.web.console.audit import record_change
from email_actions.web.console.auth import current_user
from email_actions.web.console.blueprint import bp
from email_actions.web.console.operations_changes import refuse
from email_actions.web.console.operations_paging import PAGE_SIZE, choice, pager
from sync_service.outbox.conflicts import describe_value
from sync_service.store.db import current_session
from sync_service.store.models import Contract, WriteConflict, utcnow

STATES = ("open", "resolved")
NOTE_LENGTH = 500


def open_conflicts(session: Session) -> int:
    """Conflicts nobody has marked resolved yet (counted on the (resolved_at, detected_at) index)."""
    return int(
        session.scalar(select(func.count()).select_from(WriteConflict).where(WriteConflict.resolved_at.is_(None))) or 0
    )


def _query(state: str) -> Select[WriteConflict, Contract]:
    resolved = WriteConflict.resolved_at.is_(None) if state == "open" else WriteConflict.resolved_at.is_not(None)
    return (
        select(WriteConflict, Contract)
        .outerjoin(Contract, WriteConflict.contract_id == Contract.id)
        .where(resolved)
        .order_by(WriteConflict.detected_at.desc(), WriteConflict.id.desc())
    )


@bp.get("/operations/conflicts")
def operations_conflicts() -> ResponseReturnValue:
    session = current_session()
    state = choice("state", STATES, "open")
    opened = open_conflicts(session)
    total = (
        opened
        if state == "open"
        else int(
            session.scalar(
                select(func.count()).select_from(WriteConflict).where(WriteConflict.resolved_at.is_not(None))
            )
            or 0
        )
    )
    shown = pager(total)
    rows = session.execute(_query(state).limit(PAGE_SIZE).offset(shown.offset)).all()
    return render_template(
        "admin/operations/conflicts.html",
        section="conflicts",
        state=state,
        states=STATES,
        open_count=opened,
        rows=rows,
        pager=shown,
        value=describe_value,
    )


@bp.post("/operations/conflicts/<int:conflict_id>/resolve")
def operations_conflict_resolve(conflict_id: int) -> ResponseReturnValue:
    session = current_session()
    back = url_for("admin.operations_conflicts")
    conflict = session.get(WriteConflict, conflict_id, with_for_update=True)
    if conflict is None:
        session.rollback()
        return refuse(404, "Nothing was resolved", f"There is no write conflict #{conflict_id}.", back)
    if conflict.resolved_at is not None:
        session.rollback()
        message = (
            f"Write conflict #{conflict_id} was already resolved by {conflict.resolved_by} "
            f"at {conflict.resolved_at:%Y-%m-%d %H:%M} UTC: nothing was changed."
        )
        return refuse(409, "Nothing was resolved", message, back)
    note = (request.form.get("note") or "").strip()[:NOTE_LENGTH] or None
    conflict.resolved_at = utcnow()
    conflict.resolved_by = current_user().actor
    conflict.resolution = note
    record_change(
        session,
        "conflict.resolve",
        before={
            "conflict": conflict.id,
            "object": conflict.sobject,
            "record": conflict.record_sf_id,
            "field": conflict.field,
            "seen": conflict.seen,
            "ours": conflict.ours,
            "theirs": conflict.theirs,
        },
        after={"resolved": True},
        reason=note,
    )
    session.commit()
    flash(f"Write conflict #{conflict_id} ({conflict.sobject} {conflict.field}) marked resolved.")
    return redirect(back)
