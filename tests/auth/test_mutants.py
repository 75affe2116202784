"""Login lockout and token revocation: behaviour the mutation sample found unasserted (issue 19).

Through the HTTP API of the app under uvicorn, with the in-process or the Redis throttle (per
backend). The lockout window is set short so the lockout's end can be observed.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from magflow.auth import repository as auth_repository
from magflow.auth import service as auth_service
from magflow.auth.models import RefreshToken, Role, User
from magflow.auth.throttle import MemoryLoginThrottle, RedisLoginThrottle, throttle_key
from magflow.auth.tokens import InvalidTokenError
from magflow.context import AppContext
from magflow.settings import Settings
from tests.conftest import Backend
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.support.auth import auth_headers, login

WINDOW = 10  # seconds of the lockout window here (5 failed logins fit in it on a busy machine)
MAX_FAILURES = 5


@pytest.fixture
def settings(settings: Settings, backend: Backend) -> Settings:
    return settings.model_copy(
        update={
            "login_failure_window_seconds": WINDOW,
            "login_max_failures": MAX_FAILURES,
        }
    )


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", data={"username": email, "password": password})


async def test_the_lockout_lasts_as_long_as_retry_after_says(ctx: AppContext, api: str) -> None:
    """Locked out after 5 failures: refused with 429 until ``Retry-After`` has (almost) passed,
    the right password included; accepted once it has."""
    user = await make_user(ctx)
    async with httpx.AsyncClient(base_url=api) as client:
        for _ in range(MAX_FAILURES):
            assert (await attempt(client, user.email, "wrong password")).status_code == 401
        locked = await attempt(client, user.email, DEFAULT_PASSWORD)
        locked_at = time.monotonic()
        assert locked.status_code == 429, locked.text
        retry_after = int(locked.headers["Retry-After"])
        assert 1 <= retry_after <= WINDOW

        # Retry-After is rounded up to a whole second: the lockout runs at least until one
        # second before it. Half-way, and until then, the right password is still refused.
        still_locked_until = locked_at + retry_after - 1
        await asyncio.sleep(max(0.0, still_locked_until - 0.5 - time.monotonic()))
        refused = await attempt(client, user.email, DEFAULT_PASSWORD)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1

        await asyncio.sleep(max(0.0, locked_at + retry_after + 0.2 - time.monotonic()))
        await login(client, user.email)  # 200 once Retry-After has passed


async def test_failures_for_an_unknown_email_are_counted_too(api: str) -> None:
    """Guessing emails is throttled like guessing passwords (and answers the same)."""
    async with httpx.AsyncClient(base_url=api) as client:
        for _ in range(MAX_FAILURES):
            response = await attempt(client, "nobody@example.com", "any password at all")
            assert response.status_code == 401
        locked = await attempt(client, "Nobody@Example.com ", "any password at all")
        assert locked.status_code == 429, locked.text
        assert int(locked.headers["Retry-After"]) >= 1


async def test_re_enabling_a_user_does_not_bring_back_old_tokens(ctx: AppContext, api: str) -> None:
    admin = await make_user(ctx, role=Role.admin)
    user = await make_user(ctx)
    async with httpx.AsyncClient(base_url=api) as client:
        old = await auth_headers(client, user.email)
        old_refresh = (await login(client, user.email))["refresh_token"]
        assert (await client.get("/api/v1/auth/me", headers=old)).status_code == 200
        admin_headers = await auth_headers(client, admin.email)
        for active in (False, True):
            response = await client.patch(
                f"/api/v1/users/{user.id}", json={"is_active": active}, headers=admin_headers
            )
            assert response.status_code == 200, response.text
            assert response.json()["is_active"] is active

        assert (await client.get("/api/v1/auth/me", headers=old)).status_code == 401
        again = await client.post("/api/v1/auth/refresh", json={"refresh_token": old_refresh})
        assert again.status_code == 401
        fresh = await auth_headers(client, user.email)  # the user can log in again
        assert (await client.get("/api/v1/auth/me", headers=fresh)).status_code == 200


async def test_the_demo_admin_password_reset_revokes_earlier_tokens(
    ctx: AppContext, api: str
) -> None:
    """``magflow demo`` resets the demo admin's password at every start: whoever held a token
    from before (or knew the old password) is out."""
    email = "demo-admin@example.com"
    first, second = "first demo password 1a", "second demo password 2b"
    async with ctx.db.session() as session:
        await auth_service.set_demo_admin(session, email, first)
        await session.commit()
    async with httpx.AsyncClient(base_url=api) as client:
        old = await auth_headers(client, email, first)
        old_refresh = (await login(client, email, first))["refresh_token"]
        assert (await client.get("/api/v1/users", headers=old)).status_code == 200

        async with ctx.db.session() as session:
            await auth_service.set_demo_admin(session, email, second)
            await session.commit()

        assert (await client.get("/api/v1/users", headers=old)).status_code == 401
        again = await client.post("/api/v1/auth/refresh", json={"refresh_token": old_refresh})
        assert again.status_code == 401
        assert (await attempt(client, email, first)).status_code == 401
        fresh = await auth_headers(client, email, second)
        assert (await client.get("/api/v1/users", headers=fresh)).status_code == 200


# -- the throttles themselves (no app): the Redis one is otherwise reached only with PostgreSQL ---

REDIS_URL = os.environ.get("MAGFLOW_TEST_REDIS_URL")


@pytest.fixture(params=["memory", "redis"])
async def throttle(
    request: pytest.FixtureRequest,
) -> AsyncIterator[MemoryLoginThrottle | RedisLoginThrottle]:
    if request.param == "memory":
        yield MemoryLoginThrottle(max_attempts=2, window_seconds=WINDOW)
        return
    if REDIS_URL is None:
        pytest.skip("Redis not configured: set MAGFLOW_TEST_REDIS_URL")
    prefix = f"magflow-test-{uuid.uuid4().hex[:12]}"
    async with Redis.from_url(REDIS_URL) as redis:
        yield RedisLoginThrottle(redis, max_attempts=2, window_seconds=WINDOW, prefix=prefix)
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)


async def test_a_throttle_lets_max_attempts_through_then_says_how_long_to_wait(
    throttle: MemoryLoginThrottle | RedisLoginThrottle,
) -> None:
    key = throttle_key("a@example.com", "10.0.0.1")
    assert [await throttle.acquire(key) for _ in range(2)] == [None, None]
    wait = await throttle.acquire(key)
    assert wait is not None and 1 <= wait <= WINDOW
    # Other keys (another address, another email) are not affected.
    assert await throttle.acquire(throttle_key("a@example.com", "10.0.0.2")) is None
    assert await throttle.acquire(throttle_key("b@example.com", "10.0.0.1")) is None
    await throttle.reset(key)
    assert await throttle.acquire(key) is None


async def test_unlock_clears_one_email_from_every_address_and_nothing_else(
    throttle: MemoryLoginThrottle | RedisLoginThrottle,
) -> None:
    """Glob characters in an email match only themselves (``a*@x`` does not clear ``ab@x``)."""
    for email in ("a*@example.com", "ab@example.com", "a*@example.com.evil"):
        for client in ("10.0.0.1", None):
            for _ in range(3):
                await throttle.acquire(throttle_key(email, client))
    assert await throttle.unlock("a*@example.com") == 2
    assert await throttle.acquire(throttle_key("a*@example.com", "10.0.0.1")) is None
    assert await throttle.acquire(throttle_key("a*@example.com", None)) is None
    assert await throttle.acquire(throttle_key("ab@example.com", None)) is not None
    assert await throttle.acquire(throttle_key("a*@example.com.evil", None)) is not None
    assert await throttle.unlock("nobody@example.com") == 0


async def test_redis_throttles_with_other_prefixes_do_not_share_counts() -> None:
    if REDIS_URL is None:
        pytest.skip("Redis not configured: set MAGFLOW_TEST_REDIS_URL")
    prefixes = [f"magflow-test-{uuid.uuid4().hex[:12]}" for _ in range(2)]
    async with Redis.from_url(REDIS_URL) as redis:
        one, two = (RedisLoginThrottle(redis, 1, WINDOW, prefix=p) for p in prefixes)
        key = throttle_key("a@example.com", "10.0.0.1")
        assert await one.acquire(key) is None
        assert await one.acquire(key) is not None
        assert await two.acquire(key) is None
        # The counter expires with its window: it carries a TTL of at most the window.
        ttl = await redis.ttl(f"{prefixes[0]}:login-attempts:{key}")
        assert 0 < ttl <= WINDOW
        # A counter left without an expiry (e.g. by a crash between INCR and EXPIRE) gets one
        # again, rather than locking the key out for ever.
        stuck = f"{prefixes[1]}:login-attempts:stuck"
        await redis.set(stuck, 5)
        assert await two.acquire("stuck") == WINDOW
        assert 0 < await redis.ttl(stuck) <= WINDOW
        for prefix in prefixes:
            keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)


# -- the service: token revocation and the messages users see -----------------------------------


async def test_no_revocation_path_ever_brings_back_an_earlier_token(ctx: AppContext) -> None:
    """Each way of revoking a user's tokens (their own password change, an admin's reset, the
    demo admin's reset, a role change) refuses every token issued before it, when repeated and
    when followed by another way: a token version is never used twice."""
    admin = await make_user(ctx, role=Role.admin, email="root@example.com")
    email = "revoked@example.com"
    await make_user(ctx, email=email)

    async def own(session: AsyncSession, user: User) -> None:
        await auth_service.change_own_password(
            session, ctx.login_gate, user, DEFAULT_PASSWORD, DEFAULT_PASSWORD
        )

    async def reset(session: AsyncSession, user: User) -> None:
        await auth_service.reset_password(session, user.id, DEFAULT_PASSWORD)

    async def demo(session: AsyncSession, user: User) -> None:
        await auth_service.set_demo_admin(session, email, DEFAULT_PASSWORD)

    async def role(session: AsyncSession, user: User) -> None:
        other = Role.operator if user.role != Role.operator.value else Role.viewer
        await auth_service.update_user(session, admin, user.id, role=other)

    # Each way twice in a row, then the next way: a version set (not moved on) or moved back
    # by one of them meets the version of an earlier token.
    steps = [role, role, own, own, reset, reset, demo, demo, role]
    async with ctx.db.session() as session:
        user = await auth_repository.get_by_email(session, email)
        assert user is not None
        earlier = [ctx.tokens.issue(user.id, "access", user.token_version)]
        for step in steps:
            await step(session, user)
            for token in earlier:
                with pytest.raises(InvalidTokenError) as refused:
                    await auth_service.user_from_token(session, ctx.tokens, token, "access")
                assert str(refused.value) == "token has been revoked", step.__name__
            fresh = ctx.tokens.issue(user.id, "access", user.token_version)
            assert await auth_service.user_from_token(session, ctx.tokens, fresh, "access") is user
            earlier.append(fresh)


async def test_the_service_refusals_say_what_went_wrong(ctx: AppContext) -> None:
    """The messages reach the user as the 401/404/409/422 detail (or the CLI's error line)."""
    admin = await make_user(ctx, role=Role.admin, email="chief@example.com")
    user = await make_user(ctx, email="someone@example.com")
    async with ctx.db.session() as session:
        longest = "a" * 308 + "@example.com"  # 320 characters: the longest address accepted
        created = await auth_service.create_user(session, longest, DEFAULT_PASSWORD, Role.viewer)
        assert created.email == longest
        with pytest.raises(ValueError) as raised:
            await auth_service.create_user(session, "a" + longest, DEFAULT_PASSWORD, Role.viewer)
        assert str(raised.value) == f"not a valid email address: {'a' + longest!r}"

        checks: list[tuple[Any, str]] = [
            (
                auth_service.change_own_password(
                    session, ctx.login_gate, user, "not the password", DEFAULT_PASSWORD
                ),
                "the current password is incorrect",
            ),
            (auth_service.unlock_user(session, ctx.throttle, 999999), "no user with id 999999"),
            (
                auth_service.unlock_user(session, ctx.throttle, None, email=" Ghost@Example.com"),
                "no user with email ghost@example.com",
            ),
            # Neither an id nor an email names nobody (not the first user).
            (auth_service.unlock_user(session, ctx.throttle, None), "no user with id None"),
            (auth_service.update_user(session, admin, 999999), "no user with id 999999"),
            (
                auth_service.update_user(session, admin, admin.id, is_active=False),
                "you cannot disable yourself; ask another admin",
            ),
            (
                auth_service.update_user(session, admin, admin.id, role=Role.operator),
                "you cannot remove your own admin role; ask another admin",
            ),
            (
                auth_service.user_from_token(
                    session, ctx.tokens, ctx.tokens.issue(999999, "access", 0), "access"
                ),
                "user is unknown or disabled",
            ),
        ]
        for call, message in checks:
            with pytest.raises(Exception) as raised_by:
                await call
            assert str(raised_by.value) == message
        # By email (the CLI's way), normalised like a login.
        cleared = await auth_service.unlock_user(
            session, ctx.throttle, None, email=" SomeOne@Example.com "
        )
        assert cleared == 0
        reset, generated = await auth_service.reset_password(
            session, None, DEFAULT_PASSWORD, email="SOMEONE@example.com"
        )
        assert (reset.id, generated) == (user.id, None)


async def test_a_refresh_token_is_spent_once_and_needs_its_family(ctx: AppContext) -> None:
    user = await make_user(ctx)
    async with ctx.db.session() as session:
        _, refresh = await auth_service.issue_pair(session, ctx.tokens, user)
        claims = ctx.tokens.decode(refresh, "refresh")
        # The same (recorded, unspent) token id without its family is refused, not rotated.
        orphan = ctx.tokens.issue(user.id, "refresh", user.token_version, jti=claims.jti)
        with pytest.raises(InvalidTokenError) as raised:
            await auth_service.rotate_refresh(session, ctx.tokens, orphan)
        assert str(raised.value) == "token has been revoked"
        await auth_service.rotate_refresh(session, ctx.tokens, refresh)
        with pytest.raises(auth_service.RefreshReuseError) as reused:
            await auth_service.rotate_refresh(session, ctx.tokens, refresh)
        assert str(reused.value) == (
            "refresh token already used: every token of this session is revoked; log in again"
        )
        # A token of a session never recorded (or since purged) is simply refused.
        unknown = ctx.tokens.issue(
            user.id, "refresh", user.token_version, jti="unknown", family="unknown"
        )
        with pytest.raises(InvalidTokenError) as again:
            await auth_service.rotate_refresh(session, ctx.tokens, unknown)
        assert str(again.value) == "token has been revoked"


async def test_a_redis_lockout_in_its_last_half_second_still_refuses_for_a_second() -> None:
    """Redis rounds a TTL under half a second down to 0: the attempt is refused all the same,
    with a Retry-After of 1 s (never 0, which would invite an immediate retry)."""
    if REDIS_URL is None:
        pytest.skip("Redis not configured: set MAGFLOW_TEST_REDIS_URL")
    prefix = f"magflow-test-{uuid.uuid4().hex[:12]}"
    async with Redis.from_url(REDIS_URL) as redis:
        throttle = RedisLoginThrottle(redis, max_attempts=2, window_seconds=WINDOW, prefix=prefix)
        wait = None
        for attempt_no in range(3):  # a loaded machine may let the key expire first: again
            key = f"ending-{attempt_no}"
            await redis.set(f"{prefix}:login-attempts:{key}", 5, px=450)
            wait = await throttle.acquire(key)
            if wait is not None:
                break
        assert wait == 1
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)


async def test_a_user_disabled_or_deleted_during_a_login_is_not_logged_in(ctx: AppContext) -> None:
    """The password is verified outside any session; the user may be disabled (or removed) by
    the time the login is recorded: that login is refused, a good one stamps the login time."""
    disabled = await make_user(ctx, is_active=False)
    active = await make_user(ctx)
    async with ctx.db.session() as session:
        for user_id in (disabled.id, 999999):
            with pytest.raises(auth_service.AuthError) as refused:
                await auth_service.complete_login(session, user_id)
            assert str(refused.value) == "incorrect email or password, or the user is disabled"
        user = await auth_service.complete_login(session, active.id)
        assert user.last_login_at is not None


async def test_a_login_clears_the_users_expired_refresh_tokens(ctx: AppContext) -> None:
    user = await make_user(ctx)
    async with ctx.db.session() as session:
        long_ago = datetime.now(UTC) - timedelta(days=400)
        auth_repository.add_refresh_token(
            session,
            RefreshToken(
                jti="old", family="old", user_id=user.id, created_at=long_ago, expires_at=long_ago
            ),
        )
        await session.flush()
        await auth_service.issue_pair(session, ctx.tokens, user)
        jtis = (
            await session.scalars(select(RefreshToken.jti).where(RefreshToken.user_id == user.id))
        ).all()
        assert len(jtis) == 1 and jtis[0] != "old"


async def test_resetting_a_key_never_counted_is_harmless(
    throttle: MemoryLoginThrottle | RedisLoginThrottle,
) -> None:
    """A login's key may be gone by the time it succeeds (evicted under a flood of keys)."""
    await throttle.reset(throttle_key("nobody@example.com", "10.0.0.9"))
    assert await throttle.acquire(throttle_key("nobody@example.com", "10.0.0.9")) is None
