"""write-back to eMAG: audit log, bulk operations, returns, account stock buffer

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00

Hand-written; runs on SQLite (batch mode for the ALTER) and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("emag_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stock_buffer", sa.Integer(), server_default="0", nullable=False)
        )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_email", sa.String(length=320), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("account_name", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("emag_route", sa.String(length=128), nullable=False),
        sa.Column("http_method", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=True),
        sa.Column("request", _json(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.Column("messages", _json(), nullable=True),
        sa.Column("response", _json(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("bulk_operation_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_audit_log_account_created", ["account_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_audit_log_action", ["action"], unique=False)
        batch_op.create_index("ix_audit_log_user", ["user_id"], unique=False)

    op.create_table(
        "bulk_operations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_email", sa.String(length=320), nullable=True),
        sa.Column("total_items", sa.Integer(), nullable=False),
        sa.Column("invalid_items", sa.Integer(), nullable=False),
        sa.Column("pending_items", sa.Integer(), nullable=False),
        sa.Column("succeeded_items", sa.Integer(), nullable=False),
        sa.Column("failed_items", sa.Integer(), nullable=False),
        sa.Column("requests_sent", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_operations")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_bulk_operations_idempotency_key")),
    )
    with op.batch_alter_table("bulk_operations", schema=None) as batch_op:
        batch_op.create_index("ix_bulk_operations_created_at", ["created_at"], unique=False)

    op.create_table(
        "bulk_operation_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("account_ref", sa.String(length=64), nullable=True),
        sa.Column("offer_emag_id", sa.BigInteger(), nullable=True),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("changes", _json(), nullable=False),
        sa.Column("payload", _json(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("messages", _json(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["operation_id"],
            ["bulk_operations.id"],
            name=op.f("fk_bulk_operation_items_operation_id_bulk_operations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_operation_items")),
    )
    with op.batch_alter_table("bulk_operation_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bulk_operation_items_operation_status", ["operation_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_bulk_operation_items_operation_position",
            ["operation_id", "position"],
            unique=False,
        )

    op.create_table(
        "emag_returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("emag_id", sa.BigInteger(), nullable=False),
        sa.Column("order_emag_id", sa.BigInteger(), nullable=True),
        sa.Column("order_type", sa.Integer(), nullable=True),
        sa.Column("request_status", sa.Integer(), nullable=True),
        sa.Column("return_type", sa.Integer(), nullable=True),
        sa.Column("return_reason", sa.Integer(), nullable=True),
        sa.Column("pickup_method", sa.Integer(), nullable=True),
        sa.Column("customer_name", sa.String(length=255), nullable=True),
        sa.Column("products", _json(), nullable=True),
        sa.Column("return_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raw", _json(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_emag_returns_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emag_returns")),
        sa.UniqueConstraint(
            "account_id", "emag_id", name=op.f("uq_emag_returns_account_id_emag_id")
        ),
    )
    with op.batch_alter_table("emag_returns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_emag_returns_account_status", ["account_id", "request_status"], unique=False
        )
        batch_op.create_index("ix_emag_returns_order", ["order_emag_id"], unique=False)


def downgrade() -> None:
    op.drop_table("emag_returns")
    op.drop_table("bulk_operation_items")
    op.drop_table("bulk_operations")
    op.drop_table("audit_log")
    with op.batch_alter_table("emag_accounts", schema=None) as batch_op:
        batch_op.drop_column("stock_buffer")
