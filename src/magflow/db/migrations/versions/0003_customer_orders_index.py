"""Index for sorting customers by order count.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_emag_customers_orders_count", "emag_customers", ["orders_count"])


def downgrade() -> None:
    op.drop_index("ix_emag_customers_orders_count", table_name="emag_customers")
