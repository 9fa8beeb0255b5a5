"""Lifting a suppression in the console: an admin, signed in, with the page's CSRF token and a reason. Lifting
an unsubscribe clears the contact's suppression and, where Salesforce has the contact opted out, writes the
opt-out back to false (conditional on seen true) with a Task for the rep; lifting a bounce only removes our
suppression; an opt-out set in Salesforce alone can be lifted too. Each lift is audited; bad input changes
nothing and says why."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sync_service.store import models
from sync_service.store.models import utcnow
from tests.email_actions.web.console.conftest import csrf_of
from tests.factories import make_contract
from tests.paths import SALESFORCE_CPQ_PRESET

PAGE = "/admin/operations/suppressions"
LIFT = PAGE + "/lift"


def db(app: Flask) -> Any:
    return app.extensions["renewals.database"].session_scope()


def suppress(session: Session, contract: models.Contract, reason: str, *, opted_out_in_org: bool) -> int:
    contact = contract.contact
    assert contact is not None and contact.email is not None
    contact.suppressed_at = utcnow() - timedelta(days=3)
    contact.email_opted_out = opted_out_in_org
    contact.sf_system_modstamp = utcnow() - timedelta(days=3)
    row = models.EmailSuppression(
        address=contact.email,
        reason=reason,
        scope="reminders" if reason == "unsubscribe" else "all",
        detail=f"{reason} detail",
    )
    session.add(row)
    session.flush()
    return row.id


@pytest.fixture
def scene(app: Flask) -> dict[str, Any]:
    """The preset mapping active; an unsubscribed contact opted out in Salesforce, a bounced one, and a contact
    opted out in Salesforce only (ids and values, read once everything is committed)."""
    with db(app) as session:
        session.add(
            models.MappingVersion(
                name="cpq", version=1, yaml=SALESFORCE_CPQ_PRESET.read_text(), author="t", is_active=True
            )
        )
        unsubscribed = make_contract(session, end_date=utcnow().date() + timedelta(days=40), email="gone@x.example")
        bounced = make_contract(session, end_date=utcnow().date() + timedelta(days=40), email="bounce@x.example")
        org_only = make_contract(session, end_date=utcnow().date() + timedelta(days=40), email="org@x.example")
        assert org_only.contact is not None and unsubscribed.contact is not None and bounced.contact is not None
        assert unsubscribed.rep is not None
        org_only.contact.email_opted_out = True
        found: dict[str, Any] = {
            "unsubscribe": suppress(session, unsubscribed, "unsubscribe", opted_out_in_org=True),
            "bounce": suppress(session, bounced, "bounce", opted_out_in_org=False),
        }
        for name, contact in (
            ("unsubscribed_contact", unsubscribed.contact),
            ("bounced_contact", bounced.contact),
            ("org_contact", org_only.contact),
        ):
            found[name] = SimpleNamespace(id=contact.id, sf_id=contact.sf_id, modstamp=contact.sf_system_modstamp)
        found["rep"] = SimpleNamespace(sf_id=unsubscribed.rep.sf_id)
        found["contract"] = SimpleNamespace(sf_id=unsubscribed.sf_id)
    return found


def lift(client: FlaskClient, **form: str) -> Any:
    return client.post(LIFT, data={"csrf_token": csrf_of(client, PAGE), **form})


def counts(app: Flask) -> dict[str, int]:
    with db(app) as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in (models.EmailSuppression, models.OutboxItem, models.AuditEntry)
        } | {
            "suppressed": session.scalar(
                select(func.count()).select_from(models.Contact).where(models.Contact.suppressed_at.is_not(None))
            )
            or 0
        }


def test_the_page_lists_suppressions_and_opted_out_contacts_with_lift_forms(
    admin_client: FlaskClient, scene: dict[str, Any]
) -> None:
    text = admin_client.get(PAGE).get_data(as_text=True)
    assert f'id="lift-{scene["unsubscribe"]}"' in text and f'id="lift-{scene["bounce"]}"' in text
    assert 'id="opted-out"' in text and "org@x.example" in text and "gone@x.example" in text
    assert f'id="lift-contact-{scene["org_contact"].id}"' in text


def test_lifting_an_unsubscribe_clears_the_opt_out_in_salesforce_with_a_task_and_an_audit_entry(
    app: Flask, admin_client: FlaskClient, scene: dict[str, Any]
) -> None:
    response = lift(admin_client, suppression=str(scene["unsubscribe"]), reason="Customer asked by phone, ticket 42")
    assert response.status_code == 302
    contact = scene["unsubscribed_contact"]
    with db(app) as session:
        assert session.get(models.EmailSuppression, scene["unsubscribe"]) is None
        fresh = session.get_one(models.Contact, contact.id)
        assert fresh.suppressed_at is None  # reminders may be planned again
        assert fresh.email_opted_out is True  # as pulled: the org says so until the push and the next pull
        writes = {item.kind: item for item in session.scalars(select(models.OutboxItem))}
        update = writes["field_update"]
        assert (update.sobject, update.target_sf_id) == ("Contact", contact.sf_id)
        assert update.payload["values"] == {"HasOptedOutOfEmail": False}
        assert update.payload["seen"] == {"HasOptedOutOfEmail": True}
        assert update.payload["seen_at"] == contact.modstamp.isoformat()
        task = writes["task"].payload
        assert "Email opt-out lifted - gone@x.example" in task["subject"]
        assert "Reason: Customer asked by phone, ticket 42" in task["description"]
        assert "By: admin:alice" in task["description"]
        assert task["fields"]["WhoId"] == contact.sf_id and task["fields"]["OwnerId"] == scene["rep"].sf_id
        assert task["fields"]["WhatId"] == scene["contract"].sf_id
        entry = session.scalars(select(models.AuditEntry)).one()
    assert (entry.actor, entry.action, entry.reason) == (
        "admin:alice",
        "suppression.lift",
        "Customer asked by phone, ticket 42",
    )
    assert entry.before["reason"] == "unsubscribe" and entry.before["address"] == "gone@x.example"
    assert entry.after == {
        "suppressed": False,
        "contacts_unsuppressed": [contact.sf_id],
        "opt_out_cleared_in_salesforce": [contact.sf_id],
    }


def test_lifting_a_bounce_only_removes_our_suppression(
    app: Flask, admin_client: FlaskClient, scene: dict[str, Any]
) -> None:
    assert lift(admin_client, suppression=str(scene["bounce"]), reason="Mailbox fixed").status_code == 302
    with db(app) as session:
        assert session.get(models.EmailSuppression, scene["bounce"]) is None
        assert session.get_one(models.Contact, scene["bounced_contact"].id).suppressed_at is None
        assert session.scalar(select(func.count()).select_from(models.OutboxItem)) == 0  # nothing for Salesforce
        entry = session.scalars(select(models.AuditEntry)).one()
    assert entry.before["reason"] == "bounce" and entry.after["opt_out_cleared_in_salesforce"] == []


def test_an_opt_out_set_in_salesforce_alone_can_be_lifted(
    app: Flask, admin_client: FlaskClient, scene: dict[str, Any]
) -> None:
    contact = scene["org_contact"]
    assert lift(admin_client, contact=str(contact.id), reason="Re-subscribed at the trade fair").status_code == 302
    with db(app) as session:
        update = session.scalars(select(models.OutboxItem).where(models.OutboxItem.kind == "field_update")).one()
        assert update.target_sf_id == contact.sf_id and update.payload["values"] == {"HasOptedOutOfEmail": False}
        entry = session.scalars(select(models.AuditEntry)).one()
    assert entry.action == "opt_out.lift" and entry.after["opt_out_cleared_in_salesforce"] == [contact.sf_id]


@pytest.mark.parametrize(
    ("form", "code", "says"),
    [
        ({"suppression": "{unsubscribe}", "reason": ""}, 400, "Give a reason"),
        ({"suppression": "{unsubscribe}", "reason": "   "}, 400, "Give a reason"),
        ({"suppression": "{unsubscribe}", "reason": "x" * 1001}, 400, "longer than 1000"),
        ({"suppression": "999999", "reason": "why"}, 404, "There is no suppression #999999"),
        ({"suppression": "abc", "reason": "why"}, 400, "“abc” is not a suppression id"),
        ({"suppression": "0", "reason": "why"}, 400, "is not a suppression id"),
        ({"contact": "999999", "reason": "why"}, 404, "There is no contact #999999"),
        ({"contact": "{bounced_contact}", "reason": "why"}, 409, "is not opted out in Salesforce"),
        ({"reason": "why"}, 400, "named no suppression or contact"),
    ],
)
def test_bad_input_is_named_and_changes_nothing(
    app: Flask, admin_client: FlaskClient, scene: dict[str, Any], form: dict[str, str], code: int, says: str
) -> None:
    ids = {"unsubscribe": scene["unsubscribe"], "bounced_contact": scene["bounced_contact"].id}
    before = counts(app)
    response = lift(admin_client, **{key: value.format(**ids) for key, value in form.items()})
    assert response.status_code == code
    assert says in response.get_data(as_text=True)
    assert counts(app) == before


def test_a_viewer_or_a_post_without_the_csrf_token_lifts_nothing(
    app: Flask, admin_client: FlaskClient, viewer_client: FlaskClient, scene: dict[str, Any]
) -> None:
    before = counts(app)
    form = {"suppression": str(scene["unsubscribe"]), "reason": "why"}
    assert lift(viewer_client, **form).status_code == 403
    assert admin_client.post(LIFT, data=form).status_code == 400
    assert 'id="lift-' not in viewer_client.get(PAGE).get_data(as_text=True)  # no form for a viewer
    anonymous = app.test_client()
    assert anonymous.post(LIFT, data={"csrf_token": csrf_of(anonymous), **form}).status_code == 401  # not signed in
    assert counts(app) == before
