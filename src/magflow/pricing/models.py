"""The pricing tables: offer history, costs and commissions, repricing rules and decisions, and
the order lines the profit report reads (migration 0016)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, JSONType, TimestampMixin, utcnow

Money = Numeric(16, 4)
Rate = Numeric(8, 6)
# A big integer key on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class OfferHistory(Base):
    """One observed state of an offer, written by an offers sync only when one of the watched
    values differs from what the database held (or the offer is new).

    Keyed by (account, eMAG id) rather than the offer's row id so a page's history is written
    before its upsert (the comparison needs the old values) and survives a re-created offer.
    Rows older than ``MAGFLOW_PRICING_HISTORY_DAYS`` are deleted by the job maintenance.
    """

    __tablename__ = "pricing_offer_history"
    __table_args__ = (
        Index("ix_pricing_offer_history_offer", "account_id", "emag_id", "recorded_at"),
        Index("ix_pricing_offer_history_recorded_at", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    emag_id: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime]
    sale_price: Mapped[Decimal | None] = mapped_column(Money)
    stock_total: Mapped[int | None]
    buy_button_rank: Mapped[int | None]
    best_offer_sale_price: Mapped[Decimal | None] = mapped_column(Money)
    number_of_offers: Mapped[int | None]
    offer_validation_status: Mapped[int | None]
    validation_status: Mapped[int | None]


class OfferCost(Base):
    """The seller's unit cost of an offer (without VAT, in the offer's currency), and eMAG's
    commission estimate for it when eMAG's commission route answered."""

    __tablename__ = "pricing_offer_costs"
    __table_args__ = (UniqueConstraint("account_id", "emag_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    emag_id: Mapped[int] = mapped_column(BigInteger)
    unit_cost: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    emag_commission_rate: Mapped[Decimal | None] = mapped_column(Rate)
    emag_commission_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CategoryCommission(Base):
    """eMAG's commission for a category as the seller entered it (a fraction: 0.15 is 15 %)."""

    __tablename__ = "pricing_category_commissions"
    __table_args__ = (UniqueConstraint("account_id", "category_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    category_id: Mapped[int]
    rate: Mapped[Decimal] = mapped_column(Rate)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PricingSettings(Base):
    """Fixed costs per order of one account, in the account's currency, without VAT."""

    __tablename__ = "pricing_settings"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("emag_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    shipping_per_order: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    packaging_per_order: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    fbe_fee_per_order: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    default_commission_rate: Mapped[Decimal | None] = mapped_column(Rate)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Strategy(StrEnum):
    win = "win"  # undercut the best offer by ``step`` (win the Buy Button)
    match = "match"  # the best offer's price
    margin = "margin"  # the price that yields ``target_margin``


class Scope(StrEnum):
    offers = "offers"  # ``offer_ids``
    category = "category"
    brand = "brand"
    account = "account"  # every offer of the account


class PricingRule(TimestampMixin, Base):
    """A repricing rule of one account (see :mod:`magflow.pricing.rules`)."""

    __tablename__ = "pricing_rules"
    __table_args__ = (Index("ix_pricing_rules_account", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[int | None]
    brand: Mapped[str | None] = mapped_column(String(255))
    offer_ids: Mapped[list[int] | None] = mapped_column(JSONType)
    strategy: Mapped[str] = mapped_column(String(16))
    step: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.01"))
    min_margin: Mapped[Decimal] = mapped_column(Rate)
    target_margin: Mapped[Decimal | None] = mapped_column(Rate)
    cooldown_minutes: Mapped[int] = mapped_column(default=60)
    max_changes_per_day: Mapped[int] = mapped_column(default=10)
    stop_after_steps: Mapped[int] = mapped_column(default=5)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class RuleState(Base):
    """What the repricer remembers per offer: its changes today, the last one, the steps taken
    without winning, and a pause (after eMAG refused a price, or too many steps)."""

    __tablename__ = "pricing_rule_states"
    __table_args__ = (UniqueConstraint("account_id", "emag_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    emag_id: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[date | None] = mapped_column(Date)
    changes_today: Mapped[int] = mapped_column(default=0)
    last_change_at: Mapped[datetime | None]
    steps_without_win: Mapped[int] = mapped_column(default=0)
    paused_at: Mapped[datetime | None]
    paused_reason: Mapped[str | None] = mapped_column(Text)
    last_reason: Mapped[str | None] = mapped_column(String(64))


class RunStatus(StrEnum):
    running = "running"
    completed = "completed"
    stopped = "stopped"  # eMAG refused the requests (authentication, a whole chunk)
    failed = "failed"


class PricingRun(Base):
    """One evaluation of an account's rules: a dry run, or a live one whose changes went to eMAG
    as a bulk operation (``bulk_operation_id``)."""

    __tablename__ = "pricing_runs"
    __table_args__ = (Index("ix_pricing_runs_account", "account_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    evaluated: Mapped[int] = mapped_column(default=0)
    changes: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    bulk_operation_id: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class PricingDecision(Base):
    """One decision of the repricer for one offer, with its reason."""

    __tablename__ = "pricing_decisions"
    __table_args__ = (
        Index("ix_pricing_decisions_offer", "account_id", "emag_id", "decided_at"),
        Index("ix_pricing_decisions_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(ForeignKey("pricing_runs.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    emag_id: Mapped[int] = mapped_column(BigInteger)
    rule_id: Mapped[int | None]
    decided_at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(16))  # change, hold, skip
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str | None] = mapped_column(String(3))
    price_before: Mapped[Decimal | None] = mapped_column(Money)
    price_after: Mapped[Decimal | None] = mapped_column(Money)
    buy_button_rank: Mapped[int | None]
    best_offer_sale_price: Mapped[Decimal | None] = mapped_column(Money)
    floor: Mapped[Decimal | None] = mapped_column(Money)
    profit_after: Mapped[Decimal | None] = mapped_column(Money)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str | None] = mapped_column(String(16))  # sent, refused (live changes)
    messages: Mapped[list[str] | None] = mapped_column(JSONType)


class OrderLine(Base):
    """One sold order line as the profit report reads it, rebuilt from ``emag_orders`` whenever
    the order changed (see :mod:`magflow.pricing.profit`)."""

    __tablename__ = "pricing_order_lines"
    __table_args__ = (
        # Covers the report: on PostgreSQL a period's lines are read from the index alone.
        Index(
            "ix_pricing_order_lines_account_day",
            "account_id",
            "day",
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
        ),
        Index("ix_pricing_order_lines_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("emag_orders.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    emag_id: Mapped[int | None] = mapped_column(BigInteger)
    category_id: Mapped[int | None]
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[Decimal] = mapped_column(Money)
    revenue: Mapped[Decimal] = mapped_column(Money)
    cost: Mapped[Decimal | None] = mapped_column(Money)
    commission: Mapped[Decimal] = mapped_column(Money)
    shipping: Mapped[Decimal] = mapped_column(Money)
    deposit: Mapped[Decimal] = mapped_column(Money)
    profit: Mapped[Decimal | None] = mapped_column(Money)


class OrderLinesWatermark(Base):
    """Up to which ``emag_orders`` (``updated_at``, then ``id``) an account's order lines were
    rebuilt: a pair, since a whole sync page of orders shares one ``updated_at``."""

    __tablename__ = "pricing_order_watermarks"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("emag_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    updated_until: Mapped[datetime | None]
    last_order_id: Mapped[int] = mapped_column(default=0)
