"""Intake tables: one row per (account, eMAG order) that a callback or the catch-up poll
announced, and the time each account was last polled.

The unique (account, order) row is what makes repeated callbacks cheap and harmless: eMAG repeats
the new-order callback until the order is acknowledged (docs/emag-protocol.md, "Callbacks"), and
every repeat finds the row already there, so one order gets one read and one acknowledgement
whatever the number of callbacks, in any number of processes, across restarts.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from magflow.db.base import Base, utcnow


class IntakeState(StrEnum):
    """``pending``: to be read from eMAG (and acknowledged); ``done``: stored (and acknowledged
    when the account asks for it); ``unknown``: eMAG does not know the order."""

    pending = "pending"
    done = "done"
    unknown = "unknown"


#: ``outcome`` of a *pending* row announced by a return callback: the job reads the order's
#: returns (``rma/read`` by ``order_id``) along with the order. Finishing the row replaces it.
RETURNS_DUE = "returns-due"


class OrderIntake(Base):
    __tablename__ = "emag_order_intake"
    __table_args__ = (
        UniqueConstraint("account_id", "emag_order_id"),
        Index("ix_emag_order_intake_state_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("emag_accounts.id", ondelete="CASCADE"))
    emag_order_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default=IntakeState.pending.value)
    # What announced it first: "callback" (and which kind) or "poll".
    source: Mapped[str] = mapped_column(String(32))
    # What the work did: "acknowledged", "stored", "fbe" (type 2: never acknowledged),
    # "not-new" (eMAG has it past status 1), "unknown"; while pending, RETURNS_DUE or None.
    outcome: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    # Who works on it (host:pid) since when; a claim older than the stale time is taken over.
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]


class IntakePoll(Base):
    """When each account's catch-up poll last fired: a conditional update of this row decides
    which process fires the next one."""

    __tablename__ = "emag_intake_polls"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("emag_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    polled_at: Mapped[datetime]
