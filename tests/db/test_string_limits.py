"""eMAG strings longer than their columns are stored the same way on SQLite and PostgreSQL.

The simulator serves an order whose customer name is 10,000 characters, then one whose currency
is ``</script>``: the name is cut to its column (255) on both databases; the currency refuses the
page with a clear run error and nothing of that page is written.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from magflow.customers.models import EmagCustomer
from magflow.db.limits import StoredValueError, fit_rows
from magflow.emag_sim import SimulatorServer
from magflow.orders.models import EmagOrder
from magflow.sync.models import SyncKind, SyncMode
from tests.support.simulation import Accounts, sync

LONG_NAME = "Ana-Maria " * 1_000  # 10,000 characters


async def test_long_names_are_cut_and_bad_currencies_refused_alike_on_every_database(
    ctx, sim: SimulatorServer, accounts: Accounts
) -> None:  # type: ignore[no-untyped-def]
    state = sim.simulator.state.accounts[accounts.main.username]
    named = state.materialize_order(0)
    named["customer"]["name"] = LONG_NAME
    run = await sync(ctx, accounts.main, SyncKind.orders, SyncMode.full)
    assert run.status == "completed", run.errors
    async with ctx.db.session() as session:
        order = (
            await session.execute(select(EmagOrder).where(EmagOrder.emag_id == named["id"]))
        ).scalar_one()
        assert order.customer_name == LONG_NAME[:255]
        assert order.raw["customer"]["name"] == LONG_NAME  # the payload stays as eMAG sent it
        names = (await session.execute(select(EmagCustomer.name))).scalars().all()
        assert max(len(name or "") for name in names) <= 255
        before = {
            o.emag_id: o.currency for o in (await session.execute(select(EmagOrder))).scalars()
        }

    hostile = state.materialize_order(1)
    hostile["currency"] = "</script>"
    run = await sync(ctx, accounts.main, SyncKind.orders, SyncMode.full)
    assert run.status == "failed"
    message = str(run.errors[-1])
    assert "currency '</script>' is not a currency code: 3 letters A-Z" in message
    assert f"eMAG id {hostile['id']}" in message
    async with ctx.db.session() as session:
        after = {
            o.emag_id: o.currency for o in (await session.execute(select(EmagOrder))).scalars()
        }
    assert after == before
    assert "</script>" not in after.values()


@pytest.mark.parametrize("currency", ["</script>", "ron", "RONX", "R0N", ""])
def test_malformed_currencies_are_refused(currency: str) -> None:
    table = EmagOrder.__table__
    with pytest.raises(StoredValueError, match="currency"):
        fit_rows(table, [{"emag_id": 7, "currency": currency}])  # type: ignore[arg-type]


def test_free_text_is_cut_to_its_column_and_short_rows_are_untouched() -> None:
    table = EmagOrder.__table__
    rows = [
        {"emag_id": 1, "currency": "RON", "customer_name": "x" * 300, "payment_mode": "y" * 70},
        {"emag_id": 2, "currency": None, "customer_name": "Ion", "payment_mode": None},
    ]
    fitted = fit_rows(table, rows)  # type: ignore[arg-type]
    assert fitted[0]["customer_name"] == "x" * 255 and fitted[0]["payment_mode"] == "y" * 64
    assert fitted[1] is rows[1]
    assert rows[0]["customer_name"] == "x" * 300  # the caller's rows are not modified
