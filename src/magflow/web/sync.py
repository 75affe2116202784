"""The sync page: start and cancel syncs, live progress, the history of runs."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from magflow.common.schemas import IdPath
from magflow.web.client import ApiError
from magflow.web.listing import PAGE_SIZE, PageNumber, account_names, pages, qs
from magflow.web.session import Csrf, User, Writer, api
from magflow.web.templating import flash, render

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/sync", response_class=HTMLResponse)
async def sync_page(request: Request, user: User) -> Response:
    client = api(request, user)
    accounts = await client.get("/api/v1/accounts")
    names = {a["id"]: a["name"] for a in accounts}
    history = await client.get("/api/v1/emag/sync-logs", {"limit": PAGE_SIZE})
    return render(
        request,
        "sync.html",
        user,
        accounts=accounts,
        names=names,
        account_names={str(k): v for k, v in names.items()},
        history=history,
        pages=pages(history["total"], 1),
        filters={},
        qs=qs,
    )


@router.get("/sync/history", response_class=HTMLResponse)
async def sync_history(
    request: Request,
    user: User,
    account: str | None = None,
    kind: str | None = None,
    run_status: Annotated[str | None, Query(alias="status")] = None,
    page: PageNumber = 1,
) -> Response:
    client = api(request, user)
    filters = {"account": account, "kind": kind, "status": run_status}
    try:
        history = await client.get(
            "/api/v1/emag/sync-logs",
            {**filters, "skip": (page - 1) * PAGE_SIZE, "limit": PAGE_SIZE},
        )
    except ApiError as exc:  # an unknown account or a bad filter: say so in place of the table
        return flash(request, user, exc.message, "error")
    return render(
        request,
        "_sync_history.html",
        user,
        names=await account_names(client),
        history=history,
        pages=pages(history["total"], page),
        filters=filters,
        qs=qs,
    )


@router.post("/sync/start", response_class=HTMLResponse, dependencies=[Csrf])
async def sync_start(
    request: Request,
    user: Writer,
    kind: Annotated[str, Form(pattern="^(offers|orders)$")],
    account: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "",
) -> Response:
    body: dict[str, Any] = {"account": account or None}
    if kind == "orders" and mode in ("full", "incremental"):
        body["mode"] = mode
    response = await api(request, user).call(
        "POST", f"/api/v1/emag/enhanced/sync/{kind}", json=body
    )
    payload = response.json() if response.content else {}
    if response.status_code == 409:
        return flash(
            request,
            user,
            f"A {kind} sync is already {payload.get('status')} (run {payload.get('run_id')}).",
            "warn",
        )
    if response.status_code >= 400:
        return flash(request, user, ApiError(response.status_code, payload).message, "error")
    runs = payload["runs"]
    views = [
        {
            "run_id": r["id"],
            "account_id": r["account_id"],
            "kind": r["kind"],
            "mode": r["mode"],
            "status": r["status"],
            "current_page": r["current_page"],
            "total_pages": r["total_pages"],
            "processed_items": r["processed_items"],
            "total_items": r["total_items"],
            "percentage": None,
        }
        for r in runs
    ]
    ids = ", ".join(str(r["id"]) for r in runs)
    return render(
        request,
        "_flash.html",
        user,
        message=f"Started the {kind} sync (run {ids}).",
        kind="ok",
        headers={"HX-Trigger": json.dumps({"magflow-runs": {"runs": views}})},
    )


@router.post("/sync/{run_id}/cancel", response_class=HTMLResponse, dependencies=[Csrf])
async def sync_cancel(request: Request, user: Writer, run_id: IdPath) -> Response:
    try:
        await api(request, user).post(f"/api/v1/emag/enhanced/sync/{run_id}/cancel")
    except ApiError as exc:
        return flash(request, user, exc.message, "warn")
    return flash(request, user, f"Cancelling run {run_id}…")


@router.post("/sync/{run_id}/confirm-missing", response_class=HTMLResponse, dependencies=[Csrf])
async def sync_confirm_missing(request: Request, user: Writer, run_id: IdPath) -> Response:
    """Confirm the offers a completed offers run withheld from missing (its warning)."""
    try:
        done = await api(request, user).post(f"/api/v1/emag/enhanced/sync/{run_id}/confirm-missing")
    except ApiError as exc:
        return flash(request, user, exc.message, "warn")
    if done["already_confirmed"]:
        return flash(request, user, f"Run {run_id} was already confirmed: nothing changed.")
    return render(
        request,
        "_flash.html",
        user,
        message=f"Run {run_id}: {done['marked']} offers marked missing.",
        kind="ok",
        headers={"HX-Trigger": "refresh"},  # reloads the history table holding the button
    )
