"""WebSocket routes for live progress. Protocol: :mod:`magflow.realtime.hub`.

``WS /api/v1/emag/enhanced/ws/sync-progress``: a snapshot of running runs, then ``sync.*`` and
``bulk.*`` events. ``WS /api/v1/emag/enhanced/ws/sync-events``: every event.
Both need an access token of an active user with the viewer role or better.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from magflow.auth import service
from magflow.auth.models import Role
from magflow.auth.tokens import InvalidTokenError
from magflow.context import AppContext
from magflow.realtime.hub import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNAVAILABLE,
    SYNC_EVENTS,
    SYNC_PROGRESS,
    Authenticator,
    AuthFailedError,
    Hub,
    Principal,
    Route,
)

router = APIRouter(tags=["realtime"])


def token_authenticator(ctx: AppContext) -> Authenticator:
    """Checks an access token as the HTTP routes do (``user_from_token``) and the role.

    Unknown, disabled or revoked users get 4401, like HTTP 401: their token is no longer valid.
    4403 is for a valid user below viewer, which today means a role this version does not know.
    """

    async def authenticate(token: str) -> Principal:
        try:
            claims = ctx.tokens.decode(token, "access")
            async with ctx.db.session() as session:
                user = await service.user_from_token(session, ctx.tokens, token, "access")
        except InvalidTokenError as exc:
            raise AuthFailedError(CLOSE_UNAUTHORIZED, str(exc)) from exc
        try:
            role = Role(user.role)
        except ValueError:
            raise AuthFailedError(CLOSE_FORBIDDEN, "the viewer role or higher is needed") from None
        if role.rank < Role.viewer.rank:
            raise AuthFailedError(CLOSE_FORBIDDEN, "the viewer role or higher is needed")
        return Principal(user_id=user.id, role=role.value, expires_at=claims.expires_at)

    return authenticate


async def _serve(
    websocket: WebSocket, route: Route, token: str | None, last_event_id: str | None
) -> None:
    hub: Hub | None = getattr(websocket.app.state, "hub", None)
    ctx: AppContext | None = getattr(websocket.app.state, "ctx", None)
    if hub is None or ctx is None:
        await websocket.accept()
        await websocket.close(CLOSE_UNAVAILABLE, "live events are not available")
        return
    # One authenticator per app, so that the hub re-checks a token shared by several sockets
    # once per round (Hub.recheck groups the sockets by authenticator and token).
    if hub.authenticator is None:
        hub.authenticator = token_authenticator(ctx)
    authenticate = hub.authenticator
    await hub.serve(websocket, route, authenticate, token=token, last_event_id=last_event_id)


@router.websocket("/api/v1/emag/enhanced/ws/sync-progress")
async def sync_progress_socket(
    websocket: WebSocket, token: str | None = None, last_event_id: str | None = None
) -> None:
    await _serve(websocket, SYNC_PROGRESS, token, last_event_id)


@router.websocket("/api/v1/emag/enhanced/ws/sync-events")
async def sync_events_socket(
    websocket: WebSocket, token: str | None = None, last_event_id: str | None = None
) -> None:
    await _serve(websocket, SYNC_EVENTS, token, last_event_id)
