"""The customer portal and the rep portal: every contract of one account, reached from an email link.

- **Opening.** ``GET /a/review/<token>`` (the customer's Review link) opens a session scoped to what the
  email's recipient may see, then 303 to ``/portal``; ``GET /rep/<token>`` (the rep's link) does so only in a
  browser signed in as that rep, and otherwise 303 to the sign-in (:mod:`~email_actions.web.portal.rep_access`)
  (:mod:`~email_actions.web.portal.scope`: who sees what, the cookies, their ages).
- **Customer portal** (``/portal``, here): every contract in scope (deleted ones aside), most urgent
  first, each with its state in colour *and* words (:mod:`~email_actions.web.portal.states`), its quote
  download and, when it can be renewed, a Renew button leading to the confirmation page whose POST renews
  (:mod:`~email_actions.web.portal.renew`).
- **Rep portal** (``/rep``): the contracts the rep owns at that account, with the rep's controls
  (:mod:`~email_actions.web.portal.rep_controls`, forms in :mod:`~email_actions.web.portal.forms`).
- **Access control.** Every contract id in a path is looked up together with the session's scope: a
  contract outside it (another account's, a direct deal for a reseller's buyer, another rep's) is the same
  404 as one that does not exist. Quote
  downloads go through the same check before anything is fetched. Every POST carries the CSRF token. No GET
  changes anything but the click an email link records.

:func:`init_app` registers the portals' blueprint with all these routes.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.wrappers import Response

from email_actions.web.act.pixel_and_quote import quote_pdf_response
from email_actions.web.portal import renew, rep_access, rep_controls  # noqa: F401 - imported for the views they add to `bp`
from email_actions.web.portal.blueprint import bp, flashes, page
from email_actions.web.portal.scope import (
    CUSTOMER,
    REP,
    NotInScope,
    Scope,
    contract_in_scope,
    contracts_in_scope,
    current_scope,
    open_scope,
)
from email_actions.web.portal.states import live_quote, make_rows, today
from email_actions.web.security import limiter
from sync_service.renewability import active_rules
from sync_service.store import models
from sync_service.store.db import current_session


@bp.get("/a/review/<token>")
def open_customer_portal(token: str) -> Response:
    return open_scope("review", token, CUSTOMER)


@bp.get("/rep/<token>")
def open_rep_portal(token: str) -> Response:
    return open_scope("rep", token, REP)


@bp.get("/portal")
def customer_portal() -> tuple[str, int]:
    scope = current_scope(CUSTOMER)
    session = current_session()
    rows = make_rows(contracts_in_scope(session, scope), today(), scope.fmt, active_rules(session))
    return page("portal/customer.html", scope, rows=rows, notices=flashes())


@bp.get("/portal/contracts/<int:contract_id>/quote")
def customer_quote(contract_id: int) -> Response:
    scope = current_scope(CUSTOMER)
    return _quote_download(scope, contract_in_scope(current_session(), scope, contract_id))


@bp.get("/rep/contracts/<int:contract_id>/quote")
def rep_quote(contract_id: int) -> Response:
    scope = current_scope(REP)
    return _quote_download(scope, contract_in_scope(current_session(), scope, contract_id))


def _quote_download(scope: Scope, contract: models.Contract) -> Response:
    """The contract's live quote PDF (ownership already checked), or the not-found page when it has none.
    No event is recorded: the portal is not an email link."""
    quote = live_quote(contract)
    if quote is None or not (quote.primary_document_sf_id or quote.documents):
        raise NotInScope(scope)
    return quote_pdf_response(current_session(), quote, brand=scope.brand)


def init_app(app: Flask) -> None:
    # Anti-automation on every portal URL, per client address; generous, since offices share one address.
    limiter.limit("300/minute")(bp)
    app.register_blueprint(bp)
