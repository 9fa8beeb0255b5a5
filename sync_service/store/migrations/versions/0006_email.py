"""Emails the service sends (with their status machine), the suppression list, and the SNS deliveries of
SES bounce, complaint and delivery notifications.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reminder_id", sa.Integer(), nullable=True),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("rep_id", sa.Integer(), nullable=True),
        sa.Column("stage", sa.Integer(), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=True),
        sa.Column("brand", sa.String(length=40), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("ses_message_id", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("sending_at", UTC_DATETIME, nullable=True),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.Column("status_at", UTC_DATETIME, nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('reminder', 'rep_notice', 'confirmation', 'contact_request')",
            name=op.f("ck_email_messages_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'unknown', 'failed', 'skipped', 'delivered', 'bounced', "
            "'complained')",
            name=op.f("ck_email_messages_status"),
        ),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_email_messages_contact_id_contacts")),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_email_messages_contract_id_contracts")
        ),
        sa.ForeignKeyConstraint(
            ["reminder_id"], ["reminders.id"], name=op.f("fk_email_messages_reminder_id_reminders")
        ),
        sa.ForeignKeyConstraint(["rep_id"], ["reps.id"], name=op.f("fk_email_messages_rep_id_reps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_messages")),
        sa.UniqueConstraint("key", name=op.f("uq_email_messages_key")),
        sa.UniqueConstraint("nonce", name=op.f("uq_email_messages_nonce")),
        sa.UniqueConstraint("ses_message_id", name=op.f("uq_email_messages_ses_message_id")),
    )
    for column in ("reminder_id", "contract_id", "contact_id", "rep_id", "to_address"):
        op.create_index(op.f(f"ix_email_messages_{column}"), "email_messages", [column])
    op.create_index("ix_email_messages_status_created_at", "email_messages", ["status", "created_at"])

    op.create_table(
        "email_suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("email_message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "reason IN ('bounce', 'complaint', 'unsubscribe')", name=op.f("ck_email_suppressions_reason")
        ),
        sa.CheckConstraint("scope IN ('all', 'reminders')", name=op.f("ck_email_suppressions_scope")),
        sa.ForeignKeyConstraint(
            ["email_message_id"],
            ["email_messages.id"],
            name=op.f("fk_email_suppressions_email_message_id_email_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_suppressions")),
        sa.UniqueConstraint("address", name=op.f("uq_email_suppressions_address")),
    )

    op.create_table(
        "sns_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("topic_arn", sa.String(length=255), nullable=False),
        sa.Column("notification_type", sa.String(length=40), nullable=True),
        sa.Column("ses_message_id", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("received_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sns_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_sns_messages_message_id")),
    )
    op.create_index(op.f("ix_sns_messages_ses_message_id"), "sns_messages", ["ses_message_id"])


def downgrade() -> None:
    op.drop_table("sns_messages")
    op.drop_table("email_suppressions")
    op.drop_table("email_messages")
