"""Orders as read from eMAG ``order/read`` (docs/emag-protocol.md, "Orders")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, validates

from magflow.db.base import Base, JSONType, TimestampMixin
from magflow.orders.mapping import has_invoice

Money = Numeric(16, 4)


class EmagOrder(TimestampMixin, Base):
    """One order of one account, keyed by (account_id, emag_id).

    ``order_type`` is eMAG's ``type``: 2 fulfilled by eMAG (FBE), 3 fulfilled by the seller.
    Totals are computed from the active lines, the shipping tax and vouchers at sync time so that
    analytics never re-read the JSON.
    """

    __tablename__ = "emag_orders"
    __table_args__ = (
        UniqueConstraint("account_id", "emag_id"),
        Index("ix_emag_orders_account_status", "account_id", "status"),
        Index("ix_emag_orders_account_date", "account_id", "order_date"),
        # The listing's default order (newest first) over every account: a page is an index
        # scan instead of a sort of every order.
        Index("ix_emag_orders_order_date", "order_date", "id"),
        Index("ix_emag_orders_account_modified", "account_id", "emag_modified_at"),
        Index("ix_emag_orders_customer", "customer_key"),
        # The to-do list's "invoice missing" (magflow.intake.deadlines): finalized orders
        # without an invoice are a small part of all orders, read oldest finalization first.
        Index(
            "ix_emag_orders_invoice_missing",
            "account_id",
            "finalization_date",
            postgresql_where=text("status = 4 AND has_invoice = false"),
            sqlite_where=text("status = 4 AND has_invoice = 0"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    emag_id: Mapped[int] = mapped_column(BigInteger)
    order_type: Mapped[int] = mapped_column(default=3)
    status: Mapped[int]
    is_complete: Mapped[bool | None]
    payment_mode_id: Mapped[int | None]
    payment_mode: Mapped[str | None] = mapped_column(String(64))
    payment_status: Mapped[int | None]
    delivery_mode: Mapped[str | None] = mapped_column(String(64))
    order_date: Mapped[datetime | None]
    emag_modified_at: Mapped[datetime | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    shipping_tax: Mapped[Decimal | None] = mapped_column(Money)
    total_without_vat: Mapped[Decimal | None] = mapped_column(Money)
    total_with_vat: Mapped[Decimal | None] = mapped_column(Money)
    # Identity used by customer analytics: eMAG customer id, else email hash, else phone.
    customer_key: Mapped[str | None] = mapped_column(String(128))
    customer_emag_id: Mapped[int | None] = mapped_column(BigInteger)
    customer_name: Mapped[str | None] = mapped_column(String(255))
    customer: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    products: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    vouchers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    reason_cancellation: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status_history: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    awb_number: Mapped[str | None] = mapped_column(String(64))
    # eMAG's ids of the AWB issued through MagFlow: ``awb/read`` by either gives the number and
    # ``emag_id`` the label (docs/emag-protocol.md, "AWBs and couriers").
    awb_emag_id: Mapped[int | None] = mapped_column(BigInteger)
    awb_reservation_id: Mapped[int | None] = mapped_column(BigInteger)
    acknowledged_at: Mapped[datetime | None]
    # Deadlines and flags eMAG sends in real answers (docs/emag-protocol.md, "Orders"), read by
    # the to-do list (magflow.intake) and seller performance (magflow.performance). Null on
    # orders stored before migration 0013 until a sync reads them again.
    maximum_date_for_shipment: Mapped[datetime | None]
    finalization_date: Mapped[datetime | None]
    late_shipment: Mapped[bool | None]
    cancellation_requested: Mapped[bool | None]
    # An attachment of type 1 (invoice) is on the order (docs/emag-protocol.md,
    # "Attachments and invoices").
    has_invoice: Mapped[bool | None]
    # When a sync first saw the order leave status 1 (new) for 2-5: eMAG's ``modified`` of the
    # read that saw it (magflow.orders.mapping.acknowledgement_seen).
    ack_observed_at: Mapped[datetime | None]
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType)
    last_seen_at: Mapped[datetime]
    last_seen_run_id: Mapped[int | None]

    @validates("attachments")
    def _attachments_set(
        self, _key: str, attachments: list[dict[str, Any]] | None
    ) -> list[dict[str, Any]] | None:
        """Keep ``has_invoice`` in step with ``attachments`` whenever MagFlow sets them itself
        (the invoicing job attaching without a re-read, :mod:`magflow.invoicing.service`).

        Saving an attachment does not change the order's ``modified`` (the simulator's
        behaviour, docs/emag-protocol.md, "Attachments and invoices"), so an incremental sync
        may never read the order again: without this the to-do list's ``invoice_missing`` would
        stay on for an order MagFlow has just invoiced. Rows written by
        :func:`magflow.orders.service.store_orders` get it from :mod:`magflow.orders.mapping`
        (same function). Only assignment is seen: change ``attachments`` by assigning a new
        list, never by appending in place."""
        if attachments is not None:
            self.has_invoice = has_invoice([a for a in attachments if isinstance(a, dict)])
        return attachments
