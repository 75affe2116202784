"""The eMAG Marketplace API client (see ``docs/emag-protocol.md`` for the protocol).

Knows nothing of the database. Main entry points: :class:`EmagClient`,
:func:`make_rate_limiter`, :class:`RetryPolicy`, the errors, and :mod:`.coerce` (how eMAG
values are read).
"""

from magflow.emag.chunking import chunk_entities, count_input_vars
from magflow.emag.client import EmagClient
from magflow.emag.dates import format_emag_datetime, parse_emag_datetime
from magflow.emag.errors import (
    EmagAuthError,
    EmagError,
    EmagIpNotWhitelistedError,
    EmagRateLimitedError,
    EmagTransientError,
    EmagValidationError,
)
from magflow.emag.metrics import ClientStats
from magflow.emag.platforms import PLATFORMS, Platform, PlatformInfo, platform_info
from magflow.emag.ratelimit import (
    Bucket,
    InMemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    Window,
    bucket_for_route,
    make_rate_limiter,
)
from magflow.emag.results import ChunkResult, OfferSaveResult, Page, SaveResult
from magflow.emag.retry import RetryPolicy

__all__ = [
    "PLATFORMS",
    "Bucket",
    "ChunkResult",
    "ClientStats",
    "EmagAuthError",
    "EmagClient",
    "EmagError",
    "EmagIpNotWhitelistedError",
    "EmagRateLimitedError",
    "EmagTransientError",
    "EmagValidationError",
    "InMemoryRateLimiter",
    "OfferSaveResult",
    "Page",
    "Platform",
    "PlatformInfo",
    "RateLimiter",
    "RedisRateLimiter",
    "RetryPolicy",
    "SaveResult",
    "Window",
    "bucket_for_route",
    "chunk_entities",
    "count_input_vars",
    "format_emag_datetime",
    "make_rate_limiter",
    "parse_emag_datetime",
    "platform_info",
]
