"""Index for listing orders newest first across accounts.

``GET /api/v1/emag/orders`` sorts by ``order_date DESC, id`` by default; without an account
filter ``ix_emag_orders_account_date`` cannot give that order, so every page sorted all orders.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_emag_orders_order_date", "emag_orders", ["order_date", "id"])


def downgrade() -> None:
    op.drop_index("ix_emag_orders_order_date", table_name="emag_orders")
