"""EmagClient against httpx.MockTransport: request shapes, envelope quirks, errors, retries."""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from magflow.catalog.mapping import offer_row
from magflow.emag import (
    EmagAuthError,
    EmagClient,
    EmagError,
    EmagIpNotWhitelistedError,
    EmagRateLimitedError,
    EmagTransientError,
    EmagValidationError,
    RetryPolicy,
)
from magflow.emag.ratelimit import Bucket, InMemoryRateLimiter, Window
from magflow.orders.mapping import order_row
from tests.emag.conftest import PASSWORD, Recorder, body_of, ok

# A 429 that asks for a short pause, so tests do not wait the default 1-second window.
QUICK = {"Retry-After": "0.01"}

# --- request shapes (docs/emag-protocol.md, "Requests and authentication") ------------------------


async def test_read_sends_top_level_filters_with_basic_auth(make_client: Any) -> None:
    rec = Recorder([ok([{"id": 1, "name": "A"}])])
    client: EmagClient = make_client(rec)
    rows = await client.read_rows("product_offer", {"status": 1}, page=2, items_per_page=50)
    request = rec.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "https://emag.test/api-3/product_offer/read"
    assert body_of(request) == {"status": 1, "currentPage": 2, "itemsPerPage": 50}
    expected = base64.b64encode(f"seller@example.com:{PASSWORD}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["content-type"] == "application/json"
    assert rows == [{"id": 1, "name": "A"}]


async def test_saves_wrap_entities_in_data(make_client: Any) -> None:
    rec = Recorder([ok([])])
    client: EmagClient = make_client(rec)
    result = await client.save_orders([{"id": 1, "length": Decimal("10.50"), "weight": 200}])
    assert body_of(rec.requests[0]) == {"data": [{"id": 1, "length": 10.5, "weight": 200}]}
    assert result.ok and result.saved_ids == [1]


async def test_offer_stock_is_a_patch_with_a_plain_int(make_client: Any) -> None:
    rec = Recorder([httpx.Response(204)])
    client: EmagClient = make_client(rec)
    assert await client.update_stock(77, 21) is None
    request = rec.requests[0]
    assert request.method == "PATCH" and rec.routes == ["offer_stock/77"]
    assert body_of(request) == {"stock": 21}
    with pytest.raises(ValueError):
        await client.update_stock(77, -1)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {
                "message": "Validation errors in your request",
                "errors": [{"message": "Stock should be 0 or more", "field": "stock"}],
            },
            ["Validation errors in your request", "stock: Stock should be 0 or more"],
        ),
        (404, {"message": "This offer does not exist"}, ["This offer does not exist"]),
        (400, {"message": "Invalid content"}, ["Invalid content"]),
    ],
)
async def test_offer_stock_4xx_are_validation_errors_and_not_retried(
    make_client: Any, status: int, body: dict[str, Any], expected: list[str]
) -> None:
    rec = Recorder([httpx.Response(status, json=body)])
    client: EmagClient = make_client(rec)
    with pytest.raises(EmagValidationError) as info:
        await client.update_stock(5, 3)
    assert info.value.messages == expected
    assert info.value.status_code == status and info.value.route == "offer_stock/5"
    assert len(rec.requests) == 1


async def test_acknowledge_posts_without_body(make_client: Any) -> None:
    rec = Recorder([ok([])])
    client: EmagClient = make_client(rec)
    await client.acknowledge_order(123)
    assert rec.routes == ["order/acknowledge/123"] and rec.requests[0].content == b""


async def test_awb_save_sends_a_single_object_and_reads_both_result_shapes(
    make_client: Any,
) -> None:
    rec = Recorder(
        [
            ok({"reservation_id": "991", "awb": [{"emag_id": "7", "awb_number": "AWB1"}]}),
            ok([{"emag_id": 8, "awb_number": "AWB2", "awb_barcode": "B2"}]),
        ]
    )
    client: EmagClient = make_client(rec)
    first = await client.save_awb({"order_id": 1, "cod": 0})
    assert body_of(rec.requests[0]) == {"data": {"order_id": 1, "cod": 0}}
    assert first.reservation_id == 991 and first.emag_id == 7 and first.awb_number == "AWB1"
    second = await client.save_awb({"order_id": 2, "cod": 0})
    assert second.emag_id == 8


async def test_query_params_go_in_the_query_string(make_client: Any) -> None:
    rec = Recorder([ok([{"id": "12", "name": "Phones", "characteristics": []}])])
    client: EmagClient = make_client(rec)
    rows = await client.read_rows("category", {"id": 12}, params={"language": "en"})
    assert rec.requests[0].url.params["language"] == "en"
    assert rows == [{"id": "12", "name": "Phones", "characteristics": []}]


async def test_reference_reads_send_no_paging(make_client: Any) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        route = request.url.path.split("/api-3/")[1]
        return {
            "vat/read": ok(
                [
                    {"vat_id": "1", "vat_rate": "0.19", "is_default": "1"},
                    {"vat_id": 2, "vat_rate": 0.09},
                    {"vat_id": "x", "vat_rate": "0.05"},
                ]
            ),
            "courier_accounts/read": ok(
                {"account_id": "5", "courier_name": "SAMEDAY", "created": "2024-01-01 00:00:00"}
            ),
        }[route]

    rec = Recorder(answer)
    client: EmagClient = make_client(rec)
    assert await client.vat_rates() == {1: Decimal("0.19"), 2: Decimal("0.09")}
    (courier,) = await client.read_courier_accounts()  # a lone object is one row
    assert courier.account_id == 5 and courier.courier_name == "SAMEDAY"
    assert courier.created == datetime(2023, 12, 31, 22, 0, tzinfo=UTC)
    assert [body_of(r) for r in rec.requests] == [{}, {}]


# --- tolerant parsing (docs/emag-protocol.md, "PHP serialization quirks", "Orders",
# "Paging, counts and filters")

ORDER_ROW = {
    "id": "501",
    "status": "4",
    "type": 3,
    "payment_mode_id": "1",
    "date": "2024-07-01 10:00:00",
    "modified": "2024-12-01 08:30:00",
    "details": [],
    "shipping_tax": "19.99",
    "customer": {"id": 9, "email": "a1b2c3", "shipping_locality_id": "3", "legal_entity": "0"},
    "products": [
        {"id": 1, "product_id": "77", "quantity": "2", "sale_price": "967.6613", "vat": "0.2400"}
    ],
    "vouchers": [{"voucher_id": 4, "sale_price": "-10.0000", "sale_price_vat": "-1.9000"}],
    "attachments": [],
    "cancellation_reason": {"id": "15", "name": "Duplicate"},
    "new_field_from_emag": {"x": 1},
}


async def test_order_rows_come_as_sent_and_map_in_the_platforms_zone(make_client: Any) -> None:
    rec = Recorder([ok([ORDER_ROW, {**ORDER_ROW, "id": 502, "reason_cancellation": 2}])])
    client: EmagClient = make_client(rec, platform="bg")
    first_raw, second_raw = await client.read_rows("order")
    assert first_raw == ORDER_ROW
    common = {
        "account_id": 1,
        "platform": "bg",
        "run_id": 1,
        "now": datetime(2026, 1, 1, tzinfo=UTC),
        "currency": "BGN",
        "tz": client.tz,
        "previous_status": None,
        "previous_history": None,
    }
    first = order_row(first_raw, **common)
    second = order_row(second_raw, **common)
    assert first["emag_id"] == 501 and first["status"] == 4 and first["payment_mode_id"] == 1
    assert first["details"] is None and first["customer"]["shipping_locality_id"] == "3"
    assert first["reason_cancellation"] == {"id": 15, "name": "Duplicate"}
    assert second["reason_cancellation"] == {"id": 2, "name": None}
    # BG dates are Europe/Sofia local time (summer: UTC+3, winter: UTC+2).
    assert first["order_date"] == datetime(2024, 7, 1, 7, 0, tzinfo=UTC)
    assert first["emag_modified_at"] == datetime(2024, 12, 1, 6, 30, tzinfo=UTC)
    # 2 x 967.6613 - 10 without VAT; with VAT: x 1.24, -11.90 voucher, +19.99 shipping
    assert first["total_without_vat"] == Decimal("1925.3226")
    assert first["total_with_vat"] == Decimal("2407.8900")
    assert first["raw"] == ORDER_ROW


async def test_offer_rows_come_as_sent_and_map_with_php_quirks(make_client: Any) -> None:
    row = {
        "id": "42",
        "sale_price": "100.5000",
        "general_stock": "7",
        "stock": [{"warehouse_id": "1", "value": "7"}],
        "ean": [5900000000001],
        "family": [],
        "validation_status": [{"value": "9", "description": "Approved", "errors": None}],
        "offer_validation_status": {"value": "1", "description": "Saleable"},
        "images": None,
        "vat_id": "",
    }
    rec = Recorder([ok([row])])
    client: EmagClient = make_client(rec)
    (raw,) = await client.read_rows("product_offer")
    assert raw == row
    offer = offer_row(
        raw, account_id=1, run_id=1, now=datetime.now(UTC), currency="RON", vat_rates={}
    )
    assert offer["emag_id"] == 42 and offer["sale_price"] == Decimal("100.5")
    assert offer["stock_total"] == 7 and offer["general_stock"] == 7
    assert offer["ean"] == ["5900000000001"] and offer["images"] == []
    assert offer["vat_id"] is None and offer["validation_status"] == 9
    assert offer["offer_validation_status"] == 1


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        # eMAG answers a read matching one row with the object itself: one row, never dropped
        ({"id": 7, "name": "only"}, [{"id": 7, "name": "only"}]),
        ({"emag_id": 9, "order_id": 1}, [{"emag_id": 9, "order_id": 1}]),
        # a PHP array with numeric keys serialised as an object: a list, in key order
        ({"1": {"id": 2}, "0": {"id": 1}, "10": {"id": 3}}, [{"id": 1}, {"id": 2}, {"id": 3}]),
        ([], []),
        ({}, []),
        (None, []),
        ("", []),
        ([{"id": 1}, "junk", 3, {"id": 2}], [{"id": 1}, {"id": 2}]),
    ],
)
async def test_read_rows_results_shapes(make_client: Any, results: Any, expected: Any) -> None:
    client: EmagClient = make_client([ok(results)])
    assert await client.read_rows("order") == expected


@pytest.mark.parametrize("results", [5, "rows", True])
async def test_read_rows_refuses_results_that_are_not_rows(make_client: Any, results: Any) -> None:
    client: EmagClient = make_client([ok(results)], retry=RetryPolicy(max_attempts=1))
    with pytest.raises(EmagTransientError, match="without rows") as info:
        await client.read_rows("order")
    assert info.value.route == "order/read"


async def test_datetime_filters_are_sent_in_platform_local_time(make_client: Any) -> None:
    rec = Recorder([ok({"noOfItems": 0, "noOfPages": 0})])
    client: EmagClient = make_client(rec, platform="hu")
    when = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
    await client.count("order", {"modifiedAfter": when, "status": [1, 2]})
    assert body_of(rec.requests[0]) == {"modifiedAfter": "2024-01-15 13:00:00", "status": [1, 2]}


@pytest.mark.parametrize(
    "results",
    [
        {"noOfItems": "250", "noOfPages": "3", "itemsPerPage": "100"},
        {"noOfItems": 250, "noOfPages": 3, "itemsPerPage": 100},
        [{"noOfItems": 250}],
        {"count": 250},
    ],
)
async def test_count_accepts_strings_and_variants(make_client: Any, results: Any) -> None:
    client: EmagClient = make_client([ok(results)])
    counted = await client.count("product_offer")
    assert counted.no_of_items == 250 and counted.pages(100) == 3


@pytest.mark.parametrize("is_error", [False, "false", 0, "0"])
async def test_is_error_falsy_spellings(make_client: Any, is_error: Any) -> None:
    client: EmagClient = make_client(
        [httpx.Response(200, json={"isError": is_error, "messages": [], "results": []})]
    )
    assert await client.read_rows("product_offer") == []


# --- errors (docs/emag-protocol.md, "Answers and errors") -----------------------------------------


@pytest.mark.parametrize(
    ("response", "kind", "message"),
    [
        (
            httpx.Response(
                403,
                json={
                    "isError": True,
                    "messages": ["You are not allowed to use this API."],
                    "results": [],
                },
            ),
            EmagAuthError,
            "You are not allowed to use this API.",
        ),
        (httpx.Response(401, text="Unauthorized"), EmagAuthError, "Unauthorized"),
        (
            ok(None, is_error=True, messages=["ERROR: Invalid vendor ip [188.214.106.10]"]),
            EmagIpNotWhitelistedError,
            "Invalid vendor ip",
        ),
        (
            ok(None, is_error=True, messages=["You are not allowed to use this API."]),
            EmagAuthError,
            "not allowed",
        ),
        (
            httpx.Response(
                200, json={"isError": True, "message": "Maximum input vars of 4000 exceeded"}
            ),
            EmagValidationError,
            "Maximum input vars",
        ),
        (
            ok(
                None,
                is_error=True,
                messages=[{"code": 7, "message": "Campaign not found for id: 5"}],
            ),
            EmagValidationError,
            "Campaign not found for id: 5",
        ),
        (httpx.Response(404, json={"message": "Invalid URL"}), EmagValidationError, "Invalid URL"),
    ],
)
async def test_errors_that_are_never_retried(
    make_client: Any, response: httpx.Response, kind: type[EmagError], message: str
) -> None:
    rec = Recorder([response])
    client: EmagClient = make_client(rec)
    with pytest.raises(kind) as info:
        await client.read_rows("product_offer")
    assert type(info.value) is kind
    assert any(message in m for m in info.value.messages)
    assert info.value.route == "product_offer/read"
    assert len(rec.requests) == 1
    assert client.stats.retries == 0 and client.stats.errors[kind.kind] == 1


@pytest.mark.parametrize(
    ("failure", "kind", "reason", "status"),
    [
        (httpx.Response(500, text="oops"), EmagTransientError, "server_error", "500"),
        (httpx.Response(502, text="bad gateway"), EmagTransientError, "server_error", "502"),
        (httpx.ReadTimeout("slow"), EmagTransientError, "timeout", "timeout"),
        (httpx.ConnectError("refused"), EmagTransientError, "network", "network"),
        (httpx.RemoteProtocolError("dropped"), EmagTransientError, "network", "network"),
        (httpx.Response(200, text="<html>not json"), EmagTransientError, "malformed", "200"),
        (httpx.Response(200, json={"results": []}), EmagTransientError, "malformed", "200"),
        (
            httpx.Response(429, json={"message": "API rate limit exceeded"}, headers=QUICK),
            EmagRateLimitedError,
            "rate_limited",
            "429",
        ),
    ],
)
async def test_retryable_failures_are_retried_then_succeed(
    make_client: Any, failure: Any, kind: type[EmagError], reason: str, status: str
) -> None:
    route_label = "product_offer/read"

    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    retries_before = sample("magflow_emag_retries_total", {"route": route_label, "reason": reason})
    calls_before = sample("magflow_emag_calls_total", {"route": route_label, "status": status})
    limited_before = sample("magflow_emag_rate_limited_total", {"route": route_label})

    rec = Recorder([failure, failure, ok([{"id": 1}])])
    client: EmagClient = make_client(rec)
    rows = await client.read_rows("product_offer")
    assert [row["id"] for row in rows] == [1]
    assert len(rec.requests) == 3
    assert client.stats.api_calls == 3 and client.stats.retries == 2
    assert client.stats.errors[kind.kind] == 2
    assert client.stats.rate_limited == (2 if kind is EmagRateLimitedError else 0)
    assert (
        sample("magflow_emag_retries_total", {"route": route_label, "reason": reason})
        == retries_before + 2
    )
    assert sample(
        "magflow_emag_calls_total", {"route": route_label, "status": status}
    ) == calls_before + (3 if status == "200" else 2)
    assert sample("magflow_emag_rate_limited_total", {"route": route_label}) == limited_before + (
        2 if kind is EmagRateLimitedError else 0
    )


async def test_retries_stop_at_max_attempts(make_client: Any) -> None:
    rec = Recorder([httpx.Response(503, text="down")])
    client: EmagClient = make_client(rec, retry=RetryPolicy(max_attempts=3, base_delay=0.001))
    with pytest.raises(EmagTransientError) as info:
        await client.read_rows("order")
    assert info.value.status_code == 503 and len(rec.requests) == 3
    assert client.stats.retries == 2 and client.stats.errors["transient"] == 3


async def test_retries_stop_at_max_elapsed(make_client: Any) -> None:
    rec = Recorder([httpx.Response(500, text="down")])
    policy = RetryPolicy(max_attempts=100, base_delay=0.05, max_delay=0.05, max_elapsed=0.3)
    client: EmagClient = make_client(rec, retry=policy)
    started = time.monotonic()
    with pytest.raises(EmagTransientError):
        await client.read_rows("order")
    assert time.monotonic() - started < 0.5
    assert 2 <= len(rec.requests) < 100


def test_backoff_is_exponential_with_full_jitter() -> None:
    import random

    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(1)
    for retry_number, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [policy.delay(retry_number, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8 and min(delays) < cap * 0.2


async def test_non_idempotent_write_not_retried_after_ambiguous_failure(make_client: Any) -> None:
    rec = Recorder([httpx.ReadTimeout("slow"), ok({"reservation_id": 1})])
    client: EmagClient = make_client(rec)
    with pytest.raises(EmagTransientError) as info:
        await client.save_awb({"order_id": 1})
    assert info.value.reason == "timeout" and len(rec.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(429, json={"message": "API rate limit exceeded"}, headers=QUICK),
        httpx.Response(503, text="unavailable"),
        httpx.ConnectError("refused"),
    ],
)
async def test_non_idempotent_write_retried_when_surely_not_processed(
    make_client: Any, failure: Any
) -> None:
    rec = Recorder([failure, ok({"reservation_id": 5})])
    client: EmagClient = make_client(rec)
    assert (await client.save_awb({"order_id": 1})).reservation_id == 5
    assert len(rec.requests) == 2


async def test_non_idempotent_write_retry_can_be_forced(make_client: Any) -> None:
    rec = Recorder([httpx.Response(500, text="?"), ok([])])
    client: EmagClient = make_client(rec)
    result = await client.save_orders([{"id": 1, "status": 2}], retry_unsafe=True)
    assert result.ok and len(rec.requests) == 2


async def test_429_pauses_the_bucket_before_the_retry(make_client: Any) -> None:
    limiter = InMemoryRateLimiter({b: (Window(1000, 1.0),) for b in Bucket}, margin=0.0)
    rec = Recorder(
        [
            httpx.Response(
                429, json={"message": "API rate limit exceeded"}, headers={"Retry-After": "0.3"}
            ),
            ok([]),
        ]
    )
    client: EmagClient = make_client(rec, rate_limiter=limiter)
    started = time.monotonic()
    await client.read_rows("order")
    assert time.monotonic() - started >= 0.29
    assert client.stats.rate_limited == 1 and client.stats.rate_wait_seconds >= 0.25


def test_pause_after_429_from_kong_headers(make_client: Any) -> None:
    client: EmagClient = make_client([ok()])
    margin = client.rate_limiter.margin

    def err(**kwargs: Any) -> EmagRateLimitedError:
        return EmagRateLimitedError("x", route="r", **kwargs)

    assert client._pause_after_429(err()) == pytest.approx(1.0 + margin)
    assert client._pause_after_429(err(window=3.0)) == pytest.approx(3.0 + margin)
    assert client._pause_after_429(err(retry_after=2.0)) == pytest.approx(2.0 + margin)
    assert 1.0 <= client._pause_after_429(err(window=60.0)) <= 60.0 + margin


async def test_kong_headers_are_read_on_429(make_client: Any) -> None:
    rec = Recorder(
        [
            httpx.Response(
                429,
                json={"message": "API rate limit exceeded"},
                headers={"X-RateLimit-Limit-3second": "1", "X-RateLimit-Remaining-3second": "0"},
            )
        ]
    )
    client: EmagClient = make_client(rec, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(EmagRateLimitedError) as info:
        await client.read_rows("product_offer")
    assert info.value.window == 3.0 and info.value.messages == ["API rate limit exceeded"]


# --- secrets -------------------------------------------------------------------------------------


async def test_password_never_in_repr_errors_or_logs(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    encoded = base64.b64encode(f"seller@example.com:{PASSWORD}".encode()).decode()
    failures: list[Any] = [
        httpx.Response(
            403, json={"isError": True, "messages": ["You are not allowed to use this API."]}
        ),
        httpx.ReadTimeout("slow"),
        httpx.Response(500, text="x"),
        httpx.Response(200, text="not json"),
        ok(None, is_error=True, messages=["bad"]),
        httpx.Response(429, json={"message": "API rate limit exceeded"}, headers=QUICK),
    ]
    texts = []
    for failure in failures:
        client: EmagClient = make_client([failure], retry=RetryPolicy(max_attempts=2, base_delay=0))
        texts += [repr(client), str(client.__dict__)]
        with pytest.raises(EmagError) as info:
            await client.read_rows("product_offer")
        texts += [str(info.value), repr(info.value), repr(info.value.__cause__)]
        texts.append(json.dumps(client.stats.snapshot()))
    texts += [r.getMessage() for r in caplog.records]
    blob = "\n".join(texts)
    assert PASSWORD not in blob and encoded not in blob


def test_credentials_in_base_url_are_refused() -> None:
    limiter = InMemoryRateLimiter()
    with pytest.raises(ValueError) as info:
        EmagClient(
            f"https://u:{PASSWORD}@emag.test/api-3",
            "u",
            "p",
            platform="ro",
            rate_limiter=limiter,
            account_key="a",
        )
    assert PASSWORD not in str(info.value)


def test_for_platform_uses_the_platform_url() -> None:
    client = EmagClient.for_platform(
        "BG", "u", "p", rate_limiter=InMemoryRateLimiter(), account_key="a"
    )
    assert client.base_url == "https://marketplace-api.emag.bg/api-3"
    assert client.tz.key == "Europe/Sofia"


# --- pagination (docs/emag-protocol.md, "Paging, counts and filters") -----------------------------


def paged_server(total: int, *, count: Any = "default", grow_to: int | None = None) -> Recorder:
    state = {"total": total}

    def answer(request: httpx.Request) -> httpx.Response:
        route = request.url.path.split("/api-3/")[1]
        body = body_of(request) or {}
        if route.endswith("/count"):
            if count == "default":
                per = 100
                n = state["total"]
                if grow_to is not None:
                    state["total"] = grow_to
                return ok(
                    {"noOfItems": str(n), "noOfPages": str(-(-n // per)), "itemsPerPage": "100"}
                )
            return ok(count)
        page, per = int(body["currentPage"]), int(body["itemsPerPage"])
        ids = range((page - 1) * per + 1, min(page * per, state["total"]) + 1)
        return ok([{"id": i} for i in ids])

    return Recorder(answer)


async def test_iter_pages_counts_first_then_reads_counted_pages(make_client: Any) -> None:
    rec = paged_server(250)
    client: EmagClient = make_client(rec)
    pages = [p async for p in client.iter_pages("product_offer", {"status": 1})]
    assert rec.routes == ["product_offer/count"] + ["product_offer/read"] * 3
    assert [len(p) for p in pages] == [100, 100, 50]
    assert pages[0].total_items == 250 and pages[0].total_pages == 3
    assert [row["id"] for p in pages for row in p.rows] == list(range(1, 251))


async def test_iter_pages_with_exact_multiple_reads_no_extra_page(make_client: Any) -> None:
    rec = paged_server(200, grow_to=200)
    client: EmagClient = make_client(rec)
    pages = [p async for p in client.iter_pages("product_offer", items_per_page=100)]
    # page 2 is full, so one more read confirms nothing was added since the count
    assert rec.routes == ["product_offer/count"] + ["product_offer/read"] * 3
    assert [len(p) for p in pages] == [100, 100]


async def test_iter_pages_follows_growth_after_count(make_client: Any) -> None:
    rec = paged_server(200, grow_to=230)
    client: EmagClient = make_client(rec)
    pages = [p async for p in client.iter_pages("order")]
    assert [len(p) for p in pages] == [100, 100, 30]


async def test_iter_pages_reads_page_one_whatever_the_count_says(make_client: Any) -> None:
    """A count of 0 is not trusted (docs/emag-protocol.md, "Paging, counts and filters"): page 1
    is read, and only an empty page ends the reading."""
    rec = paged_server(0)
    client: EmagClient = make_client(rec)
    assert [p async for p in client.iter_pages("product_offer")] == []
    assert rec.routes == ["product_offer/count", "product_offer/read"]
    rec = paged_server(0, grow_to=30)  # counted 0, yet 30 rows are there
    client = make_client(rec)
    pages = [p async for p in client.iter_pages("order")]
    assert [len(p) for p in pages] == [30]
    assert rec.routes == ["order/count", "order/read"]


async def test_iter_pages_without_count_stops_on_empty_page(make_client: Any) -> None:
    rec = paged_server(120)
    client: EmagClient = make_client(rec)
    pages = [p async for p in client.iter_pages("product_offer", count_first=False, start_page=2)]
    assert rec.routes == ["product_offer/read"] * 2
    assert [len(p) for p in pages] == [20]


# --- saves (docs/emag-protocol.md, "Offers", "Orders", "Rate and size limits") --------------------


async def test_order_save_chunks_by_50(make_client: Any) -> None:
    rec = Recorder([ok([])])
    client: EmagClient = make_client(rec)
    result = await client.save_orders([{"id": i, "status": 3} for i in range(120)])
    assert [len(body_of(r)["data"]) for r in rec.requests] == [50, 50, 20]
    assert result.ok and result.saved_ids == list(range(120))


async def test_order_save_chunks_under_4000_vars(make_client: Any) -> None:
    rec = Recorder([ok([])])
    client: EmagClient = make_client(rec)
    heavy = [
        {"id": i, "products": [{"id": c, "quantity": str(c)} for c in range(100)]}
        for i in range(30)
    ]  # 201 vars each
    await client.save_orders(heavy)
    from magflow.emag import count_input_vars

    sizes = [len(body_of(r)["data"]) for r in rec.requests]
    assert sizes == [19, 11]
    assert all(count_input_vars(body_of(r)["data"]) <= 4000 for r in rec.requests)


async def test_a_refused_chunk_is_reported_not_raised(make_client: Any) -> None:
    rec = Recorder([ok([]), ok(None, is_error=True, messages=["status is invalid"])])
    client: EmagClient = make_client(rec)
    result = await client.save_orders([{"id": i} for i in range(60)])
    first, second = result.chunks
    assert first.saved and first.error is None
    assert not second.saved and second.error is not None
    assert second.error.messages == ["status is invalid"]
    assert not result.ok and result.failed_ids == list(range(50, 60))
    with pytest.raises(EmagValidationError):
        result.raise_for_errors()


async def test_light_offer_save_reports_per_item(make_client: Any) -> None:
    rec = Recorder(
        [
            ok(
                {
                    "1235122": {"isError": True, "messages": ["Stock should be 0 or more"]},
                    "1235123": {
                        "isError": "false",
                        "messages": ["Offer 1235123 updated successfully"],
                    },
                }
            )
        ]
    )
    client: EmagClient = make_client(rec)
    result = await client.save_offers(
        [{"id": 1235122, "stock": -1}, {"id": 1235123, "stock": 3}, {"id": 9, "status": 1}]
    )
    assert body_of(rec.requests[0])["data"][0] == {"id": 1235122, "stock": -1}
    assert result.failed == {"1235122": ["Stock should be 0 or more"]}
    assert sorted(result.succeeded) == ["1235123", "9"] and result.unreported == ["9"]
    assert not result.ok


async def test_light_offer_save_whole_chunk_refused(make_client: Any) -> None:
    rec = Recorder([ok(None, is_error=True, messages=["Maximum input vars of 4000 exceeded"])])
    client: EmagClient = make_client(rec)
    result = await client.save_offers([{"id": 1}, {"id": 2}])
    assert set(result.failed) == {"1", "2"}


async def test_save_auth_error_is_raised(make_client: Any) -> None:
    rec = Recorder([ok(None, is_error=True, messages=["ERROR: Invalid vendor ip [1.2.3.4]"])])
    client: EmagClient = make_client(rec)
    with pytest.raises(EmagAuthError):
        await client.save_orders([{"id": 1}])


async def test_an_ip_refusal_names_the_ip_and_the_sellers_way_out(make_client: Any) -> None:
    """``ERROR: Invalid vendor ip [x.x.x.x]`` (docs/emag-protocol.md, "Answers and errors"): an
    auth error of its own, never retried, quoting the IP and saying where to whitelist it."""
    rec = Recorder([ok(None, is_error=True, messages=["ERROR: Invalid vendor ip [10.1.2.3]"])])
    client: EmagClient = make_client(rec)
    with pytest.raises(EmagIpNotWhitelistedError) as info:
        await client.read_rows("order")
    assert isinstance(info.value, EmagAuthError)
    assert info.value.ip == "10.1.2.3"
    assert info.value.hint is not None and "Profile > API settings" in info.value.hint
    assert len(rec.requests) == 1
