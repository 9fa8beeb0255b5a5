"""Pushes to Salesforce are recorded as sync runs of kind 'push', so their status (paused at the API reserve,
failed sign-in) is visible like a pull's.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_constraint(op.f("ck_sync_runs_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_sync_runs_kind"), "kind IN ('full', 'incremental', 'reconcile', 'push')")


def downgrade() -> None:
    op.execute("DELETE FROM sync_runs WHERE kind = 'push'")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_constraint(op.f("ck_sync_runs_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_sync_runs_kind"), "kind IN ('full', 'incremental', 'reconcile')")
