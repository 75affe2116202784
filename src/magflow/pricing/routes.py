"""The pricing API under ``/api/v1/pricing`` (see README, "API"). An offer in a path is its id
in MagFlow (``/api/v1/emag/offers/{id}``); in bodies and answers, offers are the seller's eMAG ids
(``emag_id``) of the account named by ``account``."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, HTTPException, Query, UploadFile, status
from fastapi.responses import Response

from magflow.audit.service import Actor
from magflow.auth.dependencies import CurrentUser, Operator
from magflow.bulk.parsing import UploadError, parse_upload_in_thread
from magflow.common.dates import parse_user_datetime
from magflow.common.deps import AccountByName, AccountIds, Context, Session
from magflow.common.errors import UNPROCESSABLE
from magflow.common.schemas import IdPath
from magflow.exports.service import csv_value, xlsx_value
from magflow.pricing import repository, repricer, rule_service, service
from magflow.pricing.schemas import (
    CommissionsIn,
    CostsIn,
    EstimateIn,
    RuleIn,
    RulePatch,
    RunIn,
    SettingsIn,
)

router = APIRouter(prefix="/api/v1/pricing", tags=["pricing"])

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
Limit = Annotated[int, Query(ge=1, le=1000)]


def _unprocessable(exc: Exception) -> HTTPException:
    return HTTPException(UNPROCESSABLE, detail=str(exc))


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parse_user_datetime(value)
    except ValueError as exc:
        raise _unprocessable(exc) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- history -----------------------------------------------------------------------------------


@router.get("/offers/{offer_id}/history")
async def offer_history(
    session: Session,
    _user: CurrentUser,
    offer_id: IdPath,
    since: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 500,
) -> Any:
    """The offer's recorded changes (oldest first): its price and stock, Buy Button rank, best
    offer price, number of offers and validation statuses. ``offer_id`` is the offer's id in
    MagFlow (as in ``/api/v1/emag/offers/{id}``)."""
    account, emag_id = await service.offer_ref(session, offer_id)
    return await service.offer_history(session, account, emag_id, _since(since), limit)


@router.get("/history/changes")
async def history_changes(
    session: Session,
    _user: CurrentUser,
    account_ids: AccountIds,
    since: Annotated[str, Query(max_length=64)],
    after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Limit = 500,
) -> Any:
    """Every offer change recorded since ``since``, in order; page with ``after_id`` = the last
    ``id`` received."""
    start = _since(since)
    assert start is not None
    rows = await repository.history_since(session, account_ids, start, after_id, limit)
    return [service.history_view(r) for r in rows]


@router.get("/buy-buttons")
async def buy_buttons(
    session: Session,
    _user: CurrentUser,
    account_ids: AccountIds,
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
) -> Any:
    """Buy Buttons won and lost in the last ``hours`` (from the offer history)."""
    return await service.buy_buttons(session, account_ids, hours)


# -- costs, commissions, settings --------------------------------------------------------------


async def _import(session: Session, account: Any, rows: list[dict[str, Any]]) -> Any:
    try:
        results = await service.import_costs(session, account, rows)
    except service.CostImportError as exc:
        raise HTTPException(
            UNPROCESSABLE, detail={"message": str(exc), "results": exc.results}
        ) from exc
    await session.commit()
    return {"imported": len(results), "results": results}


@router.put("/costs")
async def put_costs(
    session: Session, _user: Operator, account: AccountByName, body: CostsIn
) -> Any:
    """Unit costs (without VAT, in the offer's currency). All rows or none: a bad row is a 422
    with every row's result."""
    return await _import(session, account, [i.model_dump() for i in body.items])


@router.post("/costs/upload")
async def upload_costs(
    session: Session,
    _user: Operator,
    account: AccountByName,
    file: Annotated[UploadFile, File(description="CSV or XLSX: offer_id, unit_cost, currency?")],
) -> Any:
    """The same from a CSV or XLSX file (first row: column names)."""
    content = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="larger than 20 MB")
    try:
        _source, rows = await parse_upload_in_thread(
            file.filename or "", content, service.MAX_COST_ROWS, service.COST_COLUMNS
        )
    except UploadError as exc:
        raise _unprocessable(exc) from exc
    if not rows:
        raise HTTPException(UNPROCESSABLE, detail="the file has no rows")
    return await _import(session, account, rows)


@router.get("/commissions")
async def get_commissions(session: Session, _user: CurrentUser, account: AccountByName) -> Any:
    rates = await service.category_commissions(session, account)
    return [{"category_id": c, "rate": r} for c, r in sorted(rates.items())]


@router.put("/commissions")
async def put_commissions(
    session: Session, _user: Operator, account: AccountByName, body: CommissionsIn
) -> Any:
    """eMAG's commission per category as the seller was invoiced (fractions: 0.15 = 15 %)."""
    count = await service.set_category_commissions(
        session, account, [i.model_dump() for i in body.items]
    )
    await session.commit()
    return {"saved": count}


@router.post("/commissions/estimate")
async def estimate_commissions(
    ctx: Context, session: Session, _user: Operator, account: AccountByName, body: EstimateIn
) -> Any:
    """Ask eMAG's commission estimate for up to 100 offers and keep what it answers."""
    found = await service.fetch_emag_commissions(ctx, session, account, body.offer_ids)
    await session.commit()
    return [{"offer_id": k, "rate": v} for k, v in found.items()]


@router.get("/settings")
async def get_settings(session: Session, _user: CurrentUser, account: AccountByName) -> Any:
    return await service.get_settings(session, account)


@router.put("/settings")
async def put_settings(
    session: Session, _user: Operator, account: AccountByName, body: SettingsIn
) -> Any:
    """Fixed costs per order (without VAT, the account's currency) and a default commission."""
    view = await service.put_settings(session, account, body.model_dump(exclude_unset=True))
    await session.commit()
    return view


# -- profit ------------------------------------------------------------------------------------


@router.get("/offers/{offer_id}/profit")
async def offer_profit(
    session: Session,
    _user: CurrentUser,
    offer_id: IdPath,
    price: Annotated[list[Decimal] | None, Query(max_length=20)] = None,
) -> Any:
    """Unit profit and margin at the current price and at each ``price`` (without VAT)."""
    prices = price or []
    if any(p <= 0 or p >= Decimal("1e12") for p in prices):
        raise HTTPException(UNPROCESSABLE, detail="each price must be > 0")
    account, emag_id = await service.offer_ref(session, offer_id)
    return await service.offer_profit(session, account, emag_id, prices)


REPORT_HEADER = [
    "key",
    "currency",
    "lines",
    "lines_without_cost",
    "quantity",
    "revenue",
    "cost",
    "commission",
    "shipping",
    "deposit",
    "profit",
]


@router.get("/report")
async def profit_report(
    session: Session,
    _user: CurrentUser,
    account: AccountByName,
    group: Literal["day", "offer", "category"] = "day",
    date_from: date | None = None,
    date_to: date | None = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Any:
    """Profit per day, offer or category (and currency) between two days (default: the last
    30), from the order lines as last rebuilt (after each orders sync, or
    ``POST /report/refresh``). Revenue is without VAT; the SGR deposit is shown apart and is
    no revenue. ``limit``: by default every day of the period, or the 100 offers or categories
    of highest profit."""
    end = date_to or datetime.now(UTC).date()
    start = date_from or end - timedelta(days=29)
    if limit is None:
        limit = 10_000 if group == "day" else 100
    rows = await service.profit_report(session, [account], group, start, end, limit)
    if format == "json":
        return {"group": group, "date_from": start, "date_to": end, "rows": rows}
    table = [[r[group], *(r[h] for h in REPORT_HEADER[1:])] for r in rows]
    header = [group, *REPORT_HEADER[1:]]
    name = f"profit-{group}-{start}-{end}"
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows([[csv_value(v) for v in row] for row in table])
        return Response(
            out.getvalue().encode(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("profit")
    sheet.append(header)
    for row in table:
        sheet.append([xlsx_value(v) for v in row])
    data = io.BytesIO()
    book.save(data)
    return Response(
        data.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


@router.post("/report/refresh")
async def refresh_report(session: Session, _user: Operator, account: AccountByName) -> Any:
    """Rebuild the report's order lines of the orders changed since the last rebuild now (it
    also happens after each orders sync)."""
    orders = await service.refresh_lines(session, account)
    await session.commit()
    return {"orders": orders}


# -- rules, runs, decisions --------------------------------------------------------------------


@router.get("/rules")
async def list_rules(session: Session, _user: CurrentUser, account: AccountByName) -> Any:
    return await rule_service.list_rules(session, account)


@router.post("/rules", status_code=status.HTTP_201_CREATED)
async def create_rule(
    session: Session, _user: Operator, account: AccountByName, body: RuleIn
) -> Any:
    """A repricing rule; refused (422, with why) when it cannot work, e.g. a floor above an
    offer's max_sale_price."""
    view = await rule_service.create_rule(session, account, body.model_dump())
    await session.commit()
    return view


@router.patch("/rules/{rule_id}")
async def update_rule(
    session: Session,
    _user: Operator,
    rule_id: IdPath,
    body: RulePatch,
) -> Any:
    account = await rule_service.account_of_rule(session, rule_id)
    view = await rule_service.update_rule(
        session, account, rule_id, body.model_dump(exclude_unset=True)
    )
    await session.commit()
    return view


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(
    session: Session,
    _user: Operator,
    rule_id: IdPath,
) -> None:
    account = await rule_service.account_of_rule(session, rule_id)
    await rule_service.delete_rule(session, account, rule_id)
    await session.commit()


@router.post("/runs", status_code=status.HTTP_201_CREATED)
async def start_run(
    ctx: Context, session: Session, user: Operator, account: AccountByName, body: RunIn
) -> Any:
    """Run the account's rules now: a dry run (default) records what would change and the
    profit at each new price; a live run sends the changes to eMAG (a bulk operation)."""
    run_id = await repricer.run(
        ctx, account, trigger="manual", dry_run=body.dry_run, actor=Actor.of(user)
    )
    return await rule_service.get_run(session, account, run_id)


@router.get("/runs")
async def list_runs(
    session: Session, _user: CurrentUser, account: AccountByName, limit: Limit = 50
) -> Any:
    runs = await rule_service.list_runs(session, account, limit)
    await session.commit()
    return runs


@router.get("/runs/{run_id}")
async def get_run(
    session: Session,
    _user: CurrentUser,
    run_id: IdPath,
) -> Any:
    account = await rule_service.account_of_run(session, run_id)
    view = await rule_service.get_run(session, account, run_id)
    await session.commit()
    return view


@router.get("/offers/{offer_id}/decisions")
async def offer_decisions(
    session: Session,
    _user: CurrentUser,
    offer_id: IdPath,
    limit: Limit = 100,
) -> Any:
    """The repricer's decisions for the offer (newest first) and its state (pause, changes)."""
    account, emag_id = await service.offer_ref(session, offer_id)
    view = await rule_service.offer_decisions(session, account, emag_id, limit)
    await session.commit()
    return view


@router.post("/offers/{offer_id}/resume")
async def resume_offer(
    session: Session,
    _user: Operator,
    offer_id: IdPath,
) -> Any:
    """Lift the pause of an offer (after eMAG refused a price or too many steps)."""
    account, emag_id = await service.offer_ref(session, offer_id)
    await rule_service.resume_offer(session, account, emag_id)
    await session.commit()
    return {"offer_id": offer_id, "emag_id": emag_id, "paused": False}
