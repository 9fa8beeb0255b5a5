"""Link hits appended raw (issue 15, web): a GET on an email's pixel or link appends one ``link_hits`` row in a
short write transaction, and a drain (at the start of every push) classifies pending rows into
``email_events`` and Task bumps in batches, deleting them as it goes. No foreign key: a hit is kept whatever
the store knows, and checked against its email at the drain.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_message_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("prefetch", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('open', 'click', 'download')", name=op.f("ck_link_hits_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_hits")),
    )


def downgrade() -> None:
    # Pending hits not yet drained are lost with the table: drain first (a push) when that matters.
    op.drop_table("link_hits")
