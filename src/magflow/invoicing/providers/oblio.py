"""Oblio (docs/invoicing-providers.md, "Oblio").

- Base ``https://www.oblio.eu``; ``POST /api/authorize/token`` with ``{client_id: <login email>,
  client_secret: <API secret>, grant_type: client_credentials}`` → ``{access_token, expires_in,
  token_type}``; every other call sends ``Authorization: Bearer <access_token>``. An expired
  token is answered 401: a new one is asked for once and the call repeated.
- ``POST /api/docs/invoice`` ``{cif, client{...}, issueDate, seriesName, currency, products[...],
  idempotencyKey, referenceDocument?}`` → ``{status: 200, statusMessage, data: {seriesName,
  number, link}}``; a refusal is ``{status: 4xx, statusMessage}`` with that HTTP status.
- ``idempotencyKey``: Oblio answers a repeated key with the document already issued for it
  instead of a new one. MagFlow sends its reference there, so re-sending after a lost answer *is*
  the look-up by reference (``find`` has nothing more to ask).
- A credit note (storno) is an invoice with ``referenceDocument {type: "Factura", seriesName,
  number}`` and the reversed lines with negative quantities.
- ``data.link`` is the PDF's address.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx

from magflow.invoicing.providers._http import TIMEOUT_SECONDS, json_of, send
from magflow.invoicing.providers.base import Issued, ProviderRefused, ProviderUnavailable

DEFAULT_BASE_URL = "https://www.oblio.eu"


class OblioProvider:
    name = "oblio"

    def __init__(
        self,
        *,
        email: str,
        secret: str,
        company_cui: str,
        series: str,
        base_url: str | None = None,
    ) -> None:
        self.email = email
        self.secret = secret
        self.cif = company_cui
        self.series = series
        self.client = httpx.AsyncClient(
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            headers={"Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )
        self._token: str | None = None
        self._expires = 0.0

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _authorize(self) -> str:
        if self._token and time.monotonic() < self._expires:
            return self._token
        response = await send(
            self.client,
            "POST",
            "/api/authorize/token",
            json={
                "client_id": self.email,
                "client_secret": self.secret,
                "grant_type": "client_credentials",
            },
        )
        if response.status_code in (400, 401, 403):
            raise ProviderRefused(
                "authentication refused: check the Oblio email and API secret",
                response.status_code,
            )
        body = self._check(response)
        token = body.get("access_token")
        if not token:
            raise ProviderUnavailable("token answer without access_token")
        self._token = str(token)
        self._expires = time.monotonic() + max(0.0, float(body.get("expires_in") or 0) - 60)
        return self._token

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(f"HTTP {response.status_code}", response.status_code)
        body = json_of(response)
        if response.status_code >= 400:
            raise ProviderRefused(
                str(body.get("statusMessage") or f"HTTP {response.status_code}"),
                response.status_code,
            )
        return body

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in (1, 2):
            token = await self._authorize()
            response = await send(
                self.client, method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
            if response.status_code != 401 or attempt == 2:
                return response
            self._token = None  # expired: ask for a new one, once
        raise AssertionError("unreachable")

    async def prepare(self, document: dict[str, Any]) -> str | None:
        return None

    async def issue(self, document: dict[str, Any]) -> Issued:
        buyer = document["buyer"]
        body: dict[str, Any] = {
            "cif": self.cif,
            "client": {
                "cif": buyer.get("cui", ""),
                "name": buyer["name"],
                "rc": buyer.get("reg_no", ""),
                "address": buyer["address"],
                "state": buyer.get("county", ""),
                "city": buyer["city"],
                "country": buyer["country"],
                "vatPayer": bool(buyer.get("vat_payer")),
                "save": 0,
            },
            "issueDate": document["issue_date"],
            "seriesName": self.series,
            "currency": document["currency"],
            "language": "RO",
            "precision": 2,
            "idempotencyKey": document["reference"],
            "mentions": f"Comanda eMAG {document['order_id']}",
            "products": [
                {
                    "name": line["name"],
                    "code": line["code"],
                    "price": line["unit_price"],
                    "measuringUnit": "buc",
                    "currency": document["currency"],
                    "vatPercentage": float(Decimal(line["vat_rate"])),
                    "vatIncluded": False,
                    "quantity": float(Decimal(line["quantity"])),
                    "productType": "Serviciu" if line["kind"] == "shipping" else "Marfa",
                }
                for line in document["lines"]
            ],
        }
        reverses = document.get("reverses")
        if reverses:
            body["referenceDocument"] = {
                "type": "Factura",
                "seriesName": reverses["series"],
                "number": reverses["number"],
            }
        answer = self._check(await self._call("POST", "/api/docs/invoice", json=body))
        data = answer.get("data") or {}
        if not isinstance(data, dict) or not data.get("number"):
            raise ProviderUnavailable("answer without data.number")
        return Issued(
            series=str(data.get("seriesName") or self.series),
            number=str(data["number"]),
            url=data.get("link"),
            raw=answer,
        )

    async def find(self, document: dict[str, Any], prepared: str | None) -> Issued | None:
        """Nothing to ask: re-issuing with the same ``idempotencyKey`` returns the document an
        earlier attempt issued (see the module docstring)."""
        return None

    async def pdf(self, issued: Issued, kind: str) -> bytes:
        url = issued.url
        if not url:
            response = await self._call(
                "GET",
                "/api/docs/invoice",
                params={"cif": self.cif, "seriesName": issued.series, "number": issued.number},
            )
            url = (self._check(response).get("data") or {}).get("link")
        if not url:
            raise ProviderUnavailable("no PDF link for the document")
        response = await send(self.client, "GET", str(url))
        if response.status_code != 200 or not response.content.startswith(b"%PDF"):
            raise ProviderUnavailable(f"PDF download answered HTTP {response.status_code}")
        return response.content
