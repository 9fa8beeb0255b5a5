"""The admin console's users may sign in with Salesforce (issue 14, part 2): such a user is linked to their
Salesforce user by its 18-character id (unique) and has no password.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("admin_users") as batch:
        batch.add_column(sa.Column("salesforce_user_id", sa.String(length=18), nullable=True))
        batch.create_unique_constraint(op.f("uq_admin_users_salesforce_user_id"), ["salesforce_user_id"])
        batch.alter_column("password_hash", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    # Users who only ever signed in with Salesforce have no password: they go, with their sessions (the audit
    # log names its actors by user name, so it keeps what they did).
    op.execute("DELETE FROM admin_sessions WHERE user_id IN (SELECT id FROM admin_users WHERE password_hash IS NULL)")
    op.execute("DELETE FROM admin_users WHERE password_hash IS NULL")
    with op.batch_alter_table("admin_users") as batch:
        batch.alter_column("password_hash", existing_type=sa.Text(), nullable=False)
        batch.drop_constraint(op.f("uq_admin_users_salesforce_user_id"), type_="unique")
        batch.drop_column("salesforce_user_id")
