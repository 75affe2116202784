"""Callback secrets and URLs, and what a callback records. Never commits: the caller does.

eMAG calls URLs the seller pastes in eMAG's seller UI, with GET and no authentication
(docs/emag-protocol.md, "Callbacks"): the URL itself carries a per-account secret. The secret is
random (24 bytes, URL-safe), stored encrypted (to show the URLs again) and as its SHA-256 hash
(to find the account a callback names with one indexed lookup); rotating it replaces both, and the
old URLs answer 404 from then on.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts.models import EmagAccount
from magflow.common.crypto import CredentialCipher
from magflow.intake import repository
from magflow.intake.models import RETURNS_DUE, IntakeState

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "/callbacks/emag"


class CallbackKind(StrEnum):
    """The callbacks eMAG's seller UI offers (docs/emag-protocol.md, "Callbacks"), each served
    at ``/callbacks/emag/{secret}/{kind}``."""

    order = "order"  # a new order: GET ?order_id=N, repeated until acknowledged
    cancellation = "cancellation"  # an order cancelled
    return_ = "return"  # a new return, or a return's status changed
    awb = "awb"  # an AWB's status changed
    documentation = "documentation"  # a product's documentation approved (a PNK assigned)


#: What each callback is for, as the account page and the CLI describe it.
KIND_LABELS = {
    CallbackKind.order: "New order",
    CallbackKind.cancellation: "Order cancellation",
    CallbackKind.return_: "Return (new, status change)",
    CallbackKind.awb: "AWB status change",
    CallbackKind.documentation: "Approved documentation",
}


class PublicUrlMissingError(ValueError):
    """Callback URLs need ``MAGFLOW_PUBLIC_URL``."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _set_secret(cipher: CredentialCipher, account: EmagAccount) -> str:
    secret = secrets.token_urlsafe(24)
    account.callback_secret_encrypted = cipher.encrypt(secret)
    account.callback_secret_hash = hash_secret(secret)
    return secret


async def ensure_secret(
    session: AsyncSession, cipher: CredentialCipher, account: EmagAccount
) -> str:
    """The account's callback secret, generated on first use (accounts made before callbacks
    existed have none)."""
    if account.callback_secret_encrypted is None:
        secret = _set_secret(cipher, account)
        await session.flush()
        return secret
    return cipher.decrypt(account.callback_secret_encrypted)


async def rotate_secret(
    session: AsyncSession, cipher: CredentialCipher, account: EmagAccount
) -> str:
    secret = _set_secret(cipher, account)
    await session.flush()
    log.info("callback secret of account %s rotated", account.name)
    return secret


def callback_urls(public_url: str | None, secret: str) -> dict[str, str]:
    """The URL of each callback kind, to paste in eMAG's seller UI."""
    if not public_url:
        raise PublicUrlMissingError(
            "set MAGFLOW_PUBLIC_URL (the address eMAG reaches MagFlow at) to get callback URLs"
        )
    return {
        kind.value: f"{public_url}{CALLBACK_PREFIX}/{secret}/{kind.value}" for kind in CallbackKind
    }


async def account_for_secret(session: AsyncSession, secret: str) -> EmagAccount | None:
    return await repository.account_by_secret_hash(session, hash_secret(secret))


@dataclass(frozen=True)
class Received:
    """What a callback did: ``recorded`` the order is (still) to be handled; ``enqueue``: a job
    should run for the account now."""

    recorded: bool
    enqueue: bool


async def receive(
    session: AsyncSession,
    account: EmagAccount,
    kind: CallbackKind,
    emag_order_id: int,
    now: datetime,
) -> Received:
    """Record what a callback announces.

    A new-order callback inserts the order's intake row if it has none; eMAG's repeats then find
    it and change nothing (one read and one acknowledgement per order, however many callbacks). A
    cancellation, AWB or return callback makes a finished order pending again: it is read anew;
    a return callback also marks the row :data:`RETURNS_DUE`, so the job reads the order's returns
    (``rma/read`` by ``order_id``) and stores them (``returns.service.store_returns``): idempotent
    per (account, order) while pending, so per (account, return, status) as eMAG calls it.
    The account's job is asked for only when the order is pending, due and not already being
    worked on; a disabled account's orders wait (recorded) until it is enabled again.
    """
    inserted = await repository.add_if_absent(
        session, account.id, [emag_order_id], f"callback:{kind.value}", now
    )
    if inserted:
        if kind is CallbackKind.return_:
            await repository.mark_returns_due(session, account.id, emag_order_id)
        return Received(recorded=True, enqueue=account.is_active)
    known = (await repository.states(session, account.id, [emag_order_id]))[emag_order_id]
    was_pending = known.state == IntakeState.pending.value
    marked = known.outcome == RETURNS_DUE
    if kind is CallbackKind.return_:
        # A new return or a return's new status: its order and its returns are read again
        # (repeats while that is pending change nothing).
        if not was_pending:
            await repository.reopen(session, account.id, [emag_order_id], now)
        await repository.mark_returns_due(session, account.id, emag_order_id)
        if was_pending and marked:
            return Received(recorded=True, enqueue=False)
        if not was_pending:
            return Received(recorded=True, enqueue=account.is_active)
    if kind is not CallbackKind.order and known.state != IntakeState.pending.value:
        await repository.reopen(session, account.id, [emag_order_id], now)
    elif not (
        known.state == IntakeState.pending.value
        and known.next_attempt_at <= now
        and known.claimed_at is None
    ):
        return Received(recorded=known.state == IntakeState.pending.value, enqueue=False)
    return Received(recorded=True, enqueue=account.is_active)
