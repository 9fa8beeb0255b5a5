"""Indexes for the console's reports (``sync_service/reports/``), which follow every contract to its
reminder emails and their human events:

- ``email_messages (contract_id, kind, status, sent_at)`` replaces the index on ``contract_id`` alone (it
  answers the same lookups): a contract's reminders, and which of them left and when, read from the index;
- ``email_events (email_message_id, label, kind, purpose, occurred_at)``: an email's human events and what
  they were, read from the index (the one on ``email_message_id, occurred_at`` stays for the classifier's
  "recent hits").

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGES_INDEX = "ix_email_messages_contract_id_kind_status_sent_at"
EVENTS_INDEX = "ix_email_events_email_message_id_label_kind_purpose_occurred_at"


def upgrade() -> None:
    op.create_index(MESSAGES_INDEX, "email_messages", ["contract_id", "kind", "status", "sent_at"])
    op.drop_index("ix_email_messages_contract_id", table_name="email_messages")
    op.create_index(EVENTS_INDEX, "email_events", ["email_message_id", "label", "kind", "purpose", "occurred_at"])


def downgrade() -> None:
    op.drop_index(EVENTS_INDEX, table_name="email_events")
    op.create_index("ix_email_messages_contract_id", "email_messages", ["contract_id"])
    op.drop_index(MESSAGES_INDEX, table_name="email_messages")
