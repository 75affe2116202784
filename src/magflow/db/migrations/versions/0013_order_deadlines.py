"""Order deadlines and flags for the to-do list and seller performance.

``emag_orders`` gains ``maximum_date_for_shipment``, ``finalization_date``, ``late_shipment``,
``cancellation_requested`` (eMAG's fields, docs/emag-protocol.md, "Orders"), ``has_invoice`` (an
invoice attachment is on the order) and ``ack_observed_at`` (when a sync saw it leave status 1),
plus a partial index of finalized orders without an invoice. Existing rows keep nulls until a
sync reads them again (a null is "unknown" and never a to-do).

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("maximum_date_for_shipment", sa.DateTime(timezone=True)),
    ("finalization_date", sa.DateTime(timezone=True)),
    ("late_shipment", sa.Boolean()),
    ("cancellation_requested", sa.Boolean()),
    ("has_invoice", sa.Boolean()),
    ("ack_observed_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("emag_orders") as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.create_index(
        "ix_emag_orders_invoice_missing",
        "emag_orders",
        ["account_id", "finalization_date"],
        postgresql_where=sa.text("status = 4 AND has_invoice = false"),
        sqlite_where=sa.text("status = 4 AND has_invoice = 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_emag_orders_invoice_missing", table_name="emag_orders")
    with op.batch_alter_table("emag_orders") as batch:
        for name, _type in reversed(_COLUMNS):
            batch.drop_column(name)
