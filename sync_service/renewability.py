"""Whether a contract's renewal quote may be renewed from the email or the portal, and if not, why.

One rule, used everywhere Renew is offered (the reminder's button, the email's confirm page and its POST, the
portal's list, page and POST, the job that completes a renewal the org could not confirm at once): the
mapping's ``renewal`` rules (:class:`mappings.model.RenewalRules`) applied to the quote, plus the rep's pricing
request. A contract is renewable when

- it is not renewed, cancelled or deleted, and has a live renewal quote with a total;
- no pricing request of its rep is waiting for the quote's owner (``contracts.pricing_requested_at``): the
  customer always renews at what the quote in Salesforce says, so Renew waits until that quote changes;
- the quote's status is one of ``renewable_statuses`` (any status not in ``renewed_statuses`` when null);
- its approval is one of ``approved_values``, when the mapping maps the quote's ``approval`` and sets them;
- it is not past its ``valid_until`` date (the last day it is valid), unless ``renew_expired_quotes``.

The same rule judges the store's copy (to offer Renew or not) and the quote as read live from the org at the
moment of the POST (:class:`QuoteFacts` from either). Pure functions, apart from :func:`active_rules`, which
reads which mapping version is active and keeps its parsed form per version (rows never change: an edit is a new
version; emails and confirm pages are judged one at a time, by the thousand, and fetching and parsing a mapping's
YAML for each would cost more than rendering the page). Nothing here writes the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from mappings.loader import load
from mappings.model import Mapping, RenewalRules
from sync_service.store import models

Reason = Literal["renewed", "cancelled", "no_quote", "pricing_requested", "status", "approval", "expired"]


@dataclass(frozen=True)
class Refusal:
    """Why Renew is not offered: `reason` for pages to choose their words by, `message` in plain words (the
    customer's pages and the 'renewal_refused' email show it; it never names a price)."""

    reason: Reason
    message: str


@dataclass(frozen=True)
class QuoteFacts:
    """What decides about a quote, from the store's copy or from a live read of the org."""

    status: str | None
    approval: str | None
    valid_until: date | None
    total: Decimal | None

    @classmethod
    def of(cls, quote: models.RenewalQuote) -> QuoteFacts:
        return cls(status=quote.status, approval=quote.approval, valid_until=quote.valid_until, total=quote.total)


PRICING_REQUESTED = Refusal(
    "pricing_requested",
    "Your rep is updating your quote. You can renew here as soon as the updated quote is ready in our system.",
)


def approval_mapped(mapping: Mapping | None) -> bool:
    entity = mapping.entities.get("renewal_quote") if mapping is not None else None
    return entity is not None and "approval" in entity.fields


def quote_refusal(facts: QuoteFacts, mapping: Mapping | None, *, today: date) -> Refusal | None:
    """Why the mapping's rules refuse a quote with these facts, or None when they allow it. No mapping: the
    default rules (any status, approval not checked, an expired quote refused)."""
    rules = mapping.renewal if mapping is not None else RenewalRules()
    if facts.total is None:
        return Refusal("no_quote", "There is no renewal quote with a total to accept yet.")
    status = facts.status
    if status is not None and status in rules.renewed_statuses:
        return Refusal("renewed", "This renewal has already been completed with your account manager.")
    if rules.renewable_statuses is not None and status not in rules.renewable_statuses:
        shown = f" (status: {status})" if status else ""
        return Refusal(
            "status",
            f"Your renewal quote is not ready to be accepted yet{shown}. Your account manager can finalise it "
            "or send you a fresh quote.",
        )
    if rules.approved_values is not None and approval_mapped(mapping) and facts.approval not in rules.approved_values:
        return Refusal(
            "approval",
            "Your renewal quote is still waiting for approval. Your account manager can tell you when it is ready.",
        )
    if not rules.renew_expired_quotes and facts.valid_until is not None and facts.valid_until < today:
        return Refusal(
            "expired",
            f"Your renewal quote expired on {facts.valid_until.isoformat()}. Ask your account manager for a "
            "fresh quote.",
        )
    return None


def contract_refusal(contract: models.Contract) -> Refusal | None:
    """What about the contract itself stops a renewal, whatever its quote says."""
    if contract.renewed_at is not None:
        return Refusal("renewed", "This contract is already renewed.")
    if contract.is_cancelled or contract.is_deleted:
        return Refusal("cancelled", "This contract has been cancelled, so it cannot be renewed online.")
    if contract.pricing_requested_at is not None:
        return PRICING_REQUESTED
    return None


def refusal(
    contract: models.Contract, quote: models.RenewalQuote | None, mapping: Mapping | None, *, today: date
) -> Refusal | None:
    """Why `contract` (with `quote`, its live renewal quote as the store has it) may not be renewed from the
    email or the portal now, or None when it may."""
    found = contract_refusal(contract)
    if found is not None:
        return found
    if quote is None:
        return Refusal("no_quote", "There is no renewal quote to accept yet.")
    return quote_refusal(QuoteFacts.of(quote), mapping, today=today)


# Parsed mappings by (database, version id, created at): a version's row never changes once written, and the
# creation time tells a version apart from a rolled-back one that had the same id. Few versions are ever active.
_parsed: dict[tuple[str, int, datetime], Mapping] = {}
_PARSED_MAX = 32


def active_rules(session: Session) -> Mapping | None:
    """The active mapping whose renewal rules apply (the first by name when several are active, as
    ``sync_service.outbox.tasks.active_mapping`` picks), its YAML read and parsed once per version."""
    version = session.execute(
        select(models.MappingVersion.id, models.MappingVersion.created_at)
        .where(models.MappingVersion.is_active.is_(True))
        .order_by(models.MappingVersion.name)
        .limit(1)
    ).first()
    if version is None:
        return None
    key = (str(session.get_bind().engine.url), version.id, version.created_at)
    mapping = _parsed.get(key)
    if mapping is None:
        text = session.scalar(select(models.MappingVersion.yaml).where(models.MappingVersion.id == version.id))
        assert text is not None
        if len(_parsed) >= _PARSED_MAX:
            _parsed.clear()
        mapping = _parsed[key] = load(text)
    return mapping
