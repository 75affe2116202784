"""Login under attack: parallel guessing, floods, huge usernames, lockouts, unlocking.

Every drill runs against the app under uvicorn on loopback (both backends: in-memory throttle on
SQLite, Redis throttle on PostgreSQL when configured) and counts the password verifications the
server actually ran (``VerificationGate.verifications``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from magflow.app import create_app
from magflow.auth.models import Role
from magflow.auth.throttle import MemoryLoginThrottle
from magflow.context import AppContext
from magflow.settings import Settings
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.support.auth import auth_headers, login
from tests.support.servers import UvicornThread

LOGIN = "/api/v1/auth/login"


def _serve(settings: Settings) -> Iterator[tuple[str, FastAPI]]:
    app = create_app(settings)
    with UvicornThread(app) as server:
        yield server.url, app


@pytest.fixture
def server(settings: Settings) -> Iterator[tuple[str, FastAPI]]:
    """The app (lots of room for logins and requests in flight: only the throttle limits here,
    not the login shedding nor the admission control of common.admission)."""
    yield from _serve(settings.model_copy(update={"login_max_pending": 500, "max_in_flight": 500}))


def _ctx(app: FastAPI) -> AppContext:
    ctx: AppContext = app.state.ctx
    return ctx


async def _guess(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, data={"username": email, "password": password})


async def test_parallel_guesses_get_at_most_the_allowed_verifications(
    ctx: AppContext, server: tuple[str, FastAPI]
) -> None:
    url, app = server
    await make_user(ctx, email="victim@example.com")
    gate = _ctx(app).login_gate
    before = gate.verifications
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        answers = await asyncio.gather(
            *(_guess(client, "victim@example.com", f"guess-{i:04d}") for i in range(100))
        )
    codes = Counter(a.status_code for a in answers)
    verified = gate.verifications - before
    print(f"100 parallel guesses -> {verified} verifications, answers {dict(codes)}")
    allowed = ctx.settings.login_max_failures
    assert verified <= allowed
    assert codes[401] == verified and codes[429] == 100 - verified
    assert all(int(a.headers["retry-after"]) >= 1 for a in answers if a.status_code == 429)


async def test_a_flood_of_logins_is_shed_with_429_and_others_are_served(
    ctx: AppContext, settings: Settings
) -> None:
    """150 parallel logins (distinct unknown emails, so that the per-email throttle is not what
    stops them): none fails with a 5xx, the excess is refused at once with 429 + Retry-After,
    and an authenticated request made meanwhile is answered."""
    await make_user(ctx, email="worker@example.com")
    for url, app in _serve(settings):
        async with httpx.AsyncClient(
            base_url=url, limits=httpx.Limits(max_connections=200), timeout=120
        ) as client:
            headers = await auth_headers(client, "worker@example.com")
            flood = [
                asyncio.ensure_future(_guess(client, f"nobody{i}@example.com", "wrong-password"))
                for i in range(150)
            ]
            gate = _ctx(app).login_gate
            # The gate lives in the server's thread: poll it until the flood fills it.
            while gate.pending < gate.max_pending and not all(f.done() for f in flood):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            me = await client.get("/api/v1/auth/me", headers=headers)
            answers = await asyncio.gather(*flood)
        assert me.status_code == 200
        codes = Counter(a.status_code for a in answers)
        print(f"150 parallel logins -> {dict(codes)}")
        assert not any(code >= 500 for code in codes)
        assert set(codes) <= {401, 429}
        busy = [a for a in answers if a.status_code == 429]
        assert busy, "no login was shed"
        assert all("too many logins at once" in a.json()["detail"] for a in busy)
        assert all(int(a.headers["retry-after"]) >= 1 for a in busy)
        assert _ctx(app).login_gate.pending == 0


async def test_an_overlong_username_is_422_and_never_reaches_the_throttle(
    ctx: AppContext, server: tuple[str, FastAPI]
) -> None:
    url, app = server
    throttle = _ctx(app).throttle
    async with httpx.AsyncClient(base_url=url) as client:
        response = await _guess(client, "a" * 250 + "@example.com", "whatever-password")
        assert response.status_code == 422
        assert "254" in response.json()["detail"]
        response = await _guess(client, "a" * 240 + "@example.com", "whatever-password")
        assert response.status_code == 401
    if isinstance(throttle, MemoryLoginThrottle):
        assert len(throttle) == 1


async def test_the_in_memory_throttle_stays_bounded() -> None:
    """10,000 unique usernames: expired keys are evicted, and the size never passes its cap."""
    throttle = MemoryLoginThrottle(max_attempts=5, window_seconds=1, max_keys=2_000)
    for i in range(10_000):
        assert await throttle.acquire(f"user{i}@example.com|127.0.0.1") is None
        assert len(throttle) <= 2_000
    await asyncio.sleep(1.1)  # the window passes
    await throttle.acquire("one-more@example.com|127.0.0.1")
    assert len(throttle) == 1


async def test_lockout_is_per_client_address_and_an_admin_can_unlock(
    ctx: AppContext, server: tuple[str, FastAPI]
) -> None:
    url, _ = server
    admin = await make_user(ctx, email="boss@example.com", role=Role.admin)
    user = await make_user(ctx, email="locked@example.com")
    async with httpx.AsyncClient(base_url=url) as client:
        headers = await auth_headers(client, admin.email)
        for _ in range(ctx.settings.login_max_failures):
            assert (await _guess(client, user.email, "nope-nope-nope")).status_code == 401
        assert (await _guess(client, user.email, DEFAULT_PASSWORD)).status_code == 429
        # The same user from another client address is not locked out by these guesses.
        elsewhere = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=url, transport=elsewhere) as other:
            await login(other, user.email)
        # An admin ends the lockout.
        response = await client.post(f"/api/v1/users/{user.id}/unlock", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["cleared"] >= 1
        await login(client, user.email)
        assert (
            await client.post("/api/v1/users/999999/unlock", headers=headers)
        ).status_code == 404
        viewer = await auth_headers(client, user.email)
        response = await client.post(f"/api/v1/users/{user.id}/unlock", headers=viewer)
        assert response.status_code == 403
