"""Partner reps sign in with a one-time code emailed to their address on file (issue 14, part 1): one row
per code sent, holding only the code's salted hash, the PKCE challenge of the browser that asked for it, the
address it was sent to, and when it expires, was used, or how often it was guessed wrong.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rep_sign_in_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rep_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("challenge", sa.String(length=64), nullable=False),
        sa.Column("email_message_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("used_at", UTC_DATETIME, nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("ses_message_id", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["rep_id"], ["reps.id"], name=op.f("fk_rep_sign_in_codes_rep_id_reps")),
        sa.ForeignKeyConstraint(
            ["email_message_id"],
            ["email_messages.id"],
            name=op.f("fk_rep_sign_in_codes_email_message_id_email_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rep_sign_in_codes")),
    )
    op.create_index("ix_rep_sign_in_codes_address_created_at", "rep_sign_in_codes", ["address", "created_at"])
    op.create_index(op.f("ix_rep_sign_in_codes_rep_id"), "rep_sign_in_codes", ["rep_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rep_sign_in_codes_rep_id"), table_name="rep_sign_in_codes")
    op.drop_index("ix_rep_sign_in_codes_address_created_at", table_name="rep_sign_in_codes")
    op.drop_table("rep_sign_in_codes")
