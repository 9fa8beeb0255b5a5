"""Salesforce as the system of record: the renewal state read back from the org (the contact's opt-out, the
contract's renewed mark and how it was renewed, the quote's approval), a rep's pricing request waiting on the
quote, write conflicts (a field someone changed in Salesforce since the service saw it), renewal intents
(a Renew posted while the org did not answer), outbox rows that ended in a conflict, and the email telling a
customer why a renewal was refused.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sync_service.store.types import Money

UTC_DATETIME = sa.DateTime(timezone=True)

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "'reminder', 'rep_notice', 'confirmation', 'contact_request'"
_OUTBOX = "'pending', 'done', 'dead', 'discarded'"


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("email_opted_out", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("contacts") as batch:
        batch.alter_column("email_opted_out", server_default=None)
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("renewed_via", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("renewed_in_org", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("pricing_requested_at", UTC_DATETIME, nullable=True))
        batch.add_column(sa.Column("pricing_quote_stamp", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("contracts") as batch:
        batch.alter_column("renewed_in_org", server_default=None)
    # Renewals made before this revision were all made through the service; the renewals row says how.
    op.execute(
        "UPDATE contracts SET renewed_via = (SELECT source FROM renewals WHERE renewals.contract_id = contracts.id) "
        "WHERE renewed_at IS NOT NULL"
    )
    with op.batch_alter_table("renewal_quotes") as batch:
        batch.add_column(sa.Column("approval", sa.String(length=80), nullable=True))
    with op.batch_alter_table("outbox_items") as batch:
        batch.drop_constraint(op.f("ck_outbox_items_status"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_items_status"), f"status IN ({_OUTBOX}, 'conflict')")
    with op.batch_alter_table("email_messages") as batch:
        batch.drop_constraint(op.f("ck_email_messages_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_email_messages_kind"), f"kind IN ({_KINDS}, 'renewal_refused')")

    op.create_table(
        "write_conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_item_id", sa.Integer(), nullable=True),
        sa.Column("contract_id", sa.Integer(), nullable=True),
        sa.Column("sobject", sa.String(length=80), nullable=False),
        sa.Column("record_sf_id", sa.String(length=18), nullable=False),
        sa.Column("field", sa.String(length=80), nullable=False),
        sa.Column("seen", sa.JSON(), nullable=True),
        sa.Column("ours", sa.JSON(), nullable=True),
        sa.Column("theirs", sa.JSON(), nullable=True),
        sa.Column("detected_at", UTC_DATETIME, nullable=False),
        sa.Column("resolved_at", UTC_DATETIME, nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbox_item_id"], ["outbox_items.id"], name=op.f("fk_write_conflicts_outbox_item_id_outbox_items")
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_write_conflicts_contract_id_contracts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_conflicts")),
    )
    op.create_index(op.f("ix_write_conflicts_outbox_item_id"), "write_conflicts", ["outbox_item_id"])
    op.create_index(op.f("ix_write_conflicts_contract_id"), "write_conflicts", ["contract_id"])
    op.create_index("ix_write_conflicts_resolved_at_detected_at", "write_conflicts", ["resolved_at", "detected_at"])

    op.create_table(
        "renewal_intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("email_message_id", sa.Integer(), nullable=True),
        sa.Column("quote_total_seen", Money(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("purchase_order", sa.String(length=80), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("settled_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint("status IN ('pending', 'renewed', 'refused')", name=op.f("ck_renewal_intents_status")),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_renewal_intents_contract_id_contracts")
        ),
        sa.ForeignKeyConstraint(
            ["email_message_id"], ["email_messages.id"], name=op.f("fk_renewal_intents_email_message_id_email_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal_intents")),
        sa.UniqueConstraint("contract_id", name=op.f("uq_renewal_intents_contract_id")),
    )


def downgrade() -> None:
    op.drop_table("renewal_intents")
    op.drop_index("ix_write_conflicts_resolved_at_detected_at", table_name="write_conflicts")
    op.drop_index(op.f("ix_write_conflicts_contract_id"), table_name="write_conflicts")
    op.drop_index(op.f("ix_write_conflicts_outbox_item_id"), table_name="write_conflicts")
    op.drop_table("write_conflicts")
    op.execute("DELETE FROM email_messages WHERE kind = 'renewal_refused'")
    with op.batch_alter_table("email_messages") as batch:
        batch.drop_constraint(op.f("ck_email_messages_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_email_messages_kind"), f"kind IN ({_KINDS})")
    # A conflict was a write that did not land; before this revision that was a dead letter.
    op.execute("UPDATE outbox_items SET status = 'dead' WHERE status = 'conflict'")
    with op.batch_alter_table("outbox_items") as batch:
        batch.drop_constraint(op.f("ck_outbox_items_status"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_items_status"), f"status IN ({_OUTBOX})")
    with op.batch_alter_table("renewal_quotes") as batch:
        batch.drop_column("approval")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("pricing_quote_stamp")
        batch.drop_column("pricing_requested_at")
        batch.drop_column("renewed_in_org")
        batch.drop_column("renewed_via")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("email_opted_out")
