"""``GET /api/v1/performance`` and its CSV export (formulas: :mod:`magflow.performance.service`)."""

from __future__ import annotations

import csv
import inspect
import io
import re
from datetime import UTC, datetime
from enum import IntEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from magflow.accounts.models import EmagAccount
from magflow.auth.dependencies import CurrentUser
from magflow.common.deps import AccountByName, Session
from magflow.performance import service
from magflow.performance.schemas import DailyOut, MetricOut, PerformanceOut, ThresholdOut

router = APIRouter(prefix="/api/v1/performance", tags=["performance"])


class Period(IntEnum):
    """The periods offered: the last 7, 30 or 90 days."""

    WEEK = 7
    MONTH = 30
    QUARTER = 90


Days = Annotated[Period, Query(description="the period: the last 7, 30 or 90 days")]
DESCRIPTION = inspect.cleandoc((service.__doc__ or "").split("\n", 1)[-1])


def metric_out(metric: service.Metric) -> MetricOut:
    spec = metric.spec
    threshold = spec.threshold
    return MetricOut(
        key=spec.key,
        label=spec.label,
        unit=spec.unit,
        value=metric.current.value,
        numerator=metric.current.numerator,
        denominator=metric.current.denominator,
        previous=metric.previous.value,
        change=metric.change,
        direction=metric.direction,
        lower_is_better=spec.lower_is_better,
        threshold=ThresholdOut(
            limit=threshold.limit,
            comparison="<=" if threshold.lower_is_better else ">=",
            source=threshold.source,
        )
        if threshold
        else None,
        status=metric.status,
    )


async def _compute(session: Session, account: EmagAccount, days: int) -> PerformanceOut:
    found = await service.performance(session, account, int(days), datetime.now(UTC))
    return PerformanceOut(
        account=found.account,
        days=found.days,
        since=found.since,
        until=found.until,
        orders=found.orders,
        metrics=[metric_out(m) for m in found.metrics],
        daily=[DailyOut.model_validate(d) for d in found.daily],
    )


@router.get(
    "",
    response_model=PerformanceOut,
    summary="An account's seller performance over 7, 30 or 90 days, with trend and thresholds",
    description="Any logged-in user.\n\n" + DESCRIPTION,
)
async def get_performance(
    session: Session, _user: CurrentUser, account: AccountByName, days: Days = Period.MONTH
) -> Any:
    return await _compute(session, account, days)


SUMMARY_COLUMNS = (
    "metric",
    "label",
    "unit",
    "value",
    "numerator",
    "denominator",
    "previous",
    "change",
    "direction",
    "threshold",
    "status",
)


@router.get(
    "/export",
    summary="The performance as CSV: one row per metric, or per day (`table=daily`)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_performance(
    session: Session,
    _user: CurrentUser,
    account: AccountByName,
    days: Days = Period.MONTH,
    table: Literal["summary", "daily"] = "summary",
) -> Response:
    found = await _compute(session, account, days)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if table == "summary":
        writer.writerow(SUMMARY_COLUMNS)
        for m in found.metrics:
            threshold = f"{m.threshold.comparison} {m.threshold.limit:g}" if m.threshold else ""
            writer.writerow(
                [
                    m.key,
                    m.label,
                    m.unit,
                    m.value,
                    m.numerator,
                    m.denominator,
                    m.previous,
                    m.change,
                    m.direction,
                    threshold,
                    m.status,
                ]
            )
    else:
        columns = list(DailyOut.model_fields)
        writer.writerow(columns)
        for day in found.daily:
            writer.writerow([getattr(day, c) for c in columns])
    # csv writes None as an empty field.
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", found.account)
    filename = f"performance-{name}-{int(days)}d-{table}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
