"""Seller accounts on eMAG: one row per (platform, MAIN|FBE) credential set."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import LargeBinary, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, JSONType, TimestampMixin


class AccountType(StrEnum):
    """MAIN: the seller ships. FBE: fulfilled by eMAG
    (docs/emag-protocol.md, "Hosts and platforms")."""

    main = "main"
    fbe = "fbe"


class EmagAccount(TimestampMixin, Base):
    __tablename__ = "emag_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str] = mapped_column(String(8))
    account_type: Mapped[str] = mapped_column(String(8))
    username: Mapped[str] = mapped_column(String(255))
    # Fernet token (key derived from the secret key); never returned by any API.
    password_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    base_url: Mapped[str | None] = mapped_column(String(512))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Units held back from eMAG: bulk and stock-only updates publish max(0, stock - stock_buffer).
    stock_buffer: Mapped[int] = mapped_column(default=0, server_default="0")

    # -- AWB sender defaults (magflow.accounts.schemas.AwbSenderDefaults) --------------------
    # The sender of the account's AWBs when a request gives none: an eMAG ``address_id``
    # (addresses/read) or a full address, with the name, contact and phones. None: not set.
    awb_sender: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    # -- end AWB sender defaults -------------------------------------------------------------
    # -- warehouse (issue 13, point 9) --------------------------------------------------------
    # The ``warehouse_id`` that stock is written to with the light offer API
    # (``[{warehouse_id, value}]``, docs/emag-protocol.md, "Offers"): a per-account setting, 1 by
    # default, as production connectors do.
    warehouse_id: Mapped[int] = mapped_column(default=1, server_default="1")
    # -- intake (eMAG callbacks, magflow.intake) ------------------------------------------------
    # Acknowledge new orders as soon as they are stored (intake.service); off by default.
    auto_acknowledge: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # The secret in this account's callback URLs: encrypted (to show the URLs again) and hashed
    # (SHA-256 hex, to find the account a callback names). Generated on first use, rotatable.
    callback_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    callback_secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
