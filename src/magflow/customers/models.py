"""Customers derived from orders, maintained by the sync engine page by page.

eMAG has no customer resource: a customer is whoever appears in ``order.customer``
(docs/emag-protocol.md, "Orders"). The aggregates here are kept by *deltas*: when an order is
written, its previous contribution is subtracted and its new one added, so re-writing the same order
(a retried or resumed page) changes nothing, and analytics never scan ``emag_orders``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, TimestampMixin

Money = Numeric(18, 4)


class EmagCustomer(TimestampMixin, Base):
    __tablename__ = "emag_customers"
    __table_args__ = (
        Index("ix_emag_customers_total_spent", "total_spent"),
        Index("ix_emag_customers_last_order_at", "last_order_at"),
        Index("ix_emag_customers_first_order_at", "first_order_at"),
        Index("ix_emag_customers_orders_count", "orders_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "<platform>:id:<eMAG id>", else "<platform>:email:<hash>", else "<platform>:phone:<digits>".
    customer_key: Mapped[str] = mapped_column(String(160), unique=True)
    platform: Mapped[str] = mapped_column(String(8))
    emag_customer_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(255))
    email_hash: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    # The currency of the customer's first order: the one ``total_spent`` and the analytics use.
    currency: Mapped[str | None] = mapped_column(String(3))
    orders_count: Mapped[int] = mapped_column(default=0)
    # Spend counts orders that were not cancelled (status 0) nor returned (status 5), and only
    # those in ``currency``: amounts in different currencies are never added (a BG customer's BGN
    # orders of 2025 and EUR orders of 2026). Every currency's spend is in
    # ``emag_customer_spend``; ``total_spent`` is recomputed from it after each write.
    total_spent: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    # The kept orders that ``total_spent`` counts (in ``currency``); None on rows written before
    # it existed, read as every kept order.
    spent_orders: Mapped[int | None] = mapped_column(default=None)
    cancelled_count: Mapped[int] = mapped_column(default=0)
    returned_count: Mapped[int] = mapped_column(default=0)
    cod_count: Mapped[int] = mapped_column(default=0)
    main_orders: Mapped[int] = mapped_column(default=0)
    fbe_orders: Mapped[int] = mapped_column(default=0)
    first_order_at: Mapped[datetime | None]
    last_order_at: Mapped[datetime | None]


class EmagCustomerAccount(Base):
    """A customer's orders on one account, for the per-account filter of the analytics."""

    __tablename__ = "emag_customer_accounts"
    __table_args__ = (
        UniqueConstraint("customer_id", "account_id"),
        Index("ix_emag_customer_accounts_account", "account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("emag_customers.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    orders_count: Mapped[int] = mapped_column(default=0)
    total_spent: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))


#: The currency key of spend whose orders carried no currency (ISO 4217's "no currency").
NO_CURRENCY = "XXX"


class EmagCustomerSpend(Base):
    """A customer's spend per account and per currency (issue 13, point 7): every currency's own
    figure, never a sum across currencies. Kept by deltas like the customer's counters."""

    __tablename__ = "emag_customer_spend"
    __table_args__ = (
        UniqueConstraint("customer_id", "account_id", "currency"),
        Index("ix_emag_customer_spend_account", "account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("emag_customers.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3))
    # Kept orders (neither cancelled nor returned) in this currency, and their total.
    orders_count: Mapped[int] = mapped_column(default=0)
    total_spent: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
