"""Renew from the customer portal: a confirmation page (``GET /portal/contracts/<id>/renew``: the live quote's
lines and total, an optional purchase-order number per brand) whose POST renews through the domain
(:func:`sync_service.renewal.renew_contract`), only at the total the page showed.

Renew is offered only where Salesforce's rules allow it (:mod:`sync_service.renewability`); the POST reads the
quote live from the org first (:func:`sync_service.renewal_live.renew_live`). A second POST is told "already
renewed", a changed total gets the new amount to confirm (409), a quote the rules refuse, a cancelled contract
or one without a quote says so with the way to the rep, and while the rep's pricing request waits the page
says "your rep is updating your quote". When the org does not answer, the renewal is kept as an intent and the
page says it will be confirmed shortly (202). The GET changes nothing; the POST carries the CSRF token. The
push and the confirmation email are queued after the commit.
"""

from __future__ import annotations

from typing import Any

from flask import request

from email_actions.web.live_renew import pending_intent, record_reader
from email_actions.web.portal.blueprint import bp, page
from email_actions.web.portal.scope import CUSTOMER, Scope, contract_in_scope, current_scope
from email_actions.web.portal.states import live_quote, today
from email_actions.web.posted import decimal_or_none
from jobs.base import enqueue, enqueue_after_commit
from jobs.email import send_batch_job
from jobs.push import enqueue_push
from jobs.queues import EMAIL
from sync_service.outbox.tasks import active_mapping
from sync_service.renewability import active_rules, refusal
from sync_service.renewal import PURCHASE_ORDER_MAX
from sync_service.renewal_live import renew_live
from sync_service.store import models
from sync_service.store.db import current_database, current_session


def _confirm(
    scope: Scope,
    contract: models.Contract,
    quote: models.RenewalQuote,
    *,
    status: int = 200,
    purchase_order: str = "",
    error: str | None = None,
    changed: bool = False,
) -> tuple[str, int]:
    lines = sorted(quote.lines, key=lambda line: line.id or 0)
    currency = quote.currency or contract.currency or contract.account.currency
    return page(
        "portal/renew.html",
        scope,
        status=status,
        contract=contract,
        number=contract.number or contract.sf_id,
        quote=quote,
        lines=lines,
        currency=currency,
        fmt=scope.fmt,
        purchase_order=purchase_order,
        po_max=PURCHASE_ORDER_MAX,
        error=error,
        changed=changed,
    )


def _result(
    scope: Scope, contract: models.Contract, outcome: str, *, status: int = 200, **context: Any
) -> tuple[str, int]:
    return page(
        "portal/renewed.html",
        scope,
        status=status,
        contract=contract,
        number=contract.number or contract.sf_id,
        outcome=outcome,
        fmt=scope.fmt,
        **context,
    )


def _not_renewable(
    scope: Scope, contract: models.Contract, quote: models.RenewalQuote | None
) -> tuple[str, int] | None:
    """The page for a contract the portal cannot renew (cancelled, renewed, no quote, waiting for the org,
    refused by the renewal rules), else None."""
    if contract.is_cancelled:
        return _result(scope, contract, "cancelled")
    if contract.renewed_at is not None:
        return _result(scope, contract, "already_renewed", renewed_at=contract.renewed_at)
    db = current_session()
    if pending_intent(db, contract) is not None:
        return _result(scope, contract, "pending")
    if quote is None or quote.total is None:
        return _result(scope, contract, "no_quote")
    refused = refusal(contract, quote, active_rules(db), today=today())
    if refused is not None:
        return _result(scope, contract, "refused", refusal=refused)
    return None


@bp.get("/portal/contracts/<int:contract_id>/renew")
def renew_page(contract_id: int) -> tuple[str, int]:
    scope = current_scope(CUSTOMER)
    contract = contract_in_scope(current_session(), scope, contract_id)
    quote = live_quote(contract)
    refusal = _not_renewable(scope, contract, quote)
    if refusal is not None:
        return refusal
    assert quote is not None
    return _confirm(scope, contract, quote)


@bp.post("/portal/contracts/<int:contract_id>/renew")
def renew(contract_id: int) -> tuple[str, int]:
    scope = current_scope(CUSTOMER)
    db = current_session()
    contract = contract_in_scope(db, scope, contract_id)
    purchase_order = (request.form.get("purchase_order") or "").strip() if scope.brand.purchase_order_field else ""
    if len(purchase_order) > PURCHASE_ORDER_MAX:
        quote = live_quote(contract)
        refusal = _not_renewable(scope, contract, quote)
        if refusal is not None:
            return refusal
        assert quote is not None
        error = f"A purchase order number has at most {PURCHASE_ORDER_MAX} characters."
        return _confirm(scope, contract, quote, status=400, purchase_order=purchase_order, error=error)
    mapping = active_mapping(db)
    message = scope.message if scope.message.contract_id == contract.id else None
    # renew_live ends the reads before it calls the org; its first statement after that is a write (SQLite).
    outcome = renew_live(
        db,
        record_reader(),
        current_database().sessionmaker,
        contract=contract,
        email_message=message,
        quote_total_seen=decimal_or_none(request.form.get("quote_total_seen")),
        purchase_order=purchase_order or None,
        source="portal",
        mapping=mapping,
    )
    # Every outcome is kept: the quote's live values, an intent waiting for the org (the claim of a refused
    # renewal was undone inside renew_contract).
    db.commit()
    if outcome.status != "renewed":
        if outcome.status == "quote_changed" and outcome.quote is not None:
            return _confirm(scope, contract, outcome.quote, status=409, purchase_order=purchase_order, changed=True)
        renewed_at = outcome.renewed_at
        status = {"already_renewed": 200, "pending": 202, "unavailable": 503}.get(outcome.status, 409)
        return _result(scope, contract, outcome.status, status=status, renewed_at=renewed_at, refusal=outcome.refusal)
    with enqueue_after_commit("the renewal's push and confirmation email"):
        enqueue_push()
        if outcome.confirmation is not None:
            enqueue(EMAIL, send_batch_job, [outcome.confirmation.id])
    return _result(
        scope,
        contract,
        "renewed",
        renewed_at=outcome.renewed_at,
        total=outcome.total,
        currency=outcome.currency,
        purchase_order=purchase_order,
    )
