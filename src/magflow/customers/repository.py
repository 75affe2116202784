"""Every query on ``emag_customers`` and ``emag_customer_accounts``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.customers.models import EmagCustomer, EmagCustomerAccount
from magflow.db.upsert import dialect_insert

_COUNTERS = [
    "orders_count",
    "total_spent",
    "cancelled_count",
    "returned_count",
    "cod_count",
    "main_orders",
    "fbe_orders",
]


async def apply_customer_deltas(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> dict[str, int]:
    """Add each row's counters to its customer (created when new); returns ids by key.

    Identity fields (name, email, phone) take the latest non-null value; first/last order dates
    widen only, so applying the same order twice leaves them as they were.
    """
    if not rows:
        return {}
    table = EmagCustomer.__table__
    statement = dialect_insert(session, table).values(rows)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["customer_key"],
        set_={
            **{name: table.c[name] + excluded[name] for name in _COUNTERS},
            "name": case((excluded.name.is_(None), table.c.name), else_=excluded.name),
            "email_hash": case(
                (excluded.email_hash.is_(None), table.c.email_hash), else_=excluded.email_hash
            ),
            "phone": case((excluded.phone.is_(None), table.c.phone), else_=excluded.phone),
            "first_order_at": case(
                (table.c.first_order_at.is_(None), excluded.first_order_at),
                (excluded.first_order_at < table.c.first_order_at, excluded.first_order_at),
                else_=table.c.first_order_at,
            ),
            "last_order_at": case(
                (table.c.last_order_at.is_(None), excluded.last_order_at),
                (excluded.last_order_at > table.c.last_order_at, excluded.last_order_at),
                else_=table.c.last_order_at,
            ),
            "updated_at": excluded.updated_at,
        },
    )
    await session.execute(statement)
    result = await session.execute(
        select(EmagCustomer.customer_key, EmagCustomer.id).where(
            EmagCustomer.customer_key.in_([row["customer_key"] for row in rows])
        )
    )
    return {key: customer_id for key, customer_id in result.all()}


async def apply_account_deltas(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = EmagCustomerAccount.__table__
    statement = dialect_insert(session, table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["customer_id", "account_id"],
        set_={
            "orders_count": table.c.orders_count + statement.excluded.orders_count,
            "total_spent": table.c.total_spent + statement.excluded.total_spent,
        },
    )
    await session.execute(statement)
