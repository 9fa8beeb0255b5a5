"""Pull state: per-entity watermarks, write-back lookup ids, quote recipients, document blob ids, and a
'paused' sync run status (the API reserve was reached).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)
EMPTY_JSON = sa.text("'{}'")

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mapping_name", sa.String(length=80), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("watermark", UTC_DATETIME, nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
        sa.UniqueConstraint("mapping_name", "entity", name=op.f("uq_sync_state_mapping_name_entity")),
    )
    # Existing rows get an empty JSON object; new rows always set the column, so the default goes again.
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("sf_links", sa.JSON(), nullable=False, server_default=EMPTY_JSON))
    with op.batch_alter_table("contracts") as batch:
        batch.alter_column("sf_links", server_default=None)
    with op.batch_alter_table("renewal_quotes") as batch:
        batch.add_column(sa.Column("sf_links", sa.JSON(), nullable=False, server_default=EMPTY_JSON))
        batch.add_column(sa.Column("contact_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_renewal_quotes_contact_id_contacts"), "contacts", ["contact_id"], ["id"])
        batch.create_index(op.f("ix_renewal_quotes_contact_id"), ["contact_id"])
    with op.batch_alter_table("renewal_quotes") as batch:
        batch.alter_column("sf_links", server_default=None)
    with op.batch_alter_table("quote_documents") as batch:
        batch.add_column(sa.Column("blob_sf_id", sa.String(length=18), nullable=True))
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_constraint(op.f("ck_sync_runs_status"), type_="check")
        batch.create_check_constraint(
            op.f("ck_sync_runs_status"), "status IN ('running', 'succeeded', 'failed', 'paused')"
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_constraint(op.f("ck_sync_runs_status"), type_="check")
        batch.create_check_constraint(op.f("ck_sync_runs_status"), "status IN ('running', 'succeeded', 'failed')")
    with op.batch_alter_table("quote_documents") as batch:
        batch.drop_column("blob_sf_id")
    with op.batch_alter_table("renewal_quotes") as batch:
        batch.drop_index(op.f("ix_renewal_quotes_contact_id"))
        batch.drop_constraint(op.f("fk_renewal_quotes_contact_id_contacts"), type_="foreignkey")
        batch.drop_column("contact_id")
        batch.drop_column("sf_links")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("sf_links")
    op.drop_table("sync_state")
