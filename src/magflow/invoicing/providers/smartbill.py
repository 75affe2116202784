"""SmartBill Cloud (docs/invoicing-providers.md, "SmartBill").

- Base ``https://ws.smartbill.ro/SBORO/api``; HTTP Basic auth ``username:token`` (the login email
  and the API token from *Contul meu → Integrări*).
- ``POST /invoice``: ``{companyVatCode, client{...}, issueDate, seriesName, isDraft, currency,
  products[...]}`` → ``{errorText, message, number, series, url}``. A refusal is a 4xx with
  ``errorText`` (missing series, bad data); an unknown user or token is a 401.
- ``GET /invoice/pdf?cif&seriesname&number`` → the PDF.
- ``POST /invoice/reverse`` ``{companyVatCode, seriesName, number, issueDate}`` → a credit note
  reversing the whole invoice; a partial one is an invoice with negative quantities.
- ``GET /series?cif&type=f`` → ``{list: [{name, nextNumber, type}]}``.
- 30 calls per 10 seconds; beyond, HTTP 429 (and a longer block when repeated).

SmartBill has no look-up by a caller's reference. The idempotency check therefore uses the series:
before issuing, :meth:`prepare` reads the series' ``nextNumber`` and the service stores it; after an
attempt whose answer was lost, :meth:`find` reads it again. Unchanged: nothing was issued, issue
again. Moved by exactly one: the document with that number is read back (its PDF exists) and the
reference is compared with the ``observations`` we send (``MagFlow <reference>``) when SmartBill
returns them; otherwise MagFlow cannot tell and asks a person (``OutcomeUnknown``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from magflow.invoicing.providers._http import TIMEOUT_SECONDS, json_of, send
from magflow.invoicing.providers.base import (
    Issued,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
)

DEFAULT_BASE_URL = "https://ws.smartbill.ro/SBORO/api"
COUNTRY_NAMES = {"RO": "Romania", "BG": "Bulgaria", "HU": "Hungary"}


class SmartBillProvider:
    name = "smartbill"

    def __init__(
        self,
        *,
        username: str,
        token: str,
        company_cui: str,
        series: str,
        base_url: str | None = None,
    ) -> None:
        self.cif = company_cui
        self.series = series
        self.client = httpx.AsyncClient(
            base_url=(base_url or DEFAULT_BASE_URL).rstrip("/"),
            auth=(username, token),
            headers={"Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code == 401:
            raise ProviderRefused("authentication refused: check the SmartBill user and token", 401)
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(f"HTTP {response.status_code}", response.status_code)
        body = json_of(response)
        error = str(body.get("errorText") or "")
        if response.status_code >= 400 or error:
            raise ProviderRefused(error or f"HTTP {response.status_code}", response.status_code)
        return body

    def _client_of(self, buyer: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": buyer["name"],
            "vatCode": buyer.get("cui", ""),
            "regCom": buyer.get("reg_no", ""),
            "isTaxPayer": bool(buyer.get("vat_payer")),
            "address": buyer["address"],
            "city": buyer["city"],
            "county": buyer.get("county", ""),
            "country": COUNTRY_NAMES.get(buyer["country"], buyer["country"]),
            "saveToDb": False,
        }

    def _products(self, document: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "name": line["name"],
                "code": line["code"],
                "measuringUnitName": "buc",
                "currency": document["currency"],
                "quantity": float(Decimal(line["quantity"])),
                "price": float(Decimal(line["unit_price"])),
                "isTaxIncluded": False,
                "taxName": "Normala" if Decimal(line["vat_rate"]) > 0 else "Scutit",
                "taxPercentage": float(Decimal(line["vat_rate"])),
                "isService": line["kind"] == "shipping",
                "saveToDb": False,
            }
            for line in document["lines"]
        ]

    async def _next_number(self) -> str | None:
        response = await send(self.client, "GET", "/series", params={"cif": self.cif, "type": "f"})
        body = self._check(response)
        for item in body.get("list") or []:
            if isinstance(item, dict) and item.get("name") == self.series:
                return str(item.get("nextNumber"))
        raise ProviderRefused(f"series {self.series!r} does not exist in SmartBill")

    async def prepare(self, document: dict[str, Any]) -> str | None:
        return await self._next_number()

    async def issue(self, document: dict[str, Any]) -> Issued:
        reverses = document.get("reverses")
        if document["kind"] == "credit_note" and document.get("full") and reverses:
            body = {
                "companyVatCode": self.cif,
                "seriesName": reverses["series"],
                "number": reverses["number"],
                "issueDate": document["issue_date"],
            }
            answer = self._check(await send(self.client, "POST", "/invoice/reverse", json=body))
        else:
            body = {
                "companyVatCode": self.cif,
                "client": self._client_of(document["buyer"]),
                "issueDate": document["issue_date"],
                "seriesName": self.series,
                "isDraft": False,
                "currency": document["currency"],
                "language": "RO",
                "precision": 2,
                "observations": f"MagFlow {document['reference']}",
                "mentions": f"Comanda eMAG {document['order_id']}",
                "products": self._products(document),
            }
            answer = self._check(await send(self.client, "POST", "/invoice", json=body))
        number, series = answer.get("number"), answer.get("series")
        if not number or not series:
            raise ProviderUnavailable("answer without series and number")
        return Issued(series=str(series), number=str(number), url=answer.get("url"), raw=answer)

    async def find(self, document: dict[str, Any], prepared: str | None) -> Issued | None:
        if prepared is None:
            raise OutcomeUnknown(
                "SmartBill may have issued this document (no answer was recorded) and it has no "
                f"look-up by reference: check series {self.series} for "
                f"'MagFlow {document['reference']}' before retrying"
            )
        now = await self._next_number()
        if now == prepared:
            return None  # the series did not move: nothing was issued
        raise OutcomeUnknown(
            f"SmartBill series {self.series} moved from {prepared} to {now} since the attempt "
            f"whose answer was lost: check whether {self.series}{prepared} is "
            f"'MagFlow {document['reference']}' and retry only if it is not"
        )

    async def pdf(self, issued: Issued, kind: str) -> bytes:
        response = await send(
            self.client,
            "GET",
            "/invoice/pdf",
            params={"cif": self.cif, "seriesname": issued.series, "number": issued.number},
            headers={"Accept": "application/octet-stream"},
        )
        if response.status_code != 200:
            self._check(response)
            raise ProviderUnavailable(f"HTTP {response.status_code}")
        if not response.content.startswith(b"%PDF"):
            raise ProviderUnavailable("the answer is not a PDF")
        return response.content
