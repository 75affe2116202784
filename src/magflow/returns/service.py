"""Reading returns (``rma/read``, docs/emag-protocol.md, "Returns") into ``emag_returns``. Never
commits.

Reading is idempotent by (account, eMAG RMA id): a repeated sync updates the same rows. Filters
are eMAG's (``request_status``, ``date_start``/``date_end``, ``type``...), passed through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts.models import EmagAccount
from magflow.emag.client import EmagClient
from magflow.emag.coerce import to_datetime, to_int, to_list, to_str
from magflow.emag.platforms import platform_info
from magflow.returns import repository


@dataclass
class ReturnsSyncResult:
    account_id: int
    read: int
    pages: int


def return_row(raw: dict[str, Any], *, account: EmagAccount, now: datetime) -> dict[str, Any]:
    tz = platform_info(account.platform).tz
    return {
        "account_id": account.id,
        "emag_id": to_int(raw.get("emag_id")),
        "order_emag_id": to_int(raw.get("order_id")),
        "order_type": to_int(raw.get("type")),
        "request_status": to_int(raw.get("request_status")),
        "return_type": to_int(raw.get("return_type")),
        "return_reason": to_int(raw.get("return_reason")),
        "pickup_method": to_int(raw.get("pickup_method")),
        "customer_name": to_str(raw.get("customer_name")),
        "products": [p for p in to_list(raw.get("products")) if isinstance(p, dict)],
        "return_date": to_datetime(raw.get("date"), tz),
        "raw": raw,
        "last_seen_at": now,
        "created_at": now,
        "updated_at": now,
    }


async def store_returns(
    session: AsyncSession, account: EmagAccount, raws: list[dict[str, Any]], now: datetime
) -> int:
    """Upsert ``rma/read`` items of one account (rows without an ``emag_id`` are skipped);
    returns how many were stored. The one write path of returns: the sync and the intake's
    return callbacks (``intake.work``) both store through it."""
    rows = {}
    for raw in raws:
        row = return_row(raw, account=account, now=now)
        if row["emag_id"] is not None:
            rows[row["emag_id"]] = row
    await repository.upsert_returns(session, list(rows.values()))
    return len(rows)


async def sync_returns(
    session: AsyncSession,
    client: EmagClient,
    account: EmagAccount,
    filters: dict[str, Any] | None = None,
) -> ReturnsSyncResult:
    """Read every page of ``rma/read`` for the account (:meth:`EmagClient.iter_pages`, the
    client's row reads) and upsert the rows."""
    now = datetime.now(UTC)
    read = pages = 0
    async for page in client.iter_pages("rma", filters or {}):
        read += await store_returns(session, account, page.rows, now)
        pages += 1
    return ReturnsSyncResult(account_id=account.id, read=read, pages=pages)
