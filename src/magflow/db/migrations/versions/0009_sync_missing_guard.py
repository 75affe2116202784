"""The missing-offers guard: ``emag_sync_logs.warning``, ``withheld_offer_ids``,
``missing_confirmed_at``, ``missing_confirmed_by``.

A complete offers run that would mark more than ``MAGFLOW_MISSING_GUARD_SHARE`` of an account's
offers missing, or that cannot tell whether it read every offer (eMAG's ``count`` was unreadable,
or more than the pages gave), marks nothing: it records why in ``warning`` and the offers it
withheld in ``withheld_offer_ids``, until an operator confirms them
(docs/architecture.md, "A sync run").

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("emag_sync_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warning", _json, nullable=True))
        batch_op.add_column(sa.Column("withheld_offer_ids", _json, nullable=True))
        batch_op.add_column(
            sa.Column("missing_confirmed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("missing_confirmed_by", sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("emag_sync_logs", schema=None) as batch_op:
        batch_op.drop_column("missing_confirmed_by")
        batch_op.drop_column("missing_confirmed_at")
        batch_op.drop_column("withheld_offer_ids")
        batch_op.drop_column("warning")
