"""Settings, read from the environment with the ``MAGFLOW_`` prefix (and a ``.env`` file).

Nothing secret has a default: the secret key is generated on first use and stored under
``var_dir`` with mode 0600, so every installation has its own.
"""

from __future__ import annotations

import contextlib
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


#: Secret keys shipped as examples (``deploy/``): refused, like any key shorter than 32 bytes.
EXAMPLE_SECRET_KEYS = frozenset(
    {
        "CHANGE-ME-the-same-long-random-string-everywhere",
        "CHANGE-ME",
        "changeme",
        "secret",
    }
)
MIN_SECRET_KEY_BYTES = 32


def check_secret_key(key: str) -> str:
    """Refuse a weak or example secret key: it signs every token and encrypts eMAG passwords."""
    if key.strip() in EXAMPLE_SECRET_KEYS or key.strip().upper().startswith("CHANGE-ME"):
        raise ValueError(
            "MAGFLOW_SECRET_KEY is the example value from deploy/: generate one, e.g. "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    if len(key.encode()) < MIN_SECRET_KEY_BYTES:
        raise ValueError(
            f"MAGFLOW_SECRET_KEY is too short ({len(key.encode())} bytes): use at least "
            f"{MIN_SECRET_KEY_BYTES} random bytes, e.g. "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return key


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by this user only (0700)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)


def private_sqlite_file(path: Path) -> None:
    """Create the SQLite database file (and its directory) for this user only: 0600 / 0700, so
    that other local users cannot read orders, customers and hashed passwords. An existing file
    readable by others is tightened (SQLite gives its -wal/-shm files the same mode)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
    else:
        os.close(fd)


def sqlite_path(async_url: str) -> Path | None:
    """The file of a SQLite URL, or None (PostgreSQL, in-memory SQLite)."""
    if not async_url.startswith("sqlite"):
        return None
    path = async_url.split(":///", 1)[-1]
    return Path(path) if path and path != ":memory:" else None


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
    # Password verifications (argon2) run in this many threads per process; at most
    # ``login_max_pending`` logins verify or wait at once, beyond that 429 (see auth/gate.py).
    login_verify_threads: Annotated[int, Field(ge=1, le=64)] = 2
    login_max_pending: Annotated[int, Field(ge=1)] = 8
    # Keys the in-process login throttle keeps at most (expired ones are evicted first).
    login_throttle_max_keys: Annotated[int, Field(ge=100)] = 100_000

    jobs: JobBackend = JobBackend.inprocess
    emag_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Pace requests to eMAG's limits (docs/emag-protocol.md, "Rate and size limits"). Turn off only
    # against the simulator with its limits off (benchmarks); eMAG answers a client that ignores
    # them with 429s.
    emag_rate_limit: bool = True
    # Sync engine and schedules.
    sync_fetch_concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    sync_write_concurrency: Annotated[int, Field(ge=1, le=8)] = 2
    sync_max_concurrent_runs: Annotated[int, Field(ge=1)] = 4
    sync_stale_seconds: Annotated[float, Field(gt=0)] = 60.0
    sync_heartbeat_seconds: Annotated[float, Field(gt=0)] = 5.0
    sync_orders_full_days: Annotated[int, Field(ge=1)] = 90
    sync_round_backoff_seconds: Annotated[float, Field(ge=0)] = 2.0
    # The largest share (0..1) of an account's offers one offers run may mark missing; a run that
    # would mark more withholds them until an operator confirms (docs/architecture.md, "A sync
    # run"). 1 turns the guard off.
    missing_guard_share: Annotated[float, Field(ge=0, le=1)] = 0.20
    schedules_enabled: bool = True
    schedule_orders: str = "5m"
    schedule_offers: str = "1h"
    schedule_jitter_seconds: Annotated[float, Field(ge=0)] = 60.0
    # Alerts (magflow.alerts): rules are evaluated on this schedule by every job runner (the API
    # process in-process, the workers with procrastinate; off with schedules_enabled=false too);
    # a delivery that fails is retried after retry_seconds * 2^(attempt - 1), at most an hour
    # apart, up to max_attempts attempts.
    alerts_enabled: bool = True
    alerts_schedule: str = "1m"
    alerts_max_attempts: Annotated[int, Field(ge=1, le=50)] = 8
    alerts_retry_seconds: Annotated[float, Field(gt=0)] = 30.0
    alerts_webhook_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # Alert e-mails go through this SMTP server; without a host, no e-mail is sent (webhooks are).
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "magflow@localhost"
    smtp_starttls: bool = True
    smtp_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # The to-do list's deadlines (magflow.intake.deadlines): a new seller-fulfilled order is due
    # for acknowledgement this many minutes after it was placed; a return waiting for the
    # seller without eMAG's own deadline is due this many hours after its date.
    todo_ack_minutes: Annotated[int, Field(ge=1, le=10080)] = 60
    todo_return_hours: Annotated[int, Field(ge=1, le=720)] = 48
    # Offer history (pricing) older than this many days is deleted by the job maintenance.
    pricing_history_days: Annotated[int, Field(ge=1, le=3650)] = 90
    log_format: LogFormat = LogFormat.text
    log_level: str = "INFO"
    migrate_on_start: bool = True
    cors_origins: list[str] = []
    # A WebSocket client must authenticate within this many seconds of connecting.
    ws_auth_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    # Open WebSockets per user (beyond: closed with 1008), and how often an open one re-checks
    # that its token is still valid (user disabled, logged out: closed within that time).
    ws_max_connections_per_user: Annotated[int, Field(ge=1)] = 20
    ws_recheck_seconds: Annotated[float, Field(gt=0)] = 2.0
    # A bearer token that /metrics requires (unset: /metrics is public); /docs, /redoc and
    # /openapi.json are served only when public_docs is true.
    metrics_token: SecretStr | None = None
    public_docs: bool = True
    # Addresses of reverse proxies whose X-Forwarded-Proto is believed (HSTS behind TLS
    # termination); "*" trusts any.
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    # Largest HTTP request body (413 beyond it); the bulk offer routes take a 20 MB file anyway.
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    # Admission control (common/admission.py): HTTP requests running at once per API process, and
    # how long one arriving beyond them may wait for a slot before it is answered 503.
    # 4 (issue 18, BENCHMARKS.md): more requests at once only lengthen each turn of the event loop,
    # and every request, the refused ones included, waits through it. On a 2-vCPU machine with a
    # sync running, 4 gave the same capacity as 6 (750-800 req/s) and refused requests a p95 of
    # 39-53 ms at 2x capacity (6: 63-72 ms; 10 and 16, in earlier sessions: slower still). A request
    # may wait admission_queue_wait_seconds for a slot while the queue passes (a stall), and is
    # refused at once when it could not expect one within half that time; once the queue stands
    # (an overload), newcomers wait a few milliseconds at most (common/admission.py).
    max_in_flight: Annotated[int, Field(ge=1)] = 4
    admission_queue_wait_seconds: Annotated[float, Field(ge=0)] = 0.1
    # The hot read routes' common case answered without FastAPI's per-request machinery
    # (common/fastlane.py); the same answers either way.
    fast_lane: bool = True
    # Seconds a read-only route's user check is kept per process (auth/readers.py); a change to
    # a user made by another process is seen within it. 0: checked against the database each time.
    auth_cache_seconds: Annotated[float, Field(ge=0, le=10)] = 1.0
    # FastAPI's own OpenTelemetry bridge (spans, metrics and logs to the OpenTelemetry SDK the
    # operator configures). Off: MagFlow's metrics are at /metrics, and the bridge looked up the
    # global OpenTelemetry providers (the environment included) on every request.
    opentelemetry: bool = False
    # Database pool per process (db/engine.py), PostgreSQL and SQLite files alike. A request that
    # finds no connection free within the pool timeout is answered 503 (common/errors.py).
    db_pool_size: Annotated[int, Field(ge=1)] = 10
    db_max_overflow: Annotated[int, Field(ge=0)] = 10
    db_pool_timeout_seconds: Annotated[float, Field(gt=0)] = 3.0
    # CPU priority of the PostgreSQL server processes serving this process's connections, when
    # the server runs on this machine (db/engine.py, renice_backends). Unset: this process's own
    # (a worker at nice 10 has its database work done at nice 10 too); 0: left as they are.
    db_backend_nice: Annotated[int, Field(ge=0, le=19)] | None = None
    # PostgreSQL's parallel workers per query (max_parallel_workers_per_gather) on this process's
    # connections (db/engine.py, limit_parallel_query): 0, none, so that one query never takes
    # every CPU of a small machine from the other requests (PostgreSQL's own default is 2).
    db_parallel_workers: Annotated[int, Field(ge=0, le=64)] = 0

    # -- intake (magflow.intake: eMAG callbacks, auto-acknowledge, catch-up poll) --------------
    # The address eMAG reaches MagFlow at (https://magflow.example.com): callback URLs are built
    # from it. Unset: the URLs cannot be shown (the API says so).
    public_url: str | None = None
    # Seconds between two catch-up polls of an account's new orders (0: no poll).
    intake_poll_seconds: Annotated[float, Field(ge=0)] = 60.0
    # Acknowledgements an intake job sends together and records in one transaction (three such
    # groups at once per account; eMAG's limiter paces them).
    intake_ack_concurrency: Annotated[int, Field(ge=1, le=16)] = 4
    # Callbacks handled at once per API process (more wait their turn, never refused).
    callback_concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    # Callbacks with an unknown secret answered 404 per client address and minute; beyond, 429.
    callback_unknown_per_minute: Annotated[int, Field(ge=1)] = 10

    @field_validator("secret_key")
    @classmethod
    def _strong_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            check_secret_key(value.get_secret_value())
        return value

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: object) -> object:
        if value in ("", None):
            return None
        text = str(value).strip().rstrip("/")
        if not text.startswith(("http://", "https://")):
            raise ValueError("MAGFLOW_PUBLIC_URL must start with http:// or https://")
        return text

    @field_validator("alerts_schedule")
    @classmethod
    def _valid_alerts_schedule(cls, value: str) -> str:
        from magflow.jobs.schedule import Schedule

        Schedule.parse(value)  # ValueError with a readable message
        return value

    @field_validator("redis_url", "smtp_host", "smtp_username", mode="before")
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
        private_dir(self.var_dir)
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
