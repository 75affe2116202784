"""SmartBill and Oblio simulators, answering like the real APIs as written down in
docs/invoicing-providers.md: their auth, their refusals (unknown series, expired token, bad
credentials) and outages (``outage`` answers 503; ``drop_after_issue`` issues the document and
then drops the connection, so the caller never learns the outcome). ``latency`` delays every
answer (seconds), as the real services take a few hundred milliseconds to issue. Their rate
limits are not enforced (the benchmark measures eMAG's side).

Each keeps what it issued (``issued``: one entry per document) so tests and the benchmark can
count. Used by the tests and ``bench/invoicing.py``; the demo uses the built-in provider.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

PDF = b"%PDF-1.4\n% simulated provider PDF\n%%EOF\n"


@dataclass
class ProviderSim:
    username: str = "seller@example.ro"
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    series: set[str] = field(default_factory=lambda: {"MFT"})
    issued: list[dict[str, Any]] = field(default_factory=list)
    next_number: dict[str, int] = field(default_factory=dict)
    outage: bool = False
    drop_after_issue: bool = False
    token_expired: bool = False
    latency: float = 0.0

    def number(self, series: str) -> str:
        value = self.next_number.get(series, 1)
        self.next_number[series] = value + 1
        return f"{value:04d}"


class Dropped(Exception):
    """Raised inside the app: uvicorn closes the connection without an answer."""


def smartbill_app(state: ProviderSim) -> FastAPI:
    app = FastAPI()

    def auth_ok(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{state.username}:{state.token}".encode()).decode()
        return header == f"Basic {expected}" and not state.token_expired

    def refuse(status: int, text: str) -> JSONResponse:
        return JSONResponse({"errorText": text, "message": "", "number": "", "series": ""}, status)

    @app.middleware("http")
    async def gate(request: Request, call_next: Any) -> Any:
        if state.latency:
            await asyncio.sleep(state.latency)
        if state.outage:
            return Response("Service Unavailable", 503)
        if not auth_ok(request):
            return JSONResponse({"errorText": "Unauthorized"}, 401)
        return await call_next(request)

    @app.get("/series")
    async def series(cif: str, type: str = "f") -> Any:
        return {
            "errorText": "",
            "list": [
                {"name": s, "nextNumber": f"{state.next_number.get(s, 1):04d}", "type": type}
                for s in sorted(state.series)
            ],
        }

    @app.post("/invoice")
    async def invoice(request: Request) -> Any:
        body = await request.json()
        series = body.get("seriesName")
        if series not in state.series:
            return refuse(400, f"Seria {series} nu exista in SmartBill")
        if not body.get("products"):
            return refuse(400, "Factura nu contine produse")
        number = state.number(series)
        state.issued.append({"series": series, "number": number, "body": body})
        if state.drop_after_issue:
            raise Dropped
        return {"errorText": "", "message": "", "number": number, "series": series, "url": ""}

    @app.post("/invoice/reverse")
    async def reverse(request: Request) -> Any:
        body = await request.json()
        if not any(
            i["series"] == body.get("seriesName") and i["number"] == body.get("number")
            for i in state.issued
        ):
            return refuse(400, "Factura nu exista")
        number = state.number(body["seriesName"])
        state.issued.append({"series": body["seriesName"], "number": number, "body": body})
        return {"errorText": "", "message": "", "number": number, "series": body["seriesName"]}

    @app.get("/invoice/pdf")
    async def pdf(cif: str, seriesname: str, number: str) -> Any:
        if not any(i["series"] == seriesname and i["number"] == number for i in state.issued):
            return refuse(400, "Documentul nu exista")
        return Response(PDF, media_type="application/octet-stream")

    return app


def oblio_app(state: ProviderSim) -> FastAPI:
    app = FastAPI()
    tokens: set[str] = set()
    by_key: dict[str, dict[str, Any]] = {}

    @app.middleware("http")
    async def gate(request: Request, call_next: Any) -> Any:
        if state.latency:
            await asyncio.sleep(state.latency)
        if state.outage:
            return Response("Service Unavailable", 503)
        return await call_next(request)

    @app.post("/api/authorize/token")
    async def authorize(request: Request) -> Any:
        body = await request.json()
        if (body.get("client_id"), body.get("client_secret")) != (state.username, state.token):
            return JSONResponse({"status": 401, "statusMessage": "Invalid credentials"}, 401)
        value = secrets.token_hex(16)
        tokens.add(value)
        return {"access_token": value, "expires_in": 3600, "token_type": "Bearer"}

    def authorized(request: Request) -> bool:
        value = request.headers.get("authorization", "").removeprefix("Bearer ")
        if state.token_expired:
            tokens.clear()
            state.token_expired = False
        return value in tokens

    @app.post("/api/docs/invoice")
    async def invoice(request: Request) -> Any:
        if not authorized(request):
            return JSONResponse({"status": 401, "statusMessage": "Unauthorized"}, 401)
        body = await request.json()
        key = body.get("idempotencyKey")
        if key and key in by_key:  # a repeated key: the document issued for it
            return {"status": 200, "statusMessage": "Success", "data": by_key[key]}
        series = body.get("seriesName")
        if series not in state.series:
            return JSONResponse({"status": 400, "statusMessage": f"Seria {series} nu exista"}, 400)
        number = state.number(series)
        base = str(request.base_url).rstrip("/")
        data = {"seriesName": series, "number": number, "link": f"{base}/pdf/{series}{number}"}
        state.issued.append({"series": series, "number": number, "body": body})
        if key:
            by_key[key] = data
        if state.drop_after_issue:
            raise Dropped
        return {"status": 200, "statusMessage": "Success", "data": data}

    @app.get("/pdf/{name}")
    async def pdf(name: str) -> Any:
        if not any(f"{i['series']}{i['number']}" == name for i in state.issued):
            return Response(status_code=404)
        return Response(PDF, media_type="application/pdf")

    return app
