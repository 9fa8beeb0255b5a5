"""A contract's state as the portals show it (email_actions.web.portal.states): colour, words and urgency."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from email_actions.mail.rendering.formatting import formatter
from email_actions.web.portal.states import State, state_of
from sync_service.store import models


def test_the_state_of_a_contract() -> None:
    fmt = formatter("en_US")
    today = date(2026, 6, 1)

    def state(**fields: Any) -> State:
        fields.setdefault("status", "Activated")
        return state_of(models.Contract(**fields), today, fmt)

    assert state(end_date=date(2026, 7, 31)).key == "due_soon"  # 60 days
    assert state(end_date=date(2026, 8, 1)).key == "live"  # 61 days
    assert state(end_date=today).detail == "Ends today."
    assert state(end_date=date(2026, 5, 31)).key == "overdue"
    assert state(end_date=date(2026, 5, 31), status="Expired").key == "expired"
    assert state(end_date=None).key == "live"
    assert state(end_date=date(2026, 5, 1), is_cancelled=True, renewed_at=None).colour == "black"
    renewed = state(end_date=date(2026, 5, 1), renewed_at=datetime(2026, 4, 2, tzinfo=UTC))
    assert (renewed.key, renewed.colour, renewed.detail) == ("renewed", "green", "Renewed on April 2, 2026")
    renewed_at = datetime(2026, 4, 2, tzinfo=UTC)
    in_org = state(end_date=date(2026, 5, 1), renewed_at=renewed_at, renewed_via="salesforce")
    assert (in_org.key, in_org.colour, in_org.detail) == ("renewed", "green", "Renewed in Salesforce on April 2, 2026")
    for channel in ("email", "portal"):
        online = state(end_date=date(2026, 5, 1), renewed_at=renewed_at, renewed_via=channel)
        assert (online.key, online.detail) == ("renewed", "Renewed online on April 2, 2026")
