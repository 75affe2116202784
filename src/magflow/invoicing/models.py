"""Invoicing tables: per-account settings, the built-in provider's series counters, and one row
per (order, kind) of document.

The unique constraint on ``invoices (order_id, kind)`` is the first half of "one invoice per order,
whatever happens": a row is claimed (inserted) before any provider is called, so a repeated
callback, a retry or two operators clicking all find the same row. The second half is the
provider-side check by ``reference`` (see :mod:`magflow.invoicing.service`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, JSONType, TimestampMixin


class ProviderName(StrEnum):
    builtin = "builtin"
    smartbill = "smartbill"
    oblio = "oblio"


class Trigger(StrEnum):
    """When MagFlow issues the invoice on its own: never, once the order is finalized (status 4),
    or once it has an AWB (eMAG finalizes an order at its first AWB: docs/emag-protocol.md, "AWBs
    and couriers")."""

    off = "off"
    finalized = "finalized"
    awb = "awb"


class DocKind(StrEnum):
    invoice = "invoice"
    credit_note = "credit_note"


class InvoiceState(StrEnum):
    pending = "pending"  # row claimed, nothing asked of the provider yet
    issuing = "issuing"  # the provider was asked; its answer is not recorded (yet)
    issued = "issued"  # the provider issued it (number known); not attached on eMAG yet
    attached = "attached"  # eMAG accepted the attachment
    failed = "failed"  # refused (provider or eMAG) or invalid input; ``message`` says why


class InvoicingSettings(TimestampMixin, Base):
    """One account's provider, trigger and seller data. Credentials are a Fernet token of a JSON
    object (like eMAG passwords) and never returned."""

    __tablename__ = "invoicing_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("emag_accounts.id", ondelete="CASCADE"), unique=True
    )
    provider: Mapped[str] = mapped_column(String(16), default=ProviderName.builtin.value)
    trigger: Mapped[str] = mapped_column(String(16), default=Trigger.off.value)
    series: Mapped[str] = mapped_column(String(16), default="MF")
    credit_series: Mapped[str | None] = mapped_column(String(16))
    seller_name: Mapped[str] = mapped_column(String(255))
    seller_cui: Mapped[str] = mapped_column(String(16))
    seller_reg_no: Mapped[str | None] = mapped_column(String(64))
    seller_address: Mapped[str | None] = mapped_column(String(255))
    seller_city: Mapped[str | None] = mapped_column(String(128))
    seller_county: Mapped[str | None] = mapped_column(String(128))
    seller_country: Mapped[str] = mapped_column(String(2), default="RO")
    seller_iban: Mapped[str | None] = mapped_column(String(64))
    vat_payer: Mapped[bool] = mapped_column(default=True)
    # Where eMAG downloads the PDFs from: MagFlow's public address (https://...).
    public_base_url: Mapped[str | None] = mapped_column(String(512))
    provider_base_url: Mapped[str | None] = mapped_column(String(512))
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)


class InvoiceSeriesCounter(Base):
    """The built-in provider's numbering: the next number of each (account, series). Taken with
    an UPDATE ... RETURNING-free read-modify-write inside the issuing transaction, so a number is
    used only if the invoice is committed with it."""

    __tablename__ = "invoice_series"
    __table_args__ = (UniqueConstraint("account_id", "series"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    series: Mapped[str] = mapped_column(String(16))
    next_number: Mapped[int] = mapped_column(default=1)


class Invoice(TimestampMixin, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("order_id", "kind"),
        Index("ix_invoices_account_state", "account_id", "state"),
        Index("ix_invoices_issued_at", "issued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("emag_orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=InvoiceState.pending.value)
    # Step a failure happened at ("document", "issue", "pdf", "attach"): a retry resumes there.
    failed_step: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    # Our own reference, sent to the provider so that a retry can find what it already issued.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    # The unguessable part of the public PDF URL (32 random bytes, URL-safe).
    token: Mapped[str] = mapped_column(String(64), unique=True)
    series: Mapped[str | None] = mapped_column(String(16))
    number: Mapped[str | None] = mapped_column(String(32))
    # SmartBill: the series' next number read just before issuing (see providers.smartbill).
    expected_number: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str | None] = mapped_column(String(3))
    total: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    document: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    xml: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None]
    issued_at: Mapped[datetime | None]
    attached_at: Mapped[datetime | None]
