"""Sync runs gain the status 'retrying': a pull that ended on a transient failure (a network blip, a 503 that
outlasted the quick retries). Unlike 'failed' it blocks nothing: the next scheduled tick pulls again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_constraint(op.f("ck_sync_runs_status"), type_="check")
        batch.create_check_constraint(
            op.f("ck_sync_runs_status"), "status IN ('running', 'succeeded', 'failed', 'paused', 'retrying')"
        )


def downgrade() -> None:
    # Before this revision a transient failure was recorded as a failure.
    op.execute("UPDATE sync_runs SET status = 'failed' WHERE status = 'retrying'")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_constraint(op.f("ck_sync_runs_status"), type_="check")
        batch.create_check_constraint(
            op.f("ck_sync_runs_status"), "status IN ('running', 'succeeded', 'failed', 'paused')"
        )
