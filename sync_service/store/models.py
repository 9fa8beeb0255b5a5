"""The store's tables: a local copy of what the service needs from Salesforce, plus its own bookkeeping.

Rows pulled from Salesforce keep their 18-character Salesforce id in ``sf_id`` (unique) and the org's
``SystemModstamp`` they were read at, so incremental pulls and reconciles can tell what changed. Local
integer ids are what jobs pass around. Money is exact (:class:`~sync_service.store.types.Money`) and every
timestamp is an aware UTC datetime (:class:`~sync_service.store.types.UTCDateTime`).

The initial Alembic migration must match this module exactly; a test compares them on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, MetaData, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sync_service.store.types import ExactDecimal, Money, UTCDateTime

SF_ID = String(18)
CURRENCY = String(3)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        Decimal: Money(),
        dict[str, Any]: JSON(),
        str: String(255),
    }


class PulledFromSalesforce:
    """Columns every row copied from a Salesforce record carries."""

    sf_id: Mapped[str] = mapped_column(SF_ID, unique=True)
    sf_system_modstamp: Mapped[datetime | None]
    pulled_at: Mapped[datetime] = mapped_column(default=utcnow)


class Account(PulledFromSalesforce, Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    is_reseller: Mapped[bool] = mapped_column(default=False)
    currency: Mapped[str | None] = mapped_column(CURRENCY)
    is_deleted: Mapped[bool] = mapped_column(default=False)


class Contact(PulledFromSalesforce, Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    first_name: Mapped[str | None] = mapped_column(String(80))
    last_name: Mapped[str | None] = mapped_column(String(80))
    locale: Mapped[str | None] = mapped_column(String(16))
    # Set on a hard bounce, complaint or unsubscribe: nothing is emailed to this contact again.
    suppressed_at: Mapped[datetime | None]
    # The contact's email opt-out as Salesforce holds it (the mapping's `email_opt_out`, e.g.
    # HasOptedOutOfEmail), set by the pull: an opted-out contact gets no reminder.
    email_opted_out: Mapped[bool] = mapped_column(default=False)
    is_deleted: Mapped[bool] = mapped_column(default=False)

    account: Mapped[Account | None] = relationship()


class Rep(PulledFromSalesforce, Base):
    """A sales rep: the Salesforce User owning contracts, in-house or working for a reseller."""

    __tablename__ = "reps"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    email: Mapped[str | None] = mapped_column(String(320))
    reseller_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)

    reseller_account: Mapped[Account | None] = relationship()


class Contract(PulledFromSalesforce, Base):
    __tablename__ = "contracts"
    __table_args__ = (Index("ix_contracts_status_end_date", "status", "end_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    rep_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"), index=True)
    reseller_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    start_date: Mapped[date | None]
    end_date: Mapped[date | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(CURRENCY)
    auto_renew: Mapped[bool] = mapped_column(default=False)
    is_cancelled: Mapped[bool] = mapped_column(default=False)
    is_deleted: Mapped[bool] = mapped_column(default=False)
    renewed_at: Mapped[datetime | None]
    # How it was renewed: 'email' or 'portal' (the customer, through this service) or 'salesforce' (the org
    # says so: a renewal opportunity won, a quote accepted there); null while not renewed.
    renewed_via: Mapped[str | None] = mapped_column(String(20))
    # The contract's own renewed mark as pulled (the mapping's contract `renewed`, e.g. the renewal
    # opportunity's IsWon); the quote's status can say renewed too (the mapping's renewal.renewed_statuses).
    renewed_in_org: Mapped[bool] = mapped_column(default=False)
    # A rep can hold reminders for a contract (e.g. during a negotiation); held contracts get no email.
    is_held: Mapped[bool] = mapped_column(default=False)
    # Lookup ids the mapping's write-back needs (e.g. the renewal opportunity), by Salesforce field name.
    sf_links: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The rep portal's controls (audited in `audit_entries`, written back per the mapping's rep_controls).
    status_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_adjustment_pct: Mapped[Decimal | None] = mapped_column(ExactDecimal(7, 2))
    price_override: Mapped[Decimal | None]
    price_override_reason: Mapped[str | None] = mapped_column(Text)
    # A rep's pricing request (adjustment or override) waiting for the quote's owner: set when the rep asks,
    # with the live quote's SystemModstamp then; the customer's Renew waits until the quote changes in
    # Salesforce (its stamp moves) or the rep withdraws the request.
    pricing_requested_at: Mapped[datetime | None]
    pricing_quote_stamp: Mapped[datetime | None]

    account: Mapped[Account] = relationship(foreign_keys=[account_id])
    contact: Mapped[Contact | None] = relationship()
    rep: Mapped[Rep | None] = relationship()
    reseller_account: Mapped[Account | None] = relationship(foreign_keys=[reseller_account_id])
    quotes: Mapped[list[RenewalQuote]] = relationship(back_populates="contract")


class RenewalQuote(PulledFromSalesforce, Base):
    __tablename__ = "renewal_quotes"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    number: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str | None] = mapped_column(String(40))
    total: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(CURRENCY)
    valid_until: Mapped[date | None]
    # The quote's approval status, where the org approves quotes apart from their status (the mapping's
    # renewal_quote `approval`).
    approval: Mapped[str | None] = mapped_column(String(80))
    # The quote's primary PDF: which Salesforce record holds it, and when it was last generated there.
    primary_document_sf_id: Mapped[str | None] = mapped_column(SF_ID)
    document_generated_at: Mapped[datetime | None]
    is_deleted: Mapped[bool] = mapped_column(default=False)
    # The quote's own recipient, when the mapping names one; it overrides the contract's contact.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    sf_links: Mapped[dict[str, Any]] = mapped_column(default=dict)

    contract: Mapped[Contract] = relationship(back_populates="quotes")
    lines: Mapped[list[QuoteLine]] = relationship(back_populates="quote", cascade="all, delete-orphan")
    documents: Mapped[list[QuoteDocument]] = relationship(back_populates="quote", cascade="all, delete-orphan")


class QuoteLine(PulledFromSalesforce, Base):
    __tablename__ = "quote_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("renewal_quotes.id", ondelete="CASCADE"), index=True)
    product: Mapped[str]
    product_line: Mapped[str | None] = mapped_column(String(120))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(18, 4))
    unit_price: Mapped[Decimal | None]
    net: Mapped[Decimal | None]

    quote: Mapped[RenewalQuote] = relationship(back_populates="lines")


class QuoteDocument(PulledFromSalesforce, Base):
    """A quote PDF in Salesforce; the bytes stay there and are streamed on download."""

    __tablename__ = "quote_documents"
    __table_args__ = (CheckConstraint("source_object IN ('Document', 'ContentVersion')", name="source_object"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("renewal_quotes.id", ondelete="CASCADE"), index=True)
    source_object: Mapped[str] = mapped_column(String(20))
    title: Mapped[str]
    content_type: Mapped[str] = mapped_column(String(120), default="application/pdf")
    size: Mapped[int | None]
    # The record holding the bytes (a Document or ContentVersion id); `sf_id` is the mapped record itself.
    blob_sf_id: Mapped[str | None] = mapped_column(SF_ID)

    quote: Mapped[RenewalQuote] = relationship(back_populates="documents")


class MappingVersion(Base):
    """One saved version of a field mapping; admins' edits append versions, one is active per name."""

    __tablename__ = "mapping_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    version: Mapped[int]
    yaml: Mapped[str] = mapped_column(Text)
    author: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    is_active: Mapped[bool] = mapped_column(default=False)


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (
        CheckConstraint("kind IN ('full', 'incremental', 'reconcile', 'push')", name="kind"),
        CheckConstraint("status IN ('running', 'succeeded', 'failed', 'paused', 'retrying')", name="status"),
        Index("ix_sync_runs_mapping_name_started_at", "mapping_name", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mapping_name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # The largest SystemModstamp seen, where the next incremental pull starts.
    watermark: Mapped[datetime | None]
    rows: Mapped[dict[str, Any]] = mapped_column(default=dict)
    api_calls: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(20), default="running")
    error: Mapped[str | None] = mapped_column(Text)


class SyncState(Base):
    """Where the next incremental pull of one entity of one mapping starts: the largest SystemModstamp of the
    last complete pull of it (minus an overlap window when used)."""

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("mapping_name", "entity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mapping_name: Mapped[str] = mapped_column(String(80))
    entity: Mapped[str] = mapped_column(String(40))
    watermark: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiUsage(Base):
    """Salesforce API calls made per UTC day and job, counted against RENEWALS_API_DAILY_BUDGET."""

    __tablename__ = "api_usage"
    __table_args__ = (UniqueConstraint("day", "job_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date]
    job_name: Mapped[str] = mapped_column(String(120))
    calls: Mapped[int] = mapped_column(default=0)


class Reminder(Base):
    """One contract at one stage of the reminder cadence (``sync_service/planning/``).

    The stage is ``offset_days``: days from the contract's end date, negative before it, positive after.
    At most one row per contract and stage, so a planner that runs twice, or two at once, plans nothing
    twice. ``planned`` rows wait for the send job; ``skipped`` and ``cancelled`` ones say why in ``reason``.
    """

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("contract_id", "offset_days"),
        CheckConstraint("status IN ('planned', 'skipped', 'sent', 'cancelled')", name="status"),
        # The send job's question: which planned reminders are due?
        Index("ix_reminders_status_due_on", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"))
    offset_days: Mapped[int]
    due_on: Mapped[date]
    segment: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="planned")
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contract: Mapped[Contract] = relationship()


# The rows a partial index of outbox items holds (the same condition on either database).
_PENDING_ONLY = text("status = 'pending'")


class OutboxItem(Base):
    """One Salesforce write waiting to be pushed (``sync_service/outbox/``), committed with the event that
    causes it.

    ``key`` is the write's deterministic idempotency key (URL-safe: it travels in external-id URL paths and
    in the Task's Subject marker). A Task row is bounded: repeats of its event bump ``count`` and
    ``last_event_at`` and make it pending again. ``revision`` grows with every change, so a push that read
    an older revision does not mark a newer one done.
    """

    __tablename__ = "outbox_items"
    __table_args__ = (
        CheckConstraint("kind IN ('task', 'field_update')", name="kind"),
        CheckConstraint("status IN ('pending', 'done', 'dead', 'discarded', 'conflict')", name="status"),
        # The push's question: which pending items are due?
        Index("ix_outbox_items_status_next_attempt_at", "status", "next_attempt_at"),
        # A push's claim: the pending items of a kind, oldest first, without reading past the done ones.
        Index(
            "ix_outbox_items_pending_kind_id",
            "kind",
            "id",
            postgresql_where=_PENDING_ONLY,
            sqlite_where=_PENDING_ONLY,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    sobject: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    target_sf_id: Mapped[str | None] = mapped_column(SF_ID)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sf_id: Mapped[str | None] = mapped_column(SF_ID)
    count: Mapped[int] = mapped_column(default=1)
    last_event_at: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class SalesforceKey(Base):
    """Idempotency key → the Salesforce record it created, for orgs whose Task has no external-id field."""

    __tablename__ = "salesforce_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    sf_id: Mapped[str] = mapped_column(SF_ID)
    sobject: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


EMAIL_KINDS = ("reminder", "rep_notice", "confirmation", "contact_request", "renewal_refused")
EMAIL_STATUSES = ("queued", "sending", "sent", "unknown", "failed", "skipped", "delivered", "bounced", "complained")


def new_nonce() -> str:
    """A fresh random part for an email's signed links (:attr:`EmailMessage.nonce`): 128 random bits,
    URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


class EmailMessage(Base):
    """One email the service sends (``email_actions/sending/``): a reminder to the customer, the rep's notice,
    a renewal confirmation or a contact-request notice.

    ``key`` names the email deterministically (``reminder:<reminder id>``, ``rep_notice:<reminder id>``, …),
    so a job that runs twice finds the row instead of sending again. Status machine::

        queued ──► sending ──► sent ──► delivered
           │          │          ├────► bounced
           │          │          └────► complained
           │          ├──► failed    (SES refused it for good: a rejected address, an unverified sender)
           │          └──► unknown   (the send's outcome was lost: a timeout, a worker killed mid-send)
           └──► skipped   (nothing sent: no address, suppressed, a brand or template that cannot render)

    A row is moved to ``sending`` and committed *before* SES is called and is never sent again from there,
    so an email goes out at most once; ``unknown`` rows are listed for a person to check, not resent.
    ``nonce`` is the random part of the email's signed links: the actions dedupe on it, never on the token.
    """

    __tablename__ = "email_messages"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('reminder', 'rep_notice', 'confirmation', 'contact_request', 'renewal_refused')", name="kind"
        ),
        CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'unknown', 'failed', 'skipped', 'delivered', 'bounced', "
            "'complained')",
            name="status",
        ),
        Index("ix_email_messages_status_created_at", "status", "created_at"),
        # A contract's reminders and whether and when they left, from the index alone (the reports').
        Index("ix_email_messages_contract_id_kind_status_sent_at", "contract_id", "kind", "status", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminders.id"), index=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    rep_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"), index=True)
    # Days from the contract's end date for reminders (negative before it); none for other kinds.
    stage: Mapped[int | None]
    to_address: Mapped[str | None] = mapped_column(String(320), index=True)
    brand: Mapped[str | None] = mapped_column(String(40))
    locale: Mapped[str | None] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(255))
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    ses_message_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sending_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    status_at: Mapped[datetime | None]
    # Extra context of the email (e.g. the contact request's message), by name.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    contract: Mapped[Contract] = relationship()
    contact: Mapped[Contact | None] = relationship()
    rep: Mapped[Rep | None] = relationship()
    reminder: Mapped[Reminder | None] = relationship()


class EmailSuppression(Base):
    """An address the service must not email: after a hard bounce or a complaint (``scope`` ``all``), or an
    unsubscribe from reminders (``scope`` ``reminders``: confirmations and rep mail still go)."""

    __tablename__ = "email_suppressions"
    __table_args__ = (
        CheckConstraint("reason IN ('bounce', 'complaint', 'unsubscribe')", name="reason"),
        CheckConstraint("scope IN ('all', 'reminders')", name="scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)  # lower case
    reason: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    email_message_id: Mapped[int | None] = mapped_column(ForeignKey("email_messages.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SnsMessage(Base):
    """One verified SNS delivery to the bounce/complaint endpoint, kept once per SNS MessageId so a
    redelivery is recognised and ignored."""

    __tablename__ = "sns_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    topic_arn: Mapped[str] = mapped_column(String(255))
    # For SES notifications: Bounce, Complaint or Delivery, and the SES MessageId it is about.
    notification_type: Mapped[str | None] = mapped_column(String(40))
    ses_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailEvent(Base):
    """One hit on an email's link, pixel or download, kept raw (time, address, user agent, method) with the
    bot classification of the moment, so it can be reclassified later. A hit changes nothing by itself:
    actions happen on POSTs; only events labelled ``human`` become Tasks or count in reports."""

    __tablename__ = "email_events"
    __table_args__ = (
        CheckConstraint("kind IN ('open', 'click', 'download')", name="kind"),
        CheckConstraint("label IN ('human', 'machine')", name="label"),
        Index("ix_email_events_email_message_id_occurred_at", "email_message_id", "occurred_at"),
        # An email's human events and what they were, from the index alone (the reports').
        Index(
            "ix_email_events_email_message_id_label_kind_purpose_occurred_at",
            "email_message_id",
            "label",
            "kind",
            "purpose",
            "occurred_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_message_id: Mapped[int] = mapped_column(ForeignKey("email_messages.id"))
    kind: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))  # the link's purpose: renew, review, quote, open, ...
    method: Mapped[str] = mapped_column(String(10))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    seconds_since_sent: Mapped[float | None] = mapped_column(Float())
    label: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)


class LinkHit(Base):
    """A hit on an email's link, pixel or download as the request saw it, not yet classified: the one row a
    GET appends (``email_actions.web.act.link_events``), committed before the answer so no human open is lost.
    ``sync_service.link_hits.drain_hits`` turns pending rows into :class:`EmailEvent` rows (and the human ones
    into Task bumps) in id order and deletes them in the same transaction. No foreign key: the token names the
    email and its nonce; a hit whose email is gone or whose nonce does not match is dropped at the drain."""

    __tablename__ = "link_hits"
    __table_args__ = (CheckConstraint("kind IN ('open', 'click', 'download')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_message_id: Mapped[int] = mapped_column()
    nonce: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)
    prefetch: Mapped[bool] = mapped_column(default=False)
    occurred_at: Mapped[datetime] = mapped_column()


class Renewal(Base):
    """A contract renewed by its customer from an email or the portal: at most one per contract (the POST
    that renews sets ``contracts.renewed_at`` conditionally and inserts this row in the same transaction)."""

    __tablename__ = "renewals"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), unique=True)
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("renewal_quotes.id"))
    email_message_id: Mapped[int | None] = mapped_column(ForeignKey("email_messages.id"))
    amount: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(CURRENCY)
    purchase_order: Mapped[str | None] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(20))  # email or portal
    renewed_at: Mapped[datetime] = mapped_column(default=utcnow)

    contract: Mapped[Contract] = relationship()


class ContactRequest(Base):
    """A customer's request to be contacted by the rep; ``form_nonce`` (unique) makes a double submit of
    one form a single request."""

    __tablename__ = "contact_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    email_message_id: Mapped[int | None] = mapped_column(ForeignKey("email_messages.id"))
    form_nonce: Mapped[str] = mapped_column(String(32), unique=True)
    message: Mapped[str | None] = mapped_column(Text)
    preferred_time: Mapped[str | None] = mapped_column(String(80))
    channel: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who changed what, when: rep portal controls, admin edits. ``before``/``after`` hold the changed values."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_contract_id_at", "contract_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(120))  # e.g. "rep:005...", "admin:alice"
    action: Mapped[str] = mapped_column(String(80))
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"))
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


ADMIN_ROLES = ("admin", "viewer")


class AdminUser(Base):
    """A person who signs in to the admin console: a local account (``renewals admin create-user``, its password
    kept only as an Argon2id hash) or a Salesforce user who signed in with Salesforce (``salesforce_user_id``, the
    18-character id; no password, the role recomputed from the console's rules at every such sign-in).
    ``admin`` edits, ``viewer`` reads."""

    __tablename__ = "admin_users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'viewer')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)  # lower case
    password_hash: Mapped[str | None] = mapped_column(Text)  # None: cannot sign in with a password
    salesforce_user_id: Mapped[str | None] = mapped_column(String(18), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    is_disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class AdminSession(Base):
    """One sign-in to the console. The browser holds a random token; only its SHA-256 is kept here, so a
    copy of the store signs nobody in. Signing out (or disabling the user) ends every use of the token."""

    __tablename__ = "admin_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(45))

    user: Mapped[AdminUser] = relationship()


class ConsoleSetting(Base):
    """A setting an admin changed in the console (the cadence, the brands, the API budget, the bot rules).
    It overrides the file or environment default it names until it is reset; every change is audited."""

    __tablename__ = "console_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WriteConflict(Base):
    """A field the service was to write that someone changed in Salesforce since the service last saw it:
    Salesforce's value stays, and this row shows both (the console lists the open ones; the rep gets a Task).

    ``seen`` is the value the service last saw, ``ours`` the one it was to write, ``theirs`` the one the org
    holds now (JSON values, as Salesforce gives them). ``resolved_at`` is set when a person deals with it.
    """

    __tablename__ = "write_conflicts"
    __table_args__ = (Index("ix_write_conflicts_resolved_at_detected_at", "resolved_at", "detected_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_item_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_items.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"), index=True)
    sobject: Mapped[str] = mapped_column(String(80))
    record_sf_id: Mapped[str] = mapped_column(SF_ID)
    field: Mapped[str] = mapped_column(String(80))
    seen: Mapped[Any] = mapped_column(JSON, nullable=True)
    ours: Mapped[Any] = mapped_column(JSON, nullable=True)
    theirs: Mapped[Any] = mapped_column(JSON, nullable=True)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolution: Mapped[str | None] = mapped_column(Text)


class RenewalIntent(Base):
    """A customer's confirmed Renew that could not be checked against the org when it was posted (the org did
    not answer): kept so it completes, or is refused with an email saying why, once the org answers. One open
    intent per contract (``contract_id`` unique); ``status`` moves pending → renewed | refused."""

    __tablename__ = "renewal_intents"
    __table_args__ = (CheckConstraint("status IN ('pending', 'renewed', 'refused')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), unique=True)
    email_message_id: Mapped[int | None] = mapped_column(ForeignKey("email_messages.id"))
    quote_total_seen: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(CURRENCY)
    purchase_order: Mapped[str | None] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(20))  # email or portal
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]

    contract: Mapped[Contract] = relationship()


class RepSignInCode(Base):
    """A one-time sign-in code emailed to a partner rep's address on file (issue 14). Only a salted SHA-256 of
    the code is kept; ``challenge`` is the PKCE S256 challenge of the browser that asked for it (only that
    browser can use the code), ``address`` the address it went to (a code is good only for the rep at that
    address). Used once (``used_at``), dead after ``expires_at`` or too many wrong guesses."""

    __tablename__ = "rep_sign_in_codes"
    __table_args__ = (Index("ix_rep_sign_in_codes_address_created_at", "address", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rep_id: Mapped[int] = mapped_column(ForeignKey("reps.id"), index=True)
    address: Mapped[str] = mapped_column(String(320))
    code_hash: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(32))
    challenge: Mapped[str] = mapped_column(String(64))
    email_message_id: Mapped[int | None] = mapped_column(ForeignKey("email_messages.id"))
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    failed_attempts: Mapped[int] = mapped_column(default=0)
    ses_message_id: Mapped[str | None] = mapped_column(String(100))

    rep: Mapped[Rep] = relationship()
