"""Every answer writes a time in UTC with ``Z`` and money with 4 decimals, whichever path built
it: a write-back answer (what eMAG just sent: Bucharest time, 2 decimals) reads like a listing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from magflow.common.schemas import Money, UtcDateTime
from magflow.context import AppContext
from magflow.emag_sim import SimulatorServer
from magflow.orders.schemas import OrderOut
from tests.common.test_errors import new_order
from tests.orders.support import Clients
from tests.support.simulation import Accounts

UTC_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
MONEY_TEXT = re.compile(r"^-?\d+\.\d{4}$")
TIME_FIELDS = ("order_date", "emag_modified_at", "acknowledged_at")
MONEY_FIELDS = ("shipping_tax", "total_without_vat", "total_with_vat")


class Sample(BaseModel):
    at: UtcDateTime
    price: Money


def test_shared_types_write_utc_and_four_decimals() -> None:
    bucharest = timezone(timedelta(hours=2))
    sample = Sample(at=datetime(2026, 3, 1, 12, 30, tzinfo=bucharest), price=Decimal("0.00"))
    assert sample.model_dump(mode="json") == {"at": "2026-03-01T10:30:00Z", "price": "0.0000"}
    sample = Sample(at=datetime(2026, 3, 1, 12, 30, 0, 5000), price=Decimal("1E+3"))
    assert sample.model_dump(mode="json") == {
        "at": "2026-03-01T12:30:00.005000Z",  # naive: every stored time is UTC
        "price": "1000.0000",
    }
    # An amount keeps its Python value (only its JSON text is normalised); a time is in UTC.
    assert sample.model_dump()["price"] == Decimal("1E+3")
    assert sample.model_dump()["at"] == datetime(2026, 3, 1, 12, 30, 0, 5000, tzinfo=UTC)
    # Written from pydantic's own code (a time at offset 0 needs no conversion), the same text.
    at = datetime(2026, 3, 1, 12, 30, 0, 7, tzinfo=UTC)
    assert Sample(at=at, price=Decimal(1)).model_dump_json() == (
        '{"at":"2026-03-01T12:30:00.000007Z","price":"1.0000"}'
    )
    assert Sample(at="2026-03-01T14:30:00+02:00", price=1).at == datetime(
        2026, 3, 1, 12, 30, tzinfo=UTC
    )
    # The schema of a time is a date-time string, as before.
    at_schema = Sample.model_json_schema(mode="serialization")["properties"]["at"]
    assert at_schema == {"format": "date-time", "title": "At", "type": "string"}
    # The schema says what the answer holds.
    properties = OrderOut.model_json_schema(mode="serialization")["properties"]
    assert {"type": "string"} in properties["total_with_vat"]["anyOf"]


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("1E-7"), "0.0000"),
        (Decimal("0.00016"), "0.0002"),
        (Decimal("-0"), "-0.0000"),
        (Decimal("12345678901234.56"), "12345678901234.5600"),
        (Decimal("5E+12"), "5000000000000.0000"),
        (7, "7.0000"),
    ],
)
def test_amounts_never_show_an_exponent(amount: Decimal, text: str) -> None:
    assert Sample(at=datetime(2026, 1, 1), price=amount).model_dump(mode="json")["price"] == text


def _formats(order: dict[str, Any]) -> None:
    for name in TIME_FIELDS:
        if order[name] is not None:
            assert UTC_TEXT.match(order[name]), (name, order[name])
    for name in MONEY_FIELDS:
        if order[name] is not None:
            assert MONEY_TEXT.match(order[name]), (name, order[name])


async def test_write_back_answers_read_like_listings(
    ctx: AppContext, sim: SimulatorServer, accounts: Accounts, clients: Clients
) -> None:
    order = await new_order(ctx, sim, accounts)
    response = await clients.operator.post(f"/api/v1/emag/orders/{order.id}/acknowledge")
    assert response.status_code == 200, response.text
    written = response.json()["order"]
    assert written["acknowledged_at"] is not None
    _formats(written)

    read = (await clients.viewer.get(f"/api/v1/emag/orders/{order.id}")).json()
    _formats(read)
    for name in (*TIME_FIELDS, *MONEY_FIELDS):
        assert written[name] == read[name], name
    listed = (await clients.viewer.get("/api/v1/emag/orders", params={"account": "main"})).json()
    row = next(o for o in listed["items"] if o["id"] == order.id)
    _formats(row)
    assert datetime.fromisoformat(row["acknowledged_at"]).tzinfo == UTC
