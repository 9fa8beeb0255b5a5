"""The customer's confirmed Renew, checked against the org at that moment (issue 13, parts 2 and 6).

The store is a cache; at the decisive moment the service reads the quote from Salesforce. :func:`renew_live`:

1. Refuses at once, without an API call, what the store already says is not renewable
   (:mod:`sync_service.renewability`: status, approval, expiry, the rep's pricing request), and says
   "pending" while a renewal the org could not confirm earlier is waiting (:class:`models.RenewalIntent`).
2. Reads the quote live with ONE call (sObject Rows GET of the mapped status, total, currency, validity and
   approval, plus ``LastModifiedDate``) and writes what it read into the store's quote row, so every page
   shows Salesforce's values from then on (a re-priced quote's new total is on the confirm page).
3. Refuses when the live quote breaks the rules, or (in :func:`sync_service.renewal.renew_contract`) when its
   total is not the one the customer confirmed. Otherwise renews, and the write-back to the quote is made
   conditional on what was read (``record_write_back(seen=…)``): the push never overwrites a quote someone
   changed in Salesforce after this read.
4. When the org does not answer (network, 5xx, sign-in, API budget: ``OrgUnavailable``), records a renewal
   intent — the customer is told "we'll confirm your renewal shortly" — which the intents job completes or
   refuses, with an email saying why, once the org answers (:mod:`sync_service.renewal_intents`).

The read happens outside any store transaction (the caller's reads are committed first), and the store's
first statement after it is a write (see :mod:`sync_service.renewal` on SQLite's write lock). The caller
commits whatever the outcome: the live values and an intent are kept even when nothing is renewed.

Mapped fields read through a relationship (``Parent.Field``) cannot be asked of sObject Rows: they keep the
store's values (none of the presets maps a quote's decisive field that way).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mappings.model import CANONICAL, Mapping
from sync_service.outbox.writeback import live_quote
from sync_service.pull.convert import ValueProblem, canonical_value, modstamp
from sync_service.renewability import QuoteFacts, contract_refusal, quote_refusal
from sync_service.renewal import RenewOutcome, Source, renew_contract
from sync_service.salesforce.record_reads import OrgUnavailable, ReadRefused, RecordGone, RecordReader
from sync_service.store import models
from sync_service.store.models import utcnow

log = structlog.get_logger(__name__)

# The quote's canonical fields the live read checks (and writes back into the store's row).
LIVE_FIELDS = ("status", "total", "currency", "valid_until", "approval")
_STAMPS = ("LastModifiedDate", "SystemModstamp")


@dataclass(frozen=True)
class LiveQuote:
    """The renewal quote as the org holds it now."""

    sobject: str
    sf_id: str
    values: dict[str, Any]  # canonical name → canonical value, for the fields that were read
    raw: dict[str, Any]  # Salesforce field → value as read (the write-back's seen values)
    last_modified: datetime | None
    system_modstamp: datetime | None

    def facts(self, stored: models.RenewalQuote) -> QuoteFacts:
        """The decisive facts: the live values, the store's for a field the read could not ask for."""
        return QuoteFacts(
            status=self.values.get("status", stored.status),
            approval=self.values.get("approval", stored.approval),
            valid_until=self.values.get("valid_until", stored.valid_until),
            total=self.values.get("total", stored.total),
        )


def live_field_names(mapping: Mapping) -> dict[str, str]:
    """Canonical name → Salesforce field of the quote fields a live read asks for (plain fields only)."""
    entity = mapping.entities["renewal_quote"]
    fields = {}
    for name in LIVE_FIELDS:
        spec = entity.fields.get(name)
        if spec is not None and spec.field is not None and "." not in spec.field:
            fields[name] = spec.field
    return fields


def read_live_quote(
    reader: RecordReader, sessions: sessionmaker[Session], mapping: Mapping, quote: models.RenewalQuote
) -> LiveQuote:
    """One sObject Rows GET of `quote`; raises OrgUnavailable, RecordGone or ReadRefused (and OrgUnavailable
    for a value that cannot be read as its canonical type: the org's answer cannot be trusted as it is)."""
    entity = mapping.entities["renewal_quote"]
    names = live_field_names(mapping)
    raw = reader.read(sessions, entity.object, quote.sf_id, [*dict.fromkeys(names.values()), *_STAMPS])
    values: dict[str, Any] = {}
    for name in names:
        try:
            values[name] = canonical_value(raw, entity.fields[name], CANONICAL["renewal_quote"][name])
        except ValueProblem as exc:
            raise ReadRefused(f"the live {entity.object} {quote.sf_id} has an unreadable {name}: {exc}") from exc
    last_modified = modstamp({"SystemModstamp": raw.get("LastModifiedDate")})
    return LiveQuote(entity.object, quote.sf_id, values, raw, last_modified, modstamp(raw))


def _store_live_values(session: Session, quote: models.RenewalQuote, live: LiveQuote) -> None:
    """The store's quote row takes the values the org holds now (the first statement after the read: a write)."""
    if live.values:
        session.execute(
            update(models.RenewalQuote)
            .where(models.RenewalQuote.id == quote.id)
            .values(**live.values)
            .execution_options(synchronize_session=False)
        )
        session.refresh(quote)


def _pending_intent(session: Session, contract: models.Contract) -> models.RenewalIntent | None:
    return session.scalar(
        select(models.RenewalIntent).where(
            models.RenewalIntent.contract_id == contract.id, models.RenewalIntent.status == "pending"
        )
    )


def record_intent(
    session: Session,
    *,
    contract: models.Contract,
    email_message: models.EmailMessage | None,
    quote_total_seen: Decimal,
    currency: str | None,
    purchase_order: str | None,
    source: Source,
    reason: str,
) -> models.RenewalIntent:
    """Keep the customer's Renew to complete later: one intent per contract (a settled one is reused, a
    pending one stays as it was). The insert is the first statement (SQLite's write lock)."""
    values: dict[str, Any] = {
        "email_message_id": email_message.id if email_message is not None else None,
        "quote_total_seen": quote_total_seen,
        "currency": currency,
        "purchase_order": purchase_order,
        "source": source,
        "status": "pending",
        "reason": reason,
        "attempts": 1,
        "created_at": utcnow(),
        "settled_at": None,
    }
    try:
        with session.begin_nested():
            session.add(models.RenewalIntent(contract_id=contract.id, **values))
    except IntegrityError:
        session.execute(
            update(models.RenewalIntent)
            .where(models.RenewalIntent.contract_id == contract.id, models.RenewalIntent.status != "pending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    intent = session.scalars(select(models.RenewalIntent).where(models.RenewalIntent.contract_id == contract.id)).one()
    session.refresh(intent)
    return intent


def renew_live(
    session: Session,
    reader: RecordReader,
    sessions: sessionmaker[Session],
    *,
    contract: models.Contract,
    email_message: models.EmailMessage | None,
    quote_total_seen: Decimal | None,
    purchase_order: str | None,
    source: Source,
    mapping: Mapping | None,
    intent: models.RenewalIntent | None = None,
    today: date | None = None,
) -> RenewOutcome:
    """The customer's Renew of `contract` at `quote_total_seen`, checked live (see the module docstring).

    `intent` is the pending intent being completed (the intents job): then no new intent is recorded and an
    org that still does not answer leaves it pending. Nothing is committed; the caller commits every outcome.
    A purchase order longer than the column raises ``ValueError`` before anything is read or written.
    """
    today = today or utcnow().date()
    if intent is None and _pending_intent(session, contract) is not None:
        return RenewOutcome("pending", contract.id)
    found = contract_refusal(contract)
    if found is not None and found.reason == "pricing_requested":
        return RenewOutcome("refused", contract.id, refusal=found)
    quote = live_quote(session, contract)
    if found is None and quote is not None and quote.total is not None:
        stored = quote_refusal(QuoteFacts.of(quote), mapping, today=today)
        if stored is not None:
            return RenewOutcome("refused", contract.id, quote=quote, refusal=stored)
    if found is not None or mapping is None or quote is None or quote.total is None or quote_total_seen is None:
        # Renewed, cancelled, no quote, nothing confirmed, or no mapping to read the org with: the claim in
        # renew_contract says which (and without a mapping nothing is written back either).
        session.commit()
        return _renew(session, contract, email_message, quote_total_seen, purchase_order, source, mapping)

    session.commit()  # end the reads: no transaction is open while the org is called
    try:
        live = read_live_quote(reader, sessions, mapping, quote)
    except OrgUnavailable as exc:
        log.warning("renewal waits for the org", contract_id=contract.id, reason=str(exc))
        if intent is not None:
            _still_waiting(session, intent, str(exc))
            return RenewOutcome("pending", contract.id, intent=intent, detail=str(exc))
        currency = quote.currency or contract.currency
        recorded = record_intent(
            session,
            contract=contract,
            email_message=email_message,
            quote_total_seen=quote_total_seen,
            currency=currency,
            purchase_order=purchase_order,
            source=source,
            reason=str(exc),
        )
        return RenewOutcome("pending", contract.id, intent=recorded, recorded=True, detail=str(exc))
    except RecordGone as exc:
        session.execute(
            update(models.RenewalQuote)
            .where(models.RenewalQuote.id == quote.id)
            .values(is_deleted=True)
            .execution_options(synchronize_session=False)
        )
        return RenewOutcome("no_quote", contract.id, detail=str(exc))
    except ReadRefused as exc:
        log.error("renewal quote cannot be read", contract_id=contract.id, problem=str(exc))
        if intent is not None:
            _still_waiting(session, intent, str(exc))
            return RenewOutcome("pending", contract.id, intent=intent, detail=str(exc))
        return RenewOutcome("unavailable", contract.id, quote=quote, detail=str(exc))

    _store_live_values(session, quote, live)
    refused = quote_refusal(live.facts(quote), mapping, today=today)
    if refused is not None:
        return RenewOutcome("refused", contract.id, quote=quote, refusal=refused)
    seen = {(live.sobject, live.sf_id): (live.raw, live.last_modified)}
    return _renew(session, contract, email_message, quote_total_seen, purchase_order, source, mapping, seen)


def _renew(
    session: Session,
    contract: models.Contract,
    email_message: models.EmailMessage | None,
    quote_total_seen: Decimal | None,
    purchase_order: str | None,
    source: Source,
    mapping: Mapping | None,
    seen: dict[tuple[str, str], tuple[dict[str, Any], datetime | None]] | None = None,
) -> RenewOutcome:
    return renew_contract(
        session,
        contract=contract,
        email_message=email_message,
        quote_total_seen=quote_total_seen,
        purchase_order=purchase_order,
        source=source,
        mapping=mapping,
        seen=seen,
    )


def _still_waiting(session: Session, intent: models.RenewalIntent, reason: str) -> None:
    session.execute(
        update(models.RenewalIntent)
        .where(models.RenewalIntent.id == intent.id)
        .values(attempts=models.RenewalIntent.attempts + 1, reason=reason)
        .execution_options(synchronize_session=False)
    )
