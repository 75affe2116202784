"""Request bodies of the pricing API (answers are plain JSON views built by the services)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from magflow.common.schemas import DbId, StorableText

Amount = Annotated[Decimal, Field(ge=0, lt=Decimal("1e12"), decimal_places=4)]
Fraction = Annotated[Decimal, Field(ge=0, lt=1, decimal_places=6)]
OfferId = Annotated[int, Field(ge=1, le=2**53)]


class CostItem(BaseModel):
    offer_id: StorableText | OfferId
    unit_cost: StorableText | Decimal | None = None
    currency: Annotated[StorableText, Field(max_length=3)] | None = None


class CostsIn(BaseModel):
    items: Annotated[list[CostItem], Field(min_length=1, max_length=100_000)]


class CommissionItem(BaseModel):
    category_id: DbId
    rate: Fraction


class CommissionsIn(BaseModel):
    items: Annotated[list[CommissionItem], Field(min_length=1, max_length=10_000)]


class EstimateIn(BaseModel):
    offer_ids: Annotated[list[OfferId], Field(min_length=1, max_length=100)]


class SettingsIn(BaseModel):
    shipping_per_order: Amount | None = None
    packaging_per_order: Amount | None = None
    fbe_fee_per_order: Amount | None = None
    default_commission_rate: Fraction | None = None


class RuleIn(BaseModel):
    name: Annotated[StorableText, Field(min_length=1, max_length=128)]
    scope: Literal["offers", "category", "brand", "account"]
    strategy: Literal["win", "match", "margin"]
    min_margin: Annotated[Decimal, Field(ge=0, lt=Decimal("0.9"), decimal_places=6)]
    target_margin: Annotated[Decimal, Field(ge=0, lt=Decimal("0.9"), decimal_places=6)] | None = (
        None
    )
    step: Annotated[Decimal, Field(gt=0, lt=Decimal("1e9"), decimal_places=4)] = Decimal("0.01")
    category_id: DbId | None = None
    brand: Annotated[StorableText, Field(max_length=255)] | None = None
    offer_ids: Annotated[list[OfferId], Field(max_length=10_000)] | None = None
    cooldown_minutes: Annotated[int, Field(ge=0, le=10_080)] = 60
    max_changes_per_day: Annotated[int, Field(ge=1, le=1_000)] = 10
    stop_after_steps: Annotated[int, Field(ge=1, le=1_000)] = 5
    enabled: bool = True


class RulePatch(BaseModel):
    name: Annotated[StorableText, Field(min_length=1, max_length=128)] | None = None
    strategy: Literal["win", "match", "margin"] | None = None
    min_margin: Annotated[Decimal, Field(ge=0, lt=Decimal("0.9"), decimal_places=6)] | None = None
    target_margin: Annotated[Decimal, Field(ge=0, lt=Decimal("0.9"), decimal_places=6)] | None = (
        None
    )
    step: Annotated[Decimal, Field(gt=0, lt=Decimal("1e9"), decimal_places=4)] | None = None
    offer_ids: Annotated[list[OfferId], Field(max_length=10_000)] | None = None
    cooldown_minutes: Annotated[int, Field(ge=0, le=10_080)] | None = None
    max_changes_per_day: Annotated[int, Field(ge=1, le=1_000)] | None = None
    stop_after_steps: Annotated[int, Field(ge=1, le=1_000)] | None = None
    enabled: bool | None = None


class RunIn(BaseModel):
    dry_run: bool = True
