"""The customers' filters from the query string: one dependency for the listing
(``GET /api/v1/admin/emag-customers``) and its export (``.../export``), so that both select the
same customers with the same formulas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Depends, Query, Request

from magflow.common.deps import AccountIds
from magflow.common.schemas import DB_INT_MAX
from magflow.customers import repository
from magflow.customers.analytics import DEFAULT_CONFIG, AnalyticsConfig, RiskLevel, Tier

#: The app-state attribute holding an :class:`AnalyticsConfig` that overrides the defaults.
CONFIG_STATE_ATTRIBUTE = "customer_analytics"


def analytics_config(request: Request) -> AnalyticsConfig:
    """The app's formulas: ``app.state.customer_analytics`` when set, else the defaults."""
    config = getattr(request.app.state, CONFIG_STATE_ATTRIBUTE, None)
    return config if isinstance(config, AnalyticsConfig) else DEFAULT_CONFIG


async def customer_filter(
    request: Request,
    account_ids: AccountIds,
    search: Annotated[str | None, Query(max_length=200)] = None,
    tier: Annotated[list[Tier] | None, Query()] = None,
    risk: Annotated[list[RiskLevel] | None, Query()] = None,
    channel: Annotated[list[Literal["main", "fbe", "mixed"]] | None, Query()] = None,
    loyalty_min: Annotated[int | None, Query(ge=0, le=100)] = None,
    loyalty_max: Annotated[int | None, Query(ge=0, le=100)] = None,
    min_orders: Annotated[int | None, Query(ge=0, le=DB_INT_MAX)] = None,
) -> repository.CustomerFilter:
    return repository.CustomerFilter(
        now=datetime.now(UTC),
        config=analytics_config(request),
        account_ids=account_ids,
        search=search.strip() if search and search.strip() else None,
        tiers=list(tier or ()),
        risks=list(risk or ()),
        channels=list(channel or ()),
        loyalty_min=loyalty_min,
        loyalty_max=loyalty_max,
        min_orders=min_orders,
    )


CustomerFilterQuery = Annotated[repository.CustomerFilter, Depends(customer_filter)]
