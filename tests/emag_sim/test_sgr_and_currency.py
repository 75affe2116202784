"""The simulator's SGR deposit on order lines (eMAG RO only) and its currencies: eMAG BG sells in
EUR since 1 January 2026 (docs/emag-protocol.md, "Orders", "Hosts and platforms")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from magflow.emag_sim import SimulatorServer

from .conftest import Emag, small_config


def all_orders(emag: Emag) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while rows := emag.ok("order/read", {"type": 3, "currentPage": page, "itemsPerPage": 100}):
        found.extend(rows)
        page += 1
    return found


def test_ro_lines_of_every_seventh_product_carry_a_deposit_counted_in_cashed_cod(
    main: Emag,
) -> None:
    orders = all_orders(main)
    assert orders
    with_deposit = collected = 0
    for order in orders:
        assert order["currency"] == "RON"
        deposit = Decimal(0)
        for line in order["products"]:
            warranties = line["recycle_warranties"]
            if int(line["product_id"]) % 7:
                assert warranties == []
                continue
            (warranty,) = warranties
            assert Decimal(str(warranty["quantity"])) == Decimal(str(line["quantity"]))
            assert warranty["sale_price"] == "0.5000" and warranty["vat_rate"] == "0.21"
            assert warranty["product_name"]
            deposit += Decimal(str(warranty["quantity"])) * Decimal("0.50") * Decimal("1.21")
        with_deposit += deposit > 0
        if deposit and order["payment_mode_id"] == 1 and order["status"] in (4, 5):
            # What the courier collected includes the deposit (the simulator's cashed_cod is the
            # lines with VAT plus shipping, vouchers not deducted).
            vat = 1 + Decimal(order["products"][0]["vat"])
            lines = sum(
                Decimal(str(p["quantity"])) * Decimal(p["sale_price"]) * vat
                for p in order["products"]
            )
            expected = lines + deposit + Decimal(order["shipping_tax"])
            assert abs(Decimal(order["cashed_cod"]) - expected) < Decimal("0.01"), order["id"]
            collected += 1
    assert with_deposit > 0 and collected > 0


def test_bg_offers_and_orders_are_in_eur_without_a_deposit() -> None:
    with SimulatorServer(small_config(platform="bg", offers=40, orders=80)) as sim:
        emag = Emag(sim, "u-main", "p-main")
        try:
            offers = emag.ok("product_offer/read", {"currentPage": 1, "itemsPerPage": 100})
            assert offers and {o["currency"] for o in offers} == {"EUR"}
            orders = all_orders(emag)
            assert orders and {o["currency"] for o in orders} == {"EUR"}
            lines = [line for order in orders for line in order["products"]]
            assert {line["currency"] for line in lines} == {"EUR"}
            assert all(line["recycle_warranties"] == [] for line in lines)
            assert any(int(line["product_id"]) % 7 == 0 for line in lines)
        finally:
            emag.close()
