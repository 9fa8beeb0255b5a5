"""Email opt-outs both ways between the service and Salesforce, and an admin lifting a suppression.

- **An unsubscribe reaches Salesforce.** Besides our own suppression (``email_suppressions``, scope
  ``reminders``), :func:`record_unsubscribe` sets the mapping's contact ``email_opt_out`` field
  (``HasOptedOutOfEmail`` in the presets) to true on every live contact with the address, through the outbox, as
  a conditional write: seen false at the contact's last pulled ``SystemModstamp``, so it never overwrites a
  value someone changed in Salesforce since (the push honours ``seen``). A contact the last pull saw opted out
  already, or whose opt-out write is already owed or done, gets no second write (a repeated unsubscribe makes
  no conflict). The rep gets the email's bounded "unsubscribed" Task either way.
- **Only a plain field is written**: the mapping's ``email_opt_out`` mapped to a field of the contact itself
  (no relationship path) without a transform. A path writes another record, and a transform (``negate``, a
  value map) has no single inverse the service can be sure of; then only the Task tells the rep.
- **An opt-out set in Salesforce** comes back with the pull (``contacts.email_opted_out``): the planner cancels
  and does not plan that contact's reminders, the send step skips any still queued.

**Lifting** (the console's suppressions page, :func:`lift_suppression` and :func:`lift_org_opt_out`; an
admin, with a reason; the caller audits and commits):

- Lifting a suppression deletes its row and clears ``contacts.suppressed_at`` on the live contacts with that
  address: ``suppressed_at`` only ever recorded *our* suppression of the address, so with the row gone nothing
  of ours holds them back. The planner then plans their next due stage; reminders cancelled while suppressed
  stay cancelled (never sent late), as after a hold.
- Lifting an **unsubscribe** also clears the opt-out in Salesforce where the contact is opted out there (as
  last pulled, or by our own opt-out write): the field written back to false, conditional on seen true, and a
  Task for the rep saying who lifted it and why. Lifting a **bounce or complaint** only removes our suppression:
  the org was never told, and a mailbox that bounced is not the customer's wish.
- An opt-out set in Salesforce with no suppression of ours can be lifted too (the contacts list on the same
  page): the same write back and Task.
- ``contacts.email_opted_out`` is left as pulled: Salesforce is the system of record, and the contact gets
  reminders again once the push has cleared the field and the next pull has read it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mappings.model import Mapping, TaskConventions
from sync_service.outbox.record import event_key, record_field_update, record_task
from sync_service.outbox.tasks import record_email_activity, what_id
from sync_service.store import models

OPT_OUT_FIELD = "email_opt_out"
REASON_MAX = 1000


class LiftRefused(Exception):
    """A lift that changes nothing, with the HTTP status that says why (400, 404, 409)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Lifted:
    """What a lift did: the suppression's values before (empty for an org opt-out), the contacts it
    un-suppressed, and the contacts whose opt-out is written back to false in Salesforce."""

    address: str
    before: dict[str, str | None] = field(default_factory=dict)
    unsuppressed: list[str] = field(default_factory=list)
    cleared_in_org: list[str] = field(default_factory=list)


def opt_out_target(mapping: Mapping | None) -> tuple[str, str] | None:
    """(object, field) the mapping writes an opt-out to, or None when it maps none it can write safely: the
    contact's `email_opt_out` must be a plain field of the contact (no relationship path, no transform)."""
    contact = mapping.entities.get("contact") if mapping is not None else None
    spec = contact.fields.get(OPT_OUT_FIELD) if contact is not None else None
    if contact is None or spec is None or spec.field is None or spec.transform is not None or "." in spec.field:
        return None
    return contact.object, spec.field


def opt_out_key(contact: models.Contact) -> str:
    """One opt-out write per contact: a lift recorded while the unsubscribe's write is still pending merges."""
    return event_key(OPT_OUT_FIELD, contact.sf_id)


def contacts_with_address(session: Session, address: str) -> list[models.Contact]:
    return list(
        session.scalars(
            select(models.Contact)
            .where(func.lower(models.Contact.email) == address.strip().lower(), models.Contact.is_deleted.is_(False))
            .order_by(models.Contact.id)
        )
    )


def _owed_opt_out(session: Session, contact: models.Contact, name: str) -> bool:
    """Whether our own opt-out write (true) for the contact is pending, or was done (the org holds it unless
    someone changed it since, which the next pull tells)."""
    item = session.scalar(select(models.OutboxItem).where(models.OutboxItem.key == opt_out_key(contact)))
    return item is not None and item.status in ("pending", "done") and item.payload.get("values", {}).get(name) is True


def org_opted_out(session: Session, contact: models.Contact, mapping: Mapping | None) -> bool:
    """The contact is opted out in Salesforce as far as the service knows: as last pulled, or by our write."""
    target = opt_out_target(mapping)
    return contact.email_opted_out or (target is not None and _owed_opt_out(session, contact, target[1]))


def _write_opt_out(session: Session, contact: models.Contact, target: tuple[str, str], value: bool) -> None:
    sobject, name = target
    record_field_update(
        session,
        key=opt_out_key(contact),
        sobject=sobject,
        sf_id=contact.sf_id,
        values={name: value},
        seen={name: not value},
        seen_at=contact.sf_system_modstamp,
    )


def record_unsubscribe(
    session: Session, message: models.EmailMessage, addresses: set[str], mapping: Mapping | None, *, at: datetime
) -> list[str]:
    """Set the opt-out in Salesforce on the live contacts with these addresses (see the module docstring) and
    record the rep's Task on the email; returns the Salesforce ids of the contacts written. Commit is the
    caller's."""
    target = opt_out_target(mapping)
    written: list[str] = []
    if target is not None:
        for address in sorted(addresses):
            for contact in contacts_with_address(session, address):
                if contact.email_opted_out or _owed_opt_out(session, contact, target[1]):
                    continue
                _write_opt_out(session, contact, target, True)
                written.append(contact.sf_id)
    if target is None:
        detail = (
            "The mapping writes no email opt-out field to Salesforce: set the contact's opt-out there if it "
            "should stop other email too."
        )
    elif written:
        detail = f"Salesforce: {target[1]} set on the contact ({', '.join(written)})."
    else:
        detail = f"Salesforce: the contact is already opted out ({target[1]})."
    conventions = mapping.write_back.tasks if mapping is not None else None
    record_email_activity(session, message, "unsubscribed", at=at, detail=detail, conventions=conventions)
    return written


def lift_suppression(
    session: Session,
    suppression_id: int,
    *,
    mapping: Mapping | None,
    actor: str,
    reason: str,
    at: datetime,
) -> Lifted:
    """Lift suppression `suppression_id` (see the module docstring); raises LiftRefused and changes nothing
    when the reason is empty or the suppression unknown."""
    reason = _checked_reason(reason)
    row = session.get(models.EmailSuppression, suppression_id)
    if row is None:
        raise LiftRefused(404, f"There is no suppression #{suppression_id}: nothing was lifted.")
    lifted = Lifted(
        address=row.address,
        before={
            "address": row.address,
            "reason": row.reason,
            "scope": row.scope,
            "since": row.created_at.isoformat(),
            "detail": row.detail,
        },
    )
    contacts = contacts_with_address(session, row.address)
    for contact in contacts:
        if contact.suppressed_at is not None:
            contact.suppressed_at = None
            lifted.unsuppressed.append(contact.sf_id)
    if row.reason == "unsubscribe":
        lifted.cleared_in_org = _clear_in_org(session, contacts, mapping, actor=actor, reason=reason, at=at)
    session.delete(row)
    session.flush()
    return lifted


def lift_org_opt_out(
    session: Session, contact_id: int, *, mapping: Mapping | None, actor: str, reason: str, at: datetime
) -> Lifted:
    """Clear a contact's opt-out set in Salesforce (written back to false, conditional, and a Task); raises
    LiftRefused when the reason is empty, the contact unknown or not opted out, or the mapping cannot write it."""
    reason = _checked_reason(reason)
    contact = session.get(models.Contact, contact_id)
    if contact is None or contact.is_deleted:
        raise LiftRefused(404, f"There is no contact #{contact_id}: nothing was lifted.")
    if not org_opted_out(session, contact, mapping):
        raise LiftRefused(409, f"Contact #{contact_id} is not opted out in Salesforce: nothing was lifted.")
    if opt_out_target(mapping) is None:
        raise LiftRefused(
            409,
            "The active mapping writes no email opt-out field (a plain contact field, no transform): clear the "
            "opt-out in Salesforce itself. Nothing was lifted.",
        )
    lifted = Lifted(address=contact.email or "", before={"email_opted_out": "true", "contact": contact.sf_id})
    lifted.cleared_in_org = _clear_in_org(session, [contact], mapping, actor=actor, reason=reason, at=at)
    session.flush()
    return lifted


def _checked_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise LiftRefused(400, "Give a reason for lifting (it goes in the audit log): nothing was lifted.")
    if len(text) > REASON_MAX:
        raise LiftRefused(400, f"The reason is longer than {REASON_MAX} characters: nothing was lifted.")
    return text


def _clear_in_org(
    session: Session,
    contacts: list[models.Contact],
    mapping: Mapping | None,
    *,
    actor: str,
    reason: str,
    at: datetime,
) -> list[str]:
    """Write the opt-out back to false (seen true) on each contact opted out in Salesforce, each with a Task for
    the rep; returns their Salesforce ids."""
    target = opt_out_target(mapping)
    if target is None or mapping is None:
        return []
    cleared = []
    for contact in contacts:
        if not org_opted_out(session, contact, mapping):
            continue
        _write_opt_out(session, contact, target, False)
        _lift_task(session, contact, mapping.write_back.tasks, field_name=target[1], actor=actor, reason=reason, at=at)
        cleared.append(contact.sf_id)
    return cleared


def _lift_task(
    session: Session,
    contact: models.Contact,
    conventions: TaskConventions,
    *,
    field_name: str,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    """The rep's Task for a lifted opt-out: on the contact's newest contract (the mapping's Task record), owned
    by that contract's rep; about the contact. One per lift."""
    contract = session.scalar(
        select(models.Contract)
        .where(models.Contract.contact_id == contact.id, models.Contract.is_deleted.is_(False))
        .order_by(models.Contract.end_date.desc(), models.Contract.id.desc())
        .limit(1)
    )
    rep = contract.rep if contract is not None else None
    number = f" {contract.number}" if contract is not None and contract.number else ""
    record_task(
        session,
        key=event_key("opt_out_lifted", contact.sf_id, at.isoformat()),
        what_id=what_id(session, contract, conventions) if contract is not None else None,
        who_id=contact.sf_id,
        owner_id=rep.sf_id if rep is not None and rep.is_active else None,
        subject=f"Email opt-out lifted - {contact.email or contact.sf_id}" + (f", contract{number}" if number else ""),
        description="\n".join(
            (
                f"An administrator lifted the email opt-out of {contact.email or 'this contact'}: {field_name} is "
                "set back to false, and renewal reminders resume.",
                f"By: {actor}",
                f"When: {at.isoformat(timespec='seconds')}",
                f"Reason: {reason}",
            )
        ),
        event_at=at,
        conventions=conventions,
    )
