"""Every query on ``emag_products_v2``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.catalog.models import EmagOffer
from magflow.db.query import as_bigint, fetch_sorted_page, like_pattern
from magflow.db.upsert import upsert

# Columns a sync refreshes on an existing offer (everything but identity and created_at).
_SYNC_COLUMNS = [
    c.name
    for c in EmagOffer.__table__.columns
    if c.name not in {"id", "account_id", "emag_id", "created_at"}
]


async def existing_ids(session: AsyncSession, account_id: int, emag_ids: list[int]) -> set[int]:
    result = await session.execute(
        select(EmagOffer.emag_id).where(
            EmagOffer.account_id == account_id, EmagOffer.emag_id.in_(emag_ids)
        )
    )
    return set(result.scalars())


EAN_SEARCH_LENGTH = 512


def ean_search_text(eans: Any) -> str | None:
    """An offer's EANs as stored for search (``ean_search``): whitespace removed, duplicates
    dropped, space-separated, as many as fit in the column."""
    if eans is None:
        return None
    values = eans if isinstance(eans, list) else [eans]
    found: list[str] = []
    for value in values:
        text = "".join(str(value).split())
        if text and text not in found and len(" ".join([*found, text])) <= EAN_SEARCH_LENGTH:
            found.append(text)
    return " ".join(found) or None


async def upsert_offers(session: AsyncSession, account_id: int, rows: list[dict[str, Any]]) -> int:
    """Insert or update offers of one account by eMAG id; returns how many were new.

    ``ean_search`` is derived here from each row's ``ean`` list, so every writer keeps it."""
    for row in rows:
        if "ean" in row:
            row["ean_search"] = ean_search_text(row["ean"])
    known = None
    if session.get_bind().dialect.name != "postgresql":  # PostgreSQL's upsert counts them itself
        known = await existing_ids(session, account_id, [row["emag_id"] for row in rows])
    created = await upsert(
        session,
        EmagOffer.__table__,
        rows,  # type: ignore[arg-type]
        ["account_id", "emag_id"],
        _SYNC_COLUMNS,
    )
    return created if created is not None else len(rows) - len(known or ())


async def present_count(session: AsyncSession, account_id: int) -> int:
    """The account's offers not marked missing."""
    total = await session.execute(
        select(func.count(EmagOffer.id)).where(
            EmagOffer.account_id == account_id, EmagOffer.missing_since.is_(None)
        )
    )
    return int(total.scalar_one())


async def seen_count(session: AsyncSession, account_id: int, run_id: int) -> int:
    """How many distinct offers of the account run ``run_id`` read (its rows carry the run's id,
    whichever attempt of a resumed run wrote them)."""
    total = await session.execute(
        select(func.count(EmagOffer.id)).where(
            EmagOffer.account_id == account_id, EmagOffer.last_seen_run_id == run_id
        )
    )
    return int(total.scalar_one())


async def unseen_ids(session: AsyncSession, account_id: int, run_id: int) -> list[int]:
    """Ids of the account's offers, not marked missing, that run ``run_id`` did not read."""
    result = await session.execute(
        select(EmagOffer.id)
        .where(
            EmagOffer.account_id == account_id,
            or_(EmagOffer.last_seen_run_id.is_(None), EmagOffer.last_seen_run_id != run_id),
            EmagOffer.missing_since.is_(None),
        )
        .order_by(EmagOffer.id)
    )
    return list(result.scalars())


async def mark_missing(
    session: AsyncSession, account_id: int, offer_ids: Sequence[int], run_id: int, now: datetime
) -> int:
    """Mark offers ``offer_ids`` of the account missing (never deleted) as of run ``run_id``;
    returns how many changed.

    An offer already missing keeps its ``missing_since``, and an offer read by a run newer than
    ``run_id`` (so eMAG still had it after that run) is left alone: a confirmation applied later
    marks only what no run has seen since. Updated in chunks of 900 ids (SQLite allows 999
    parameters per statement)."""
    changed = 0
    for start in range(0, len(offer_ids), 900):
        result = await session.execute(
            update(EmagOffer)
            .where(
                EmagOffer.account_id == account_id,
                EmagOffer.id.in_(offer_ids[start : start + 900]),
                or_(EmagOffer.last_seen_run_id.is_(None), EmagOffer.last_seen_run_id <= run_id),
                EmagOffer.missing_since.is_(None),
            )
            .values(missing_since=now)
        )
        changed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return changed


@dataclass(frozen=True)
class OfferFilter:
    account_ids: Sequence[int] | None = None
    search: str | None = None
    status: int | None = None
    in_stock: bool | None = None
    include_missing: bool = False


def apply_filter(query: Select[Any], f: OfferFilter) -> Select[Any]:
    account_ids, search, status, in_stock = f.account_ids, f.search, f.status, f.in_stock
    if account_ids is not None:
        query = query.where(EmagOffer.account_id.in_(account_ids))
    if search:
        pattern = like_pattern(search)
        conditions: list[ColumnElement[bool]] = [
            func.lower(EmagOffer.name).like(pattern, escape="\\"),
            func.lower(EmagOffer.part_number).like(pattern, escape="\\"),
            func.lower(EmagOffer.part_number_key).like(pattern, escape="\\"),
        ]
        emag_id = as_bigint(search)
        if emag_id is not None:
            conditions.append(EmagOffer.emag_id == emag_id)
        ean = "".join(search.split())
        if ean.isascii() and ean.isdigit() and len(ean) >= 4:
            # An EAN, whole (an index lookup when the offer has one) or in part.
            conditions.append(EmagOffer.ean_search == ean)
            conditions.append(EmagOffer.ean_search.like(f"%{ean}%"))
        query = query.where(or_(*conditions))
    if status is not None:
        query = query.where(EmagOffer.status == status)
    if in_stock is True:
        query = query.where(EmagOffer.stock_total > 0)
    elif in_stock is False:
        query = query.where(EmagOffer.stock_total <= 0)
    if not f.include_missing:
        query = query.where(EmagOffer.missing_since.is_(None))
    return query


SORTABLE = {
    "id": EmagOffer.id,
    "emag_id": EmagOffer.emag_id,
    "name": EmagOffer.name,
    "sale_price": EmagOffer.sale_price,
    "stock": EmagOffer.stock_total,
    "updated_at": EmagOffer.updated_at,
}


async def count_offers(session: AsyncSession, filters: OfferFilter) -> int:
    total = (
        await session.execute(apply_filter(select(func.count(EmagOffer.id)), filters))
    ).scalar_one()
    return int(total)


async def page_offers(
    session: AsyncSession,
    filters: OfferFilter,
    columns: tuple[str, ...],
    *,
    sort: str = "id",
    descending: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """One page, ``ORDER BY <sort>, id``: the ``columns`` of each offer, as plain dicts (see
    :func:`magflow.db.query.fetch_sorted_page`)."""

    return await fetch_sorted_page(
        session,
        EmagOffer,
        filters,
        columns,
        apply_filter,
        SORTABLE[sort],
        descending=descending,
        offset=offset,
        limit=limit,
    )


async def get_offer(session: AsyncSession, offer_id: int) -> EmagOffer | None:
    return await session.get(EmagOffer, offer_id)


async def offers_by_emag_id(
    session: AsyncSession, account_id: int, emag_ids: Iterable[int]
) -> dict[int, EmagOffer]:
    """The account's stored offers among ``emag_ids``, by eMAG id (read in chunks of 900: SQLite
    allows 999 parameters per statement)."""
    wanted = list(set(emag_ids))
    found: dict[int, EmagOffer] = {}
    for start in range(0, len(wanted), 900):
        rows = await session.execute(
            select(EmagOffer).where(
                EmagOffer.account_id == account_id,
                EmagOffer.emag_id.in_(wanted[start : start + 900]),
            )
        )
        found.update({offer.emag_id: offer for offer in rows.scalars()})
    return found


async def apply_offer_update(session: AsyncSession, offer_id: int, values: dict[str, Any]) -> None:
    if values:
        await session.execute(update(EmagOffer).where(EmagOffer.id == offer_id).values(**values))


async def offers_by_id(session: AsyncSession, offer_ids: Iterable[int]) -> dict[int, EmagOffer]:
    """Stored offers by their id (read in chunks of 900, SQLite's parameter limit)."""
    wanted = list(set(offer_ids))
    found: dict[int, EmagOffer] = {}
    for start in range(0, len(wanted), 900):
        rows = await session.execute(
            select(EmagOffer).where(EmagOffer.id.in_(wanted[start : start + 900]))
        )
        found.update({offer.id: offer for offer in rows.scalars()})
    return found


async def apply_offer_updates(
    session: AsyncSession, updates: list[tuple[int, dict[str, Any]]]
) -> None:
    """Several offers' ``(id, values)``: one executemany per set of columns (psycopg pipelines
    it), instead of one UPDATE round trip per offer."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for offer_id, values in updates:
        if values:
            groups.setdefault(tuple(sorted(values)), []).append({"offer_id": offer_id, **values})
    table = EmagOffer.__table__
    for names, rows in groups.items():
        await session.execute(
            update(table)  # type: ignore[arg-type]
            .where(table.c.id == bindparam("offer_id"))
            .values({name: bindparam(name) for name in names}),
            rows,
        )
