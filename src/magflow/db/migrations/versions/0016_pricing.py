"""Pricing (issue 16): offer history, unit costs and commissions, fixed costs per order,
repricing rules, their per-offer state, runs and decisions, and the order lines of the profit
report.

Revision ID: 0016
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pricing_category_commissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=8, scale=6), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_pricing_category_commissions_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_category_commissions")),
        sa.UniqueConstraint(
            "account_id",
            "category_id",
            name=op.f("uq_pricing_category_commissions_account_id_category_id"),
        ),
    )
    op.create_table(
        "pricing_offer_costs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("emag_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("emag_commission_rate", sa.Numeric(precision=8, scale=6), nullable=True),
        sa.Column("emag_commission_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_pricing_offer_costs_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_offer_costs")),
        sa.UniqueConstraint(
            "account_id", "emag_id", name=op.f("uq_pricing_offer_costs_account_id_emag_id")
        ),
    )
    op.create_table(
        "pricing_offer_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("emag_id", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sale_price", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("stock_total", sa.Integer(), nullable=True),
        sa.Column("buy_button_rank", sa.Integer(), nullable=True),
        sa.Column("best_offer_sale_price", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("number_of_offers", sa.Integer(), nullable=True),
        sa.Column("offer_validation_status", sa.Integer(), nullable=True),
        sa.Column("validation_status", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_pricing_offer_history_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_offer_history")),
    )
    with op.batch_alter_table("pricing_offer_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pricing_offer_history_offer", ["account_id", "emag_id", "recorded_at"], unique=False
        )
        batch_op.create_index("ix_pricing_offer_history_recorded_at", ["recorded_at"], unique=False)

    op.create_table(
        "pricing_order_watermarks",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("updated_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_order_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_pricing_order_watermarks_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_pricing_order_watermarks")),
    )
    op.create_table(
        "pricing_rule_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("emag_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("changes_today", sa.Integer(), nullable=False),
        sa.Column("last_change_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("steps_without_win", sa.Integer(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("last_reason", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_pricing_rule_states_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_rule_states")),
        sa.UniqueConstraint(
            "account_id", "emag_id", name=op.f("uq_pricing_rule_states_account_id_emag_id")
        ),
    )
    op.create_table(
        "pricing_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("brand", sa.String(length=255), nullable=True),
        sa.Column(
            "offer_ids",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("min_margin", sa.Numeric(precision=8, scale=6), nullable=False),
        sa.Column("target_margin", sa.Numeric(precision=8, scale=6), nullable=True),
        sa.Column("cooldown_minutes", sa.Integer(), nullable=False),
        sa.Column("max_changes_per_day", sa.Integer(), nullable=False),
        sa.Column("stop_after_steps", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_pricing_rules_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_rules")),
    )
    with op.batch_alter_table("pricing_rules", schema=None) as batch_op:
        batch_op.create_index("ix_pricing_rules_account", ["account_id"], unique=False)

    op.create_table(
        "pricing_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("bulk_operation_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_pricing_runs_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_runs")),
    )
    with op.batch_alter_table("pricing_runs", schema=None) as batch_op:
        batch_op.create_index("ix_pricing_runs_account", ["account_id", "started_at"], unique=False)

    op.create_table(
        "pricing_settings",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("shipping_per_order", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("packaging_per_order", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("fbe_fee_per_order", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("default_commission_rate", sa.Numeric(precision=8, scale=6), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_pricing_settings_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_pricing_settings")),
    )
    op.create_table(
        "pricing_decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("emag_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("price_before", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("price_after", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("buy_button_rank", sa.Integer(), nullable=True),
        sa.Column("best_offer_sale_price", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("floor", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("profit_after", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column(
            "messages",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_pricing_decisions_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["pricing_runs.id"],
            name=op.f("fk_pricing_decisions_run_id_pricing_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_decisions")),
    )
    with op.batch_alter_table("pricing_decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pricing_decisions_offer", ["account_id", "emag_id", "decided_at"], unique=False
        )
        batch_op.create_index("ix_pricing_decisions_run", ["run_id"], unique=False)

    op.create_table(
        "pricing_order_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("emag_id", sa.BigInteger(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("cost", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("commission", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("shipping", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("deposit", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("profit", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["emag_accounts.id"],
            name=op.f("fk_pricing_order_lines_account_id_emag_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["emag_orders.id"],
            name=op.f("fk_pricing_order_lines_order_id_emag_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_order_lines")),
    )
    with op.batch_alter_table("pricing_order_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pricing_order_lines_account_day",
            ["account_id", "day"],
            unique=False,
            postgresql_include=[
                "emag_id",
                "category_id",
                "currency",
                "quantity",
                "revenue",
                "cost",
                "commission",
                "shipping",
                "deposit",
                "profit",
            ],
        )
        batch_op.create_index("ix_pricing_order_lines_order", ["order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pricing_order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_pricing_order_lines_order")
        batch_op.drop_index("ix_pricing_order_lines_account_day")

    op.drop_table("pricing_order_lines")
    with op.batch_alter_table("pricing_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_pricing_decisions_run")
        batch_op.drop_index("ix_pricing_decisions_offer")

    op.drop_table("pricing_decisions")
    op.drop_table("pricing_settings")
    with op.batch_alter_table("pricing_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_pricing_runs_account")

    op.drop_table("pricing_runs")
    with op.batch_alter_table("pricing_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_pricing_rules_account")

    op.drop_table("pricing_rules")
    op.drop_table("pricing_rule_states")
    op.drop_table("pricing_order_watermarks")
    with op.batch_alter_table("pricing_offer_history", schema=None) as batch_op:
        batch_op.drop_index("ix_pricing_offer_history_recorded_at")
        batch_op.drop_index("ix_pricing_offer_history_offer")

    op.drop_table("pricing_offer_history")
    op.drop_table("pricing_offer_costs")
    op.drop_table("pricing_category_commissions")
