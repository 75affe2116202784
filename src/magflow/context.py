"""What one process shares: settings, database, keys, Redis. Built once per app or CLI run."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from magflow.auth.throttle import LoginThrottle, MemoryLoginThrottle, RedisLoginThrottle
from magflow.auth.tokens import TokenService
from magflow.common.crypto import CredentialCipher
from magflow.db.engine import Database
from magflow.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    tokens: TokenService
    cipher: CredentialCipher
    throttle: LoginThrottle
    redis: Redis | None

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        secret = settings.resolved_secret_key()
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
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
                settings.login_max_failures, settings.login_failure_window_seconds
            )
        return cls(
            settings=settings,
            db=Database(settings.async_database_url),
            tokens=TokenService(secret, settings.access_token_minutes, settings.refresh_token_days),
            cipher=CredentialCipher(secret),
            throttle=throttle,
            redis=redis,
        )

    async def close(self) -> None:
        await self.db.dispose()
        if self.redis is not None:
            await self.redis.aclose()
