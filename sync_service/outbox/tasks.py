"""What an email's events become in Salesforce: one bounded Task per email per kind of event, recorded in the
outbox inside the caller's transaction (sent, opened, quote downloaded, renewed, contact requested, bounced,
complained).

The Task goes on the record the active mapping's ``write_back.tasks.what`` names (the contract by default),
is about the email's contact (WhoId) and is owned by the contract's rep when the rep is an active user.
Its key is ``event_key(activity, email message id)``: a repeat of the event bumps the same Task's count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mappings.loader import load
from mappings.model import Mapping, TaskConventions, WriteBackAction
from sync_service.outbox.record import event_key, record_task
from sync_service.outbox.writeback import WriteBackUnresolved, resolve_target
from sync_service.planning.cadence import describe_stage
from sync_service.store import models

ACTIVITIES: dict[str, str] = {
    "sent": "Renewal email sent",
    "opened": "Renewal email opened",
    "downloaded": "Renewal quote downloaded",
    "renewed": "Renewed from the email",
    "contact_requested": "Customer asked to be contacted",
    "bounced": "Renewal email bounced",
    "complained": "Renewal email marked as spam",
    "unsubscribed": "Customer unsubscribed from renewal reminders",
}
EMAIL_NAMES = {
    "reminder": "renewal reminder",
    "rep_notice": "rep notice",
    "confirmation": "renewal confirmation",
    "contact_request": "contact request notice",
}


def active_mapping(session: Session) -> Mapping | None:
    """The active mapping activities follow (the first by name when several are active)."""
    row = session.scalar(
        select(models.MappingVersion)
        .where(models.MappingVersion.is_active.is_(True))
        .order_by(models.MappingVersion.name)
        .limit(1)
    )
    return load(row.yaml) if row is not None else None


def task_conventions(session: Session) -> TaskConventions:
    mapping = active_mapping(session)
    return mapping.write_back.tasks if mapping is not None else TaskConventions()


def what_id(session: Session, contract: models.Contract, conventions: TaskConventions) -> str:
    """The Salesforce id the Task hangs off (`WhatId`), per the mapping; the contract when it cannot say."""
    target = WriteBackAction(object="Task", record=conventions.what, set={})
    try:
        return resolve_target(session, contract, "contact_rep", target)
    except WriteBackUnresolved:
        return contract.sf_id


def describe_email(message: models.EmailMessage) -> str:
    name = EMAIL_NAMES.get(message.kind, message.kind)
    if message.kind == "reminder" and message.stage is not None:
        name += f" ({describe_stage(message.stage)})"
    return name


def record_email_activity(
    session: Session,
    message: models.EmailMessage,
    activity: str,
    *,
    at: datetime,
    detail: str = "",
    link: str | None = None,
    conventions: TaskConventions | None = None,
) -> models.OutboxItem:
    """Record (or bump) the Task for `activity` on `message` in the outbox; commit is the caller's."""
    if activity not in ACTIVITIES:
        raise ValueError(f"unknown activity {activity!r}")
    if conventions is None:
        conventions = task_conventions(session)
    contract = message.contract
    contact = message.contact
    rep = contract.rep
    number = f" {contract.number}" if contract.number else ""
    lines = [
        f"{ACTIVITIES[activity]}: {describe_email(message)} for contract{number}.",
        f"When: {at.isoformat(timespec='seconds')}",
        f"Email: #{message.id} to {message.to_address or '(no address)'}"
        + (f", subject {message.subject!r}" if message.subject else ""),
    ]
    if message.ses_message_id:
        lines.append(f"SES message id: {message.ses_message_id}")
    if link:
        lines.append(f"Link: {link}")
    if detail:
        lines.append(detail)
    return record_task(
        session,
        key=event_key(activity, message.id),
        what_id=what_id(session, contract, conventions),
        who_id=contact.sf_id if contact is not None and not contact.is_deleted else None,
        owner_id=rep.sf_id if rep is not None and rep.is_active else None,
        subject=f"{ACTIVITIES[activity]} - contract{number}, {describe_email(message)}",
        description="\n".join(lines),
        event_at=at,
        conventions=conventions,
        contact_request=activity == "contact_requested",
    )
