"""Offers as read from eMAG ``product_offer/read`` (docs/emag-protocol.md, "Offers")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, JSONType, TimestampMixin

Money = Numeric(16, 4)


class EmagOffer(TimestampMixin, Base):
    """One offer of one account, keyed by (account_id, emag_id) where emag_id is the seller's id.

    Prices are stored as eMAG sends them, without VAT (docs/emag-protocol.md, "Offers");
    ``sale_price_with_vat`` is derived from the VAT rate when known. Offers that vanish from eMAG
    get ``missing_since`` set instead of being deleted.
    """

    __tablename__ = "emag_products_v2"
    __table_args__ = (
        UniqueConstraint("account_id", "emag_id"),
        Index("ix_emag_products_v2_account_status", "account_id", "status"),
        Index("ix_emag_products_v2_account_part_number", "account_id", "part_number"),
        Index("ix_emag_products_v2_account_stock", "account_id", "stock_total"),
        Index("ix_emag_products_v2_part_number_key", "part_number_key"),
        Index("ix_emag_products_v2_ean_search", "ean_search"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    emag_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(512))
    brand: Mapped[str | None] = mapped_column(String(255))
    part_number: Mapped[str | None] = mapped_column(String(64))
    part_number_key: Mapped[str | None] = mapped_column(String(32))
    category_id: Mapped[int | None]
    ean: Mapped[list[str] | None] = mapped_column(JSONType)
    # The EANs as one space-separated string, for search (migration 0007).
    ean_search: Mapped[str | None] = mapped_column(String(512))
    currency: Mapped[str | None] = mapped_column(String(3))
    sale_price: Mapped[Decimal | None] = mapped_column(Money)
    sale_price_with_vat: Mapped[Decimal | None] = mapped_column(Money)
    recommended_price: Mapped[Decimal | None] = mapped_column(Money)
    min_sale_price: Mapped[Decimal | None] = mapped_column(Money)
    max_sale_price: Mapped[Decimal | None] = mapped_column(Money)
    best_offer_sale_price: Mapped[Decimal | None] = mapped_column(Money)
    vat_id: Mapped[int | None]
    vat_rate: Mapped[Decimal | None] = mapped_column(Numeric(6, 4))
    stock: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    stock_total: Mapped[int] = mapped_column(default=0)
    general_stock: Mapped[int | None]
    estimated_stock: Mapped[int | None]
    handling_time: Mapped[int | None]
    status: Mapped[int | None]
    offer_validation_status: Mapped[int | None]
    validation_status: Mapped[int | None]
    translation_validation_status: Mapped[int | None]
    buy_button_rank: Mapped[int | None]
    number_of_offers: Mapped[int | None]
    images: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    url: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType)
    last_seen_at: Mapped[datetime]
    last_seen_run_id: Mapped[int | None]
    missing_since: Mapped[datetime | None]
