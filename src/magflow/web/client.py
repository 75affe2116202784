"""The dashboard calls the JSON API in-process, as the signed-in user.

Every page reads and writes through the same routes as any other client (``httpx`` over an
``ASGITransport`` to this very app, with the user's bearer token), so roles, validation, eMAG
error handling and audit are exactly those of the API; the web layer only renders.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from magflow.common.admission import IN_PROCESS


class ApiError(Exception):
    """A non-2xx answer of the API; ``message`` is readable by a person."""

    def __init__(self, status_code: int, detail: Any) -> None:
        self.status_code = status_code
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        detail = self.detail
        if isinstance(detail, dict):
            parts = [str(detail.get("message") or detail.get("detail") or "")]
            parts += [str(m) for m in detail.get("emag_messages") or []]
            return "; ".join(p for p in parts if p) or str(detail)
        if isinstance(detail, list):  # pydantic validation errors
            return "; ".join(
                f"{'.'.join(str(x) for x in d.get('loc', [])[1:])}: {d.get('msg')}"
                if isinstance(d, dict)
                else str(d)
                for d in detail
            )
        return str(detail)


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    return body.get("detail", body) if isinstance(body, dict) else body


def _in_process(app: ASGIApp) -> ASGIApp:
    """``app``, its requests marked as made from inside the process: admission control lets
    them through, as part of the page request already admitted (``common/admission.py``)."""

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, IN_PROCESS: True}, receive, send)

    return call


class ApiClient:
    """One request's view of the API, authenticated with ``token`` (or anonymous)."""

    def __init__(self, request: Request, token: str | None) -> None:
        # The browser's address, so that the API's login throttle counts per real client.
        client = (request.client.host, request.client.port) if request.client else None
        self._transport = httpx.ASGITransport(
            app=_in_process(request.app), client=client or ("127.0.0.1", 123)
        )
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        if isinstance(params, dict):
            params = {k: v for k, v in params.items() if v is not None and v != ""}
        async with httpx.AsyncClient(
            transport=self._transport, base_url="http://magflow.internal", timeout=120
        ) as client:
            return await client.request(
                method,
                path,
                params=params,
                json=json,
                data=data,
                headers={**self._headers, **(headers or {})},
            )

    async def get(
        self, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None
    ) -> Any:
        response = await self.call("GET", path, params=params)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        return response.json()

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        response = await self.call("POST", path, json=json, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        return response.json() if response.content else None
