"""Offer history: what an offers sync saw change (docs/architecture.md, "A sync run").

:func:`record_changes` is called by the sync engine for each page, in the page's transaction and
**before** its upsert: it compares each row with the stored offer and writes one
``pricing_offer_history`` row per offer whose watched values differ (or that is new). A page
written twice therefore writes its changes once (the second time the stored values already are
the new ones), and an unchanged catalogue adds nothing: storage grows with what changes, not
with the catalogue (bench/offer_history.py measures it).

Watched values: the offer's own ``sale_price`` and ``stock_total``, ``buy_button_rank``,
``best_offer_sale_price``, ``number_of_offers``, ``offer_validation_status`` and
``validation_status`` (docs/emag-protocol.md, "Offers").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.pricing import repository

WATCHED = (
    "sale_price",
    "stock_total",
    "buy_button_rank",
    "best_offer_sale_price",
    "number_of_offers",
    "offer_validation_status",
    "validation_status",
)
UNIT = Decimal("0.0001")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        if a is None or b is None:
            return a is b
        return Decimal(a).quantize(UNIT) == Decimal(b).quantize(UNIT)
    return bool(a == b)


def changed_rows(
    account_id: int,
    rows: list[dict[str, Any]],
    stored: dict[int, dict[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """History rows for the offers of ``rows`` whose watched values differ from ``stored``
    (the database's values by eMAG id); a new offer always gets its first row."""
    out: list[dict[str, Any]] = []
    for row in rows:
        emag_id = row.get("emag_id")
        if emag_id is None:
            continue
        old = stored.get(emag_id)
        if old is not None and all(_same(row.get(name), old.get(name)) for name in WATCHED):
            continue
        out.append(
            {
                "account_id": account_id,
                "emag_id": emag_id,
                "recorded_at": now,
                **{name: row.get(name) for name in WATCHED},
            }
        )
    return out


async def record_changes(
    session: AsyncSession, account_id: int, rows: list[dict[str, Any]], now: datetime
) -> int:
    """Write the history of one page of synced offer rows (before they are upserted); returns
    the number of rows written. Never commits."""
    if not rows:
        return 0
    stored = await repository.watched_values(
        session, account_id, [r["emag_id"] for r in rows if r.get("emag_id") is not None], WATCHED
    )
    changes = changed_rows(account_id, rows, stored, now)
    await repository.insert_history(session, changes)
    return len(changes)


async def prune(session: AsyncSession, now: datetime, keep_days: int) -> int:
    """Delete history older than ``keep_days`` (``MAGFLOW_PRICING_HISTORY_DAYS``)."""
    return await repository.delete_history_before(session, now - timedelta(days=keep_days))
