"""The rep portal (``/rep``): the contracts the rep owns at the account, each with the rep's controls: status
flags, pricing (an adjustment percentage, an override amount with its reason) and hold / resume reminders.

Each change is validated by its form (:mod:`email_actions.web.portal.forms`: a bad value shows the page with
the error beside its field, 400, nothing saved), then applied in one transaction with an
:class:`~sync_service.store.models.AuditEntry` and a field update for Salesforce in the outbox (per the mapping's
``write_back.rep_controls``) carrying only the controls the rep changed, each with the value it had before, so
the push writes it only while Salesforce still holds that value (a Hold sets one field, never the others); a
write-back the store cannot resolve, or no active mapping, refuses the change (409), nothing saved. The push is
queued after the commit. Holding cancels the contract's planned reminders at once; resuming lets the next planner
run plan again. Each audit entry names who made the change under ``after["by"]`` (the rep, their address, the
client's address and the portal session). *Do not remind* is a status flag written to Salesforce like the others;
it does not stop reminders: holding does.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request
from sqlalchemy import update
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from email_actions.web.portal.blueprint import bp, flashes, page
from email_actions.web.portal.forms import ControlsForm, NoteForm
from email_actions.web.portal.scope import REP, Scope, contract_in_scope, contracts_in_scope, current_scope
from email_actions.web.portal.states import make_rows, today
from jobs.base import enqueue_after_commit
from jobs.push import enqueue_push
from sync_service.outbox.tasks import active_mapping
from sync_service.outbox.writeback import WriteBackUnresolved, record_rep_controls
from sync_service.planning.planner import CANCEL_HELD
from sync_service.pull.pricing_requests import note_pricing_change
from sync_service.store import models
from sync_service.store.db import current_session
from sync_service.store.models import utcnow


def rep_page(
    scope: Scope,
    *,
    status: int = 200,
    submitted: tuple[int, ControlsForm] | None = None,
    problem: str | None = None,
) -> tuple[str, int]:
    """The rep's contracts, each with its controls as stored; `submitted` (a contract id and its posted form,
    which failed validation) shows what was typed there and the errors instead."""
    rows = make_rows(contracts_in_scope(current_session(), scope), today(), scope.fmt)
    forms = {row.contract.id: ControlsForm.of(row.contract) for row in rows}
    if submitted is not None:
        contract_id, form = submitted
        forms[contract_id] = form
    return page(
        "portal/rep.html",
        scope,
        status=status,
        rows=rows,
        notices=flashes(),
        forms=forms,
        note_form=NoteForm(formdata=None),
        problem=problem,
    )


@bp.get("/rep")
def rep_portal() -> tuple[str, int]:
    return rep_page(current_scope(REP))


def _control_values(contract: models.Contract) -> dict[str, Any]:
    """The controls as the audit records them (JSON: amounts as strings)."""
    return {
        "status_flags": list(contract.status_flags or []),
        "price_adjustment_pct": str(contract.price_adjustment_pct)
        if contract.price_adjustment_pct is not None
        else None,
        "price_override": str(contract.price_override) if contract.price_override is not None else None,
        "price_override_reason": contract.price_override_reason,
    }


def _controls(contract: models.Contract) -> dict[str, Any]:
    """The controls by the write-back's names, as the store holds them (what `record_rep_controls` takes)."""
    return {
        "hold": contract.is_held,
        "status_flags": list(contract.status_flags or []),
        "adjustment_pct": contract.price_adjustment_pct,
        "override_amount": contract.price_override,
        "override_reason": contract.price_override_reason,
    }


def _changed(before: dict[str, Any], contract: models.Contract) -> dict[str, Any]:
    """The controls whose value `contract` no longer has, each with its value before."""
    after = _controls(contract)
    return {name: value for name, value in before.items() if after[name] != value}


class Refused(Exception):
    """A change that cannot be written to Salesforce; nothing is saved."""


def _write_back(db: Session, contract: models.Contract, changed: dict[str, Any]) -> None:
    mapping = active_mapping(db)
    if mapping is None:
        raise Refused("No Salesforce mapping is active, so changes cannot be sent to Salesforce yet.")
    try:
        record_rep_controls(db, contract=contract, mapping=mapping, changed=changed)
    except WriteBackUnresolved as exc:
        raise Refused(f"Salesforce has no record to write this change to ({exc.missing}).") from None


def _who(scope: Scope) -> dict[str, Any]:
    """Who made a change, as its audit entry records it (under ``after["by"]``: the JSON column holds it, no
    migration): the rep's Salesforce id, name and email address, the client's address, the portal session and how
    the rep signed in."""
    assert scope.rep is not None
    return {
        "rep_sf_id": scope.rep.sf_id,
        "rep_name": scope.rep.name,
        "rep_email": scope.rep.email,
        "ip": request.remote_addr,
        "session": scope.session_id,
        "signed_in_via": scope.signed_in_via,
        "email_message_id": scope.message.id,
    }


def _audit(
    db: Session,
    scope: Scope,
    contract: models.Contract,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str | None,
) -> None:
    changed = [key for key in after if before.get(key) != after[key]]
    db.add(
        models.AuditEntry(
            actor=scope.actor,
            action=action,
            contract_id=contract.id,
            before={key: before.get(key) for key in changed},
            after={**{key: after[key] for key in changed}, "by": _who(scope)},
            reason=reason,
            at=utcnow(),
        )
    )


def _back_to(contract_id: int, notice: str) -> Response:
    """To the contract's controls on the rep's page, which shows `notice` once."""
    flash(notice)
    return redirect(f"/rep#contract-{contract_id}", code=303)


def _write_back_and_save(
    db: Session, scope: Scope, contract: models.Contract, notice: str, changed: dict[str, Any]
) -> Response | tuple[str, int]:
    """Record the write-back of the `changed` controls (name → value before) and commit it all, then queue the
    push; or refuse it, nothing saved."""
    try:
        _write_back(db, contract, changed)
    except Refused as exc:
        db.rollback()
        return rep_page(scope, status=409, problem=f"{exc} Nothing was changed.")
    db.commit()
    with enqueue_after_commit("the push of a rep's change"):
        enqueue_push()
    return _back_to(contract.id, notice)


@bp.post("/rep/contracts/<int:contract_id>/controls")
def rep_controls(contract_id: int) -> Response | tuple[str, int]:
    scope = current_scope(REP)
    db = current_session()
    contract = contract_in_scope(db, scope, contract_id, for_update=True)
    number = contract.number or contract.sf_id
    form = ControlsForm()
    if not form.validate():
        db.rollback()
        return rep_page(scope, status=400, submitted=(contract_id, form))
    before = _control_values(contract)
    controls_before = _controls(contract)
    adjustment_before, override_before = contract.price_adjustment_pct, contract.price_override
    form.apply_to(contract)
    after = _control_values(contract)
    if after == before:
        db.rollback()
        return _back_to(contract_id, f"Contract {number}: nothing to save, no control changed.")
    _audit(db, scope, contract, "rep.controls", before, after, contract.price_override_reason)
    # The pricing is a request to the quote's owner: the customer's Renew waits until the quote changes.
    pricing = note_pricing_change(db, contract, adjustment_before=adjustment_before, override_before=override_before)
    notice = f"Contract {number}: changes saved and sent to Salesforce."
    if pricing == "requested":
        notice += " The customer's Renew waits until the quote is updated in Salesforce."
    elif pricing == "withdrawn":
        notice += " The pricing request is withdrawn: the customer can renew at the quote in Salesforce."
    return _write_back_and_save(db, scope, contract, notice, _changed(controls_before, contract))


@bp.post("/rep/contracts/<int:contract_id>/hold")
def rep_hold(contract_id: int) -> Response | tuple[str, int]:
    scope = current_scope(REP)
    db = current_session()
    contract = contract_in_scope(db, scope, contract_id, for_update=True)
    number = contract.number or contract.sf_id
    if contract.is_held:
        db.rollback()
        return _back_to(contract_id, f"Contract {number}: reminders were already on hold.")
    contract.is_held = True
    cancelled = db.execute(
        update(models.Reminder)
        .where(models.Reminder.contract_id == contract.id, models.Reminder.status == "planned")
        .values(status="cancelled", reason=CANCEL_HELD)
        .returning(models.Reminder.id)
        .execution_options(synchronize_session="fetch")
    ).all()
    after = {"is_held": True, "reminders_cancelled": len(cancelled)}
    _audit(db, scope, contract, "rep.hold", {"is_held": False}, after, NoteForm().note.data)
    notice = f"Contract {number}: reminders on hold; no reminder will be sent until you resume."
    return _write_back_and_save(db, scope, contract, notice, {"hold": False})


@bp.post("/rep/contracts/<int:contract_id>/resume")
def rep_resume(contract_id: int) -> Response | tuple[str, int]:
    scope = current_scope(REP)
    db = current_session()
    contract = contract_in_scope(db, scope, contract_id, for_update=True)
    number = contract.number or contract.sf_id
    if not contract.is_held:
        db.rollback()
        return _back_to(contract_id, f"Contract {number}: reminders were not on hold.")
    contract.is_held = False
    _audit(db, scope, contract, "rep.resume", {"is_held": True}, {"is_held": False}, NoteForm().note.data)
    notice = f"Contract {number}: reminders resume from the next planning run."
    return _write_back_and_save(db, scope, contract, notice, {"hold": True})
