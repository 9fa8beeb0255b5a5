"""The customer's actions and what the links saw: email events with their bot label, renewals (one per
contract), contact requests, the audit log, and the rep portal's controls on contracts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sync_service.store.types import ExactDecimal, Money

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("status_flags", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("price_adjustment_pct", ExactDecimal(7, 2), nullable=True))
        batch.add_column(sa.Column("price_override", Money(), nullable=True))
        batch.add_column(sa.Column("price_override_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("contracts") as batch:
        batch.alter_column("status_flags", server_default=None)

    op.create_table(
        "email_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_message_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("occurred_at", UTC_DATETIME, nullable=False),
        sa.Column("seconds_since_sent", sa.Float(), nullable=True),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.CheckConstraint("kind IN ('open', 'click', 'download')", name=op.f("ck_email_events_kind")),
        sa.CheckConstraint("label IN ('human', 'machine')", name=op.f("ck_email_events_label")),
        sa.ForeignKeyConstraint(
            ["email_message_id"], ["email_messages.id"], name=op.f("fk_email_events_email_message_id_email_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_events")),
    )
    op.create_index("ix_email_events_email_message_id_occurred_at", "email_events", ["email_message_id", "occurred_at"])

    op.create_table(
        "renewals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=True),
        sa.Column("email_message_id", sa.Integer(), nullable=True),
        sa.Column("amount", Money(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("purchase_order", sa.String(length=80), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("renewed_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_renewals_contract_id_contracts")),
        sa.ForeignKeyConstraint(
            ["email_message_id"], ["email_messages.id"], name=op.f("fk_renewals_email_message_id_email_messages")
        ),
        sa.ForeignKeyConstraint(["quote_id"], ["renewal_quotes.id"], name=op.f("fk_renewals_quote_id_renewal_quotes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewals")),
        sa.UniqueConstraint("contract_id", name=op.f("uq_renewals_contract_id")),
    )

    op.create_table(
        "contact_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("email_message_id", sa.Integer(), nullable=True),
        sa.Column("form_nonce", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("preferred_time", sa.String(length=80), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_contact_requests_contract_id_contracts")
        ),
        sa.ForeignKeyConstraint(
            ["email_message_id"],
            ["email_messages.id"],
            name=op.f("fk_contact_requests_email_message_id_email_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_requests")),
        sa.UniqueConstraint("form_nonce", name=op.f("uq_contact_requests_form_nonce")),
    )
    op.create_index(op.f("ix_contact_requests_contract_id"), "contact_requests", ["contract_id"])

    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_audit_entries_contract_id_contracts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    op.create_index("ix_audit_entries_contract_id_at", "audit_entries", ["contract_id", "at"])


def downgrade() -> None:
    op.drop_table("audit_entries")
    op.drop_table("contact_requests")
    op.drop_table("renewals")
    op.drop_table("email_events")
    with op.batch_alter_table("contracts") as batch:
        for column in ("price_override_reason", "price_override", "price_adjustment_pct", "status_flags"):
            batch.drop_column(column)
