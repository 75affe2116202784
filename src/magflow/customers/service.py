"""Customer aggregates maintained from orders by deltas. Never commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.customers import analytics, repository
from magflow.customers.analytics import DEFAULT_CONFIG, AnalyticsConfig
from magflow.customers.models import EmagCustomer
from magflow.customers.schemas import CustomerOut

ORDER_CANCELLED = 0
ORDER_RETURNED = 5
PAYMENT_COD = 1
TYPE_FBE = 2


@dataclass(frozen=True)
class OrderFacts:
    """What one order contributes to its customer's aggregates."""

    account_id: int
    platform: str
    customer_key: str | None
    status: int
    order_type: int
    payment_mode_id: int | None
    total_with_vat: Decimal | None
    order_date: datetime | None
    currency: str | None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    emag_customer_id: int | None = None

    def counters(self, sign: int) -> dict[str, Any]:
        """The order's contribution, positive (``sign=1``) or withdrawn (``sign=-1``).

        Channel by order type: 2 (fulfilled by eMAG) counts as FBE, 3 as MAIN (§5.9). Spend
        counts orders neither cancelled nor returned.
        """
        spent = (
            self.total_with_vat or Decimal(0)
            if self.status not in (ORDER_CANCELLED, ORDER_RETURNED)
            else Decimal(0)
        )
        return {
            "orders_count": sign,
            "total_spent": sign * spent,
            "cancelled_count": sign * (self.status == ORDER_CANCELLED),
            "returned_count": sign * (self.status == ORDER_RETURNED),
            "cod_count": sign * (self.payment_mode_id == PAYMENT_COD),
            "main_orders": sign * (self.order_type != TYPE_FBE),
            "fbe_orders": sign * (self.order_type == TYPE_FBE),
        }


def _add(target: dict[str, Any], counters: dict[str, Any]) -> None:
    for name, value in counters.items():
        target[name] = target.get(name, 0) + value


async def apply_order_changes(
    session: AsyncSession,
    changes: Iterable[tuple[OrderFacts | None, OrderFacts]],
    now: datetime,
) -> None:
    """Move each order's contribution from its previous facts (None when new) to its new ones."""
    customers: dict[str, dict[str, Any]] = {}
    links: dict[tuple[str, int], dict[str, Any]] = {}
    for before, after in changes:
        for facts, sign in ((before, -1), (after, 1)):
            if facts is None or facts.customer_key is None:
                continue
            row = customers.setdefault(
                facts.customer_key,
                {
                    "customer_key": facts.customer_key,
                    "platform": facts.platform,
                    "emag_customer_id": None,
                    "name": None,
                    "email_hash": None,
                    "phone": None,
                    "currency": facts.currency,
                    "first_order_at": None,
                    "last_order_at": None,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            counters = facts.counters(sign)
            _add(row, counters)
            link = links.setdefault(
                (facts.customer_key, facts.account_id), {"orders_count": 0, "total_spent": 0}
            )
            link["orders_count"] += counters["orders_count"]
            link["total_spent"] += counters["total_spent"]
            if sign > 0:
                row["emag_customer_id"] = facts.emag_customer_id or row["emag_customer_id"]
                row["name"] = facts.name or row["name"]
                row["email_hash"] = facts.email or row["email_hash"]
                row["phone"] = facts.phone or row["phone"]
                if facts.order_date is not None:
                    first, last = row["first_order_at"], row["last_order_at"]
                    row["first_order_at"] = (
                        min(first, facts.order_date) if first else facts.order_date
                    )
                    row["last_order_at"] = max(last, facts.order_date) if last else facts.order_date
    # Rows go in key order: pages written at once lock shared customers in the same order,
    # so they wait for each other instead of deadlocking.
    ids = await repository.apply_customer_deltas(
        session, [customers[key] for key in sorted(customers)]
    )
    await repository.apply_account_deltas(
        session,
        sorted(
            (
                {"customer_id": ids[key], "account_id": account_id, **counters}
                for (key, account_id), counters in links.items()
                if counters["orders_count"] or counters["total_spent"]
            ),
            key=lambda link: (link["customer_id"], link["account_id"]),
        ),
    )


def customer_out(
    customer: EmagCustomer, now: datetime, config: AnalyticsConfig = DEFAULT_CONFIG
) -> CustomerOut:
    facts = analytics.insight(customer, now, config)
    return CustomerOut(
        id=customer.id,
        customer_key=customer.customer_key,
        platform=customer.platform,
        emag_customer_id=customer.emag_customer_id,
        name=customer.name,
        email_hash=customer.email_hash,
        phone=customer.phone,
        currency=customer.currency,
        orders_count=customer.orders_count,
        kept_orders=facts.kept_orders,
        cancelled_count=customer.cancelled_count,
        returned_count=customer.returned_count,
        cod_count=customer.cod_count,
        main_orders=customer.main_orders,
        fbe_orders=customer.fbe_orders,
        total_spent=customer.total_spent,
        average_order_value=facts.average_order_value,
        first_order_at=customer.first_order_at,
        last_order_at=customer.last_order_at,
        tier=facts.tier,
        loyalty_score=facts.loyalty_score,
        loyalty_band=facts.loyalty_band,
        risk_level=facts.risk_level,
        risk_score=facts.risk_score,
        cancellation_rate=facts.cancellation_rate,
        return_rate=facts.return_rate,
        cod_share=facts.cod_share,
        preferred_channel=facts.preferred_channel,
        is_repeat=facts.is_repeat,
    )
