"""Invoicing: per-account settings, the built-in provider's series counters, and one row per
(order, kind) of document (invoice or credit note).

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "invoicing_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("series", sa.String(length=16), nullable=False),
        sa.Column("credit_series", sa.String(length=16), nullable=True),
        sa.Column("seller_name", sa.String(length=255), nullable=False),
        sa.Column("seller_cui", sa.String(length=16), nullable=False),
        sa.Column("seller_reg_no", sa.String(length=64), nullable=True),
        sa.Column("seller_address", sa.String(length=255), nullable=True),
        sa.Column("seller_city", sa.String(length=128), nullable=True),
        sa.Column("seller_county", sa.String(length=128), nullable=True),
        sa.Column("seller_country", sa.String(length=2), nullable=False),
        sa.Column("seller_iban", sa.String(length=64), nullable=True),
        sa.Column("vat_payer", sa.Boolean(), nullable=False),
        sa.Column("public_base_url", sa.String(length=512), nullable=True),
        sa.Column("provider_base_url", sa.String(length=512), nullable=True),
        sa.Column("credentials_encrypted", sa.LargeBinary(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_invoicing_settings_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoicing_settings")),
        sa.UniqueConstraint("account_id", name=op.f("uq_invoicing_settings_account_id")),
    )
    op.create_table(
        "invoice_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("series", sa.String(length=16), nullable=False),
        sa.Column("next_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_invoice_series_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_series")),
        sa.UniqueConstraint(
            "account_id", "series", name=op.f("uq_invoice_series_account_id_series")
        ),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failed_step", sa.String(length=16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("series", sa.String(length=16), nullable=True),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("expected_number", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("total", sa.Numeric(16, 2), nullable=True),
        sa.Column("document", JSONType, nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("xml", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=True),
        sa.Column("attached_at", UTCDateTime(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_invoices_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["emag_orders.id"],
            name=op.f("fk_invoices_order_id_emag_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("order_id", "kind", name=op.f("uq_invoices_order_id_kind")),
        sa.UniqueConstraint("reference", name=op.f("uq_invoices_reference")),
        sa.UniqueConstraint("token", name=op.f("uq_invoices_token")),
    )
    op.create_index("ix_invoices_account_state", "invoices", ["account_id", "state"])
    op.create_index("ix_invoices_issued_at", "invoices", ["issued_at"])


def downgrade() -> None:
    op.drop_index("ix_invoices_issued_at", table_name="invoices")
    op.drop_index("ix_invoices_account_state", table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("invoice_series")
    op.drop_table("invoicing_settings")
