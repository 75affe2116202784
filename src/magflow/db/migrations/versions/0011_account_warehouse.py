"""per-account eMAG warehouse id for the light offer API's stock

Revision ID: 0011
Revises: 0008
Create Date: 2026-11-29 23:30:00

Hand-written; runs on SQLite (batch mode for the ALTER) and PostgreSQL. Existing accounts get 1,
the warehouse every account had before (docs/emag-protocol.md, "Offers").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("emag_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("warehouse_id", sa.Integer(), server_default="1", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("emag_accounts", schema=None) as batch_op:
        batch_op.drop_column("warehouse_id")
