"""Recording the mapping's write-back (e.g. the quote's status and the opportunity's stage on Renew) in the
outbox, inside the caller's transaction.

Each `WriteBackAction` of the action names a record: `contract` (the contract itself), `renewal_quote` (the
contract's live renewal quote) or `<entity>.<lookup field>` (the record that lookup on the contract or its
quote points at, as pulled into `sf_links`). Every target is resolved before anything is recorded, so a
target that cannot be resolved raises `WriteBackUnresolved` with nothing half-recorded; the caller's
transaction then rolls back whatever else it holds. Keys are deterministic: recording the same write-back
again replaces the values of the same outbox rows instead of adding new ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from mappings.model import Mapping, WriteBackAction
from sync_service.outbox.record import event_key, record_field_update
from sync_service.store import models

Action = Literal["renew", "contact_rep"]


class WriteBackUnresolved(LookupError):
    """A write-back target the store cannot name a Salesforce record for."""

    def __init__(self, contract: models.Contract, action: Action, target: WriteBackAction, missing: str):
        self.contract_sf_id = contract.sf_id
        self.action = action
        self.target = target
        self.missing = missing
        number = f" ({contract.number})" if contract.number else ""
        super().__init__(
            f"{action} write-back for contract {contract.sf_id}{number}: cannot set {target.object} "
            f"(record {target.record!r}): {missing}"
        )


def live_quote(session: Session, contract: models.Contract, *, with_lines: bool = False) -> models.RenewalQuote | None:
    """The contract's live renewal quote: the newest one not deleted in the org; `with_lines` loads its lines in
    the same query (a page that lists them), instead of a lazy load later."""
    query = (
        select(models.RenewalQuote)
        .where(models.RenewalQuote.contract_id == contract.id, models.RenewalQuote.is_deleted.is_(False))
        .order_by(models.RenewalQuote.id.desc())
        .limit(1)
    )
    if with_lines:
        return session.scalars(query.options(joinedload(models.RenewalQuote.lines))).unique().first()
    return session.scalars(query).first()


def resolve_target(session: Session, contract: models.Contract, action: Action, target: WriteBackAction) -> str:
    """The Salesforce id of the record `target` writes to, or `WriteBackUnresolved`."""
    entity, _, lookup = target.record.partition(".")
    row: models.Contract | models.RenewalQuote
    if entity == "contract":
        row = contract
    elif entity == "renewal_quote":
        quote = live_quote(session, contract)
        if quote is None:
            raise WriteBackUnresolved(contract, action, target, "the contract has no live renewal quote")
        row = quote
    else:
        raise WriteBackUnresolved(
            contract, action, target, f"unsupported entity {entity!r}; use contract or renewal_quote"
        )
    if not lookup:
        if not row.sf_id:
            raise WriteBackUnresolved(contract, action, target, f"the {entity} has no Salesforce id")
        return row.sf_id
    value = (row.sf_links or {}).get(lookup)
    if not value:
        state = "empty" if lookup in (row.sf_links or {}) else "not pulled"
        raise WriteBackUnresolved(contract, action, target, f"the {entity} {row.sf_id}'s lookup {lookup} is {state}")
    return str(value)


# What a live read of a record found: its field values (by Salesforce field name) and its LastModifiedDate.
Seen = tuple[dict[str, Any], datetime | None]


def record_write_back(
    session: Session,
    *,
    contract: models.Contract,
    mapping: Mapping,
    action: Action,
    seen: dict[tuple[str, str], Seen] | None = None,
) -> list[models.OutboxItem]:
    """Record the field updates `mapping` writes back on `action` for `contract`; returns their outbox rows.

    `seen` maps (object, record id) to what a live read of that record found (the Renew POST reads the quote):
    the write to it is then conditional on Salesforce still holding those values (see `record_field_update`)."""
    if action not in ("renew", "contact_rep"):
        raise ValueError(f"unknown write-back action {action!r}")
    targets: list[WriteBackAction] = getattr(mapping.write_back, action)
    # Resolve every target first: one that cannot be resolved leaves nothing recorded. Actions that write
    # to the same record are merged into one update (later ones win on a shared field).
    writes: dict[tuple[str, str], dict[str, Any]] = {}
    for target in targets:
        sf_id = resolve_target(session, contract, action, target)
        writes.setdefault((target.object, sf_id), {}).update(target.set)
    items = []
    for (sobject, sf_id), values in writes.items():
        read = (seen or {}).get((sobject, sf_id))
        items.append(
            record_field_update(
                session,
                key=event_key(action, contract.sf_id, sobject, sf_id),
                sobject=sobject,
                sf_id=sf_id,
                values=values,
                seen={f: read[0][f] for f in values if f in read[0]} if read else None,
                seen_at=read[1] if read else None,
            )
        )
    return items


def rep_control_values(contract: models.Contract) -> dict[str, Any]:
    """The rep portal's controls of `contract`, by control name, as Salesforce field values."""
    return {
        "hold": bool(contract.is_held),
        "status_flags": ";".join(contract.status_flags or []) or None,
        "adjustment_pct": float(contract.price_adjustment_pct) if contract.price_adjustment_pct is not None else None,
        "override_amount": float(contract.price_override) if contract.price_override is not None else None,
        "override_reason": contract.price_override_reason or None,
    }


def record_rep_controls(
    session: Session,
    *,
    contract: models.Contract,
    mapping: Mapping,
    changed: dict[str, Any] | None = None,
) -> models.OutboxItem | None:
    """Record the rep controls a rep changed as one field update on the record the mapping names (none when
    the mapping writes none of them). Only the changed controls are written: `changed` maps each control
    name to its value *before* the change (as last seen from the org), which the push checks Salesforce still
    holds before it writes over it. `changed` None writes every control (no seen values: nothing to check).
    Recording again before the push adds to the same write (see `record_field_update`)."""
    controls = mapping.write_back.rep_controls
    if controls is None or not controls.fields:
        return None
    written = {c: f for c, f in controls.fields.items() if changed is None or c in changed}
    if not written:
        return None
    target = WriteBackAction(object=controls.object, record=controls.record, set={})
    sf_id = resolve_target(session, contract, "contact_rep", target)
    current = rep_control_values(contract)
    values = {field: current[control] for control, field in written.items()}
    seen = None
    if changed is not None:
        seen = {field: _sf_value(control, changed[control]) for control, field in written.items()}
    return record_field_update(
        session,
        key=event_key("rep_controls", contract.sf_id, controls.object, sf_id),
        sobject=controls.object,
        sf_id=sf_id,
        values=values,
        seen=seen,
        seen_at=contract.sf_system_modstamp if controls.record == "contract" else None,
    )


def _sf_value(control: str, value: Any) -> Any:
    """A control's store value (as `rep_control_values` reads it off a contract) as the org's field value."""
    if control == "hold":
        return bool(value)
    if control == "status_flags":
        return ";".join(value or []) or None
    if control in ("adjustment_pct", "override_amount"):
        return float(value) if value is not None else None
    return value or None
