"""The transactional outbox of Salesforce writes, and the key → Salesforce id table for orgs whose Task has
no external-id field.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sobject", sa.String(length=80), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("target_sf_id", sa.String(length=18), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_event_at", UTC_DATETIME, nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("done_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint("kind IN ('task', 'field_update')", name=op.f("ck_outbox_items_kind")),
        sa.CheckConstraint("status IN ('pending', 'done', 'dead', 'discarded')", name=op.f("ck_outbox_items_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_items")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_items_key")),
    )
    op.create_index("ix_outbox_items_status_next_attempt_at", "outbox_items", ["status", "next_attempt_at"])
    op.create_table(
        "salesforce_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("sobject", sa.String(length=80), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_salesforce_keys")),
        sa.UniqueConstraint("key", name=op.f("uq_salesforce_keys_key")),
    )


def downgrade() -> None:
    op.drop_table("salesforce_keys")
    op.drop_index("ix_outbox_items_status_next_attempt_at", table_name="outbox_items")
    op.drop_table("outbox_items")
