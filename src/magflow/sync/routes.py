from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse

from magflow.accounts import service as accounts_service
from magflow.audit.service import Actor
from magflow.auth.dependencies import CurrentUser, Operator
from magflow.common.deps import Context, OptionalAccount, Session, read_only
from magflow.common.errors import UNPROCESSABLE
from magflow.common.listing import listing_total
from magflow.common.schemas import IdPath, Page, Skip, page_of
from magflow.sync import repository, service
from magflow.sync.models import SyncKind, SyncStatus
from magflow.sync.schemas import MissingConfirmedOut, SyncRequest, SyncRunOut, SyncStarted

router = APIRouter(tags=["sync"])


@router.post(
    "/api/v1/emag/enhanced/sync/{kind}",
    response_model=SyncStarted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "A run of this kind is already active for the account"}},
)
async def start_sync(
    ctx: Context, session: Session, user: Operator, kind: SyncKind, body: SyncRequest
) -> Any:
    """Queue a sync of offers or orders for one account (or every active account).

    When a run of the same kind is already queued or running for an account, the answer is 409
    with that run's id in ``run_id`` (and no new run is started for any account). Options that
    cannot be honoured (``since`` or ``incremental`` for offers, ``since`` with
    ``incremental``, ``since`` in the future) are a 422 saying why, never silently dropped.
    """
    if body.account is not None:
        accounts = [await accounts_service.get_account(session, body.account)]
    else:
        accounts = list(await accounts_service.list_accounts(session, active_only=True))
        if not accounts:
            raise HTTPException(UNPROCESSABLE, detail="no active eMAG account to sync")
    try:
        mode = service.sync_mode(kind, body.mode, body.since)
        now = datetime.now(UTC)
        params = {a.id: service.since_params(body.since, a.platform, now) for a in accounts}
    except service.InvalidSyncRequestError as exc:
        raise HTTPException(UNPROCESSABLE, detail=str(exc)) from exc
    for account in accounts:
        active = await repository.active_run(session, account.id, kind.value)
        if active is not None:
            return _conflict(service.RunAlreadyActiveError(active))
    runs = []
    for account in accounts:
        try:
            run = await service.request_run(
                session,
                account_id=account.id,
                kind=kind,
                mode=mode,
                trigger="api",
                requested_by=user.email,
                params=params[account.id],
            )
        except service.RunAlreadyActiveError as exc:
            return _conflict(exc)
        runs.append(run)
        await ctx.jobs.enqueue(run.id)
    return SyncStarted(runs=[SyncRunOut.model_validate(r) for r in runs])


def _conflict(exc: service.RunAlreadyActiveError) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc), "run_id": exc.run.id, "status": exc.run.status},
        status_code=status.HTTP_409_CONFLICT,
    )


@router.post("/api/v1/emag/enhanced/sync/{run_id}/cancel", response_model=SyncRunOut)
async def cancel_sync(session: Session, _user: Operator, run_id: IdPath) -> Any:
    """Ask a queued or running sync to stop; it stops before writing its next page."""
    run = await service.request_cancel(session, run_id)
    if not SyncStatus(run.status).is_active:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"run {run_id} is already {run.status}"
        )
    await session.commit()
    return run


@router.post(
    "/api/v1/emag/enhanced/sync/{run_id}/confirm-missing",
    response_model=MissingConfirmedOut,
    responses={409: {"description": "The run withheld nothing, or a newer offers run completed"}},
)
async def confirm_missing(ctx: Context, session: Session, user: Operator, run_id: IdPath) -> Any:
    """Mark missing the offers a completed offers run withheld (its ``warning``), once.

    A second confirmation changes nothing (``already_confirmed``). 409 when the run withheld
    nothing, or when a newer offers run of the account completed (the catalog was read again
    since). The confirmation is recorded in the audit log."""
    try:
        done = await service.confirm_missing(
            session, run_id, confirmed_by=user.email, now=datetime.now(UTC)
        )
    except service.ConfirmRefusedError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    await session.commit()
    await service.after_missing_confirmed(ctx, Actor.of(user), done)
    return MissingConfirmedOut(
        run=SyncRunOut.model_validate(done.run),
        marked=done.marked,
        already_confirmed=done.already_confirmed,
    )


#: What a row of the sync logs shows (SyncRunOut): the checkpoint and params stay in the database.
LOG_COLUMNS = tuple(SyncRunOut.model_fields)


@router.get("/api/v1/emag/sync-logs", response_model=Page[SyncRunOut])
@read_only
async def sync_logs(
    session: Session,
    _user: CurrentUser,
    account: OptionalAccount,
    kind: SyncKind | None = None,
    status_filter: Annotated[SyncStatus | None, Query(alias="status")] = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    account_id = account.id if account is not None else None
    kind_value = kind.value if kind else None
    status_value = status_filter.value if status_filter else None
    runs = await repository.page_runs(
        session,
        LOG_COLUMNS,
        account_id=account_id,
        kind=kind_value,
        status=status_value,
        offset=skip,
        limit=limit,
    )
    # Exact either way: no COUNT when the page holds the last runs, never a cached count.
    total = await listing_total(
        None,
        "sync-logs",
        None,
        skip=skip,
        limit=limit,
        page_rows=len(runs),
        count=lambda: repository.count_runs(
            session, account_id=account_id, kind=kind_value, status=status_value
        ),
    )
    return page_of(SyncRunOut, runs, total=total, skip=skip, limit=limit)


@router.get("/api/v1/emag/sync-logs/{run_id}", response_model=SyncRunOut)
async def sync_log(session: Session, _user: CurrentUser, run_id: IdPath) -> Any:
    run = await repository.get(session, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no sync run {run_id}")
    return run


@router.get("/api/v1/emag/enhanced/products/sync-progress")
@read_only
async def sync_progress(session: Session, _user: CurrentUser) -> dict[str, Any]:
    """Running and queued syncs (offers and orders) with page, items, %, throughput and ETA."""
    runs = await service.running(session)
    return {"running": [service.progress_view(run) for run in runs], "count": len(runs)}
