"""Everything one email's templates need, read from the store once and frozen.

:func:`build_context` turns an :class:`~sync_service.store.models.EmailMessage` row (with its contract,
contact, rep and the contract's live renewal quote) into an :class:`EmailContext`: plain values, the signed
links of the email's kind, and the day it is written on. Rendering never touches the store, so the same
context renders the same email in a worker, in ``renewals preview`` and in the benchmark.

Links per kind:

==================  =====================================================================
reminder            renew, review, contact, quote, open (the pixel), unsubscribe
rep_notice          rep, quote
confirmation        review, quote
contact_request     rep
renewal_refused     contact, review
==================  =====================================================================

The quote link is left out when the contract has no live renewal quote with a document to download. The
renew link is left out of a reminder whose contract may not be renewed from the email now
(:mod:`sync_service.renewability`: the quote's status, approval or validity, a pending pricing request): the
email then offers the rep instead, and ``renew_refusal`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.orm import Session

from email_actions.mail.brands import Brand
from email_actions.mail.links import Links, Purpose
from email_actions.mail.rendering.formatting import normalise_locale
from mappings.model import Mapping as MappingModel
from sync_service.outbox.writeback import live_quote
from sync_service.renewability import active_rules, refusal
from sync_service.store import models

Kind = Literal["reminder", "rep_notice", "confirmation", "contact_request", "renewal_refused"]
Timing = Literal["before", "today", "after"]

LINK_PURPOSES: dict[str, tuple[Purpose, ...]] = {
    "reminder": ("renew", "review", "contact", "quote", "open", "unsubscribe"),
    "rep_notice": ("rep", "quote"),
    "confirmation": ("review", "quote"),
    "contact_request": ("rep",),
    "renewal_refused": ("contact", "review"),
}
# Kinds written to the rep rather than to the customer's contact.
REP_KINDS = frozenset({"rep_notice", "contact_request"})


@dataclass(frozen=True)
class EmailLine:
    """One line of the renewal quote, as the email lists it."""

    product: str
    product_line: str | None
    quantity: Decimal
    unit_price: Decimal | None
    net: Decimal | None


@dataclass(frozen=True)
class EmailContext:
    """The values one email is rendered from; templates see every field by its name."""

    kind: Kind
    message_id: int
    # The reminder's stage: days from the end date, negative before it (``None`` for other kinds).
    stage: int | None
    today: date
    brand: Brand
    locale: str
    # Who the email greets: the contact's first name for customer mail, the rep's name for rep mail.
    recipient_name: str
    contact_name: str
    contact_email: str | None
    customer_name: str
    reseller_name: str | None
    contract_number: str
    end_date: date | None
    auto_renew: bool
    amount: Decimal | None
    currency: str | None
    quote_number: str | None
    quote_total: Decimal | None
    quote_currency: str | None
    quote_valid_until: date | None
    lines: tuple[EmailLine, ...]
    rep_name: str | None
    rep_email: str | None
    # Purpose → signed URL; only the purposes of this kind (see the module's table).
    links: Mapping[str, str]
    public_base_url: str
    # Extras of the email by name, e.g. a contact request's ``message``, ``preferred_time``, ``channel``.
    data: Mapping[str, Any] = field(default_factory=dict)
    # Why the contract may not be renewed from the email now (a reminder then has no renew link), in the
    # customer's words; None when it may (sync_service.renewability).
    renew_refusal: str | None = None

    @property
    def days_to_end(self) -> int | None:
        """Days from ``today`` to the end date: positive before it, negative after it."""
        return (self.end_date - self.today).days if self.end_date is not None else None

    @property
    def timing(self) -> Timing | None:
        """``before``, ``today`` or ``after`` the end date (``None`` without one): what the wording follows."""
        days = self.days_to_end
        if days is None:
            return None
        return "before" if days > 0 else "today" if days == 0 else "after"

    @property
    def logo_url(self) -> str:
        """The brand's logo, served by the web app itself (no CDN)."""
        return f"{self.public_base_url}{self.brand.logo_path()}"

    def template_variables(self) -> dict[str, Any]:
        """The names templates see: every field, plus ``days_to_end``, ``days`` (its absolute value),
        ``timing`` and ``logo_url``."""
        values = {name: getattr(self, name) for name in _FIELD_NAMES}
        days = self.days_to_end
        values.update(days_to_end=days, days=abs(days) if days is not None else None)
        values.update(timing=self.timing, logo_url=self.logo_url)
        return values


_FIELD_NAMES = tuple(EmailContext.__dataclass_fields__)


def _name(first: str | None, last: str | None) -> str:
    return " ".join(part for part in (first, last) if part) or ""


# `rules` not given: build_context reads the active mapping's renewal rules itself.
READ_RULES: Any = object()


def build_context(
    session: Session,
    message: models.EmailMessage,
    *,
    brand: Brand,
    links: Links,
    today: date,
    rules: MappingModel | None = READ_RULES,
) -> EmailContext:
    """The context of ``message``; its ``id`` and ``nonce`` sign the links (flush a new row first).

    The locale is the message's, else the contact's, else ``en_US`` (also when it is no locale babel knows).
    ``rules`` is the active mapping (:func:`sync_service.renewability.active_rules`) when the caller read it
    once for many emails (a send batch); without it, it is read here.
    """
    if message.id is None:
        raise ValueError("the email message has no id yet: flush it before building its context")
    if message.kind not in LINK_PURPOSES:
        raise ValueError(f"unknown email kind {message.kind!r}")
    contract = message.contract
    contact = message.contact if message.contact is not None else contract.contact
    rep = message.rep if message.rep is not None else contract.rep
    quote = live_quote(session, contract)
    has_document = quote is not None and bool(quote.primary_document_sf_id or quote.documents)
    refused = None
    if message.kind == "reminder":
        refused = refusal(contract, quote, active_rules(session) if rules is READ_RULES else rules, today=today)
    purposes = tuple(
        p for p in LINK_PURPOSES[message.kind] if (p != "quote" or has_document) and (p != "renew" or refused is None)
    )
    contact_name = _name(contact.first_name, contact.last_name) if contact is not None else ""
    if message.kind in REP_KINDS:
        recipient_name = rep.name if rep is not None else ""
    else:
        recipient_name = (contact.first_name if contact is not None else None) or contact_name
    locale = normalise_locale(message.locale or (contact.locale if contact is not None else None))
    currency = contract.currency or (quote.currency if quote is not None else None) or contract.account.currency
    return EmailContext(
        kind=message.kind,  # type: ignore[arg-type]  # checked against LINK_PURPOSES above
        message_id=message.id,
        stage=message.stage,
        today=today,
        brand=brand,
        locale=locale,
        recipient_name=recipient_name,
        contact_name=contact_name,
        contact_email=contact.email if contact is not None else None,
        customer_name=contract.account.name,
        reseller_name=contract.reseller_account.name if contract.reseller_account is not None else None,
        contract_number=contract.number or contract.sf_id,
        end_date=contract.end_date,
        auto_renew=contract.auto_renew,
        amount=contract.amount,
        currency=currency,
        quote_number=quote.number if quote is not None else None,
        quote_total=quote.total if quote is not None else None,
        quote_currency=(quote.currency or currency) if quote is not None else None,
        quote_valid_until=quote.valid_until if quote is not None else None,
        lines=tuple(
            EmailLine(line.product, line.product_line, line.quantity, line.unit_price, line.net)
            for line in (sorted(quote.lines, key=lambda line: line.id or 0) if quote is not None else ())
        ),
        rep_name=rep.name if rep is not None else None,
        rep_email=rep.email if rep is not None else None,
        links=links.urls(message.id, message.nonce, purposes),
        public_base_url=links.base_url,
        data=dict(message.data or {}),
        renew_refusal=refused.message if refused is not None else None,
    )
