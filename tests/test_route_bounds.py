"""Regressions found by the OpenAPI fuzzer (tests/test_fuzz_openapi.py).

1. Ids and offsets beyond a signed 64-bit integer reached SQLite and raised OverflowError (500);
   they are now bounded in the routes' parameters and answer 422.
2. Routes that refuse a well-formed request answer 422 with a message (or eMAG's refusal as an
   object); the OpenAPI schema now documents those shapes next to the validation list.
"""

from __future__ import annotations

import httpx
import pytest

from magflow.auth.models import Role
from magflow.context import AppContext
from tests.factories import make_user
from tests.support.auth import auth_headers

HUGE = 2**64 + 7

OUT_OF_RANGE = [
    ("GET", f"/api/v1/emag/sync-logs/{HUGE}", None),
    ("POST", f"/api/v1/emag/enhanced/sync/{HUGE}/cancel", None),
    ("GET", f"/api/v1/emag/offers/{HUGE}", None),
    ("GET", f"/api/v1/emag/offers?skip={HUGE}", None),
    ("GET", f"/api/v1/emag/orders/{HUGE}", None),
    ("GET", f"/api/v1/emag/orders?skip={HUGE}", None),
    ("POST", f"/api/v1/emag/orders/{HUGE}/acknowledge", None),
    ("POST", "/api/v1/emag/orders/acknowledge", {"ids": [-HUGE]}),
    ("GET", f"/api/v1/admin/emag-customers/{HUGE}", None),
    ("GET", f"/api/v1/emag/bulk/operations/{HUGE}", None),
    ("GET", f"/api/v1/emag/bulk/operations/{HUGE}/items", None),
    ("POST", f"/api/v1/emag/bulk/operations/{HUGE}/retry", None),
    ("GET", f"/api/v1/audit?user_id={HUGE}", None),
    ("GET", f"/api/v1/audit?bulk_operation_id={HUGE}", None),
]


@pytest.fixture
async def admin(ctx: AppContext, api: str) -> httpx.AsyncClient:
    user = await make_user(ctx, role=Role.admin)
    client = httpx.AsyncClient(base_url=api, timeout=30)
    client.headers.update(await auth_headers(client, user.email))
    yield client  # type: ignore[misc]
    await client.aclose()


@pytest.mark.parametrize(("method", "path", "body"), OUT_OF_RANGE)
async def test_out_of_range_integers_are_422_not_500(
    admin: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    response = await admin.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


async def test_in_range_unknown_ids_are_still_404(admin: httpx.AsyncClient) -> None:
    assert (await admin.get(f"/api/v1/emag/orders/{2**31 - 1}")).status_code == 404
    assert (await admin.get(f"/api/v1/emag/sync-logs/{2**31 - 1}")).status_code == 404
    assert (await admin.get(f"/api/v1/emag/orders/{2**31}")).status_code == 422


async def test_openapi_documents_message_422(admin: httpx.AsyncClient) -> None:
    schema = (await admin.get("/openapi.json")).json()
    detail = schema["components"]["schemas"]["HTTPValidationError"]["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"]
    response = await admin.post("/api/v1/emag/orders/1/status", json={"status": 0, "reason": None})
    assert response.status_code in (404, 422), response.text
    if response.status_code == 422:
        assert isinstance(response.json()["detail"], str)


async def test_order_status_filter_is_bounded(admin: httpx.AsyncClient) -> None:
    assert (await admin.get("/api/v1/emag/orders", params={"status": [1, 4]})).status_code == 200
    assert (
        await admin.get("/api/v1/emag/orders", params={"status": 99999999999})
    ).status_code == 422
