"""What one process shares: settings, database, keys, Redis. Built once per app or CLI run."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis

from magflow.accounts.service import AccountCredentials
from magflow.auth.gate import VerificationGate
from magflow.auth.readers import ReaderCache
from magflow.auth.throttle import LoginThrottle, MemoryLoginThrottle, RedisLoginThrottle
from magflow.auth.tokens import TokenService
from magflow.cache import Cache, build_cache
from magflow.common.crypto import CredentialCipher
from magflow.db.engine import Database, PoolLimits
from magflow.emag.client import EmagClient
from magflow.emag.ratelimit import Bucket, RateLimiter, Window, make_rate_limiter
from magflow.jobs.base import JobRunner
from magflow.realtime.bus import EventBus, build_event_bus
from magflow.settings import Settings

UNLIMITED = {bucket: (Window(1_000_000, 1.0),) for bucket in Bucket}


@dataclass
class AppContext:
    settings: Settings
    db: Database
    tokens: TokenService
    cipher: CredentialCipher
    throttle: LoginThrottle
    redis: Redis | None
    rate_limiter: RateLimiter
    bus: EventBus
    cache: Cache
    login_gate: VerificationGate
    #: The users the read-only routes checked, kept for a second (auth/readers.py).
    readers: ReaderCache
    runner: JobRunner | None = None

    @property
    def jobs(self) -> JobRunner:
        if self.runner is None:
            raise RuntimeError("no job runner in this process")
        return self.runner

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        secret = settings.resolved_secret_key()
        # A blocking pool: a burst of more requests than connections waits for one (up to 10 s)
        # instead of failing with "Too many connections" (100 parallel logins did).
        redis = (
            Redis(
                connection_pool=BlockingConnectionPool.from_url(
                    settings.redis_url, max_connections=100, timeout=10
                )
            )
            if settings.redis_url
            else None
        )
        throttle: LoginThrottle
        if redis is not None:
            throttle = RedisLoginThrottle(
                redis,
                settings.login_max_failures,
                settings.login_failure_window_seconds,
                prefix=settings.redis_prefix,
            )
        else:
            throttle = MemoryLoginThrottle(
                settings.login_max_failures,
                settings.login_failure_window_seconds,
                max_keys=settings.login_throttle_max_keys,
            )
        return cls(
            settings=settings,
            db=Database(
                settings.async_database_url,
                PoolLimits(
                    settings.db_pool_size,
                    settings.db_max_overflow,
                    settings.db_pool_timeout_seconds,
                ),
                settings.db_backend_nice,
                settings.db_parallel_workers,
            ),
            tokens=TokenService(secret, settings.access_token_minutes, settings.refresh_token_days),
            cipher=CredentialCipher(secret),
            throttle=throttle,
            redis=redis,
            rate_limiter=(
                make_rate_limiter(settings.redis_url, prefix=settings.redis_prefix)
                if settings.emag_rate_limit
                else make_rate_limiter(None, limits=UNLIMITED)
            ),
            # Every process publishes; only API processes also read (their hub starts the bus).
            bus=build_event_bus(settings, redis),
            cache=build_cache(settings, redis),
            login_gate=VerificationGate(settings.login_verify_threads, settings.login_max_pending),
            readers=ReaderCache(settings.auth_cache_seconds),
        )

    def emag_client(self, credentials: AccountCredentials) -> EmagClient:
        """A client for one account; every client of the account shares this process's limiter
        (and, with Redis, every process's)."""
        return EmagClient.for_platform(
            credentials.platform,
            credentials.username,
            credentials.password,
            rate_limiter=self.rate_limiter,
            account_key=f"{credentials.platform}:{credentials.username}",
            base_url=credentials.base_url,
            timeout=self.settings.emag_timeout_seconds,
        )

    async def close(self) -> None:
        self.login_gate.close()
        await self.cache.aclose()
        await self.bus.aclose()
        await self.rate_limiter.aclose()
        await self.db.dispose()
        if self.redis is not None:
            await self.redis.aclose()
