"""Migration 0011 gives accounts warehouse 1 and splits customers' spend per currency: a customer
stored before it with BGN and EUR orders keeps only its own currency in ``total_spent``."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from magflow.db.migrate import sync_url, upgrade
from tests.db.test_offer_ean_migration import _row, fresh_url

__all__ = ["fresh_url"]


def test_existing_customers_get_their_spend_per_currency(fresh_url: str) -> None:
    upgrade(fresh_url, "0008")
    engine = sa.create_engine(sync_url(fresh_url))
    try:
        with engine.begin() as conn:
            meta = sa.MetaData()
            accounts = sa.Table("emag_accounts", meta, autoload_with=conn)
            customers = sa.Table("emag_customers", meta, autoload_with=conn)
            orders = sa.Table("emag_orders", meta, autoload_with=conn)
            account_id = conn.execute(
                accounts.insert().values(_row(accounts, name="bg", platform="bg"))
            ).inserted_primary_key[0]
            conn.execute(
                customers.insert().values(
                    _row(
                        customers,
                        customer_key="bg:id:1",
                        platform="bg",
                        currency="BGN",
                        orders_count=4,
                        cancelled_count=1,
                        returned_count=0,
                        total_spent=Decimal("450"),  # 300 BGN + 150 EUR, added up before 0011
                    )
                )
            )
            for emag_id, status, currency, total in (
                (1, 4, "BGN", "300"),
                (2, 4, "EUR", "100"),
                (3, 3, "EUR", "50"),
                (4, 0, "EUR", "999"),  # cancelled: no spend
            ):
                conn.execute(
                    orders.insert().values(
                        _row(
                            orders,
                            account_id=account_id,
                            emag_id=emag_id,
                            status=status,
                            currency=currency,
                            total_with_vat=Decimal(total),
                            customer_key="bg:id:1",
                        )
                    )
                )
        upgrade(fresh_url)
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT warehouse_id FROM emag_accounts")).scalar() == 1
            row = conn.execute(
                sa.text("SELECT total_spent, spent_orders FROM emag_customers")
            ).one()
            assert (Decimal(row[0]), row[1]) == (Decimal("300"), 1)
            spend = {
                currency: (count, Decimal(total))
                for currency, count, total in conn.execute(
                    sa.text("SELECT currency, orders_count, total_spent FROM emag_customer_spend")
                )
            }
            assert spend == {"BGN": (1, Decimal("300")), "EUR": (2, Decimal("150"))}
    finally:
        engine.dispose()
