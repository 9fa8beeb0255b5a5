"""The rep portal (email_actions.web.portal.rep_controls): the rep sees only their own contracts at the account;
the controls are validated beside their fields, audited and written back through the outbox, hold and resume
change the reminders; a change Salesforce cannot take is refused whole; Redis being down only delays the push.
On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from email_actions.web.session_cookies import REP_KEY
from mappings.loader import preset_text
from sync_service.planning.planner import CANCEL_HELD
from sync_service.store import mapping_versions, models
from tests.email_actions.web.portal.portal_site import (
    Accounts,
    Portal,
    add_reminders,
    numbers_in_order,
    post_rep_form,
    seed,
    start_portal,
)
from tests.processes import free_port

# --- The rep portal ----------------------------------------------------------------------------------------------


def rep_by(site: Portal, data: Accounts) -> dict[str, object]:
    """Who a change of the seeded rep's session is audited as: the rep, their address, the client, the session."""
    with site.client.session_transaction() as flask_session:
        session_id = flask_session[REP_KEY]["sid"]
    return {
        "rep_sf_id": data.rep_sf_id,
        "rep_name": "Riley Rep",
        "rep_email": "riley.rep@vendor.example",
        "ip": "127.0.0.1",
        "session": session_id,
        "signed_in_via": "test",  # how the test signed the rep in (portal_site.mark_rep_signed_in)
        "email_message_id": data.rep_message,
    }


def test_the_rep_sees_only_their_own_contracts_at_the_account(site: Portal) -> None:
    data = seed(site)
    response = site.open_rep(data.rep_message)
    assert response.status_code == 303 and response.headers["Location"] == "/rep"
    with site.client.session_transaction() as flask_session:
        scope = flask_session[REP_KEY]
    assert scope["kind"] == "rep" and scope["email_message_id"] == data.rep_message
    assert [(e.kind, e.purpose) for e in site.rows(models.EmailEvent)] == [("click", "rep")]
    html = site.client.get("/rep").get_data(as_text=True)
    numbers = numbers_in_order(html)
    assert "A-OTHERREP" not in numbers and "A-DELETED" not in numbers
    assert "B-ONLY" not in html and "B-SAMEREP" not in html and "Globex" not in html
    assert numbers[:2] == ["A-EXPIRED", "A-OVERDUE"] and len(numbers) == 7
    assert "Warranty only" in html and "Consolidate" in html and "Do not remind" in html
    assert f'action="/rep/contracts/{data.emailed}/hold"' in html
    assert "What the colours mean" in html


def test_changing_the_controls_updates_the_contract_audits_and_writes_back(site: Portal, redis: Redis) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    response = post_rep_form(
        site,
        f"/rep/contracts/{data.emailed}/controls",
        status_flags=["warranty_only", "do_not_remind"],
        price_adjustment_pct="-5.5",
        price_override="9000",
        price_override_reason="Multi-year commitment agreed on the call",
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/rep#contract-{data.emailed}"
    contract = site.contract(data.emailed)
    assert contract.status_flags == ["warranty_only", "do_not_remind"]
    assert contract.price_adjustment_pct == Decimal("-5.50")
    assert contract.price_override == Decimal("9000.00")
    assert contract.price_override_reason == "Multi-year commitment agreed on the call"
    assert not contract.is_held
    [audit] = site.rows(models.AuditEntry)
    assert (audit.actor, audit.action, audit.contract_id) == (f"rep:{data.rep_sf_id}", "rep.controls", data.emailed)
    assert audit.before == {
        "status_flags": [],
        "price_adjustment_pct": None,
        "price_override": None,
        "price_override_reason": None,
    }
    assert audit.after == {
        "status_flags": ["warranty_only", "do_not_remind"],
        "price_adjustment_pct": "-5.50",
        "price_override": "9000.00",
        "price_override_reason": "Multi-year commitment agreed on the call",
        "by": rep_by(site, data),
    }
    assert audit.reason == "Multi-year commitment agreed on the call"
    [item] = site.rows(models.OutboxItem)
    assert (item.kind, item.sobject, item.target_sf_id, item.status) == (
        "field_update",
        "Contract",
        contract.sf_id,
        "pending",
    )
    # Only the controls the rep changed (not the hold), each with the value it had before.
    assert item.payload["values"] == {
        "Renewal_Flags__c": "warranty_only;do_not_remind",
        "SBQQ__RenewalUpliftRate__c": -5.5,
        "Renewal_Price_Override__c": 9000.0,
        "Renewal_Override_Reason__c": "Multi-year commitment agreed on the call",
    }
    assert item.payload["seen"] == dict.fromkeys(item.payload["values"])
    assert Queue("push", connection=redis).count == 1
    page = site.client.get("/rep").get_data(as_text=True)
    assert "changes saved and sent to Salesforce" in page

    # A second change: audited again, and the same outbox row carries the latest state.
    response = post_rep_form(site, f"/rep/contracts/{data.emailed}/controls", status_flags=["consolidate"])
    assert response.status_code == 303
    contract = site.contract(data.emailed)
    assert contract.status_flags == ["consolidate"] and contract.price_override is None
    assert contract.price_adjustment_pct is None and contract.price_override_reason is None
    assert len(site.rows(models.AuditEntry)) == 2
    [item] = site.rows(models.OutboxItem)
    assert item.payload["values"]["Renewal_Flags__c"] == "consolidate"
    assert item.payload["values"]["Renewal_Price_Override__c"] is None

    # Saving the same values again changes nothing and records nothing.
    post_rep_form(site, f"/rep/contracts/{data.emailed}/controls", status_flags=["consolidate"])
    assert len(site.rows(models.AuditEntry)) == 2


def test_redis_being_down_only_delays_the_push(settings: Settings, store: sessionmaker[Session]) -> None:
    url = store.kw["bind"].url.render_as_string(hide_password=False)
    site = start_portal(dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0"), url)
    try:
        data = seed(site)
        site.open_rep(data.rep_message)
        response = post_rep_form(site, f"/rep/contracts/{data.emailed}/hold")
        assert response.status_code == 303
        assert site.contract(data.emailed).is_held
        [item] = site.rows(models.OutboxItem)
        assert item.status == "pending"  # the scheduler's sweep pushes it
    finally:
        site.app.extensions["renewals.database"].dispose()


def test_flags_set_in_salesforce_are_kept(site: Portal) -> None:
    data = seed(site)
    with site.sessions.begin() as session:
        contract = session.get(models.Contract, data.emailed)
        assert contract is not None
        contract.status_flags = ["strategic"]
    site.open_rep(data.rep_message)
    post_rep_form(site, f"/rep/contracts/{data.emailed}/controls", status_flags=["consolidate"])
    assert site.contract(data.emailed).status_flags == ["strategic", "consolidate"]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"price_adjustment_pct": "150"}, "price_adjustment_pct", "between -100 and 100"),
        ({"price_adjustment_pct": "-100.01"}, "price_adjustment_pct", "between -100 and 100"),
        ({"price_adjustment_pct": "lots"}, "price_adjustment_pct", "Enter a percentage"),
        ({"price_adjustment_pct": "1.234"}, "price_adjustment_pct", "at most two decimals"),
        ({"price_adjustment_pct": "NaN"}, "price_adjustment_pct", "Enter a percentage"),
        ({"price_override": "9000"}, "price_override_reason", "Give a reason"),
        ({"price_override": "-1", "price_override_reason": "x"}, "price_override", "zero or more"),
        ({"price_override": "1e30", "price_override_reason": "x"}, "price_override", "Enter an amount"),
        ({"price_override_reason": "a reason alone"}, "price_override", "clear the reason"),
        ({"status_flags": "vip"}, "status_flags", "Choose only from the status flags"),
    ],
)
def test_invalid_controls_are_refused_beside_the_field_and_nothing_is_saved(
    site: Portal, form: dict[str, str], field: str, message: str
) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    before = site.counts()
    response = post_rep_form(site, f"/rep/contracts/{data.emailed}/controls", **form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'id="c{data.emailed}-{field}-error">' in html and message in html
    assert "Nothing was saved." in html
    assert site.counts() == before
    contract = site.contract(data.emailed)
    assert contract.status_flags == [] and contract.price_adjustment_pct is None and contract.price_override is None


def test_the_adjustment_accepts_what_people_type(site: Portal) -> None:
    data = seed(site)
    site.open_rep(data.rep_message)
    assert (
        post_rep_form(site, f"/rep/contracts/{data.emailed}/controls", price_adjustment_pct="7,5 %").status_code == 303
    )
    assert site.contract(data.emailed).price_adjustment_pct == Decimal("7.50")
    assert (
        post_rep_form(site, f"/rep/contracts/{data.emailed}/controls", price_adjustment_pct="-100").status_code == 303
    )
    assert site.contract(data.emailed).price_adjustment_pct == Decimal("-100.00")


def test_hold_cancels_planned_reminders_and_resume_lifts_the_hold(site: Portal, redis: Redis) -> None:
    data = seed(site)
    with site.sessions.begin() as session:
        add_reminders(session, data.emailed)
        add_reminders(session, data.due_soon)
    site.open_rep(data.rep_message)
    response = post_rep_form(site, f"/rep/contracts/{data.emailed}/hold", note="Negotiating a consolidation")
    assert response.status_code == 303
    assert site.contract(data.emailed).is_held
    reminders = {(r.contract_id, r.offset_days): (r.status, r.reason) for r in site.rows(models.Reminder)}
    assert reminders[(data.emailed, -60)] == ("sent", None)
    assert reminders[(data.emailed, -30)] == ("cancelled", CANCEL_HELD)
    assert reminders[(data.emailed, -7)] == ("cancelled", CANCEL_HELD)
    assert reminders[(data.due_soon, -30)] == ("planned", None)  # another contract's are untouched
    [audit] = site.rows(models.AuditEntry)
    assert (audit.actor, audit.action, audit.reason) == (
        f"rep:{data.rep_sf_id}",
        "rep.hold",
        "Negotiating a consolidation",
    )
    assert audit.before == {"is_held": False, "reminders_cancelled": None}
    assert audit.after == {"is_held": True, "reminders_cancelled": 2, "by": rep_by(site, data)}
    [item] = site.rows(models.OutboxItem)
    assert item.payload["values"] == {"Renewal_Reminders_Held__c": True}  # the one field a Hold sets
    assert item.payload["seen"] == {"Renewal_Reminders_Held__c": False}
    assert Queue("push", connection=redis).count == 1
    html = site.client.get("/rep").get_data(as_text=True)
    assert "reminders on hold" in html
    assert f'action="/rep/contracts/{data.emailed}/resume"' in html

    # Holding again changes nothing.
    post_rep_form(site, f"/rep/contracts/{data.emailed}/hold")
    assert len(site.rows(models.AuditEntry)) == 1

    response = post_rep_form(site, f"/rep/contracts/{data.emailed}/resume")
    assert response.status_code == 303
    assert not site.contract(data.emailed).is_held
    audits = site.rows(models.AuditEntry)
    assert [a.action for a in audits] == ["rep.hold", "rep.resume"]
    assert (audits[1].before, audits[1].after) == ({"is_held": True}, {"is_held": False, "by": rep_by(site, data)})
    [item] = site.rows(models.OutboxItem)
    assert item.payload["values"]["Renewal_Reminders_Held__c"] is False and item.status == "pending"


def test_a_write_back_that_cannot_be_resolved_refuses_the_change(site: Portal) -> None:
    data = seed(site, mapping=False)
    text = preset_text("salesforce_cpq").replace(
        "  rep_controls:\n    object: Contract\n    record: contract\n",
        "  rep_controls:\n    object: Contract\n    record: contract.Parent_Contract__c\n",
    )
    assert "contract.Parent_Contract__c" in text
    with site.sessions.begin() as session:
        row = mapping_versions.save_version(session, text, author="test")
        mapping_versions.activate(session, row.name, row.version, [])
        add_reminders(session, data.emailed)
    site.open_rep(data.rep_message)
    before = site.counts()
    for action, form in (("controls", {"status_flags": "consolidate"}), ("hold", {})):
        response = post_rep_form(site, f"/rep/contracts/{data.emailed}/{action}", **form)
        assert response.status_code == 409
        html = response.get_data(as_text=True)
        assert "Salesforce has no record to write this change to" in html and "Nothing was changed." in html
    assert site.counts() == before
    contract = site.contract(data.emailed)
    assert not contract.is_held and contract.status_flags == []
    assert {r.status for r in site.rows(models.Reminder)} == {"sent", "planned"}


def test_without_an_active_mapping_changes_are_refused(site: Portal) -> None:
    data = seed(site, mapping=False)
    site.open_rep(data.rep_message)
    before = site.counts()
    response = post_rep_form(site, f"/rep/contracts/{data.emailed}/hold")
    assert response.status_code == 409
    assert "No Salesforce mapping is active" in response.get_data(as_text=True)
    assert site.counts() == before and not site.contract(data.emailed).is_held
