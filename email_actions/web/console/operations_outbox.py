"""The console's outbox page (``/admin/operations/outbox``) and its dead letters: the writes for Salesforce by
status with Salesforce's message, how long the oldest pending write has waited, how many write conflicts are
open (listed on :mod:`.operations_conflicts`), and retrying (pending again, and a push is queued) or discarding
dead letters — one, the ticked ones, or all that the page showed.

A retry or discard is a CSRF-protected POST of an admin, made by :mod:`sync_service.outbox.dead` and audited in
the same transaction. It never acts on what the page did not show: "all" means the dead letters up to the
newest the page knew of, never one that died since. An id that is malformed, unknown or not a dead letter
changes nothing and says so (400, 404, 409). The form is read by hand: which ids it names depends on the
page's rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from email_actions.web.console.audit import record_change
from email_actions.web.console.blueprint import bp
from email_actions.web.console.csvout import csv_response
from email_actions.web.console.operations_changes import audit_ids, refuse
from email_actions.web.console.operations_conflicts import open_conflicts
from email_actions.web.console.operations_format import format_duration, preview
from email_actions.web.console.operations_paging import (
    PAGE_SIZE,
    choice,
    export_links,
    export_part,
    export_slice,
    pager,
    part_name,
)
from email_actions.web.console.operations_queries import (
    OUTBOX_COLUMNS,
    OUTBOX_STATUSES,
    dead_ids_upto,
    newest_dead_id,
    outbox_counts,
    outbox_query,
    outbox_statuses,
)
from jobs.base import enqueue_after_commit
from jobs.push import enqueue_push
from sync_service.outbox.dead import discard_dead, retry_dead
from sync_service.outbox.waiting import oldest_pending_at
from sync_service.store.db import current_session
from sync_service.store.models import OutboxItem, utcnow

# Ids one POST may name (a page shows PAGE_SIZE; "all" goes by a bound, not a list).
MAX_POSTED_IDS = 500
# Ids per UPDATE … WHERE id IN (…): far below every backend's limit of bound parameters.
ID_CHUNK = 500
DB_ID = re.compile(r"^[0-9]{1,19}$")
DB_ID_MAX = 2**63 - 1


@bp.get("/operations/outbox")
def operations_outbox() -> ResponseReturnValue:
    session = current_session()
    status = choice("status", OUTBOX_STATUSES, "dead")
    # Done rows pile up for ever: they are counted only when they are the list asked for.
    counted = [s for s in OUTBOX_STATUSES if s != "done" or status == "done"]
    counts: dict[str, int | None] = {"done": None, **outbox_counts(session, counted)}
    shown = pager(counts[status] or 0)
    items = session.scalars(outbox_query(status).limit(PAGE_SIZE).offset(shown.offset)).all()
    # "All" acts on the dead letters up to the newest one this page knew of, never on ones that died since.
    newest_dead = newest_dead_id(session)
    # A write owed for long means Salesforce has not been taking the pushes (they retry with backoff).
    oldest_at = oldest_pending_at(session)
    oldest_age = None if oldest_at is None else format_duration(max(0.0, (utcnow() - oldest_at).total_seconds()))
    return render_template(
        "admin/operations/outbox.html",
        **export_links(shown.total),
        section="outbox",
        status=status,
        statuses=OUTBOX_STATUSES,
        counts=counts,
        items=items,
        pager=shown,
        newest_dead=newest_dead,
        oldest_at=oldest_at,
        oldest_age=oldest_age,
        open_conflicts=open_conflicts(session),
        preview=preview,
    )


@bp.get("/operations/outbox.csv")
def operations_outbox_csv() -> ResponseReturnValue:
    status, part = choice("status", OUTBOX_STATUSES, "dead"), export_part()
    columns = [getattr(OutboxItem, name) for name in OUTBOX_COLUMNS]  # plain rows: no payload, no ORM objects
    rows = current_session().execute(export_slice(outbox_query(status).with_only_columns(*columns), part))
    return csv_response(part_name(f"outbox-{status}", part), OUTBOX_COLUMNS, rows)


# ---------------------------------------------------------------------------------------------- dead letters


class Refused(Exception):
    """A POST that changes nothing: its status code and why."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _posted_ids() -> list[int]:
    """The ids a dead-letter form names: a row's own button (``one``) or the ticked boxes (``id``)."""
    raw = [request.form["one"]] if request.form.get("one") else request.form.getlist("id")
    if not raw:
        raise Refused(400, "Choose at least one dead letter: nothing was changed.")
    if len(raw) > MAX_POSTED_IDS:
        raise Refused(400, f"At most {MAX_POSTED_IDS} dead letters at once, or use “all”: nothing was changed.")
    ids = []
    for value in raw:
        if not DB_ID.fullmatch(value.strip()) or not 0 < int(value) <= DB_ID_MAX:
            raise Refused(400, f"“{value[:40]}” is not an outbox item id: nothing was changed.")
        ids.append(int(value))
    return sorted(set(ids))


def _check_dead(session: Session, ids: list[int]) -> None:
    found = outbox_statuses(session, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        listed = ", ".join(f"#{i}" for i in missing[:10])
        raise Refused(404, f"There is no outbox item {listed}: nothing was changed.")
    wrong = [(i, found[i]) for i in ids if found[i] != "dead"]
    if wrong:
        listed = ", ".join(f"#{i} is {s}" for i, s in wrong[:10])
        raise Refused(409, f"Only dead letters can be retried or discarded ({listed}): nothing was changed.")


def _dead_ids_upto(session: Session) -> list[int]:
    raw = request.form.get("upto", "")
    if not DB_ID.fullmatch(raw) or int(raw) > DB_ID_MAX:
        raise Refused(400, "The form did not say which dead letters “all” means; reload the page: nothing changed.")
    ids = dead_ids_upto(session, int(raw))
    if not ids:
        raise Refused(404, "There are no dead letters left to act on: nothing was changed.")
    return ids


def _chunks(ids: Sequence[int], size: int = ID_CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _dead_letter_change(verb: str) -> ResponseReturnValue:
    """Retry (verb "retry") or discard ("discard") the dead letters the form names, audited; see _posted_ids."""
    session = current_session()
    back_status = request.form.get("back", "dead")
    back = url_for("admin.operations_outbox", status=back_status if back_status in OUTBOX_STATUSES else "dead")
    reason = (request.form.get("reason") or "").strip()[:500] or None
    try:
        if request.form.get("scope") == "all":
            if verb == "discard" and request.form.get("confirm") != "yes":
                raise Refused(400, "Tick the confirmation to discard every dead letter: nothing was changed.")
            ids = _dead_ids_upto(session)
            scope = "all"
        else:
            ids = _posted_ids()
            _check_dead(session, ids)
            scope = "chosen"
    except Refused as refused:
        session.rollback()
        title = "Nothing was retried" if verb == "retry" else "Nothing was discarded"
        return refuse(refused.code, title, refused.message, back)
    if verb == "retry":
        changed = sum(retry_dead(session, ids=chunk) for chunk in _chunks(ids))
        after = {"status": "pending", "attempts": 0}
    else:
        changed = sum(discard_dead(session, ids=chunk) for chunk in _chunks(ids))
        after = {"status": "discarded"}
    record_change(
        session,
        f"outbox.{verb}",
        before={"status": "dead", "scope": scope, **audit_ids(ids)},
        after=after,
        reason=reason,
    )
    session.commit()
    noun = "dead letter" if changed == 1 else "dead letters"
    if verb == "discard":
        flash(f"{changed} {noun} discarded (kept in the outbox, marked discarded, for the record).")
        return redirect(back)
    queued = False
    with enqueue_after_commit("the push of retried dead letters"):
        enqueue_push()
        queued = True
    if queued:
        flash(f"{changed} {noun} pending again; a push to Salesforce was queued.")
    else:
        flash(
            f"{changed} {noun} pending again. Redis is unreachable, so no push was queued now: the scheduler's "
            "next sweep sends them."
        )
    return redirect(back)


@bp.post("/operations/outbox/retry")
def operations_outbox_retry() -> ResponseReturnValue:
    return _dead_letter_change("retry")


@bp.post("/operations/outbox/discard")
def operations_outbox_discard() -> ResponseReturnValue:
    return _dead_letter_change("discard")
