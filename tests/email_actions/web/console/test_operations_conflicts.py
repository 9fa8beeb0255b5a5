"""The console's write conflicts (email_actions.web.console.operations_conflicts), on SQLite and PostgreSQL: the
page lists open conflicts with the record, field, the value last seen, ours, theirs and when, and needs a
signed-in user; an admin marks one resolved (CSRF, audited with who and when); a viewer cannot; an unknown id,
one already resolved and a POST without its CSRF token change nothing and say why. The outbox page counts the
open ones and links here."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from email_actions.web.app import create_app
from sync_service.store import models
from tests.email_actions.web.console.conftest import csrf_of, post_form
from tests.email_actions.web.console.operations_helpers import NOW, OUTBOX, db, page, table, text_of
from tests.factories import make_contract

CONFLICTS = "/admin/operations/conflicts"


@pytest.fixture
def app(settings: Settings, store: sessionmaker[Session]) -> Iterator[Flask]:
    """The app over a freshly migrated store on each backend."""
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    app = create_app(dataclasses.replace(settings, database_url=url))
    app.config["TESTING"] = True
    yield app
    app.extensions["renewals.database"].dispose()


@pytest.fixture
def conflict_ids(app: Flask) -> list[int]:
    """Two open conflicts on one contract (the newer first on the page) and one resolved."""
    with db(app) as session:
        contract = make_contract(session, end_date=NOW.date(), number="C-1001")
        session.flush()
        rows = [
            models.WriteConflict(
                contract_id=contract.id,
                sobject="Contract",
                record_sf_id=contract.sf_id,
                field="SBQQ__RenewalUpliftRate__c",
                seen=5.0,
                ours=12.5,
                theirs=3.0,
                detected_at=NOW.replace(hour=9, minute=30),
            ),
            models.WriteConflict(
                contract_id=contract.id,
                sobject="Contract",
                record_sf_id=contract.sf_id,
                field="Renewal_Flags__c",
                seen=None,
                ours="consolidate",
                theirs="warranty_only",
                detected_at=NOW.replace(hour=10, minute=0),
            ),
            models.WriteConflict(
                contract_id=contract.id,
                sobject="Contract",
                record_sf_id=contract.sf_id,
                field="Renewal_Override_Reason__c",
                seen=None,
                ours="x",
                theirs="y",
                detected_at=NOW.replace(hour=8),
                resolved_at=NOW,
                resolved_by="admin:earlier",
            ),
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def _conflict(app: Flask, conflict_id: int) -> models.WriteConflict:
    with db(app) as session:
        return session.get_one(models.WriteConflict, conflict_id)


def _audits(app: Flask) -> list[models.AuditEntry]:
    with db(app) as session:
        return list(session.scalars(select(models.AuditEntry).where(models.AuditEntry.action == "conflict.resolve")))


def test_the_page_lists_open_conflicts_with_both_values(admin_client: FlaskClient, conflict_ids: list[int]) -> None:
    tree = page(admin_client, CONFLICTS)
    rows = table(tree, "conflicts")
    first, second, resolved = conflict_ids
    assert [r[0] for r in rows] == [str(second), str(first)]  # newest first; the resolved one is not listed
    assert rows[1][1] == "C-1001" and rows[1][2].startswith("Contract ")
    assert rows[1][3:7] == ["SBQQ__RenewalUpliftRate__c", "5", "12.5", "3"]
    assert rows[0][3:7] == ["Renewal_Flags__c", "(empty)", "'consolidate'", "'warranty_only'"]
    assert text_of(tree, "conflicts-open") == "2 open conflicts."
    assert "Mark resolved" in text_of(tree, f"conflict-{first}")
    # Linked from the Operations navigation, and counted on the outbox page.
    assert tree.xpath(f"//nav[@aria-label='Operations']/a[@href='{CONFLICTS}']")
    outbox = page(admin_client, OUTBOX)
    assert text_of(outbox, "outbox-conflicts").startswith("2 open write conflicts")
    assert outbox.xpath(f"//p[@id='outbox-conflicts']/a[@href='{CONFLICTS}']")
    resolved_rows = table(page(admin_client, CONFLICTS + "?state=resolved"), "conflicts")
    assert [r[0] for r in resolved_rows] == [str(resolved)] and "by admin:earlier" in resolved_rows[0][8]


def test_the_page_requires_sign_in(app: Flask, conflict_ids: list[int]) -> None:
    """Bad input: no session, for the page and for the resolve POST."""
    client = app.test_client()
    response = client.get(CONFLICTS)
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    token = csrf_of(client)
    response = client.post(f"{CONFLICTS}/{conflict_ids[0]}/resolve", data={"csrf_token": token})
    assert response.status_code == 401
    assert _conflict(app, conflict_ids[0]).resolved_at is None


def test_an_admin_marks_a_conflict_resolved_audited_with_who_and_when(
    app: Flask, admin_client: FlaskClient, conflict_ids: list[int]
) -> None:
    first = conflict_ids[0]
    response = post_form(admin_client, CONFLICTS, f"{CONFLICTS}/{first}/resolve", {"note": "Rep confirmed 3 % in SF"})
    assert response.status_code == 302 and response.headers["Location"].endswith(CONFLICTS)
    conflict = _conflict(app, first)
    assert conflict.resolved_by == "admin:alice" and conflict.resolution == "Rep confirmed 3 % in SF"
    assert conflict.resolved_at is not None
    [audit] = _audits(app)
    assert (audit.actor, audit.reason, audit.after) == ("admin:alice", "Rep confirmed 3 % in SF", {"resolved": True})
    assert audit.before["field"] == "SBQQ__RenewalUpliftRate__c" and audit.before["theirs"] == 3.0
    after = admin_client.get(CONFLICTS).get_data(as_text=True)
    assert f"Write conflict #{first} (Contract SBQQ__RenewalUpliftRate__c) marked resolved." in after
    assert [r[0] for r in table(page(admin_client, CONFLICTS), "conflicts")] == [str(conflict_ids[1])]


def test_a_viewer_cannot_resolve(app: Flask, viewer_client: FlaskClient, conflict_ids: list[int]) -> None:
    """Bad input: a viewer's resolve POST (with a valid CSRF token)."""
    tree = page(viewer_client, CONFLICTS)
    assert "Mark resolved" not in text_of(tree, f"conflict-{conflict_ids[0]}")
    response = post_form(viewer_client, CONFLICTS, f"{CONFLICTS}/{conflict_ids[0]}/resolve", {})
    assert response.status_code == 403
    assert _conflict(app, conflict_ids[0]).resolved_at is None and _audits(app) == []


def test_a_resolve_without_csrf_changes_nothing(app: Flask, admin_client: FlaskClient, conflict_ids: list[int]) -> None:
    """Bad input: the resolve POST without its csrf_token field, and with a forged one."""
    for data in ({}, {"csrf_token": "forged"}):
        response = admin_client.post(f"{CONFLICTS}/{conflict_ids[0]}/resolve", data=data)
        assert response.status_code == 400, data
    assert _conflict(app, conflict_ids[0]).resolved_at is None and _audits(app) == []


@pytest.mark.parametrize(
    ("target", "code", "says"),
    [("unknown", 404, "There is no write conflict #999999"), ("resolved", 409, "already resolved by admin:earlier")],
)
def test_an_unknown_or_resolved_conflict_changes_nothing_and_says_why(
    app: Flask, admin_client: FlaskClient, conflict_ids: list[int], target: str, code: int, says: str
) -> None:
    """Bad input: conflict id 999999 (unknown), and the one already resolved."""
    conflict_id = 999999 if target == "unknown" else conflict_ids[2]
    response = post_form(admin_client, CONFLICTS, f"{CONFLICTS}/{conflict_id}/resolve", {"note": "again"})
    assert response.status_code == code
    assert says in response.get_data(as_text=True)
    assert _audits(app) == []
    assert _conflict(app, conflict_ids[2]).resolved_by == "admin:earlier"
