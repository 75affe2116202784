"""Compress the stored eMAG payloads with lz4 on PostgreSQL.

A stored order (its raw payload, lines, customer) is past PostgreSQL's 2 kB TOAST threshold, so
every write compresses it; lz4 does that several times faster than the default pglz, which was
a quarter of the database's time in an orders sync (bench/README.md). Servers built without lz4
(or older than PostgreSQL 14) keep pglz; SQLite has no such setting. Values already stored keep
their compression until rewritten, which the next sync does.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAYLOAD_COLUMNS = {
    "emag_orders": (
        "raw",
        "customer",
        "products",
        "vouchers",
        "details",
        "attachments",
        "status_history",
    ),
    "emag_products_v2": ("raw", "images", "stock", "ean"),
}


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    return bool(
        bind.execute(
            sa.text(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                "WHERE name = 'default_toast_compression'"
            )
        ).scalar()
    )


def _set_compression(method: str) -> None:
    for table, columns in PAYLOAD_COLUMNS.items():
        for column in columns:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    if _lz4_available():
        _set_compression("lz4")


def downgrade() -> None:
    if _lz4_available():
        _set_compression("default")
