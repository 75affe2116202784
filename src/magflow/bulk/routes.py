"""Bulk offer updates (``/api/v1/emag/bulk/...``) and stock-only updates.

``POST /api/v1/emag/bulk/offers`` and ``.../upload`` answer 202 with the operation, which the job
system runs (``ctx.jobs.enqueue_bulk``: this process's runner, or a procrastinate worker); a
repeated request with the same ``Idempotency-Key`` answers 200 with the same operation and sends
nothing. Progress: ``GET .../operations/{id}`` and ``bulk.*`` events on the event bus.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import (
    APIRouter,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from sqlalchemy.exc import IntegrityError

from magflow.accounts import service as accounts_service
from magflow.audit.service import Actor
from magflow.auth.dependencies import Admin, CurrentUser, Operator
from magflow.bulk import repository, service
from magflow.bulk.models import ItemStatus
from magflow.bulk.parsing import UploadError, parse_upload_in_thread
from magflow.bulk.schemas import (
    BulkOffersRequest,
    OperationItemOut,
    OperationOut,
    StockBufferChange,
    StockBufferOut,
    StockChange,
    StockOut,
)
from magflow.catalog.schemas import OfferOut
from magflow.common.deps import Context, OptionalAccount, Session
from magflow.common.errors import UNPROCESSABLE
from magflow.common.listing import invalidate_totals
from magflow.common.schemas import BIGINT_MAX, BIGINT_MIN, IdPath, Page, Skip, StorableText

router = APIRouter(prefix="/api/v1/emag/bulk", tags=["bulk"])
stock_router = APIRouter(prefix="/api/v1/emag/offers", tags=["offers"])

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


async def _check_default_account(session: Session, account: str | None) -> None:
    """The request's default account must exist (AccountNotFoundError: 404): an unknown account
    given per item only makes that item invalid, but one for the whole request is a mistake in
    the request."""
    if account is not None:
        await accounts_service.get_account(session, account)


async def _create(
    request: Request,
    response: Response,
    ctx: Context,
    session: Session,
    user: Any,
    items: list[dict[str, Any]],
    *,
    default_account: str | None,
    idempotency_key: str | None,
    source: str,
    fingerprint: str | None = None,
) -> OperationOut:
    actor = Actor.of(user)
    try:
        op, created = await service.create_operation(
            session,
            items,
            actor=actor,
            default_account=default_account,
            idempotency_key=idempotency_key,
            source=source,
            fingerprint=fingerprint,
        )
        await session.commit()
    except service.IdempotencyConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(UNPROCESSABLE, detail=str(exc)) from exc
    except IntegrityError:
        # Two requests with the same new key raced: the loser answers with the winner's operation.
        await session.rollback()
        if not idempotency_key:
            raise
        existing = await repository.get_by_idempotency_key(session, idempotency_key)
        if existing is None:
            raise
        op, created = existing, False
    if created:
        await ctx.jobs.enqueue_bulk(op.id)
        response.status_code = status.HTTP_202_ACCEPTED
    else:
        response.status_code = status.HTTP_200_OK
    return OperationOut(**service.operation_view(op))


@router.post("/offers", response_model=OperationOut, status_code=status.HTTP_202_ACCEPTED)
async def bulk_offers(
    request: Request,
    response: Response,
    ctx: Context,
    session: Session,
    user: Operator,
    body: BulkOffersRequest,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Change up to 10,000 offers (prices, stock, handling time, status, VAT) via the light
    offer API. Validated locally first; the answer is the operation (202), run in the
    background."""
    await _check_default_account(session, body.account)
    items = [item.model_dump(exclude_none=True) for item in body.items]
    return await _create(
        request,
        response,
        ctx,
        session,
        user,
        items,
        default_account=body.account,
        idempotency_key=idempotency_key,
        source="json",
    )


@router.post("/offers/upload", response_model=OperationOut, status_code=status.HTTP_202_ACCEPTED)
async def bulk_offers_upload(
    request: Request,
    response: Response,
    ctx: Context,
    session: Session,
    user: Operator,
    file: Annotated[UploadFile, File(description="CSV or XLSX, first row = column names")],
    account: Annotated[StorableText | None, Form(description="default account")] = None,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """The same as ``POST /offers`` from a CSV or XLSX file (see :mod:`magflow.bulk.parsing`)."""
    await _check_default_account(session, account)
    content = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, detail="the file is larger than 20 MB"
        )
    try:
        source, items = await parse_upload_in_thread(
            file.filename or "", content, service.MAX_ITEMS
        )
    except UploadError as exc:
        raise HTTPException(UNPROCESSABLE, detail=str(exc)) from exc
    if not items:
        raise HTTPException(UNPROCESSABLE, detail="the file has no rows")
    return await _create(
        request,
        response,
        ctx,
        session,
        user,
        items,
        default_account=account,
        idempotency_key=idempotency_key,
        source=source,
        fingerprint=service.request_hash(items, account),
    )


@router.get("/operations", response_model=Page[OperationOut])
async def list_operations(
    session: Session,
    _user: CurrentUser,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    total, rows = await repository.list_operations(session, offset=skip, limit=limit)
    return Page[OperationOut](
        total=total,
        skip=skip,
        limit=limit,
        items=[OperationOut(**service.operation_view(op)) for op in rows],
    )


async def _operation(session: Session, operation_id: IdPath) -> Any:
    op = await repository.get_operation(session, operation_id)
    if op is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no bulk operation {operation_id}")
    return op


@router.get("/operations/{operation_id}", response_model=OperationOut)
async def get_operation(session: Session, _user: CurrentUser, operation_id: IdPath) -> Any:
    """Status and counts: total = invalid + pending + succeeded + failed."""
    return OperationOut(**service.operation_view(await _operation(session, operation_id)))


@router.get("/operations/{operation_id}/items", response_model=Page[OperationItemOut])
async def list_operation_items(
    session: Session,
    _user: CurrentUser,
    operation_id: IdPath,
    account: OptionalAccount,
    item_status: Annotated[list[ItemStatus] | None, Query(alias="status")] = None,
    offer_id: Annotated[
        int | None, Query(ge=BIGINT_MIN, le=BIGINT_MAX, description="the offer's eMAG id")
    ] = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Per-item results, with eMAG's own messages, in request order."""
    await _operation(session, operation_id)
    total, rows = await repository.list_items(
        session,
        operation_id,
        repository.ItemFilter(
            status=[s.value for s in item_status] if item_status else None,
            account_id=account.id if account is not None else None,
            offer_emag_id=offer_id,
        ),
        offset=skip,
        limit=limit,
    )
    return Page[OperationItemOut](
        total=total,
        skip=skip,
        limit=limit,
        items=[OperationItemOut.model_validate(r) for r in rows],
    )


@router.post(
    "/operations/{operation_id}/retry",
    response_model=OperationOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def retry_operation(
    request: Request, ctx: Context, session: Session, user: Operator, operation_id: IdPath
) -> Any:
    """Send the failed items again (only them; invalid items stay invalid). 409 while the
    operation is still being executed, by this process or another one."""
    try:
        op = await service.prepare_retry(
            session,
            operation_id,
            actor=Actor.of(user),
            stale_seconds=ctx.settings.sync_stale_seconds,
        )
    except service.OperationBusyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    await session.commit()
    await ctx.jobs.enqueue_bulk(op.id)
    return OperationOut(**service.operation_view(op))


@router.put("/stock-buffer", response_model=StockBufferOut)
async def set_stock_buffer(session: Session, _admin: Admin, body: StockBufferChange) -> Any:
    """Units held back from eMAG for an account: stock updates publish max(0, stock - buffer)."""
    account = await service.set_stock_buffer(session, body.account, body.stock_buffer)
    await session.commit()
    return StockBufferOut(
        account_id=account.id, account=account.name, stock_buffer=account.stock_buffer
    )


@stock_router.post("/{offer_id}/stock", response_model=StockOut)
async def update_offer_stock(
    ctx: Context, session: Session, user: Operator, offer_id: IdPath, body: StockChange
) -> Any:
    """Stock only, with ``PATCH offer_stock/{id}`` (``offer_id`` is the local offer id)."""
    result = await service.update_stock(ctx, session, Actor.of(user), offer_id, body.stock)
    await session.commit()
    await invalidate_totals(ctx.cache)  # the in-stock listings count differently now
    return StockOut(
        offer=OfferOut.model_validate(result.offer),
        requested=result.requested,
        published=result.published,
    )
