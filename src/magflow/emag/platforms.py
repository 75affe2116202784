"""eMAG platforms: API host, locale, currency and the local timezone of each
(docs/emag-protocol.md, "Hosts and platforms").

Dates in eMAG payloads and filters carry no timezone
(docs/emag-protocol.md, "Dates and time zones"). We read them as the platform's local time
(UNCERTAIN in the reference; [SIG] formats BG filters in Europe/Sofia), so each platform names its
IANA timezone here.

``currency`` is only a fallback, for a payload that carries no ``currency`` of its own: offers and
orders are stored in the currency each one states, never one inferred from the platform
(docs/emag-protocol.md, "Hosts and platforms"; Bulgaria switched from BGN to EUR on
1 January 2026, so a BG account holds both).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from zoneinfo import ZoneInfo


class Platform(StrEnum):
    """The eMAG marketplaces MagFlow supports; values match ``accounts.PlatformCode``."""

    RO = "ro"
    BG = "bg"
    HU = "hu"


@dataclass(frozen=True)
class PlatformInfo:
    platform: Platform
    api_url: str
    marketplace_url: str
    locale: str
    currency: str
    timezone: str
    country_code: str

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


PLATFORMS: dict[Platform, PlatformInfo] = {
    Platform.RO: PlatformInfo(
        Platform.RO,
        api_url="https://marketplace-api.emag.ro/api-3",
        marketplace_url="https://marketplace.emag.ro",
        locale="ro_RO",
        currency="RON",
        timezone="Europe/Bucharest",
        country_code="RO",
    ),
    Platform.BG: PlatformInfo(
        Platform.BG,
        api_url="https://marketplace-api.emag.bg/api-3",
        marketplace_url="https://marketplace.emag.bg",
        locale="bg_BG",
        # Bulgaria adopted the euro on 1 January 2026: eMAG BG prices and orders are in EUR.
        currency="EUR",
        timezone="Europe/Sofia",
        country_code="BG",
    ),
    Platform.HU: PlatformInfo(
        Platform.HU,
        api_url="https://marketplace-api.emag.hu/api-3",
        marketplace_url="https://marketplace.emag.hu",
        locale="hu_HU",
        currency="HUF",
        timezone="Europe/Budapest",
        country_code="HU",
    ),
}


def platform_info(platform: Platform | str) -> PlatformInfo:
    """Look a platform up by enum or code (``"ro"``, ``"RO"``...)."""
    return PLATFORMS[Platform(str(platform).lower())]
