"""The platforms MagFlow knows (docs/emag-protocol.md, "Hosts and platforms")."""

from __future__ import annotations

import pytest

from magflow.accounts.schemas import PlatformCode
from magflow.emag import EmagClient
from magflow.emag.platforms import Platform, platform_info
from magflow.emag.ratelimit import InMemoryRateLimiter


@pytest.mark.parametrize(
    ("code", "api_url", "currency", "timezone"),
    [
        ("fd_ro", "https://marketplace-ro-api.fashiondays.com/api-3", "RON", "Europe/Bucharest"),
        ("fd_bg", "https://marketplace-bg-api.fashiondays.com/api-3", "EUR", "Europe/Sofia"),
        ("FD_RO", "https://marketplace-ro-api.fashiondays.com/api-3", "RON", "Europe/Bucharest"),
    ],
)
async def test_fashiondays_platforms_use_their_own_4_4_9_hosts(
    code: str, api_url: str, currency: str, timezone: str
) -> None:
    info = platform_info(code)
    assert (info.api_url, info.currency, info.timezone) == (api_url, currency, timezone)
    client = EmagClient.for_platform(
        code, "seller", "secret", rate_limiter=InMemoryRateLimiter(), account_key="fd"
    )
    try:
        assert client.base_url == api_url
    finally:
        await client.aclose()


def test_every_platform_can_be_an_account() -> None:
    assert {p.value for p in Platform} == {p.value for p in PlatformCode}
