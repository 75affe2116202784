"""Customer aggregates move by deltas: re-applying an order changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from magflow.accounts.models import AccountType
from magflow.context import AppContext
from magflow.customers.models import EmagCustomer, EmagCustomerAccount
from magflow.customers.service import OrderFacts, apply_order_changes
from tests.factories import make_account

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def facts(account_id: int, **overrides: object) -> OrderFacts:
    values: dict[str, object] = {
        "account_id": account_id,
        "platform": "ro",
        "customer_key": "ro:id:1",
        "status": 4,
        "order_type": 3,
        "payment_mode_id": 1,
        "total_with_vat": Decimal("100"),
        "order_date": datetime(2026, 10, 1, tzinfo=UTC),
        "currency": "RON",
        "name": "Ana",
    }
    values.update(overrides)
    return OrderFacts(**values)  # type: ignore[arg-type]


async def customers(ctx: AppContext) -> dict[str, EmagCustomer]:
    async with ctx.db.session() as session:
        rows = (await session.execute(select(EmagCustomer))).scalars().all()
        return {row.customer_key: row for row in rows}


async def test_new_orders_add_and_status_changes_move_spend(ctx: AppContext) -> None:
    main = await make_account(ctx, account_type=AccountType.main)
    fbe = await make_account(ctx, account_type=AccountType.fbe)
    first = facts(main.id)
    second = facts(
        fbe.id,
        order_type=2,
        payment_mode_id=3,
        total_with_vat=Decimal("50"),
        order_date=datetime(2026, 11, 20, tzinfo=UTC),
    )
    async with ctx.db.session() as session:
        await apply_order_changes(session, [(None, first), (None, second)], NOW)
        await session.commit()
    row = (await customers(ctx))["ro:id:1"]
    assert (row.orders_count, row.total_spent, row.cod_count) == (2, Decimal("150"), 1)
    assert (row.main_orders, row.fbe_orders) == (1, 1)
    assert row.first_order_at == datetime(2026, 10, 1, tzinfo=UTC)
    assert row.last_order_at == datetime(2026, 11, 20, tzinfo=UTC)

    # The same orders again (a retried page): nothing moves.
    async with ctx.db.session() as session:
        await apply_order_changes(session, [(first, first), (second, second)], NOW)
        await session.commit()
    again = (await customers(ctx))["ro:id:1"]
    assert (again.orders_count, again.total_spent) == (2, Decimal("150"))

    # The first order is cancelled: spend drops, the order still counts, cancellations rise.
    cancelled = facts(main.id, status=0)
    async with ctx.db.session() as session:
        await apply_order_changes(session, [(first, cancelled)], NOW)
        await session.commit()
    after = (await customers(ctx))["ro:id:1"]
    assert (after.orders_count, after.total_spent, after.cancelled_count) == (2, Decimal("50"), 1)

    async with ctx.db.session() as session:
        links = {
            link.account_id: (link.orders_count, link.total_spent)
            for link in (await session.execute(select(EmagCustomerAccount))).scalars()
        }
    assert links == {main.id: (1, Decimal("0")), fbe.id: (1, Decimal("50"))}


async def test_orders_without_customer_are_ignored(ctx: AppContext) -> None:
    account = await make_account(ctx)
    async with ctx.db.session() as session:
        await apply_order_changes(session, [(None, facts(account.id, customer_key=None))], NOW)
        await session.commit()
    assert await customers(ctx) == {}
