"""A rep's pricing request (issue 13, part 4): the adjustment or override a rep sets in the rep portal is a
request to the quote's owner in Salesforce, not a price. The customer always sees and renews at what the quote
in Salesforce says, so while a request is open the customer's Renew waits ("your rep is updating your quote":
:mod:`sync_service.renewability`).

- :func:`note_pricing_change` — in the rep's transaction: setting or changing an adjustment or override opens
  the request (``contracts.pricing_requested_at``) and remembers the live quote's ``SystemModstamp`` then
  (``pricing_quote_stamp``); clearing both withdraws it.
- :func:`settle_pricing_requests` — after each successful pull (``Puller``, right after the renewal state):
  a request is answered once a pull brings the contract's live quote with a ``SystemModstamp`` past the stamp
  remembered (the owner re-priced, re-generated or otherwise changed it), or a live quote where there was none.
  Set-based: one UPDATE over the store, no call to Salesforce.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from sync_service.outbox.writeback import live_quote
from sync_service.store import models
from sync_service.store.models import utcnow


def note_pricing_change(
    session: Session,
    contract: models.Contract,
    *,
    adjustment_before: object,
    override_before: object,
    now: datetime | None = None,
) -> str | None:
    """Open, renew or withdraw `contract`'s pricing request after a rep's change of its controls (already set on
    the contract). Returns "requested", "withdrawn" or None (pricing unchanged)."""
    adjustment, override = contract.price_adjustment_pct, contract.price_override
    if adjustment == adjustment_before and override == override_before:
        return None
    if adjustment is None and override is None:
        contract.pricing_requested_at = None
        contract.pricing_quote_stamp = None
        return "withdrawn"
    quote = live_quote(session, contract)
    contract.pricing_requested_at = now or utcnow()
    contract.pricing_quote_stamp = quote.sf_system_modstamp if quote is not None else None
    return "requested"


def settle_pricing_requests(session: Session) -> int:
    """Close the pricing requests whose quote changed in Salesforce since they were made; returns how many."""
    moved = exists(
        select(models.RenewalQuote.id).where(
            models.RenewalQuote.contract_id == models.Contract.id,
            models.RenewalQuote.is_deleted.is_(False),
            models.RenewalQuote.sf_system_modstamp.is_not(None),
            or_(
                models.Contract.pricing_quote_stamp.is_(None),
                models.RenewalQuote.sf_system_modstamp > models.Contract.pricing_quote_stamp,
            ),
        )
    )
    result = session.execute(
        update(models.Contract)
        .where(models.Contract.pricing_requested_at.is_not(None), moved)
        .values(pricing_requested_at=None, pricing_quote_stamp=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
