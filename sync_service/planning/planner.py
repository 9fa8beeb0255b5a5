"""The planner: turns the store's contracts into reminder rows, at most one per contract and cadence stage.

:func:`plan_reminders` runs once a day (``jobs.planning``) and is safe to run any number of times:

- **Only live contracts get reminders**: not deleted, cancelled, renewed or held, with a contact that is
  not deleted, has an email address and is not suppressed. A contract without an end date gets none.
- **A stage is planned on its day, not ahead.** A row appears when its stage is due (``due_on <= today``)
  and is sent by the send job soon after. Planning ahead would freeze today's view of a contract into
  rows for weeks: every hold, renewal, cancellation, suppression, end-date change and segment change in
  between would have to find and rewrite future rows, and a missed rewrite sends a wrong email. Planned on
  its day, a row reflects the contract as the last pull saw it; the send job only has to look at
  ``planned`` rows due today or earlier (index ``ix_reminders_status_due_on``).
- **Never a burst.** Of the stages due and not yet planned, only the latest is planned; the earlier ones
  are recorded as ``skipped`` with the reason, so a contract pulled in late, or a hold lifted, gets one
  reminder and not all the past ones. A stage found more than ``catch_up_days`` after its day is skipped
  too, and a contract whose last stage is older than that is left alone: no rows at all for contracts
  that ended long ago. A stage earlier than one already planned or sent is skipped (the contract's end date
  moved), and a planned row still unsent when a later stage is planned is cancelled: at most one planned
  reminder per contract at any time.
- **Planned rows follow the contract.** A planned, unsent row is cancelled, with the reason, when its
  contract stops being live or its stage stops being due (the end date moved). Rows that are skipped,
  cancelled or already sent never change, and a cancelled stage is never planned again: a contract whose
  hold is lifted goes on with its next stage.
- **Idempotent and safe to run concurrently.** Inserts are ``INSERT ... SELECT ... ON CONFLICT DO
  NOTHING`` against the unique ``(contract_id, offset_days)``, on SQLite and PostgreSQL alike, so a second
  run, or a second planner at the same time, adds nothing. Updates only touch ``planned`` rows, so a send
  job that claims a row (moving it out of ``planned``) and the planner cannot both win.

It is set-based: a fixed number of statements per run, however many contracts there are: two updates
(cancellations; they only visit ``planned`` rows) and one ``INSERT ... SELECT`` per segment stage, each
reading one window of end dates through ``ix_contracts_end_date``. It never commits; the caller does.

"Today" is the caller's: the job passes the UTC date.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    Integer,
    String,
    and_,
    case,
    false,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from sync_service.planning.cadence import Cadence, Rule, Segment
from sync_service.store.models import Contact, Contract, Reminder, utcnow
from sync_service.store.types import UTCDateTime

__all__ = ["CANCELLED", "PLANNED", "SENT", "SKIPPED", "PlanSummary", "plan_reminders"]

PLANNED = "planned"
SKIPPED = "skipped"
SENT = "sent"
CANCELLED = "cancelled"
# A row in one of these states means nothing was, or will be, sent for its stage.
NOT_SENDING = (SKIPPED, CANCELLED)

# Why a planned, unsent reminder was cancelled; checked in this order, so each row gets the first that holds.
CANCEL_DELETED = "the contract was deleted in Salesforce"
CANCEL_CANCELLED = "the contract was cancelled"
CANCEL_RENEWED = "the contract was renewed"
CANCEL_HELD = "the rep put the contract's reminders on hold"
CANCEL_NO_CONTACT = "the contract has no contact with an email address"
CANCEL_SUPPRESSED = "the contact is suppressed (bounce, complaint or unsubscribe)"
CANCEL_OPTED_OUT = "the contact opted out of email in Salesforce"
CANCEL_NOT_DUE = "the contract's end date moved and this stage is no longer due"
CANCEL_SUPERSEDED = "a later stage was planned before this one was sent"

SKIP_LATER_DUE = "a later stage was already due when this one came up"
SKIP_LATER_PLANNED = "a later stage was already planned or sent"


def skip_too_late(catch_up_days: int) -> str:
    return f"found more than {catch_up_days} days after its day (catch_up_days)"


@dataclass(frozen=True)
class PlanSummary:
    today: date
    planned: int = 0
    skipped: int = 0
    # Reason -> number of planned reminders cancelled for it in this run.
    cancelled: dict[str, int] = field(default_factory=dict)

    @property
    def cancelled_total(self) -> int:
        return sum(self.cancelled.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "planned": self.planned,
            "skipped": self.skipped,
            "cancelled": self.cancelled_total,
            "cancelled_by_reason": dict(self.cancelled),
        }


def plan_reminders(session: Session, *, today: date, cadence: Cadence, now: datetime | None = None) -> PlanSummary:
    """Bring the reminder rows up to date for ``today``; see the module docstring for the rules.

    ``now`` stamps the new rows' ``created_at`` (default: the current time). The session is flushed first
    so the caller's pending changes count; the work is left uncommitted. Reminder objects the session
    already holds are not refreshed.
    """
    session.flush()
    connection = session.connection()
    stamp = now or utcnow()

    # Cancel first, so the insert step's "a later stage is already planned" guard never counts a row that
    # is about to be cancelled. Being a write, it also makes a second planner on SQLite wait for the
    # first's commit here, before it has read anything that the first's commit would make stale.
    cancelled = Counter(_cancel_planned_not_to_send(connection, today))

    planned = skipped = 0
    segment_of = _segment_expression(cadence)
    for segment in cadence.segments:
        in_segment = true() if segment_of is None else segment_of == segment.name
        for position in range(len(segment.offsets)):
            new_planned, new_skipped = _plan_stage(
                connection, cadence, segment, position, in_segment=in_segment, today=today, stamp=stamp
            )
            planned += new_planned
            skipped += new_skipped

    later = aliased(Reminder)
    superseded = (
        select(later.id)
        .where(
            later.contract_id == Reminder.contract_id,
            later.offset_days > Reminder.offset_days,
            later.status.not_in(NOT_SENDING),
        )
        .exists()
    )
    superseded_rows = connection.execute(
        update(Reminder)
        .where(Reminder.status == PLANNED, superseded)
        .values(status=CANCELLED, reason=CANCEL_SUPERSEDED)
        .execution_options(synchronize_session=False)
    ).rowcount
    if superseded_rows:
        cancelled[CANCEL_SUPERSEDED] += superseded_rows
    return PlanSummary(today=today, planned=planned, skipped=skipped, cancelled=dict(cancelled))


def _plan_stage(
    connection: Connection,
    cadence: Cadence,
    segment: Segment,
    position: int,
    *,
    in_segment: ColumnElement[bool],
    today: date,
    stamp: datetime,
) -> tuple[int, int]:
    """Insert the missing rows of one stage of one segment, in one statement: planned where the stage is
    the contract's latest due one and can still be sent, else skipped with the reason.

    Windows of end dates stand in for per-contract date arithmetic: the stage at ``offset`` is due for
    every end date up to ``today - offset``, and the next stage takes over from ``today - next_offset``.
    Returns how many rows were planned and skipped.
    """
    offsets = segment.offsets
    offset = offsets[position]
    catch_up = timedelta(days=cadence.catch_up_days)
    due_until = today - timedelta(days=offset)
    # Contracts whose last stage is beyond catching up are finished with; they get no rows.
    in_play_from = today - timedelta(days=offsets[-1]) - catch_up
    next_due_until = today - timedelta(days=offsets[position + 1]) if position + 1 < len(offsets) else None
    planned_from = due_until - catch_up
    if next_due_until is not None:
        planned_from = max(planned_from, next_due_until + timedelta(days=1))

    later_not_skipped = (
        select(Reminder.id)
        .where(
            Reminder.contract_id == Contract.id,
            Reminder.offset_days > offset,
            Reminder.status.not_in(NOT_SENDING),
        )
        .exists()
    )
    to_plan = and_(Contract.end_date >= planned_from, ~later_not_skipped)
    # No reason for a planned row; for a skipped one, the most telling reason first.
    reasons: list[tuple[ColumnElement[bool], Any]] = [(to_plan, null())]
    if next_due_until is not None:
        reasons.append((Contract.end_date <= next_due_until, SKIP_LATER_DUE))
    reasons.append((Contract.end_date < planned_from, skip_too_late(cadence.catch_up_days)))
    already_there = select(Reminder.id).where(Reminder.contract_id == Contract.id, Reminder.offset_days == offset)
    rows = (
        select(
            Contract.id,
            literal(offset, Integer),
            _add_days(Contract.end_date, literal(offset, Integer)),
            literal(segment.name, String),
            case((to_plan, PLANNED), else_=SKIPPED),
            case(*reasons, else_=SKIP_LATER_PLANNED),
            literal(stamp, UTCDateTime()),
        )
        .select_from(Contract)
        .join(Contact, Contract.contact_id == Contact.id)
        .where(_live(), in_segment, Contract.end_date.between(in_play_from, due_until), ~already_there.exists())
    )
    statuses = _insert_new(connection, rows)
    planned = statuses.count(PLANNED)
    return planned, len(statuses) - planned


INSERT_COLUMNS = ("contract_id", "offset_days", "due_on", "segment", "status", "reason", "created_at")


def _insert_new(connection: Connection, rows: Any) -> list[str]:
    """INSERT ... SELECT that leaves existing (contract, stage) rows alone, on either database; returns
    the status of each row it inserted."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(Reminder)
    elif dialect == "sqlite":
        statement = sqlite.insert(Reminder)
    else:
        raise RuntimeError(f"the planner supports SQLite and PostgreSQL, not {dialect}")
    statement = (
        statement.from_select(INSERT_COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["contract_id", "offset_days"])
        .returning(Reminder.status)
    )
    return list(connection.execute(statement).scalars())


def _cancel_planned_not_to_send(connection: Connection, today: date) -> list[str]:
    """Cancel every planned reminder whose contract is no longer live or whose stage is no longer due, in
    one statement; returns the reasons recorded, one per cancelled row (there are few: planned rows are
    the ones the send job has not reached yet)."""
    reason = (
        select(
            case(
                *_not_live_conditions(),
                (
                    or_(Contract.end_date.is_(None), _add_days(Contract.end_date, Reminder.offset_days) > today),
                    CANCEL_NOT_DUE,
                ),
                else_=null(),
            )
        )
        .select_from(Contract)
        .outerjoin(Contact, Contract.contact_id == Contact.id)
        .where(Contract.id == Reminder.contract_id)
        .scalar_subquery()
    )
    statement = (
        update(Reminder)
        .where(Reminder.status == PLANNED, reason.is_not(None))
        .values(status=CANCELLED, reason=reason)
        .returning(Reminder.reason)
        .execution_options(synchronize_session=False)
    )
    return [str(row.reason) for row in connection.execute(statement)]


def _live() -> ColumnElement[bool]:
    """A contract that may be reminded, joined to its contact; the negation of the conditions below."""
    return and_(
        Contract.is_deleted == false(),
        Contract.is_cancelled == false(),
        Contract.renewed_at.is_(None),
        Contract.is_held == false(),
        Contact.is_deleted == false(),
        Contact.email != "",
        Contact.suppressed_at.is_(None),
        Contact.email_opted_out == false(),
    )


def _not_live_conditions() -> tuple[tuple[ColumnElement[bool], str], ...]:
    """Each way a contract (outer-joined to its contact) stops being live, with the reason to record, as
    ``CASE`` branches: the first that holds names the reason."""
    return (
        (Contract.is_deleted == true(), CANCEL_DELETED),
        (Contract.is_cancelled == true(), CANCEL_CANCELLED),
        (Contract.renewed_at.is_not(None), CANCEL_RENEWED),
        (Contract.is_held == true(), CANCEL_HELD),
        (
            or_(Contact.id.is_(None), Contact.is_deleted == true(), Contact.email.is_(None), Contact.email == ""),
            CANCEL_NO_CONTACT,
        ),
        (Contact.suppressed_at.is_not(None), CANCEL_SUPPRESSED),
        (Contact.email_opted_out == true(), CANCEL_OPTED_OUT),
    )


def _segment_expression(cadence: Cadence) -> ColumnElement[str] | None:
    """The contract's segment name in SQL (first matching rule wins), or None if there is only the default."""
    whens = [(_rule_clause(segment.rule), segment.name) for segment in cadence.segments if segment.rule is not None]
    if not whens:
        return None
    return case(*whens, else_=literal(cadence.default.name, String))


def _rule_clause(rule: Rule) -> ColumnElement[bool]:
    """:meth:`Rule.matches` in SQL. A NULL amount or currency makes its condition NULL, which CASE treats
    as no match, just as the Python version does."""
    conditions: list[ColumnElement[bool]] = []
    if rule.reseller is not None:
        has_reseller = Contract.reseller_account_id.is_not(None)
        conditions.append(has_reseller if rule.reseller else ~has_reseller)
    if rule.amount_at_least is not None:
        conditions.append(Contract.amount >= rule.amount_at_least)
    if rule.amount_below is not None:
        conditions.append(Contract.amount < rule.amount_below)
    if rule.currencies is not None:
        conditions.append(Contract.currency.in_(rule.currencies))
    return and_(*conditions)


class _add_days(FunctionElement[date]):
    """``day + days`` as a date, in each database's own date arithmetic."""

    type = Date()
    name = "add_days"
    inherit_cache = True


@compiles(_add_days, "postgresql")
def _add_days_postgresql(element: _add_days, compiler: SQLCompiler, **kw: Any) -> str:
    day, days = list(element.clauses)
    return f"({compiler.process(day, **kw)} + {compiler.process(days, **kw)})"


@compiles(_add_days, "sqlite")
def _add_days_sqlite(element: _add_days, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps dates as ISO text; date() with a "+N days" modifier answers in the same format.
    day, days = list(element.clauses)
    return f"date({compiler.process(day, **kw)}, ({compiler.process(days, **kw)}) || ' days')"
