"""Settings, read from the environment with the ``MAGFLOW_`` prefix (and a ``.env`` file).

Nothing secret has a default: the secret key is generated on first use and stored under
``var_dir`` with mode 0600, so every installation has its own.
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class JobBackend(StrEnum):
    inprocess = "inprocess"
    procrastinate = "procrastinate"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def normalize_database_url(url: str) -> str:
    """Return the async SQLAlchemy URL for a user-supplied database URL.

    ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://`` (psycopg 3 drives both
    the async engine and Alembic's sync one); ``sqlite:///`` becomes ``sqlite+aiosqlite:///``.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    if url.startswith(("postgresql+psycopg://", "sqlite+aiosqlite://")):
        return url
    raise ValueError(
        f"unsupported database URL scheme in {url.split('://', 1)[0]!r}: "
        "use sqlite:///path or postgresql://user@host/db"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MAGFLOW_", env_file=".env", extra="ignore", validate_default=True
    )

    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    # Prefix of every Redis key, so several installations (or test runs) can share one server.
    redis_prefix: str = "magflow"
    secret_key: SecretStr | None = None

    access_token_minutes: Annotated[int, Field(gt=0)] = 30
    refresh_token_days: Annotated[int, Field(gt=0)] = 14
    login_max_failures: Annotated[int, Field(gt=0)] = 5
    login_failure_window_seconds: Annotated[int, Field(gt=0)] = 60

    jobs: JobBackend = JobBackend.inprocess
    emag_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Pace requests to eMAG's limits (EMAG_API.md §3). Turn off only against the simulator with
    # its limits off (benchmarks); eMAG answers a client that ignores them with 429s.
    emag_rate_limit: bool = True
    # Sync engine and schedules.
    sync_fetch_concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    sync_write_concurrency: Annotated[int, Field(ge=1, le=8)] = 2
    sync_max_concurrent_runs: Annotated[int, Field(ge=1)] = 4
    sync_stale_seconds: Annotated[float, Field(gt=0)] = 60.0
    sync_heartbeat_seconds: Annotated[float, Field(gt=0)] = 5.0
    sync_orders_full_days: Annotated[int, Field(ge=1)] = 90
    sync_round_backoff_seconds: Annotated[float, Field(ge=0)] = 2.0
    schedules_enabled: bool = True
    schedule_orders: str = "5m"
    schedule_offers: str = "1h"
    schedule_jitter_seconds: Annotated[float, Field(ge=0)] = 60.0
    log_format: LogFormat = LogFormat.text
    log_level: str = "INFO"
    migrate_on_start: bool = True
    cors_origins: list[str] = []
    # A WebSocket client must authenticate within this many seconds of connecting.
    ws_auth_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    # Largest HTTP request body (413 beyond it); the bulk offer routes take a 20 MB file anyway.
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    # Admission control (common/admission.py): HTTP requests running at once per API process, and
    # how long one arriving beyond them may wait for a slot before it is answered 503.
    max_in_flight: Annotated[int, Field(ge=1)] = 16
    admission_queue_wait_seconds: Annotated[float, Field(ge=0)] = 0.025
    # Database pool per process (db/engine.py), PostgreSQL and SQLite files alike. A request that
    # finds no connection free within the pool timeout is answered 503 (common/errors.py).
    db_pool_size: Annotated[int, Field(ge=1)] = 10
    db_max_overflow: Annotated[int, Field(ge=0)] = 10
    db_pool_timeout_seconds: Annotated[float, Field(gt=0)] = 3.0

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_redis_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def async_database_url(self) -> str:
        if not self.database_url:
            return f"sqlite+aiosqlite:///{(self.var_dir / 'magflow.db').resolve()}"
        return normalize_database_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.async_database_url.startswith("sqlite")

    def resolved_secret_key(self) -> str:
        """The configured secret key, or the one stored under ``var_dir`` (created when missing)."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


def get_settings() -> Settings:
    return Settings()
