"""Lifting a suppression from the console's suppression list (``/admin/operations/suppressions``): an address we
suppressed (bounce, complaint, unsubscribe), or a contact opted out of email in Salesforce.

A lift is a CSRF-protected POST of an admin (viewers are refused for the whole blueprint) with a reason, made by
:mod:`sync_service.opt_outs` and audited in the same transaction (who, the suppression before, what the lift
did, the reason). What it does, and to ``contacts.suppressed_at``, is that module's docstring; writes for
Salesforce (an opt-out cleared) are pushed right after the commit. An empty reason, an id that is malformed or
unknown, or a contact not opted out changes nothing and says so (400, 404, 409). The form is read by hand, like
the outbox's: which id it names depends on the page's row.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from email_actions.web.console.audit import record_change
from email_actions.web.console.auth import current_user
from email_actions.web.console.blueprint import bp
from email_actions.web.console.operations_changes import refuse
from email_actions.web.console.operations_outbox import DB_ID, DB_ID_MAX
from jobs.base import enqueue_after_commit
from jobs.push import enqueue_push
from sync_service.opt_outs import Lifted, LiftRefused, lift_org_opt_out, lift_suppression
from sync_service.outbox.tasks import active_mapping
from sync_service.store.db import current_session
from sync_service.store.models import Contact, utcnow

# Opted-out contacts the page lists (the newest pulled first); the count says how many there are.
OPTED_OUT_SHOWN = 100


def opted_out_contacts(session: Session, limit: int = OPTED_OUT_SHOWN) -> Sequence[Contact]:
    """Live contacts Salesforce says are opted out of email, as last pulled."""
    return session.scalars(
        select(Contact)
        .where(Contact.email_opted_out.is_(True), Contact.is_deleted.is_(False))
        .order_by(Contact.pulled_at.desc(), Contact.id.desc())
        .limit(limit)
    ).all()


def _posted_id(name: str, noun: str) -> int:
    raw = request.form.get(name, "").strip()
    if not DB_ID.fullmatch(raw) or not 0 < int(raw) <= DB_ID_MAX:
        raise LiftRefused(400, f"“{raw[:40]}” is not a {noun} id: nothing was lifted.")
    return int(raw)


@bp.post("/operations/suppressions/lift")
def operations_suppressions_lift() -> ResponseReturnValue:
    session = current_session()
    back = url_for("admin.operations_suppressions")
    actor = current_user().actor
    reason = request.form.get("reason", "")
    mapping = active_mapping(session)
    now = utcnow()
    try:
        if "suppression" in request.form:
            lifted = lift_suppression(
                session, _posted_id("suppression", "suppression"), mapping=mapping, actor=actor, reason=reason, at=now
            )
            action = "suppression.lift"
        elif "contact" in request.form:
            lifted = lift_org_opt_out(
                session, _posted_id("contact", "contact"), mapping=mapping, actor=actor, reason=reason, at=now
            )
            action = "opt_out.lift"
        else:
            raise LiftRefused(400, "The form named no suppression or contact to lift: nothing was lifted.")
    except LiftRefused as refused:
        session.rollback()
        return refuse(refused.code, "Nothing was lifted", refused.message, back)
    record_change(session, action, before=lifted.before, after=_after(lifted), reason=reason.strip())
    session.commit()
    message = f"Lifted for {lifted.address or 'the contact'}."
    if lifted.cleared_in_org:
        message += " The opt-out is cleared in Salesforce on the next push, and the rep gets a Task."
        with enqueue_after_commit("the push of a lifted opt-out"):
            enqueue_push()
    flash(message)
    return redirect(back)


def _after(lifted: Lifted) -> dict[str, object]:
    return {
        "suppressed": False,
        "contacts_unsuppressed": lifted.unsuppressed,
        "opt_out_cleared_in_salesforce": lifted.cleared_in_org,
    }
