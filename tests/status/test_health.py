from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from magflow.app import create_app
from magflow.context import AppContext
from magflow.settings import Settings
from tests.support.servers import UvicornThread, free_port


async def test_health_ok(api: str, settings: Settings) -> None:
    async with httpx.AsyncClient(base_url=api) as client:
        response = await client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]
    assert body["checks"]["redis"]["ok"] is (True if settings.redis_url else None)


async def test_health_names_migrations_behind(ctx: AppContext, api: str) -> None:
    async with ctx.db.session() as session:
        await session.execute(text("UPDATE alembic_version SET version_num = 'old'"))
        await session.commit()
    async with httpx.AsyncClient(base_url=api) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["migrations"]
    assert "magflow db upgrade" in response.json()["checks"]["migrations"]["error"]


async def test_health_names_unreachable_redis(settings: Settings) -> None:
    broken = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with UvicornThread(create_app(broken)) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_health_names_unreachable_database(settings: Settings) -> None:
    broken = settings.model_copy(
        update={"database_url": f"postgresql://nobody:secretpw@127.0.0.1:{free_port()}/none"}
    )
    with UvicornThread(create_app(broken)) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.get("/health")
    assert response.status_code == 503
    assert set(response.json()["failing"]) == {"database", "migrations"}
    assert "secretpw" not in response.text
