"""Dates and times as people type them: one reading for the API, the CLI and the dashboard.

A value is either

- a plain date, ``2026-11-20``: midnight of that day;
- a datetime without a zone, ``2026-11-20T08:30`` or ``2026-11-20 08:30:00``;
- a datetime with a zone, ``2026-11-20T08:30:00Z`` or ``...+02:00``: that instant.

The first two are *local*: they mean the wall time of the eMAG platform of the account they are
about (Europe/Bucharest, Sofia or Budapest; :mod:`magflow.emag.platforms`), because that is the
time eMAG itself shows and filters by (docs/emag-protocol.md, "Dates and time zones"). Parsing
keeps them naive; :func:`in_zone` gives them a zone once the account, and so the platform, is
known. A request covering several accounts therefore resolves the value per account (a sync
run stores the resolved instant for its own account), and a listing over accounts of several
platforms refuses a local value as ambiguous (:func:`zone_for_platforms`).

:data:`UserDateTime` is the pydantic type of such a field or query parameter; the CLI passes
:func:`parse_user_datetime` as the option's parser. Anything else (a number, ``"yesterday"``,
``2026-02-30``) is refused with a message that says what is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, WithJsonSchema

#: The range accepted: values outside are typing mistakes (and years near 1 or 9999 overflow
#: when converted between zones or moved to the next day).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)

ACCEPTED = (
    "a date (2026-11-20), a local date and time (2026-11-20T08:30) or a date and time with a "
    "zone (2026-11-20T08:30:00Z, 2026-11-20T08:30:00+02:00)"
)


class AmbiguousZoneError(ValueError):
    """A local date or time over accounts of several platforms (several time zones)."""


def parse_user_datetime(value: Any) -> datetime:
    """Read a date or datetime as described in the module docstring; naive means local.

    Raises ValueError (pydantic turns it into a 422 naming the field) for anything else.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError(f"empty; expected {ACCEPTED}")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not {ACCEPTED}") from None
    else:
        raise ValueError(f"expected {ACCEPTED}")
    aware = parsed.tzinfo is not None
    earliest = EARLIEST if aware else EARLIEST.replace(tzinfo=None)
    latest = LATEST if aware else LATEST.replace(tzinfo=None)
    if not earliest <= parsed < latest:
        raise ValueError(f"{parsed.isoformat()} is not between {earliest.year} and {latest.year}")
    return parsed


def _is_plain_date(value: Any) -> bool:
    if isinstance(value, datetime):
        return False
    if isinstance(value, date):
        return True
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def parse_user_datetime_end(value: Any) -> datetime:
    """An upper bound (``date_to``, exclusive): a plain date includes that whole day, so it
    is the next day's midnight; a date and time is that instant, as :func:`parse_user_datetime`."""
    parsed = parse_user_datetime(value)
    return parsed + timedelta(days=1) if _is_plain_date(value) else parsed


def is_local(value: datetime) -> bool:
    """Whether the value was given without a zone (a platform's wall time)."""
    return value.tzinfo is None


def in_zone(value: datetime, tz: tzinfo) -> datetime:
    """An aware datetime: a local value is read as wall time in ``tz``; an aware one is kept."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def _platform_timezone(platform: str) -> str:
    # Imported here: ``magflow.emag`` loads the eMAG client, which the CLI's start-up and the
    # parsing above do not need.
    from magflow.emag.platforms import platform_info

    return platform_info(platform).timezone


def platform_zone(platform: str) -> tzinfo:
    """The time zone of an eMAG platform code (``ro``, ``bg``, ``hu``)."""
    return ZoneInfo(_platform_timezone(platform))


def zone_for_platforms(platforms: Iterable[str]) -> tzinfo:
    """The one time zone of these platforms; raises :class:`AmbiguousZoneError` for several.

    With no platform at all (no account yet) the default platform's zone is used: nothing can
    match anyway.
    """
    zones = {_platform_timezone(p) for p in platforms}
    if len(zones) > 1:
        raise AmbiguousZoneError(
            "a date or time without a zone is read in the accounts' platform time zone, and these "
            f"accounts are in several ({', '.join(sorted(zones))}): add a zone (e.g. Z or +02:00) "
            "or choose one account"
        )
    return ZoneInfo(zones.pop() if zones else _platform_timezone("ro"))


_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "description": "A date, or a date and time; without a zone it is the platform's local time.",
    "examples": ["2026-11-20", "2026-11-20T08:30:00", "2026-11-20T08:30:00Z"],
}

#: A date or datetime field/parameter read by :func:`parse_user_datetime` (naive = local).
UserDateTime = Annotated[datetime, BeforeValidator(parse_user_datetime), WithJsonSchema(_SCHEMA)]

#: An exclusive upper bound read by :func:`parse_user_datetime_end` (a plain date: that whole day).
UserDateTimeEnd = Annotated[
    datetime,
    BeforeValidator(parse_user_datetime_end),
    WithJsonSchema(
        {**_SCHEMA, "description": "Exclusive upper bound; a plain date includes that whole day."}
    ),
]
