"""AWB sender defaults per account and the AWB's eMAG ids on orders.

- ``emag_accounts.awb_sender``: the sender an AWB of the account uses unless the request gives
  one (``magflow.accounts.schemas.AwbSenderDefaults``).
- ``emag_orders.awb_emag_id`` / ``awb_reservation_id``: eMAG's ids of the order's AWB, to read
  its number back and to download its label (docs/emag-protocol.md, "AWBs and couriers").

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("emag_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("awb_sender", json_type, nullable=True))
    with op.batch_alter_table("emag_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("awb_emag_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("awb_reservation_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("emag_orders", schema=None) as batch_op:
        batch_op.drop_column("awb_reservation_id")
        batch_op.drop_column("awb_emag_id")
    with op.batch_alter_table("emag_accounts", schema=None) as batch_op:
        batch_op.drop_column("awb_sender")
