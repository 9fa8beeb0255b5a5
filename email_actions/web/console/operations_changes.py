"""What the Operations section's changes (retrying and discarding dead letters, retrying failed jobs) share:
the page that says a change was not made, and how an audit entry lists the ids a change touched.

A change that is refused changes nothing and says why, with a way back (400, 404, 409, 503); one that is made
is audited in the transaction that makes it (:func:`~email_actions.web.console.audit.record_change`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue

# Ids an audit entry lists (its count is always exact).
AUDIT_MAX_IDS = 1000


def refuse(code: int, title: str, message: str, back: str) -> ResponseReturnValue:
    """A change that was not made: the reason, and the way back."""
    return render_template("admin/operations/refused.html", title=title, message=message, back=back), code


def audit_ids(ids: Sequence[int | str]) -> dict[str, Any]:
    """The ids a change touched, for its audit entry: their count, and the first AUDIT_MAX_IDS of them."""
    listed = list(ids[:AUDIT_MAX_IDS])
    return {"count": len(ids), "ids": listed, **({"ids_truncated": True} if len(ids) > len(listed) else {})}
