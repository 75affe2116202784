"""Returns (RMA requests) as read from eMAG ``rma/read`` (docs/emag-protocol.md, "Returns")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, JSONType, TimestampMixin


class EmagReturn(TimestampMixin, Base):
    """One return request of one account, keyed by (account_id, emag_id).

    ``request_status``: 1 incomplete, 2 new, 3 acknowledged, 4 refused, 5 canceled, 6 received,
    7 finalized. ``return_type``: 1 replacement, 2 other product, 3 refund, 4 cancel payment
    contract, 5 voucher. The whole row as read is kept in ``raw``.
    """

    __tablename__ = "emag_returns"
    __table_args__ = (
        UniqueConstraint("account_id", "emag_id"),
        Index("ix_emag_returns_account_status", "account_id", "request_status"),
        Index("ix_emag_returns_order", "order_emag_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    emag_id: Mapped[int] = mapped_column(BigInteger)
    order_emag_id: Mapped[int | None] = mapped_column(BigInteger)
    order_type: Mapped[int | None]
    request_status: Mapped[int | None]
    return_type: Mapped[int | None]
    return_reason: Mapped[int | None]
    pickup_method: Mapped[int | None]
    customer_name: Mapped[str | None] = mapped_column(String(255))
    products: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    return_date: Mapped[datetime | None]
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType)
    last_seen_at: Mapped[datetime]
