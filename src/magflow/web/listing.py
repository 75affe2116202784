"""What the list pages share: paging, query strings, account names, exports."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import HTTPException, Query, Request
from fastapi.responses import Response

from magflow.common.schemas import DB_INT_MAX
from magflow.web.client import ApiClient, ApiError
from magflow.web.session import WebUser, api, is_htmx
from magflow.web.templating import render

PAGE_SIZE = 25
# Page numbers whose offset fits the API's bound on ``skip`` (a larger one is a 422).
PageNumber = Annotated[int, Query(ge=1, le=DB_INT_MAX // PAGE_SIZE)]


def qs(params: dict[str, Any], **changes: Any) -> str:
    """A query string of ``params`` updated with ``changes``, empty values left out."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def pages(total: int, page: int) -> dict[str, int]:
    last = max(1, -(-total // PAGE_SIZE))
    return {"page": min(page, last), "last": last, "total": total}


async def account_names(client: ApiClient) -> dict[int, str]:
    return {a["id"]: a["name"] for a in await client.get("/api/v1/accounts")}


async def export(request: Request, user: WebUser, path: str) -> Response:
    """The API's export at ``path`` with this request's query string, passed through."""
    response = await api(request, user).call("GET", path, params=list(request.query_params.items()))
    if response.status_code >= 400:
        raise HTTPException(response.status_code, detail=ApiError(response.status_code, "").message)
    headers = {
        k: v
        for k, v in response.headers.items()
        if k.lower() in ("content-type", "content-disposition")
    }
    return Response(response.content, headers=headers)


async def list_page(
    request: Request,
    user: WebUser,
    *,
    name: str,
    api_path: str,
    params: dict[str, Any],
    filters: dict[str, Any],
    page: int,
) -> Response:
    """A list page (offers, orders): the accounts, one page of ``api_path`` with ``params``
    (an API refusal shown as the page's error), the table (``_{name}_table.html`` for htmx)
    and export links carrying the same filters."""
    client = api(request, user)
    accounts = await client.get("/api/v1/accounts")
    error = None
    try:
        rows = await client.get(
            api_path, {**params, "skip": (page - 1) * PAGE_SIZE, "limit": PAGE_SIZE}
        )
    except ApiError as exc:
        rows, error = {"total": 0, "items": []}, exc.message
    return render(
        request,
        f"_{name}_table.html" if is_htmx(request) else f"{name}.html",
        user,
        accounts=accounts,
        names={a["id"]: a["name"] for a in accounts},
        filters=filters,
        pages=pages(rows["total"], page),
        error=error,
        qs=qs,
        export_base=f"/{name}/export",
        oob_exports=is_htmx(request),
        export_qs=qs(params),
        **{name: rows},
    )
