"""Customer aggregates maintained from orders by deltas, and the customers' summary the API
shows. Never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.cache import Cache
from magflow.customers import analytics, repository
from magflow.customers.analytics import DEFAULT_CONFIG, AnalyticsConfig
from magflow.customers.models import NO_CURRENCY
from magflow.customers.schemas import CustomerSummary
from magflow.emag.codes import OrderStatus, OrderType, PaymentMode

#: How long a computed summary is served from the cache.
SUMMARY_CACHE_TTL_SECONDS = 60.0


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

        Channel by order type: FBE (fulfilled by eMAG) counts as FBE, every other as MAIN
        (docs/emag-protocol.md, "Orders"). Spend counts orders neither cancelled nor returned.
        """
        spent = (
            self.total_with_vat or Decimal(0)
            if self.status not in (OrderStatus.CANCELLED, OrderStatus.RETURNED)
            else Decimal(0)
        )
        return {
            "orders_count": sign,
            "total_spent": sign * spent,
            "cancelled_count": sign * (self.status == OrderStatus.CANCELLED),
            "returned_count": sign * (self.status == OrderStatus.RETURNED),
            "cod_count": sign * (self.payment_mode_id == PaymentMode.COD),
            "main_orders": sign * (self.order_type != OrderType.FBE),
            "fbe_orders": sign * (self.order_type == OrderType.FBE),
        }


def _add(target: dict[str, Any], counters: dict[str, Any]) -> None:
    for name, value in counters.items():
        target[name] = target.get(name, 0) + value


async def apply_order_changes(
    session: AsyncSession,
    changes: Iterable[tuple[OrderFacts | None, OrderFacts]],
    now: datetime,
) -> None:
    """Move each order's contribution from its previous facts (None when new) to its new ones.

    Spend is kept per (customer, account, currency) in ``emag_customer_spend`` (the order's own
    ``currency``, never one inferred from the platform: docs/emag-protocol.md, "Hosts and
    platforms"); the customer's ``total_spent`` is then recomputed from it in the customer's
    currency only, so a BG customer's BGN and EUR orders are never added up (issue 13, point 7).
    """
    customers: dict[str, dict[str, Any]] = {}
    links: dict[tuple[str, int], dict[str, Any]] = {}
    spend: dict[tuple[str, int, str], dict[str, Any]] = {}
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
            # -- spend per currency (issue 13, point 7) --
            kept = facts.status not in (OrderStatus.CANCELLED, OrderStatus.RETURNED)
            cell = spend.setdefault(
                (facts.customer_key, facts.account_id, facts.currency or NO_CURRENCY),
                {"orders_count": 0, "total_spent": Decimal(0)},
            )
            cell["orders_count"] += sign * kept
            cell["total_spent"] += counters["total_spent"]
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
    # -- spend per currency (issue 13, point 7) --
    await repository.apply_spend_deltas(
        session,
        [
            {"customer_id": ids[key], "account_id": account_id, "currency": currency, **cell}
            for (key, account_id, currency), cell in sorted(spend.items())
            if cell["orders_count"] or cell["total_spent"]
        ],
    )
    await repository.recompute_spent(session, [ids[key] for key in sorted(customers)])


def _spend_only_segment(currency: str, spent: Decimal) -> dict[str, Any]:
    """A summary segment that adds ``spent`` to ``currency`` and nothing else."""
    row: dict[str, Any] = {
        name: 0
        for name in ("customers", "orders", "cancelled", "returned", "active", "new", "repeat")
    }
    for prefix, names in (
        ("tier", analytics.TIERS),
        ("channel", analytics.CHANNELS),
        ("risk", analytics.RISK_LEVELS),
        ("band", [name for _, name in analytics.LOYALTY_BANDS]),
    ):
        row.update({f"{prefix}:{name}": 0 for name in names})
    return {**row, "currency": currency, "spent": spent}


async def customer_summary(
    session: AsyncSession,
    now: datetime,
    config: AnalyticsConfig = DEFAULT_CONFIG,
    accounts: Sequence[int] | None = None,
    cache: Cache | None = None,
) -> CustomerSummary:
    """The summary over all customers (of ``accounts`` when given); from ``cache`` when there.

    The cache key holds the config's fingerprint and the accounts, so that different views never
    share an entry; the sync wiring clears the cache when a run ends."""

    async def compute() -> dict[str, Any]:
        segments = await repository.customer_segments(session, now, config, accounts)
        # Spend per order currency (issue 13, point 7): the customers' ``total_spent`` leaves out
        # their orders in another currency than their own; those are added to their currency's
        # row here, never to another.
        for currency, (_orders, total) in (
            await repository.other_currency_spend(session, accounts)
        ).items():
            segments.append(_spend_only_segment(currency, total))
        folded = analytics.summarize(segments, now, config)
        summary = CustomerSummary.model_validate(folded)
        return summary.model_dump(mode="json")

    if cache is None:
        return CustomerSummary.model_validate(await compute())
    scope = ",".join(str(a) for a in sorted(accounts)) if accounts is not None else "all"
    key = f"customers:summary:{config.fingerprint()}:{scope}"
    # Kept validated in the process for a second (Cache.near): read with every listing page.
    return await cache.near(key, SUMMARY_CACHE_TTL_SECONDS, compute, CustomerSummary.model_validate)
