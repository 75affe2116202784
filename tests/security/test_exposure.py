"""What the app exposes without a login: /metrics behind a bearer token when one is set, the
OpenAPI pages only when public, and HSTS on HTTPS answers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from magflow.app import create_app
from magflow.settings import Settings
from tests.support.servers import UvicornThread

METRICS_TOKEN = "scraper-token-0123456789-abcdefghij"


@pytest.fixture
def closed_api(settings: Settings) -> Iterator[str]:
    closed = settings.model_copy(
        update={"metrics_token": SecretStr(METRICS_TOKEN), "public_docs": False}
    )
    with UvicornThread(create_app(closed)) as server:
        yield server.url


async def test_metrics_need_the_token_and_docs_are_hidden(closed_api: str) -> None:
    async with httpx.AsyncClient(base_url=closed_api) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert right.status_code == 200 and "magflow" in right.text
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/health")).status_code == 200


async def test_by_default_metrics_and_docs_stay_public(api: str) -> None:
    async with httpx.AsyncClient(base_url=api) as client:
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/docs")).status_code == 200


async def test_hsts_only_on_https(api: str) -> None:
    async with httpx.AsyncClient(base_url=api) as client:
        plain = await client.get("/health")
        assert "strict-transport-security" not in plain.headers
        proxied = await client.get("/health", headers={"X-Forwarded-Proto": "https"})
        assert proxied.headers["strict-transport-security"].startswith("max-age=31536000")
