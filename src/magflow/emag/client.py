"""The eMAG Marketplace API client: async, httpx, one instance per seller account.

Protocol choices (EMAG_API.md):

- URL ``{base_url}/{resource}/{action}``, HTTP Basic auth (§1). ``base_url`` is the platform's
  ``api_url`` or an override (a sandbox, the simulator).
- JSON bodies: read/count filters at the top level next to ``currentPage``/``itemsPerPage``;
  saves as ``{"data": [...]}`` (§1 "Request body", recommendation); ``awb/save`` sends a single
  object as ``{"data": {...}}`` (§5.11); ``order/acknowledge/{id}`` has no body (§5.10).
- Method exceptions (§1): ``PATCH offer_stock/{id}`` with ``{"stock": int}`` (§5.4),
  ``GET documentation/find_by_eans?eans[]=…`` (§5.6), ``GET awb/read_pdf`` (§5.11).
- Every answer goes through :func:`magflow.emag.errors.parse_response` (``isError`` checked on
  every answer, §2).
- Every attempt first takes a slot from the shared :class:`~magflow.emag.ratelimit.RateLimiter`
  (§3) right before it is handed to httpx; httpcore's ``trace`` hook reports the moment the
  request is really written and the limiter re-records the send at that time when it left late
  (a new connection, a busy loop). A 429 pauses the bucket (see
  :meth:`EmagClient._pause_after_429`).
- Retries follow :class:`~magflow.emag.retry.RetryPolicy` (non-idempotent writes are only retried
  when eMAG certainly did not process them; see that module).
- Filter values that are datetimes are sent as platform-local ``YYYY-mm-dd HH:ii:ss`` (§4);
  parsed dates come back timezone-aware.

The password lives only inside the httpx auth object; it is in no attribute, repr, log line or
exception text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar, overload

import httpx

from magflow.emag.chunking import chunk_entities, chunk_sequence
from magflow.emag.dates import format_emag_datetime
from magflow.emag.errors import (
    EmagError,
    EmagRateLimitedError,
    EmagTransientError,
    EmagValidationError,
    Envelope,
    is_documentation_error,
    parse_response,
)
from magflow.emag.metrics import CALLS, RATE_LIMITED, RETRIES, ClientStats, metric_route
from magflow.emag.platforms import Platform, PlatformInfo, platform_info
from magflow.emag.ratelimit import Grant, RateLimiter, bucket_for_route
from magflow.emag.results import ChunkResult, OfferSaveResult, Page, SaveResult
from magflow.emag.retry import RetryPolicy
from magflow.emag.schemas import (
    Awb,
    AwbSaveResult,
    Category,
    CountResult,
    CourierAccount,
    EanProduct,
    EmagModel,
    HandlingTime,
    Locality,
    Offer,
    OfferItemResult,
    Order,
    Rma,
    Vat,
    parse_items,
)

log = logging.getLogger("magflow.emag.client")

M = TypeVar("M", bound=EmagModel)

DEFAULT_ITEMS_PER_PAGE = 100
MAX_EANS_PER_CALL = 100


@dataclass(frozen=True)
class ResourceSpec(Generic[M]):
    """A readable resource and the model its rows parse into."""

    name: str
    model: type[M]
    countable: bool = True


OFFERS = ResourceSpec("product_offer", Offer)
ORDERS = ResourceSpec("order", Order)
CATEGORIES = ResourceSpec("category", Category)
RMAS = ResourceSpec("rma", Rma)
LOCALITIES = ResourceSpec("locality", Locality)
AWBS = ResourceSpec("awb", Awb, countable=False)
COURIER_ACCOUNTS = ResourceSpec("courier_accounts", CourierAccount, countable=False)
VATS = ResourceSpec("vat", Vat, countable=False)
HANDLING_TIMES = ResourceSpec("handling_time", HandlingTime, countable=False)

RESOURCES: dict[str, ResourceSpec[Any]] = {
    spec.name: spec
    for spec in (
        OFFERS,
        ORDERS,
        CATEGORIES,
        RMAS,
        LOCALITIES,
        AWBS,
        COURIER_ACCOUNTS,
        VATS,
        HANDLING_TIMES,
    )
}

Decode = Literal["envelope", "bytes"]


def _rows(results: Any) -> list[Any]:
    """Read ``results`` as a list of rows: ``None``/``[]`` → empty; a dict keyed by id → values."""
    if results is None or results == "":
        return []
    if isinstance(results, list):
        return results
    if isinstance(results, dict):
        if results and all(str(k).isdigit() for k in results):
            return list(results.values())
        return [results] if results else []
    return [results]


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
        """Make ``value`` JSON-ready: datetimes → platform-local ``YYYY-mm-dd HH:ii:ss`` (§4),
        dates → ``YYYY-mm-dd``, Decimals → floats, enums → values, models → their fields."""
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
        """How long the bucket waits after a 429 (§3): ``Retry-After`` when given; else until
        the exhausted Kong window has surely turned over. For a window of a few seconds that is
        the whole window plus the limiter margin (valid whatever the server's alignment); for a
        minute or longer window, until the next wall-clock boundary of that window plus 1 s
        (Kong aligns windows to its clock, assumed NTP-synced), capped at the window. With no
        header at all, the 1-second window is assumed."""
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
        decode: Decode = "envelope",
    ) -> Any:
        """Send one logical request with rate limiting and retries; return the decoded answer
        (an :class:`Envelope`, None for an empty 2xx, or bytes with ``decode="bytes"``)."""
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
                # httpcore calls this as it writes the request: the real send time (§3 pacing).
                if event.endswith("send_request_headers.started"):
                    sent = time.monotonic()
                    self.stats.max_send_lag = max(self.stats.max_send_lag, sent - grant.local_at)
                    self.rate_limiter.confirm(grant, sent)

            error: EmagError
            try:
                response = await self._http.request(
                    method, route, json=json, params=params, extensions={"trace": trace}
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
                    result = self._decode(route, response, decode)
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

    def _decode(self, route: str, response: httpx.Response, decode: Decode) -> Any:
        content = response.content
        if decode == "bytes" and response.is_success:
            ctype = response.headers.get("content-type", "")
            if "json" not in ctype and not content.lstrip().startswith(b"{"):
                return content
            envelope = parse_response(route, response.status_code, content, dict(response.headers))
            return envelope.raw if envelope is not None else b""
        return parse_response(route, response.status_code, content, dict(response.headers))

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
        result: Envelope | None = await self._send(
            method,
            route,
            json=self.encode(body) if body is not None else None,
            params=params,
            idempotent=idempotent,
        )
        return result

    async def _envelope(self, route: str, body: Any = None, **kwargs: Any) -> Envelope:
        envelope = await self.call(route, body, **kwargs)
        if envelope is None:  # a 2xx without a body where an envelope was due: not processed (§2)
            raise EmagTransientError("empty response body", reason="malformed", route=route)
        return envelope

    # --- generic read / count / pages ------------------------------------------------------------

    @staticmethod
    def _spec(resource: ResourceSpec[M] | str) -> ResourceSpec[Any]:
        if isinstance(resource, ResourceSpec):
            return resource
        return RESOURCES.get(resource) or ResourceSpec(resource, EmagModel)

    async def count(
        self, resource: ResourceSpec[Any] | str, filters: Mapping[str, Any] | None = None
    ) -> CountResult:
        """``{resource}/count`` with the same filters as read (§4)."""
        spec = self._spec(resource)
        envelope = await self._envelope(f"{spec.name}/count", dict(filters or {}))
        results = envelope.results
        if isinstance(results, list):  # tolerate [{...}] or []
            results = results[0] if results else {}
        if isinstance(results, int | str):
            results = {"noOfItems": results}
        return CountResult.parse(results, self.tz)

    @overload
    async def read_page(
        self,
        resource: ResourceSpec[M],
        filters: Mapping[str, Any] | None = None,
        page: int = 1,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> Page[M]: ...

    @overload
    async def read_page(
        self,
        resource: str,
        filters: Mapping[str, Any] | None = None,
        page: int = 1,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> Page[Any]: ...

    async def read_page(
        self,
        resource: ResourceSpec[Any] | str,
        filters: Mapping[str, Any] | None = None,
        page: int = 1,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> Page[Any]:
        """One page of ``{resource}/read``; filters go at the top level of the JSON body (§1)."""
        spec = self._spec(resource)
        body = {**dict(filters or {}), "currentPage": page, "itemsPerPage": items_per_page}
        envelope = await self._envelope(f"{spec.name}/read", body, params=params)
        rows = _rows(envelope.results)
        parsed = parse_items(spec.model, rows, self.tz)
        for row, reason in parsed.invalid:
            log.warning("eMAG %s/read: unparseable row kept raw (%s)", spec.name, reason)
            del row
        return Page(
            resource=spec.name,
            number=page,
            items_per_page=items_per_page,
            items=parsed.items,
            raw=rows,
            invalid=parsed.invalid,
        )

    @overload
    def iter_pages(
        self,
        resource: ResourceSpec[M],
        filters: Mapping[str, Any] | None = None,
        *,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        start_page: int = 1,
        count_first: bool | None = None,
    ) -> AsyncIterator[Page[M]]: ...

    @overload
    def iter_pages(
        self,
        resource: str,
        filters: Mapping[str, Any] | None = None,
        *,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        start_page: int = 1,
        count_first: bool | None = None,
    ) -> AsyncIterator[Page[Any]]: ...

    async def iter_pages(
        self,
        resource: ResourceSpec[Any] | str,
        filters: Mapping[str, Any] | None = None,
        *,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        start_page: int = 1,
        count_first: bool | None = None,
    ) -> AsyncIterator[Page[Any]]:
        """Pages from ``start_page`` on (§4).

        ``count`` first (for countable resources, unless ``count_first=False``) gives the total
        and the number of pages (``noOfItems``/``noOfPages``, ints or strings). Reading stops on
        an empty page, or after the counted last page when that page is not full; a full last
        page means items were added since the count, so reading goes on until a short or empty
        page. Without a count, only an empty page stops (a server may cap ``itemsPerPage`` below
        what was asked, §3 UNCERTAIN, so a short page proves nothing).
        """
        spec = self._spec(resource)
        total_items: int | None = None
        total_pages: int | None = None
        if spec.countable if count_first is None else count_first:
            counted = await self.count(spec, filters)
            total_items = counted.no_of_items
            total_pages = counted.pages(items_per_page)
            if total_items == 0 or total_pages == 0:
                return
        number = start_page
        while True:
            page = await self.read_page(spec, filters, number, items_per_page)
            page.total_items, page.total_pages = total_items, total_pages
            if page.is_empty:
                return
            yield page
            if total_pages is not None and number >= total_pages and not page.is_full:
                return
            number += 1

    @overload
    async def fetch_pages(
        self,
        resource: ResourceSpec[M],
        filters: Mapping[str, Any] | None,
        pages: Iterable[int],
        *,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        concurrency: int | None = None,
    ) -> list[Page[M]]: ...

    @overload
    async def fetch_pages(
        self,
        resource: str,
        filters: Mapping[str, Any] | None,
        pages: Iterable[int],
        *,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        concurrency: int | None = None,
    ) -> list[Page[Any]]: ...

    async def fetch_pages(
        self,
        resource: ResourceSpec[Any] | str,
        filters: Mapping[str, Any] | None,
        pages: Iterable[int],
        *,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        concurrency: int | None = None,
    ) -> list[Page[Any]]:
        """Fetch the given page numbers concurrently, in the order given.

        The rate limiter paces the requests; ``concurrency`` (default: twice the bucket's
        per-second limit, enough to cover request latency) bounds requests in flight. If one page
        fails, the others are cancelled and the error is raised.
        """
        spec = self._spec(resource)
        numbers = list(pages)
        if concurrency is None:
            windows = self.rate_limiter.windows(bucket_for_route(f"{spec.name}/read"))
            concurrency = 2 * min(w.limit for w in windows)
        semaphore = asyncio.Semaphore(max(1, concurrency))

        async def one(number: int) -> Page[Any]:
            async with semaphore:
                return await self.read_page(spec, filters, number, items_per_page)

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(n)) for n in numbers]
        return [t.result() for t in tasks]

    async def read_all(
        self, resource: ResourceSpec[M], filters: Mapping[str, Any] | None = None
    ) -> list[M]:
        """Every item of a (small) resource, page after page."""
        items: list[M] = []
        async for page in self.iter_pages(resource, filters):
            items.extend(page.items)
        return items

    # --- chunked saves ---------------------------------------------------------------------------

    async def _save_chunks(
        self,
        route: str,
        entities: Sequence[Any],
        *,
        idempotent: bool = True,
        documentation_errors: bool = False,
        max_items: int = 50,
    ) -> SaveResult:
        result = SaveResult(route=route)
        payload = [self.encode(e) for e in entities]
        for index, chunk in enumerate(chunk_entities(payload, max_items=max_items)):
            ids = [e.get("id") if isinstance(e, dict) else None for e in chunk]
            try:
                envelope = await self._envelope(route, {"data": chunk}, idempotent=idempotent)
            except EmagValidationError as exc:
                doc_only = (
                    documentation_errors
                    and exc.status_code == 200
                    and bool(exc.messages)
                    and all(is_documentation_error(m) for m in exc.messages)
                )
                body = exc.body if isinstance(exc.body, dict) else {}
                result.chunks.append(
                    ChunkResult(
                        index=index,
                        ids=ids,
                        saved=doc_only,
                        messages=exc.messages,
                        documentation_errors=exc.messages if doc_only else [],
                        error=None if doc_only else exc,
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

    # --- offers (§5.1-§5.6) -----------------------------------------------------------------------

    async def count_offers(self, filters: Mapping[str, Any] | None = None) -> CountResult:
        return await self.count(OFFERS, filters)

    async def read_offers(
        self,
        filters: Mapping[str, Any] | None = None,
        page: int = 1,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
    ) -> Page[Offer]:
        return await self.read_page(OFFERS, filters, page, items_per_page)

    async def save_product_offers(self, entities: Sequence[Mapping[str, Any]]) -> SaveResult:
        """``product_offer/save`` (§5.1), chunked to 50 entities / 4000 vars.

        A documentation error returns ``isError: true`` although the offer is saved (gotcha 12).
        We recognise it by its messages: a refused chunk whose messages ALL match the doc_errors
        patterns of §2 (see :data:`magflow.emag.errors.DOC_ERROR_PATTERNS`) is reported as saved
        with ``documentation_errors``; any other message marks the chunk not saved. Matching on
        text is the only signal eMAG gives; an unknown documentation message therefore errs on
        the side of "not saved", which a re-save repairs (the save is an idempotent upsert).
        """
        return await self._save_chunks("product_offer/save", entities, documentation_errors=True)

    async def save_offers(self, offers: Sequence[Mapping[str, Any]]) -> OfferSaveResult:
        """Light ``offer/save`` (§5.3): per-offer results keyed by id, not raised."""
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
        """``PATCH offer_stock/{id}`` with ``{"stock": int}`` (§5.4). 204 on success; 400/404
        ``{"message": ...}`` bodies raise :class:`EmagValidationError`."""
        if isinstance(stock, bool) or not isinstance(stock, int) or stock < 0:
            raise ValueError("stock must be a non-negative int")
        await self._send("PATCH", f"offer_stock/{int(offer_id)}", json={"stock": stock})

    async def save_measurements(self, items: Sequence[Mapping[str, Any]]) -> SaveResult:
        """``measurements/save`` (§5.5): ``{id, length, width, height, weight}`` in mm and g."""
        return await self._save_chunks("measurements/save", items)

    async def find_by_eans(self, eans: Sequence[str | int]) -> dict[str, list[EanProduct]]:
        """``GET documentation/find_by_eans?eans[]=…`` (§5.6), 100 EANs per call, own rate bucket.
        Returns every EAN asked for, mapped to its products (``[]`` when unknown)."""
        wanted = [str(e) for e in eans]
        found: dict[str, list[EanProduct]] = {e: [] for e in wanted}
        for chunk in chunk_sequence(wanted, MAX_EANS_PER_CALL):
            envelope = await self._envelope(
                "documentation/find_by_eans",
                method="GET",
                params=[("eans[]", e) for e in chunk],
            )
            results = envelope.results if isinstance(envelope.results, dict) else {}
            for ean, entry in results.items():
                rows = entry.get("products") if isinstance(entry, dict) else entry
                found[str(ean)] = parse_items(EanProduct, _rows(rows), self.tz).items
        return found

    # --- reference data (§5.7, §5.8, §5.12) ------------------------------------------------------

    async def count_categories(self, filters: Mapping[str, Any] | None = None) -> CountResult:
        return await self.count(CATEGORIES, filters)

    async def read_categories(
        self,
        filters: Mapping[str, Any] | None = None,
        page: int = 1,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
        *,
        language: str | None = None,
    ) -> Page[Category]:
        """``category/read`` (§5.7); ``language`` goes in the query string (``?language=en``)."""
        params = {"language": language} if language else None
        return await self.read_page(CATEGORIES, filters, page, items_per_page, params=params)

    async def read_vat(self) -> list[Vat]:
        envelope = await self._envelope("vat/read", {})
        return parse_items(Vat, _rows(envelope.results), self.tz).items

    async def read_handling_times(self) -> list[HandlingTime]:
        envelope = await self._envelope("handling_time/read", {})
        return parse_items(HandlingTime, _rows(envelope.results), self.tz).items

    async def read_courier_accounts(self) -> list[CourierAccount]:
        envelope = await self._envelope("courier_accounts/read", {})
        return parse_items(CourierAccount, _rows(envelope.results), self.tz).items

    async def count_localities(self, filters: Mapping[str, Any] | None = None) -> CountResult:
        return await self.count(LOCALITIES, filters)

    async def read_localities(
        self,
        filters: Mapping[str, Any] | None = None,
        page: int = 1,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
    ) -> Page[Locality]:
        return await self.read_page(LOCALITIES, filters, page, items_per_page)

    # --- orders (§5.9, §5.10) --------------------------------------------------------------------

    async def count_orders(self, filters: Mapping[str, Any] | None = None) -> CountResult:
        return await self.count(ORDERS, filters)

    async def read_orders(
        self,
        filters: Mapping[str, Any] | None = None,
        page: int = 1,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
    ) -> Page[Order]:
        """``order/read``. Note eMAG defaults to ``type=3`` (gotcha 3): pass ``{"type": 2}`` for
        FBE orders."""
        return await self.read_page(ORDERS, filters, page, items_per_page)

    async def acknowledge_order(self, order_id: int) -> None:
        """``POST order/acknowledge/{id}``, no body: the only way from status 1 to 2 (§5.10)."""
        await self._envelope(f"order/acknowledge/{int(order_id)}")

    async def save_orders(
        self, orders: Sequence[Mapping[str, Any]], *, retry_unsafe: bool | None = None
    ) -> SaveResult:
        """``order/save`` (§5.10): send whole orders as read. Treated as non-idempotent (it can add
        lines), so not retried when eMAG may have processed it (see :mod:`.retry`)."""
        return await self._save_chunks("order/save", orders, idempotent=bool(retry_unsafe))

    async def save_order_attachments(
        self, attachments: Sequence[Mapping[str, Any]], *, retry_unsafe: bool | None = None
    ) -> SaveResult:
        """``order/attachments/save`` (§5.10): invoices, warranties... (PDF URLs). Non-idempotent
        (a repeat could attach twice)."""
        return await self._save_chunks(
            "order/attachments/save", attachments, idempotent=bool(retry_unsafe)
        )

    # --- AWB (§5.11) -----------------------------------------------------------------------------

    async def save_awb(
        self, awb: Mapping[str, Any], *, retry_unsafe: bool | None = None
    ) -> AwbSaveResult:
        """``awb/save`` with a single object (§5.11). Non-idempotent: a repeat after a timeout
        could issue two AWBs, so it is only retried when eMAG surely did not process it."""
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
    ) -> list[Awb]:
        """``awb/read`` by ``emag_id`` or ``reservation_id`` (§5.11)."""
        filters: dict[str, Any] = {}
        if emag_id is not None:
            filters["emag_id"] = emag_id
        if reservation_id is not None:
            filters["reservation_id"] = reservation_id
        envelope = await self._envelope("awb/read", filters)
        return parse_items(Awb, _rows(envelope.results), self.tz).items

    async def read_awb_pdf(self, emag_id: int, awb_format: str = "A4") -> bytes:
        """``GET awb/read_pdf?emag_id=…&awb_format=A4|A5|A6|ZPL`` → the document bytes (§5.11).
        Errors come back as JSON envelopes and raise."""
        content: bytes = await self._send(
            "GET",
            "awb/read_pdf",
            params={"emag_id": int(emag_id), "awb_format": awb_format},
            decode="bytes",
        )
        return content if isinstance(content, bytes) else b""

    # --- RMA (§5.14) -----------------------------------------------------------------------------

    async def count_rmas(self, filters: Mapping[str, Any] | None = None) -> CountResult:
        return await self.count(RMAS, filters)

    async def read_rmas(
        self,
        filters: Mapping[str, Any] | None = None,
        page: int = 1,
        items_per_page: int = DEFAULT_ITEMS_PER_PAGE,
    ) -> Page[Rma]:
        """``rma/read``; date filters are ``date_start``/``date_end`` (gotcha 18)."""
        return await self.read_page(RMAS, filters, page, items_per_page)
