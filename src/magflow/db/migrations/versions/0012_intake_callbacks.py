"""Order intake: eMAG callbacks and auto-acknowledgement.

Accounts get ``auto_acknowledge`` and their callback secret (encrypted, and hashed for lookup);
``emag_order_intake`` holds one row per (account, order) announced by a callback or the catch-up
poll; ``emag_intake_polls`` when each account was last polled (see ``magflow.intake``).

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("emag_accounts") as batch:
        batch.add_column(
            sa.Column("auto_acknowledge", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("callback_secret_encrypted", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("callback_secret_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_emag_accounts_callback_secret_hash"), ["callback_secret_hash"]
        )
    op.create_table(
        "emag_order_intake",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("emag_order_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_emag_order_intake_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emag_order_intake")),
        sa.UniqueConstraint(
            "account_id",
            "emag_order_id",
            name=op.f("uq_emag_order_intake_account_id_emag_order_id"),
        ),
    )
    op.create_index(
        "ix_emag_order_intake_state_due", "emag_order_intake", ["state", "next_attempt_at"]
    )
    op.create_table(
        "emag_intake_polls",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_emag_intake_polls_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_emag_intake_polls")),
    )


def downgrade() -> None:
    op.drop_table("emag_intake_polls")
    op.drop_index("ix_emag_order_intake_state_due", table_name="emag_order_intake")
    op.drop_table("emag_order_intake")
    with op.batch_alter_table("emag_accounts") as batch:
        batch.drop_constraint(op.f("uq_emag_accounts_callback_secret_hash"), type_="unique")
        batch.drop_column("callback_secret_hash")
        batch.drop_column("callback_secret_encrypted")
        batch.drop_column("auto_acknowledge")
