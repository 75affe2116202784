"""Every query of seller performance: the compact columns of an account's orders placed in a time
range, and the eMAG order ids that have a return request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.orders.models import EmagOrder
from magflow.returns.models import EmagReturn

#: Return ``request_status`` values that are no return: 1 incomplete, 4 refused, 5 cancelled
# (docs/emag-protocol.md, "Returns").
NOT_A_RETURN = (1, 4, 5)


@dataclass(frozen=True)
class OrderRow:
    """What the formulas read of one order (datetimes aware, UTC)."""

    emag_id: int
    order_type: int
    status: int
    order_date: datetime
    acknowledged_at: datetime | None
    ack_observed_at: datetime | None
    maximum_date_for_shipment: datetime | None
    finalization_date: datetime | None
    late_shipment: bool | None
    cancellation_requested: bool | None
    has_invoice: bool | None
    has_awb: bool
    reason_cancellation: dict[str, Any] | None


async def orders_placed(
    session: AsyncSession, account_id: int, since: datetime, until: datetime
) -> list[OrderRow]:
    """The account's orders with ``since <= order_date < until`` (``ix_emag_orders_account_date``);
    their payloads are not loaded."""
    result = await session.execute(
        select(
            EmagOrder.emag_id,
            EmagOrder.order_type,
            EmagOrder.status,
            EmagOrder.order_date,
            EmagOrder.acknowledged_at,
            EmagOrder.ack_observed_at,
            EmagOrder.maximum_date_for_shipment,
            EmagOrder.finalization_date,
            EmagOrder.late_shipment,
            EmagOrder.cancellation_requested,
            EmagOrder.has_invoice,
            EmagOrder.awb_number.is_not(None),
            EmagOrder.reason_cancellation,
        ).where(
            EmagOrder.account_id == account_id,
            EmagOrder.order_date >= since,
            EmagOrder.order_date < until,
        )
    )
    return [OrderRow(*cast(tuple[Any, ...], row)) for row in result]


async def returned_order_ids(session: AsyncSession, account_id: int) -> set[int]:
    """eMAG ids of the account's orders with a return request that is one (not incomplete,
    refused or cancelled)."""
    result = await session.execute(
        select(EmagReturn.order_emag_id).where(
            EmagReturn.account_id == account_id,
            EmagReturn.order_emag_id.is_not(None),
            EmagReturn.request_status.not_in(NOT_A_RETURN),
        )
    )
    return {order_id for (order_id,) in result if order_id is not None}
