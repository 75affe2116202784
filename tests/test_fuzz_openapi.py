"""Fuzzing the HTTP API from its own OpenAPI schema (issue 8, part 4).

schemathesis generates requests for every operation of ``/openapi.json`` and sends them, as an
admin, to the app under uvicorn (one SQLite database for the whole run). Each response must not be
a 5xx and must match the schema the operation declares. The number of examples is bounded so the
run fits in CI (a couple of minutes on SQLite); the PostgreSQL backend is not fuzzed.

Excluded operations:
- ``POST /api/v1/auth/logout``: revokes the admin's session, so every later request of the same
  operation would be an uninteresting 401.

Everything else runs, including the sync triggers and the bulk upload: no seller account points
anywhere reachable (and the eMAG timeout is short), so background work fails quickly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from magflow.auth.models import Role
from magflow.context import AppContext
from magflow.settings import Settings
from tests.conftest import Backend
from tests.factories import make_user
from tests.support.auth import auth_headers

MAX_EXAMPLES = 15


@pytest.fixture
def backend(sqlite_template: Path, tmp_path: Path) -> Backend:
    """SQLite only: overrides the conftest's backend parametrization for this module."""
    import shutil

    path = tmp_path / "magflow.db"
    shutil.copyfile(sqlite_template, path)
    return Backend("sqlite", f"sqlite+aiosqlite:///{path}", None)


@pytest.fixture
def fuzz_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"emag_timeout_seconds": 2.0})


@pytest.fixture
def fuzz_api(fuzz_settings: Settings) -> Iterator[str]:
    from magflow.app import create_app
    from tests.support.servers import UvicornThread

    with UvicornThread(create_app(fuzz_settings)) as server:
        yield server.url


@pytest.fixture
def admin_headers(fuzz_settings: Settings, fuzz_api: str) -> dict[str, str]:
    async def prepare() -> dict[str, str]:
        ctx = AppContext.build(fuzz_settings)
        try:
            user = await make_user(ctx, role=Role.admin)
        finally:
            await ctx.close()
        async with httpx.AsyncClient(base_url=fuzz_api) as client:
            return await auth_headers(client, user.email)

    return asyncio.run(prepare())


@pytest.fixture
def fuzz_schema(fuzz_api: str) -> object:
    return schemathesis.openapi.from_url(f"{fuzz_api}/openapi.json")


schema = schemathesis.pytest.from_fixture("fuzz_schema").exclude(
    method="POST", path="/api/v1/auth/logout"
)


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_fuzz(case: schemathesis.Case, admin_headers: dict[str, str]) -> None:
    case.call_and_validate(
        headers=admin_headers,
        checks=[not_a_server_error, response_schema_conformance],
        timeout=30,
    )
