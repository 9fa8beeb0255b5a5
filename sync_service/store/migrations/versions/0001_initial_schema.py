"""Initial schema: Salesforce copies (accounts ... quote documents) and bookkeeping.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Frozen copies of the store's column types (sync_service/store/types.py) as their database types, so this
# migration never changes when the application code does. Money is cents in a BIGINT on SQLite, which has
# no exact decimal; aware UTC timestamps are TIMESTAMP WITH TIME ZONE on PostgreSQL.
UTC_DATETIME = sa.DateTime(timezone=True)
MONEY = sa.Numeric(18, 2).with_variant(sa.BigInteger(), "sqlite")
QUANTITY = sa.Numeric(18, 4).with_variant(sa.BigInteger(), "sqlite")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_reseller", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("sf_system_modstamp", UTC_DATETIME, nullable=True),
        sa.Column("pulled_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("sf_id", name=op.f("uq_accounts_sf_id")),
    )
    op.create_table(
        "api_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("job_name", sa.String(length=120), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_usage")),
        sa.UniqueConstraint("day", "job_name", name=op.f("uq_api_usage_day_job_name")),
    )
    op.create_table(
        "mapping_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mapping_versions")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_mapping_versions_name_version")),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mapping_name", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.Column("watermark", UTC_DATETIME, nullable=True),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('full', 'incremental', 'reconcile')", name=op.f("ck_sync_runs_kind")),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f("ck_sync_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index("ix_sync_runs_mapping_name_started_at", "sync_runs", ["mapping_name", "started_at"])

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("first_name", sa.String(length=80), nullable=True),
        sa.Column("last_name", sa.String(length=80), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("suppressed_at", UTC_DATETIME, nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("sf_system_modstamp", UTC_DATETIME, nullable=True),
        sa.Column("pulled_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_contacts_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("sf_id", name=op.f("uq_contacts_sf_id")),
    )
    op.create_index(op.f("ix_contacts_account_id"), "contacts", ["account_id"])
    op.create_index(op.f("ix_contacts_email"), "contacts", ["email"])

    op.create_table(
        "reps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("reseller_account_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("sf_system_modstamp", UTC_DATETIME, nullable=True),
        sa.Column("pulled_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["reseller_account_id"], ["accounts.id"], name=op.f("fk_reps_reseller_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reps")),
        sa.UniqueConstraint("sf_id", name=op.f("uq_reps_sf_id")),
    )
    op.create_index(op.f("ix_reps_reseller_account_id"), "reps", ["reseller_account_id"])

    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("rep_id", sa.Integer(), nullable=True),
        sa.Column("reseller_account_id", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("amount", MONEY, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("is_cancelled", sa.Boolean(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("renewed_at", UTC_DATETIME, nullable=True),
        sa.Column("is_held", sa.Boolean(), nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("sf_system_modstamp", UTC_DATETIME, nullable=True),
        sa.Column("pulled_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_contracts_account_id_accounts")),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_contracts_contact_id_contacts")),
        sa.ForeignKeyConstraint(["rep_id"], ["reps.id"], name=op.f("fk_contracts_rep_id_reps")),
        sa.ForeignKeyConstraint(
            ["reseller_account_id"], ["accounts.id"], name=op.f("fk_contracts_reseller_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("sf_id", name=op.f("uq_contracts_sf_id")),
    )
    op.create_index(op.f("ix_contracts_account_id"), "contracts", ["account_id"])
    op.create_index(op.f("ix_contracts_contact_id"), "contracts", ["contact_id"])
    op.create_index(op.f("ix_contracts_end_date"), "contracts", ["end_date"])
    op.create_index(op.f("ix_contracts_rep_id"), "contracts", ["rep_id"])
    op.create_index(op.f("ix_contracts_reseller_account_id"), "contracts", ["reseller_account_id"])
    op.create_index("ix_contracts_status_end_date", "contracts", ["status", "end_date"])

    op.create_table(
        "renewal_quotes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("total", MONEY, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("primary_document_sf_id", sa.String(length=18), nullable=True),
        sa.Column("document_generated_at", UTC_DATETIME, nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("sf_system_modstamp", UTC_DATETIME, nullable=True),
        sa.Column("pulled_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_renewal_quotes_contract_id_contracts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal_quotes")),
        sa.UniqueConstraint("sf_id", name=op.f("uq_renewal_quotes_sf_id")),
    )
    op.create_index(op.f("ix_renewal_quotes_contract_id"), "renewal_quotes", ["contract_id"])

    op.create_table(
        "quote_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=False),
        sa.Column("source_object", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("sf_system_modstamp", UTC_DATETIME, nullable=True),
        sa.Column("pulled_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "source_object IN ('Document', 'ContentVersion')", name=op.f("ck_quote_documents_source_object")
        ),
        sa.ForeignKeyConstraint(
            ["quote_id"],
            ["renewal_quotes.id"],
            name=op.f("fk_quote_documents_quote_id_renewal_quotes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quote_documents")),
        sa.UniqueConstraint("sf_id", name=op.f("uq_quote_documents_sf_id")),
    )
    op.create_index(op.f("ix_quote_documents_quote_id"), "quote_documents", ["quote_id"])

    op.create_table(
        "quote_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=255), nullable=False),
        sa.Column("product_line", sa.String(length=120), nullable=True),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("unit_price", MONEY, nullable=True),
        sa.Column("net", MONEY, nullable=True),
        sa.Column("sf_id", sa.String(length=18), nullable=False),
        sa.Column("sf_system_modstamp", UTC_DATETIME, nullable=True),
        sa.Column("pulled_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["quote_id"], ["renewal_quotes.id"], name=op.f("fk_quote_lines_quote_id_renewal_quotes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quote_lines")),
        sa.UniqueConstraint("sf_id", name=op.f("uq_quote_lines_sf_id")),
    )
    op.create_index(op.f("ix_quote_lines_quote_id"), "quote_lines", ["quote_id"])


def downgrade() -> None:
    op.drop_table("quote_lines")
    op.drop_table("quote_documents")
    op.drop_table("renewal_quotes")
    op.drop_table("contracts")
    op.drop_table("reps")
    op.drop_table("contacts")
    op.drop_table("sync_runs")
    op.drop_table("mapping_versions")
    op.drop_table("api_usage")
    op.drop_table("accounts")
