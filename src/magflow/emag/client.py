"""The eMAG Marketplace API client: async, httpx, one instance per seller account.

Protocol choices (docs/emag-protocol.md):

- URL ``{base_url}/{resource}/{action}``, HTTP Basic auth
  (docs/emag-protocol.md, "Requests and authentication"). ``base_url`` is the platform's ``api_url``
  or an override (a sandbox, the simulator).
- JSON bodies: read/count filters at the top level next to ``currentPage``/``itemsPerPage``;
  saves as ``{"data": [...]}`` (the recommendation of
  docs/emag-protocol.md, "Requests and authentication"); ``awb/save`` sends a single object as
  ``{"data": {...}}`` (docs/emag-protocol.md, "AWBs and couriers"); ``order/acknowledge/{id}`` has
  no body (docs/emag-protocol.md, "Orders").
- Method exception (docs/emag-protocol.md, "Requests and authentication"):
  ``PATCH offer_stock/{id}`` with ``{"stock": int}`` (docs/emag-protocol.md, "Offers").
- Reads return rows as sent, through one primitive, :meth:`EmagClient.read_rows`; values are
  converted by the caller's domain mapper with :mod:`magflow.emag.coerce`. The client offers only
  the calls MagFlow makes (docs/architecture.md): a new call is added with its first caller.
- Every answer goes through :func:`magflow.emag.errors.parse_response` (``isError`` checked on
  every answer, docs/emag-protocol.md, "Answers and errors").
- Every attempt first takes a slot from the shared :class:`~magflow.emag.ratelimit.RateLimiter`
  (docs/emag-protocol.md, "Rate and size limits") right before it is handed to httpx; httpcore's
  ``trace`` hook reports the moment the request is really written and the limiter re-records the
  send at that time when it left late (a new connection, a busy loop). A 429 pauses the bucket (see
  :meth:`EmagClient._pause_after_429`).
- Retries follow :class:`~magflow.emag.retry.RetryPolicy` (non-idempotent writes are only retried
  when eMAG certainly did not process them; see that module).
- Filter values that are datetimes are sent as platform-local ``YYYY-mm-dd HH:ii:ss``
  (docs/emag-protocol.md, "Dates and time zones"); parsed dates come back timezone-aware.

The password lives only inside the httpx auth object; it is in no attribute, repr, log line or
exception text.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from magflow.emag import coerce
from magflow.emag.chunking import chunk_entities
from magflow.emag.dates import format_emag_datetime
from magflow.emag.errors import (
    EmagError,
    EmagRateLimitedError,
    EmagTransientError,
    EmagValidationError,
    Envelope,
    parse_response,
)
from magflow.emag.metrics import CALLS, RATE_LIMITED, RETRIES, ClientStats, metric_route
from magflow.emag.platforms import Platform, PlatformInfo, platform_info
from magflow.emag.ratelimit import Grant, RateLimiter, bucket_for_route
from magflow.emag.results import ChunkResult, Document, OfferSaveResult, Page, SaveResult
from magflow.emag.retry import RetryPolicy
from magflow.emag.schemas import (
    AwbSaveResult,
    CountResult,
    CourierAccount,
    EmagModel,
    OfferItemResult,
)

log = logging.getLogger("magflow.emag.client")

DEFAULT_ITEMS_PER_PAGE = 100
#: ``awb/read_pdf`` paper formats (``ZPL`` is read through ``awb/read_zpl``).
LABEL_PAPERS = ("A4", "A5", "A6")
_T = TypeVar("_T")


class EmagClient:
    """Client of one eMAG seller account.

    ``account_key`` names the account for the rate limiter (the same key in every process shares
    one budget). ``transport`` replaces the network (tests use ``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        platform: Platform | str,
        rate_limiter: RateLimiter,
        account_key: str,
        timeout: float = 30,
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.userinfo:
            raise ValueError("base_url must not carry credentials; pass username and password")
        self.base_url = str(url).rstrip("/")
        self.platform = Platform(str(platform).lower())
        self.platform_info: PlatformInfo = platform_info(self.platform)
        self.tz = self.platform_info.tz
        self.username = username
        self.account_key = account_key
        self.rate_limiter = rate_limiter
        self.retry = retry
        self.stats = ClientStats()
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            auth=httpx.BasicAuth(username, password),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "MagFlow eMAG client"},
            follow_redirects=False,
        )

    @classmethod
    def for_platform(
        cls,
        platform: Platform | str,
        username: str,
        password: str,
        *,
        rate_limiter: RateLimiter,
        account_key: str,
        base_url: str | None = None,
        **kwargs: Any,
    ) -> EmagClient:
        """A client on the platform's own API URL unless ``base_url`` overrides it."""
        info = platform_info(platform)
        return cls(
            base_url or info.api_url,
            username,
            password,
            platform=info.platform,
            rate_limiter=rate_limiter,
            account_key=account_key,
            **kwargs,
        )

    def __repr__(self) -> str:
        return (
            f"EmagClient(base_url={self.base_url!r}, username={self.username!r}, "
            f"platform={self.platform.value!r}, account_key={self.account_key!r})"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- encoding --------------------------------------------------------------------------------

    def encode(self, value: Any) -> Any:
        """Make ``value`` JSON-ready: datetimes → platform-local ``YYYY-mm-dd HH:ii:ss``
        (docs/emag-protocol.md, "Dates and time zones"), dates → ``YYYY-mm-dd``, Decimals → floats,
        enums → values, models → their fields."""
        if isinstance(value, datetime | date):
            return format_emag_datetime(value, self.tz)
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, Enum):
            return self.encode(value.value)
        if isinstance(value, EmagModel):
            return self.encode(value.model_dump(exclude_none=True))
        if isinstance(value, Mapping):
            return {str(k): self.encode(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [self.encode(v) for v in value]
        return value

    # --- transport, retries, rate limit ----------------------------------------------------------

    def _pause_after_429(self, error: EmagRateLimitedError) -> float:
        """How long the bucket waits after a 429 (docs/emag-protocol.md, "Rate and size limits"):
        ``Retry-After`` when given; else until the exhausted Kong window has surely turned over. For
        a window of a few seconds that is the whole window plus the limiter margin (valid whatever
        the server's alignment); for a minute or longer window, until the next wall-clock boundary
        of that window plus 1 s (Kong aligns windows to its clock, assumed NTP-synced), capped at
        the window. With no header at all, the 1-second window is assumed."""
        margin = self.rate_limiter.margin
        if error.retry_after is not None:
            return error.retry_after + margin
        window = error.window or 1.0
        if window < 60:
            return window + margin
        return min(window - time.time() % window + 1.0, window + margin)

    async def _send(
        self,
        method: str,
        route: str,
        *,
        json: Any = None,
        params: Any = None,
        idempotent: bool = True,
    ) -> Envelope | None:
        """Send one logical request with rate limiting and retries; return the checked answer
        (an :class:`Envelope`, None for an empty 2xx)."""

        def envelope(response: httpx.Response) -> Envelope | None:
            return parse_response(
                route, response.status_code, response.content, dict(response.headers)
            )

        return await self._exchange(
            method, route, envelope, json=json, params=params, idempotent=idempotent
        )

    async def _exchange(
        self,
        method: str,
        route: str,
        parse: Callable[[httpx.Response], _T],
        *,
        json: Any = None,
        params: Any = None,
        idempotent: bool = True,
        url: str | None = None,
    ) -> _T:
        """:meth:`_send` with the answer read by ``parse`` (which raises the matching
        :class:`EmagError`), sent to ``url`` (absolute) instead of ``{base_url}/{route}`` when
        given."""
        bucket = bucket_for_route(route)
        label = metric_route(route)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            grant = await self.rate_limiter.acquire_slot(self.account_key, bucket)
            granted = grant.local_at
            self.stats.rate_wait_seconds += grant.waited
            self.stats.api_calls += 1
            self.stats.calls_by_route[label] += 1

            async def trace(event: str, info: Any, grant: Grant = grant) -> None:
                # httpcore calls this as it writes the request: the real send time (pacing:
                # docs/emag-protocol.md, "Rate and size limits").
                if event.endswith("send_request_headers.started"):
                    sent = time.monotonic()
                    self.stats.max_send_lag = max(self.stats.max_send_lag, sent - grant.local_at)
                    self.rate_limiter.confirm(grant, sent)

            error: EmagError
            try:
                response = await self._http.request(
                    method, url or route, json=json, params=params, extensions={"trace": trace}
                )
            except httpx.TimeoutException as exc:
                never_sent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
                error = EmagTransientError(
                    f"request timed out ({type(exc).__name__})",
                    reason="timeout",
                    maybe_processed=not never_sent,
                    route=route,
                )
                error.__cause__ = exc
                status = "timeout"
            except httpx.RequestError as exc:
                error = EmagTransientError(
                    f"connection error ({type(exc).__name__})",
                    reason="network",
                    maybe_processed=not isinstance(exc, httpx.ConnectError),
                    route=route,
                )
                error.__cause__ = exc
                status = "network"
            else:
                status = str(response.status_code)
                try:
                    result = parse(response)
                except EmagError as exc:
                    error = exc
                else:
                    CALLS.labels(label, status).inc()
                    log.debug(
                        "eMAG %s %s → %s in %.3fs (attempt %d)",
                        method,
                        label,
                        status,
                        time.monotonic() - granted,
                        attempt,
                    )
                    return result
            CALLS.labels(label, status).inc()
            self.stats.errors[error.kind] += 1
            if isinstance(error, EmagRateLimitedError):
                self.stats.rate_limited += 1
                RATE_LIMITED.labels(label).inc()
                await self.rate_limiter.pause(
                    self.account_key, bucket, self._pause_after_429(error)
                )
            reason = self.retry.reason(error, idempotent=idempotent)
            if reason is None or attempt >= self.retry.max_attempts:
                raise error
            delay = self.retry.delay(attempt)
            if time.monotonic() - started + delay > self.retry.max_elapsed:
                raise error
            self.stats.retries += 1
            RETRIES.labels(label, reason).inc()
            log.warning(
                "eMAG %s %s failed (%s: %s); retry %d in %.2fs",
                method,
                label,
                reason,
                error.summary,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)

    async def call(
        self,
        route: str,
        body: Any = None,
        *,
        method: str = "POST",
        params: Any = None,
        idempotent: bool = True,
    ) -> Envelope | None:
        """Low-level escape hatch: one request with limits, retries and envelope checks."""
        return await self._send(
            method,
            route,
            json=self.encode(body) if body is not None else None,
            params=params,
            idempotent=idempotent,
        )

    async def _envelope(self, route: str, body: Any = None, **kwargs: Any) -> Envelope:
        envelope = await self.call(route, body, **kwargs)
        # a 2xx without a body where an envelope was due: not processed
        # (docs/emag-protocol.md, "Answers and errors")
        if envelope is None:
            raise EmagTransientError("empty response body", reason="malformed", route=route)
        return envelope

    # --- reads: count and rows (docs/emag-protocol.md, "Paging, counts and filters") --------------

    async def count(self, resource: str, filters: Mapping[str, Any] | None = None) -> CountResult:
        """``{resource}/count`` with the same filters as read
        (docs/emag-protocol.md, "Paging, counts and filters")."""
        envelope = await self._envelope(f"{resource}/count", dict(filters or {}))
        results = envelope.results
        if isinstance(results, list):  # tolerate [{...}] or []
            results = results[0] if results else {}
        if isinstance(results, int | str):
            results = {"noOfItems": results}
        return CountResult.parse(results, self.tz)

    async def read_rows(
        self,
        resource: str,
        filters: Mapping[str, Any] | None = None,
        page: int | None = 1,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The rows of one ``{resource}/read`` page, exactly as eMAG sent them: the one way
        MagFlow reads eMAG data (the sync, returns, the re-read after an order write, reference
        data). Each domain maps the rows through :mod:`magflow.emag.coerce`.

        Filters go at the top level of the JSON body next to ``currentPage``/``itemsPerPage``
        (docs/emag-protocol.md, "Requests and authentication"); ``page=None`` sends no paging
        (unpaged reference reads such as ``vat/read``). ``results`` is read by
        :func:`magflow.emag.coerce.rows` (docs/emag-protocol.md, "PHP serialization quirks"):
        ``null`` is an empty page, an object keyed ``"0"``, ``"1"``... is a list, and a lone object
        (eMAG's answer to a read matching one row) is one row. Anything else is a malformed answer,
        raised as a transient error (retried by the caller's rounds, never read as "no rows"); a
        list item that is not an object cannot be a row and is logged and left out.
        """
        body = dict(filters or {})
        if page is not None:
            body.update(currentPage=page, itemsPerPage=items_per_page)
        route = f"{resource}/read"
        envelope = await self._envelope(route, body, params=params)
        try:
            found = coerce.rows(envelope.results)
        except ValueError as exc:
            raise EmagTransientError(
                f"read answer without rows ({exc})", reason="malformed", route=route
            ) from None
        rows = [row for row in found if isinstance(row, dict)]
        if len(rows) != len(found):
            log.warning("eMAG %s: %d result items are not objects", route, len(found) - len(rows))
        return rows

    async def iter_pages(
        self,
        resource: str,
        filters: Mapping[str, Any] | None = None,
        *,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        start_page: int = 1,
        count_first: bool = True,
    ) -> AsyncIterator[Page]:
        """Pages of :meth:`read_rows` from ``start_page`` on
        (docs/emag-protocol.md, "Paging, counts and filters").

        ``count`` first (unless ``count_first=False``) gives the total and the number of pages
        (``noOfItems``/``noOfPages``, ints or strings). Page 1 is read whatever the count says (a
        count of 0 is not trusted: docs/emag-protocol.md, "Paging, counts and filters"). Reading
        stops on an empty page, or after the counted last page when that page is not full; a full
        last page means items were added since the count, so reading goes on until a short or
        empty page. Without a count, only an empty page stops (a server may cap ``itemsPerPage``
        below what was asked, docs/emag-protocol.md, "Rate and size limits", UNCERTAIN, so a short
        page proves nothing).
        """
        total_items: int | None = None
        total_pages: int | None = None
        if count_first:
            counted = await self.count(resource, filters)
            total_items = counted.no_of_items
            total_pages = counted.pages(items_per_page)
        number = start_page
        while True:
            rows = await self.read_rows(resource, filters, number, items_per_page)
            page = Page(resource, number, items_per_page, rows, total_items, total_pages)
            if page.is_empty:
                return
            yield page
            if total_pages is not None and number >= total_pages and not page.is_full:
                return
            number += 1

    async def vat_rates(self) -> dict[int, Decimal]:
        """``vat/read`` (docs/emag-protocol.md, "Offers") as ``{vat_id: rate}``; the rate is a
        fraction (0.19)."""
        rates: dict[int, Decimal] = {}
        for row in await self.read_rows("vat", page=None):
            vat_id, rate = coerce.to_int(row.get("vat_id")), coerce.to_decimal(row.get("vat_rate"))
            if vat_id is not None and rate is not None:
                rates[vat_id] = rate
        return rates

    async def read_courier_accounts(self) -> list[CourierAccount]:
        """``courier_accounts/read`` (docs/emag-protocol.md, "AWBs and couriers")."""
        rows = await self.read_rows("courier_accounts", page=None)
        return [CourierAccount.parse(row, self.tz) for row in rows]

    # --- chunked saves ---------------------------------------------------------------------------

    async def _save_chunks(
        self, route: str, entities: Sequence[Any], *, idempotent: bool = True
    ) -> SaveResult:
        result = SaveResult(route=route)
        payload = [self.encode(e) for e in entities]
        for index, chunk in enumerate(chunk_entities(payload)):
            ids = [e.get("id") if isinstance(e, dict) else None for e in chunk]
            try:
                envelope = await self._envelope(route, {"data": chunk}, idempotent=idempotent)
            except EmagValidationError as exc:
                body = exc.body if isinstance(exc.body, dict) else {}
                result.chunks.append(
                    ChunkResult(
                        index=index,
                        ids=ids,
                        saved=False,
                        messages=exc.messages,
                        error=exc,
                        results=body.get("results"),
                        raw=body,
                    )
                )
                continue
            result.chunks.append(
                ChunkResult(
                    index=index,
                    ids=ids,
                    saved=True,
                    messages=envelope.all_messages,
                    results=envelope.results,
                    raw=envelope.raw,
                )
            )
        return result

    # --- offers (docs/emag-protocol.md, "Offers") -------------------------------------------------

    async def save_offers(self, offers: Sequence[Mapping[str, Any]]) -> OfferSaveResult:
        """Light ``offer/save`` (docs/emag-protocol.md, "Offers"): per-offer results keyed by id,
        not raised."""
        result = OfferSaveResult()
        payload = [self.encode(o) for o in offers]
        for chunk in chunk_entities(payload):
            ids = [str(o.get("id")) for o in chunk if isinstance(o, dict)]
            try:
                envelope = await self._envelope("offer/save", {"data": chunk})
            except EmagValidationError as exc:
                for offer_id in ids:
                    result.items[offer_id] = OfferItemResult(is_error=True, messages=exc.messages)
                result.raw.append(exc.body if isinstance(exc.body, dict) else {})
                continue
            result.raw.append(envelope.raw)
            reported: dict[str, Any] = {}
            if isinstance(envelope.results, dict):
                reported = {str(k): v for k, v in envelope.results.items()}
            elif isinstance(envelope.results, list):
                for row in envelope.results:
                    if isinstance(row, dict) and "id" in row:
                        reported[str(row["id"])] = row
            for offer_id, item in reported.items():
                result.items[offer_id] = OfferItemResult.parse(
                    item if isinstance(item, dict) else {"messages": item}, self.tz
                )
            result.unreported += [i for i in ids if i not in reported]
        return result

    async def update_stock(self, offer_id: int, stock: int) -> None:
        """``PATCH offer_stock/{id}`` with ``{"stock": int}`` (docs/emag-protocol.md, "Offers"). 204
        on success; 400/404 ``{"message": ...}`` bodies raise :class:`EmagValidationError`."""
        if isinstance(stock, bool) or not isinstance(stock, int) or stock < 0:
            raise ValueError("stock must be a non-negative int")
        await self._send("PATCH", f"offer_stock/{int(offer_id)}", json={"stock": stock})

    # --- orders (docs/emag-protocol.md, "Orders") -------------------------------------------------

    async def acknowledge_order(self, order_id: int) -> None:
        """``POST order/acknowledge/{id}``, no body: the only way from status 1 to 2
        (docs/emag-protocol.md, "Orders")."""
        await self._envelope(f"order/acknowledge/{int(order_id)}")

    async def save_orders(
        self, orders: Sequence[Mapping[str, Any]], *, retry_unsafe: bool | None = None
    ) -> SaveResult:
        """``order/save`` (docs/emag-protocol.md, "Orders"): send whole orders as read. Treated as
        non-idempotent (it can add lines), so not retried when eMAG may have processed it (see
        :mod:`.retry`)."""
        return await self._save_chunks("order/save", orders, idempotent=bool(retry_unsafe))

    async def save_order_attachments(
        self, attachments: Sequence[Mapping[str, Any]], *, retry_unsafe: bool | None = None
    ) -> SaveResult:
        """``order/attachments/save`` (docs/emag-protocol.md, "Attachments and invoices"): invoices,
        warranties... (PDF URLs). Non-idempotent (a repeat could attach twice)."""
        return await self._save_chunks(
            "order/attachments/save", attachments, idempotent=bool(retry_unsafe)
        )

    # --- AWB (docs/emag-protocol.md, "AWBs and couriers") -----------------------------------------

    async def save_awb(
        self, awb: Mapping[str, Any], *, retry_unsafe: bool | None = None
    ) -> AwbSaveResult:
        """``awb/save`` with a single object (docs/emag-protocol.md, "AWBs and couriers").
        Non-idempotent: a repeat after a timeout could issue two AWBs, so it is only retried when
        eMAG surely did not process it."""
        envelope = await self._envelope(
            "awb/save", {"data": dict(awb)}, idempotent=bool(retry_unsafe)
        )
        results = envelope.results
        if isinstance(results, list):  # a bare list: the AWB numbers, or a one-item wrapper
            first = results[0] if len(results) == 1 and isinstance(results[0], dict) else None
            wrapper = first is not None and ("reservation_id" in first or "awb" in first)
            results = first if wrapper else {"awb": results}
        return AwbSaveResult.parse(results if isinstance(results, dict) else {}, self.tz)

    async def read_awb(
        self, *, emag_id: int | None = None, reservation_id: int | None = None
    ) -> list[dict[str, Any]]:
        """``awb/read`` by ``emag_id`` or ``reservation_id`` (docs/emag-protocol.md, "AWBs and
        couriers"): the AWB records as sent (``awb: [{emag_id, awb_number, awb_barcode}]``...)."""
        if emag_id is None and reservation_id is None:
            raise ValueError("awb/read needs an emag_id or a reservation_id")
        filters = {"emag_id": emag_id} if emag_id is not None else {}
        if reservation_id is not None:
            filters["reservation_id"] = reservation_id
        return await self.read_rows("awb", filters, page=None)

    async def read_addresses(self) -> list[dict[str, Any]]:
        """``addresses/read`` (4.4.9, docs/emag-protocol.md, "AWBs and couriers"): the seller's
        saved addresses as sent; an ``address_id`` can be an AWB's sender."""
        return await self.read_rows("addresses", page=None)

    # --- AWB labels (docs/emag-protocol.md, "AWBs and couriers") ---------------------------------

    async def _label_get(
        self, route: str, params: dict[str, Any], parse: Callable[[httpx.Response], _T]
    ) -> _T:
        """GET a label route under ``base_url``; on a 404 there, GET it at the host's root
        without ``/api-3`` (eMAG documents the label URLs without it; which is right is uncertain:
        docs/emag-protocol.md, "Uncertainties")."""
        try:
            return await self._exchange("GET", route, parse, params=params)
        except EmagValidationError as exc:
            if exc.status_code != 404 or not self.base_url.endswith("/api-3"):
                raise
        root = self.base_url[: -len("/api-3")]
        return await self._exchange("GET", route, parse, params=params, url=f"{root}/{route}")

    async def awb_label(self, emag_id: int, paper: str) -> Document:
        """The label of the AWB ``emag_id`` (only AWBs issued through the API have one,
        docs/emag-protocol.md, "AWBs and couriers"): ``A4``/``A5``/``A6`` through
        ``awb/read_pdf`` (the PDF's bytes, as sent), ``ZPL`` through ``awb/read_zpl`` (the
        base64 programs of ``results.deliveries.{n}.awbs.content`` decoded and joined, one per
        parcel). eMAG's refusals come back as JSON envelopes and are raised."""
        if paper == "ZPL":
            envelope = await self._label_get(
                "awb/read_zpl", {"emag_id": int(emag_id)}, self._checked("awb/read_zpl")
            )
            return Document(_zpl_programs("awb/read_zpl", envelope.results), "application/zpl")
        if paper not in LABEL_PAPERS:
            raise ValueError(f"awb format must be one of {', '.join(LABEL_PAPERS)}, ZPL")
        route = "awb/read_pdf"

        def document(response: httpx.Response) -> Document:
            ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
            content = response.content
            if response.status_code < 300 and (content.startswith(b"%PDF") or "pdf" in ctype):
                return Document(content, "application/pdf")
            self._checked(route)(response)  # raises eMAG's refusal, if it is one
            raise EmagTransientError(
                f"no PDF in the answer ({ctype or 'no content type'})",
                reason="malformed",
                route=route,
                status_code=response.status_code,
            )

        return await self._label_get(
            route, {"emag_id": int(emag_id), "awb_format": paper}, document
        )

    @staticmethod
    def _checked(route: str) -> Callable[[httpx.Response], Envelope]:
        def parse(response: httpx.Response) -> Envelope:
            envelope = parse_response(
                route, response.status_code, response.content, dict(response.headers)
            )
            if envelope is None:
                raise EmagTransientError("empty response body", reason="malformed", route=route)
            return envelope

        return parse


def _zpl_programs(route: str, results: Any) -> bytes:
    """The ZPL of ``results.deliveries.{n}.awbs.content`` (docs/emag-protocol.md, "AWBs and
    couriers"). ``deliveries`` may be a list or an object keyed by number, ``awbs`` an object or a
    list of them, ``content`` a list or one string (docs/emag-protocol.md, "PHP serialization
    quirks")."""

    def items(value: Any) -> list[Any]:
        if isinstance(value, dict):
            return list(value.values())
        return list(value) if isinstance(value, list) else [value]

    programs: list[bytes] = []
    deliveries = results.get("deliveries") if isinstance(results, dict) else None
    for delivery in items(deliveries) if deliveries is not None else []:
        awbs = delivery.get("awbs") if isinstance(delivery, dict) else None
        for awb in [awbs] if isinstance(awbs, dict) else items(awbs or []):
            content = awb.get("content") if isinstance(awb, dict) else None
            for encoded in items(content) if content is not None else []:
                try:
                    programs.append(base64.b64decode(str(encoded), validate=True))
                except (binascii.Error, ValueError):
                    raise EmagTransientError(
                        "ZPL content is not base64", reason="malformed", route=route
                    ) from None
    if not programs:
        raise EmagTransientError("no ZPL in the answer", reason="malformed", route=route)
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in programs)
