"""Reminders: one row per contract and cadence stage, written by the planner.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# A frozen copy of the store's UTCDateTime as its database type (see 0001).
UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("segment", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("status IN ('planned', 'skipped', 'sent', 'cancelled')", name=op.f("ck_reminders_status")),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_reminders_contract_id_contracts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("contract_id", "offset_days", name=op.f("uq_reminders_contract_id_offset_days")),
    )
    op.create_index("ix_reminders_status_due_on", "reminders", ["status", "due_on"])


def downgrade() -> None:
    op.drop_index("ix_reminders_status_due_on", table_name="reminders")
    op.drop_table("reminders")
