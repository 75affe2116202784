"""Order write-back routes (``/api/v1/emag/orders/...``) and courier accounts.

eMAG's errors become HTTP in :mod:`magflow.common.errors` (refusals 422 with eMAG's own messages,
failures to reach eMAG 502); nothing is committed locally in either case. Local refusals, before
anything is sent: 422 for a request that cannot be sent as asked, 409 for an order whose state
forbids the action (an FBE order, one eMAG no longer returns).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from magflow.audit.service import Actor
from magflow.auth.dependencies import CurrentUser, Operator
from magflow.common.deps import AccountByName, Context, Session
from magflow.common.errors import UNPROCESSABLE
from magflow.common.listing import invalidate_totals
from magflow.common.schemas import IdPath
from magflow.orders.actions import (
    ActionConflictError,
    ActionInputError,
    ActionResult,
    OrderActions,
    acknowledge_many,
)
from magflow.orders.schemas import (
    AckMany,
    AckOut,
    ActionOut,
    AttachmentCreate,
    AwbCreate,
    OrderDetailOut,
    StatusChange,
)

router = APIRouter(prefix="/api/v1/emag", tags=["order actions"])


def _out(result: ActionResult, awb: bool = False) -> ActionOut:
    return ActionOut(
        order=OrderDetailOut.model_validate(result.order),
        refreshed=result.refreshed,
        emag_messages=result.emag_messages,
        awb=result.extra if awb else None,
        sent=result.sent,
        note=result.note,
    )


async def _run(session: Session, coro: Any, ctx: Context | None = None) -> Any:
    """Await an action and commit; with ``ctx``, the action may have changed an order's status, so
    cached listing totals are forgotten. Unknown orders/accounts (404) and eMAG's errors (422/502)
    propagate to the app's handlers, uncommitted."""
    try:
        result = await coro
    except ActionInputError as exc:
        raise HTTPException(UNPROCESSABLE, detail=str(exc)) from exc
    except ActionConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    await session.commit()
    if ctx is not None:
        await invalidate_totals(ctx.cache)
    return result


@router.post("/orders/acknowledge", response_model=list[AckOut])
async def acknowledge_orders(ctx: Context, session: Session, user: Operator, body: AckMany) -> Any:
    """Acknowledge several stored orders (1 → 2); one answer per id. FBE orders and unknown ids
    are refused in their answer, without calling eMAG."""
    outcomes = await acknowledge_many(
        OrderActions(ctx, session, Actor.of(user)), body.ids, after_each=session.commit
    )
    await session.commit()
    await invalidate_totals(ctx.cache)
    return [AckOut(**o.__dict__) for o in outcomes]


@router.post("/orders/{order_id}/acknowledge", response_model=ActionOut)
async def acknowledge_order(
    ctx: Context, session: Session, user: Operator, order_id: IdPath
) -> Any:
    """Acknowledge a stored order (``order/acknowledge``, 1 → 2)."""
    actions = OrderActions(ctx, session, Actor.of(user))
    return _out(await _run(session, actions.acknowledge(order_id), ctx))


@router.post("/orders/{order_id}/status", response_model=ActionOut)
async def change_order_status(
    ctx: Context, session: Session, user: Operator, order_id: IdPath, body: StatusChange
) -> Any:
    """Change the status with ``order/save``: the order re-read from eMAG, only its status (and
    cancellation reason) changed; nothing sent (``sent: false``, ``note``) when eMAG is already at
    or past the target; 409 for an FBE order."""
    actions = OrderActions(ctx, session, Actor.of(user))
    return _out(await _run(session, actions.change_status(order_id, body.status, body.reason), ctx))


@router.post("/orders/{order_id}/awb", response_model=ActionOut)
async def create_order_awb(
    ctx: Context, session: Session, user: Operator, order_id: IdPath, body: AwbCreate
) -> Any:
    """Issue an AWB (``awb/save``); the order becomes finalized (4) and keeps the AWB number."""
    actions = OrderActions(ctx, session, Actor.of(user))
    request = body.model_dump(exclude_none=True)
    return _out(await _run(session, actions.create_awb(order_id, request), ctx), awb=True)


@router.get(
    "/orders/{order_id}/awb/label",
    response_class=Response,
    responses={
        200: {
            "description": "the label as eMAG sent it",
            "content": {"application/pdf": {}, "application/zpl": {}},
        },
        404: {"description": "no such order, or no AWB issued through MagFlow"},
        422: {"description": "eMAG refused, with its messages"},
    },
)
async def order_awb_label(
    ctx: Context,
    session: Session,
    user: Operator,
    order_id: IdPath,
    paper: Annotated[
        Literal["A4", "A5", "A6", "ZPL"],
        Query(alias="format", description="A4, A5 or A6 (a PDF) or ZPL (for label printers)"),
    ] = "A4",
) -> Response:
    """The label of the order's AWB from eMAG (``awb/read_pdf``, ``awb/read_zpl``). Operators
    only: a label carries the customer's name, address and phone."""
    actions = OrderActions(ctx, session, Actor.of(user))
    document = await _run(session, actions.awb_label(order_id, paper))
    ext = "zpl" if paper == "ZPL" else "pdf"
    disposition = "attachment" if paper == "ZPL" else "inline"
    return Response(
        document.content,
        media_type=document.content_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="awb-{order_id}.{ext}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/orders/{order_id}/attachments", response_model=ActionOut)
async def add_order_attachment(
    ctx: Context, session: Session, user: Operator, order_id: IdPath, body: AttachmentCreate
) -> Any:
    """Attach an invoice, warranty... by PDF URL (``order/attachments/save``)."""
    actions = OrderActions(ctx, session, Actor.of(user))
    return _out(await _run(session, actions.attach(order_id, body.model_dump())))


@router.get("/courier-accounts")
async def courier_accounts(
    ctx: Context,
    session: Session,
    user: CurrentUser,
    account: AccountByName,
) -> list[dict[str, Any]]:
    """The account's courier accounts (``courier_accounts/read``), to choose one for an AWB."""
    actions = OrderActions(ctx, session, Actor.of(user))
    found = await _run(session, actions.courier_accounts(account.id))
    return [c.model_dump(mode="json") for c in found]
