"""Answers of ``GET /api/v1/performance``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from magflow.common.schemas import UtcDateTime


class ThresholdOut(BaseModel):
    limit: float
    comparison: Literal["<=", ">="]  # value compared to limit
    source: str


class MetricOut(BaseModel):
    key: str
    label: str
    unit: Literal["%", "min"]
    value: float | None
    numerator: int | None  # rates: the orders counted
    denominator: int  # rates: the orders they are counted among; times: the orders measured
    previous: float | None  # the same metric over the period before
    change: float | None  # value - previous (percentage points or minutes)
    direction: Literal["better", "worse", "same"] | None
    lower_is_better: bool
    threshold: ThresholdOut | None
    status: Literal["green", "amber", "red"] | None


class DailyOut(BaseModel):
    day: str  # local day of the account's platform
    orders: int
    ack_time_median: float | None
    ack_time_p95: float | None
    late_shipment_rate: float | None
    seller_cancellation_rate: float | None
    invoice_rate: float | None
    return_rate: float | None
    awb_share: float | None


class PerformanceOut(BaseModel):
    account: str
    days: int
    since: UtcDateTime
    until: UtcDateTime
    orders: int  # orders placed in the period
    metrics: list[MetricOut]
    daily: list[DailyOut]
