"""eMAG platforms (eMAG RO, BG, HU and FashionDays RO, BG): API host, locale, currency and the
local timezone of each (docs/emag-protocol.md, "Hosts and platforms").

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
    """The marketplaces MagFlow supports; values match ``accounts.PlatformCode``.

    FashionDays RO and BG run eMAG's Marketplace API on hosts of their own
    (docs/emag-protocol.md, "Hosts and platforms")."""

    RO = "ro"
    BG = "bg"
    HU = "hu"
    FD_RO = "fd_ro"
    FD_BG = "fd_bg"


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
    # FashionDays: the 4.4.9 hosts (4.4.7 named https://marketplace-ro.fashiondays.com/api-3 for
    # RO), same locales, currencies and time zones as the eMAG platform of the country
    # (docs/emag-protocol.md, "Hosts and platforms").
    Platform.FD_RO: PlatformInfo(
        Platform.FD_RO,
        api_url="https://marketplace-ro-api.fashiondays.com/api-3",
        marketplace_url="https://marketplace-ro.fashiondays.com",
        locale="ro_RO",
        currency="RON",
        timezone="Europe/Bucharest",
        country_code="RO",
    ),
    Platform.FD_BG: PlatformInfo(
        Platform.FD_BG,
        api_url="https://marketplace-bg-api.fashiondays.com/api-3",
        marketplace_url="https://marketplace-bg.fashiondays.com",
        locale="bg_BG",
        # Bulgaria adopted the euro on 1 January 2026, FashionDays BG too.
        currency="EUR",
        timezone="Europe/Sofia",
        country_code="BG",
    ),
}


def platform_info(platform: Platform | str) -> PlatformInfo:
    """Look a platform up by enum or code (``"ro"``, ``"RO"``, ``"fd_ro"``...)."""
    return PLATFORMS[Platform(str(platform).lower())]
