"""Seller accounts. Never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import repository
from magflow.accounts.models import EmagAccount
from magflow.accounts.schemas import AccountCreate, AccountUpdate
from magflow.common.crypto import CredentialCipher
from magflow.common.dates import zone_for_platforms
from magflow.common.errors import NotFoundError
from magflow.common.schemas import DB_INT_MAX, DB_INT_MIN


class AccountExistsError(ValueError):
    pass


class AccountNotFoundError(NotFoundError):
    pass


@dataclass(frozen=True)
class AccountCredentials:
    """Decrypted credentials, handed to the eMAG client only. ``repr`` hides the password."""

    account_id: int
    name: str
    platform: str
    account_type: str
    username: str
    password: str
    base_url: str | None

    def __repr__(self) -> str:
        return f"AccountCredentials(account_id={self.account_id}, name={self.name!r}, password=***)"


async def add_account(
    session: AsyncSession, cipher: CredentialCipher, data: AccountCreate
) -> EmagAccount:
    if await repository.get_by_name(session, data.name) is not None:
        raise AccountExistsError(f"an account named {data.name!r} already exists")
    account = EmagAccount(
        name=data.name,
        platform=data.platform.value,
        account_type=data.account_type.value,
        username=data.username,
        password_encrypted=cipher.encrypt(data.password),
        base_url=str(data.base_url).rstrip("/") if data.base_url else None,
        warehouse_id=data.warehouse_id,
    )
    repository.add(session, account)
    await session.flush()
    return account


def _as_id(name_or_id: str | int) -> int | None:
    """The row id that ``name_or_id`` may be: ASCII digits within the id column's range
    (``"²".isdigit()`` is true but ``int("²")`` raises; a larger number matches no row)."""
    if isinstance(name_or_id, int):
        number = name_or_id
    elif name_or_id.isascii() and name_or_id.isdigit():
        number = int(name_or_id)
    else:
        return None
    return number if DB_INT_MIN <= number <= DB_INT_MAX else None


async def get_account(session: AsyncSession, name_or_id: str | int) -> EmagAccount:
    account = None
    account_id = _as_id(name_or_id)
    if account_id is not None:
        account = await repository.get_by_id(session, account_id)
    if account is None:
        account = await repository.get_by_name(session, str(name_or_id))
    if account is None:
        raise AccountNotFoundError(f"no eMAG account named or numbered {name_or_id!r}")
    return account


async def list_accounts(
    session: AsyncSession, *, active_only: bool = False, account_type: str | None = None
) -> Sequence[EmagAccount]:
    return await repository.list_accounts(
        session, active_only=active_only, account_type=account_type
    )


async def local_zone(session: AsyncSession, account_ids: Sequence[int] | None) -> tzinfo:
    """The time zone in which a date or time without a zone is read for these accounts (all
    when None): their platform's; :class:`magflow.common.dates.AmbiguousZoneError` when they
    are on platforms of different zones."""
    accounts = await repository.list_accounts(session, active_only=False, account_type=None)
    return zone_for_platforms(
        a.platform for a in accounts if account_ids is None or a.id in account_ids
    )


async def remove_account(session: AsyncSession, name_or_id: str | int) -> EmagAccount:
    account = await get_account(session, name_or_id)
    await repository.delete(session, account)
    return account


def credentials(cipher: CredentialCipher, account: EmagAccount) -> AccountCredentials:
    return AccountCredentials(
        account_id=account.id,
        name=account.name,
        platform=account.platform,
        account_type=account.account_type,
        username=account.username,
        password=cipher.decrypt(account.password_encrypted),
        base_url=account.base_url,
    )


async def upsert_account(
    session: AsyncSession, cipher: CredentialCipher, data: AccountCreate
) -> EmagAccount:
    """Add the account, or point the existing one of that name at new credentials and URL."""
    account = await repository.get_by_name(session, data.name)
    if account is None:
        return await add_account(session, cipher, data)
    account.platform = data.platform.value
    account.account_type = data.account_type.value
    account.username = data.username
    account.password_encrypted = cipher.encrypt(data.password)
    account.base_url = str(data.base_url).rstrip("/") if data.base_url else None
    account.is_active = True
    account.warehouse_id = data.warehouse_id
    await session.flush()
    return account


# -- warehouse (issue 13, point 9) -----------------------------------------------------------------


async def set_warehouse(
    session: AsyncSession, name_or_id: str | int, warehouse_id: int
) -> EmagAccount:
    """Point the account's stock writes (light offer API, docs/emag-protocol.md, "Offers") at
    ``warehouse_id``. Flushes, never commits."""
    account = await get_account(session, name_or_id)
    account.warehouse_id = warehouse_id
    await session.flush()
    return account


async def update_account(
    session: AsyncSession, name_or_id: str | int, data: AccountUpdate
) -> EmagAccount:
    """Apply the settings ``data`` gives (``model_fields_set``; a null ``awb_sender`` removes
    the sender defaults, a null ``auto_acknowledge`` or ``is_active`` changes nothing); the
    others stay as they are."""
    account = await get_account(session, name_or_id)
    given = data.model_fields_set
    # -- AWB sender defaults -------------------------------------------------------------------
    if "awb_sender" in given:
        account.awb_sender = (
            data.awb_sender.model_dump(exclude_none=True) if data.awb_sender is not None else None
        )
    # -- end AWB sender defaults ---------------------------------------------------------------
    # -- intake (magflow.intake) --
    if data.auto_acknowledge is not None:
        account.auto_acknowledge = data.auto_acknowledge
    if data.is_active is not None:
        account.is_active = data.is_active
    await session.flush()
    return account
