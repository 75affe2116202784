"""per-account eMAG warehouse id; customer spend per currency

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 23:30:00

Hand-written; runs on SQLite (batch mode for the ALTER) and PostgreSQL.

- ``emag_accounts.warehouse_id``: the warehouse the light offer API writes stock to; existing
  accounts get 1, the warehouse every account had before (docs/emag-protocol.md, "Offers").
- ``emag_customer_spend``: each customer's spend per account and currency, filled here from the
  stored orders; ``emag_customers.total_spent`` is then recomputed to count only the orders in the
  customer's currency (it used to add amounts in different currencies), and ``spent_orders``
  counts those orders.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Cancelled (0) and returned (5) orders bring no spend (docs/emag-protocol.md, "Orders").
_BACKFILL = """
INSERT INTO emag_customer_spend (customer_id, account_id, currency, orders_count, total_spent)
SELECT c.id, o.account_id, COALESCE(o.currency, 'XXX'), COUNT(*),
       COALESCE(SUM(COALESCE(o.total_with_vat, 0)), 0)
FROM emag_orders o JOIN emag_customers c ON c.customer_key = o.customer_key
WHERE o.status NOT IN (0, 5)
GROUP BY c.id, o.account_id, COALESCE(o.currency, 'XXX')
"""
_RECOMPUTE = """
UPDATE emag_customers SET
  total_spent = COALESCE((
    SELECT SUM(s.total_spent) FROM emag_customer_spend s
    WHERE s.customer_id = emag_customers.id
      AND s.currency = COALESCE(emag_customers.currency, 'XXX')), 0),
  spent_orders = COALESCE((
    SELECT SUM(s.orders_count) FROM emag_customer_spend s
    WHERE s.customer_id = emag_customers.id
      AND s.currency = COALESCE(emag_customers.currency, 'XXX')), 0)
"""


def upgrade() -> None:
    with op.batch_alter_table("emag_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("warehouse_id", sa.Integer(), server_default="1", nullable=False)
        )

    with op.batch_alter_table("emag_customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spent_orders", sa.Integer(), nullable=True))
    op.create_table(
        "emag_customer_spend",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("orders_count", sa.Integer(), nullable=False),
        sa.Column("total_spent", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_emag_customer_spend_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["emag_customers.id"],
            name=op.f("fk_emag_customer_spend_customer_id_emag_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emag_customer_spend")),
        sa.UniqueConstraint(
            "customer_id",
            "account_id",
            "currency",
            name=op.f("uq_emag_customer_spend_customer_id_account_id_currency"),
        ),
    )
    with op.batch_alter_table("emag_customer_spend", schema=None) as batch_op:
        batch_op.create_index("ix_emag_customer_spend_account", ["account_id"], unique=False)
    op.execute(_BACKFILL)
    op.execute(_RECOMPUTE)


def downgrade() -> None:
    # total_spent goes back to the sum over every currency, as before this revision.
    op.execute(
        "UPDATE emag_customers SET total_spent = COALESCE((SELECT SUM(s.total_spent) "
        "FROM emag_customer_spend s WHERE s.customer_id = emag_customers.id), 0)"
    )
    op.drop_table("emag_customer_spend")
    with op.batch_alter_table("emag_customers", schema=None) as batch_op:
        batch_op.drop_column("spent_orders")
    with op.batch_alter_table("emag_accounts", schema=None) as batch_op:
        batch_op.drop_column("warehouse_id")
