"""The callback endpoint eMAG calls, and the account API that shows and rotates its URLs.

``GET /callbacks/emag/{secret}/{kind}?order_id=N`` needs no login: eMAG sends none, the secret in
the path is the credential (docs/emag-protocol.md, "Callbacks"). It answers at once: it records
the order (``intake.service.receive``) and asks the job system for the account's intake job;
reading, storing and acknowledging happen there (``intake.work``), on a worker when there are
workers. It never answers ``500``: a failure to record is logged and answered ``503`` (eMAG calls
again, and the catch-up poll finds the order anyway). The secret never reaches a log line
(``common.logging`` redacts it from the access log; the lines written here name the account).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import JSONResponse

from magflow.accounts import service as accounts_service
from magflow.auth.dependencies import Admin
from magflow.common.deps import Context, Session
from magflow.context import AppContext
from magflow.intake import repository, service
from magflow.intake.schemas import CallbackAnswer, CallbackUrl, CallbackUrls
from magflow.intake.service import CALLBACK_PREFIX, KIND_LABELS, CallbackKind
from magflow.intake.throttle import CallbackLimits
from magflow.intake.work import refresh_offer

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])
callback_router = APIRouter(prefix=CALLBACK_PREFIX, tags=["callbacks"])

#: Longest order id accepted: eMAG ids are positive and fit a 64-bit column.
MAX_ORDER_ID = 2**63 - 1


async def _urls(ctx: AppContext, session: Session, name: str, *, rotate: bool) -> CallbackUrls:
    account = await accounts_service.get_account(session, name)
    if not ctx.settings.public_url:
        # Before rotating: a new secret nobody can see would only break the URLs in use.
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="set MAGFLOW_PUBLIC_URL (the address eMAG reaches MagFlow at) "
            "to get callback URLs",
        )
    if rotate:
        secret = await service.rotate_secret(session, ctx.cipher, account)
    else:
        secret = await service.ensure_secret(session, ctx.cipher, account)
    urls = service.callback_urls(ctx.settings.public_url, secret)
    counts = await repository.pending_counts(session, account.id)
    await session.commit()
    return CallbackUrls(
        account=account.name,
        auto_acknowledge=account.auto_acknowledge,
        urls=[
            CallbackUrl(kind=k.value, label=KIND_LABELS[k], url=urls[k.value]) for k in CallbackKind
        ],
        intake=counts,
    )


@router.get("/{name}/callbacks", response_model=CallbackUrls)
async def callback_urls(ctx: Context, session: Session, _admin: Admin, name: str) -> CallbackUrls:
    """The account's callback URLs (to paste in eMAG's seller UI) and its intake counts."""
    return await _urls(ctx, session, name, rotate=False)


@router.post("/{name}/callbacks/rotate", response_model=CallbackUrls)
async def rotate_callback_secret(
    ctx: Context, session: Session, _admin: Admin, name: str
) -> CallbackUrls:
    """A new secret: the old URLs answer 404 from now on; paste the new ones in eMAG."""
    return await _urls(ctx, session, name, rotate=True)


def _limits(request: Request, ctx: AppContext) -> CallbackLimits:
    limits: CallbackLimits | None = getattr(request.app.state, "callback_limits", None)
    if limits is None:
        limits = CallbackLimits(
            ctx.settings.callback_concurrency, ctx.settings.callback_unknown_per_minute
        )
        request.app.state.callback_limits = limits
    return limits


def _answer(code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = CallbackAnswer(ok=code == status.HTTP_200_OK, detail=detail)
    return JSONResponse(body.model_dump(), status_code=code, headers=headers)


def _order_id(request: Request, name: str = "order_id") -> int | str | None:
    """``name`` (``order_id`` by default) from the query string: the id, None when absent, or
    what is wrong."""
    values = request.query_params.getlist(name)
    if not values:
        return None
    if len(values) > 1 and len(set(values)) > 1:
        return f"{name} is given more than once with different values"
    text = values[0].strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ORDER_ID:
        return f"{name} must be a positive whole number"
    return int(text)


#: Query parameters that may name the offer of a ``documentation`` callback, in this order. Its
#: parameters are not documented (docs/emag-protocol.md, "Uncertainties"): the seller's offer id
#: under the product API's names.
OFFER_ID_PARAMS = ("product_id", "id")


#: Longest part number key accepted (eMAG's PNKs are short codes such as ``D5DD8SBBM``).
MAX_PNK_LENGTH = 64


def _offer_id(request: Request) -> tuple[int | str | None, str | None]:
    """The offer a ``documentation`` callback names: (its id, or its ``part_number_key`` when it
    names only that, or None; what is wrong, or None)."""
    for name in OFFER_ID_PARAMS:
        found = _order_id(request, name)
        if isinstance(found, str):
            return None, found
        if found is not None:
            return found, None
    pnk = (request.query_params.get("part_number_key") or "").strip()
    if pnk:
        if len(pnk) > MAX_PNK_LENGTH or not (pnk.isascii() and pnk.isalnum()):
            return None, "part_number_key must be a short code of letters and digits"
        return pnk, None
    return None, "product_id is required"


def _refresh_offer(request: Request, ctx: AppContext, account_id: int, offer_id: int | str) -> None:
    """Re-read the offer after answering (``intake.work.refresh_offer``); the tasks are kept on
    the app so that they are not collected while they run."""
    tasks: set[asyncio.Task[str]] | None = getattr(request.app.state, "offer_refreshes", None)
    if tasks is None:
        tasks = request.app.state.offer_refreshes = set()
    task = asyncio.create_task(refresh_offer(ctx, account_id, offer_id))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


@callback_router.get(
    "/{secret}/{kind}",
    response_model=CallbackAnswer,
    responses={400: {}, 404: {}, 429: {}, 503: {}},
)
async def emag_callback(
    request: Request,
    ctx: Context,
    secret: Annotated[str, Path(max_length=128)],
    kind: str,
) -> JSONResponse:
    """eMAG's callback (no login: the secret in the path identifies the account)."""
    address = request.client.host if request.client else "unknown"
    limits = _limits(request, ctx)
    try:
        callback_kind = CallbackKind(kind)
    except ValueError:
        callback_kind = None
    try:
        async with limits.slots, ctx.db.session() as session:
            account = await service.account_for_secret(session, secret)
            if account is None:
                # Looked up all the same: behind a proxy eMAG shares its address with the
                # guesser, and eMAG's callbacks must get through.
                wait = limits.unknown.retry_after(address)
                if wait is not None:
                    return _answer(
                        429, "too many unknown callback URLs", {"Retry-After": str(wait)}
                    )
                limits.unknown.hit(address)
                log.warning("callback with an unknown secret from %s: 404", address)
                return _answer(404, "unknown callback URL")
            if callback_kind is None:
                return _answer(404, "unknown callback URL")
            if callback_kind is CallbackKind.documentation:
                offer_id, detail = _offer_id(request)
                if offer_id is None:
                    log.warning(
                        "documentation callback of account %s with a bad query string: %s (%s)",
                        account.name,
                        detail,
                        sorted(request.query_params.keys()),
                    )
                    return _answer(400, detail or "product_id is required")
                account_id, account_name = account.id, account.name
                _refresh_offer(request, ctx, account_id, offer_id)
                log.info(
                    "documentation callback of account %s: offer %s to be re-read",
                    account_name,
                    offer_id,
                )
                return _answer(200, "queued")
            order_id = _order_id(request)
            if isinstance(order_id, str):
                log.warning(
                    "callback %s of account %s with a malformed query string: %s",
                    callback_kind.value,
                    account.name,
                    order_id,
                )
                return _answer(400, order_id)
            if order_id is None:
                if callback_kind is CallbackKind.order:
                    log.warning("new-order callback of account %s without order_id", account.name)
                    return _answer(400, "order_id is required")
                # A return callback may name no order (its parameters are not documented):
                # what it announces is read by the next returns sync.
                log.info(
                    "callback %s of account %s (no order named): %s",
                    callback_kind.value,
                    account.name,
                    sorted(request.query_params.keys()),
                )
                return _answer(200, "noted")
            received = await service.receive(
                session, account, callback_kind, order_id, datetime.now(UTC)
            )
            await session.commit()
            account_id, account_name, active = account.id, account.name, account.is_active
    except Exception:
        log.exception("callback %s could not be recorded; eMAG will call again", kind)
        return _answer(503, "try again later", {"Retry-After": "5"})
    if not active:
        log.warning(
            "callback %s for order %s of disabled account %s: recorded, handled once the "
            "account is enabled again",
            callback_kind.value,
            order_id,
            account_name,
        )
        return _answer(200, "recorded; the account is disabled")
    if received.enqueue:
        try:
            await ctx.jobs.enqueue_intake(account_id)
        except Exception:
            # Recorded: the maintenance timer dispatches pending orders nobody works on.
            log.exception("could not queue the intake job of account %s", account_name)
    return _answer(200, "queued" if received.recorded else "already handled")
