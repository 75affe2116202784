"""Bulk operations run through the job system: a durable claim per operation.

``worker_id`` + ``heartbeat_at`` are the claim of the process executing the operation (taken over
when the heartbeat goes stale); ``requested_by_*`` is who asked for the current run, so that a
run resumed by another process is audited in their name. Items gain the status ``sending``
(a string column: no schema change).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bulk_operations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("requested_by_email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("worker_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_bulk_operations_status", ["status"], unique=False)
    op.execute(
        "UPDATE bulk_operations SET requested_by_id = created_by_id, "
        "requested_by_email = created_by_email"
    )


def downgrade() -> None:
    op.execute("UPDATE bulk_operation_items SET status = 'pending' WHERE status = 'sending'")
    with op.batch_alter_table("bulk_operations", schema=None) as batch_op:
        batch_op.drop_index("ix_bulk_operations_status")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("worker_id")
        batch_op.drop_column("requested_by_email")
        batch_op.drop_column("requested_by_id")
