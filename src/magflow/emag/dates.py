"""eMAG dates: ``YYYY-mm-dd HH:ii:ss`` without a timezone
(docs/emag-protocol.md, "Dates and time zones").

UNCERTAIN in the reference; we take them as platform-local wall time (Europe/Bucharest, Sofia or
Budapest, see :mod:`magflow.emag.platforms`) — the reading [SIG] uses for BG filters. Parsed values
are timezone-aware; filters are formatted back to platform-local strings.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

EMAG_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
EMAG_DATE_FORMAT = "%Y-%m-%d"
DEFAULT_TZ = ZoneInfo("Europe/Bucharest")

_ZERO_DATES = {"0000-00-00", "0000-00-00 00:00:00", "0000-00-00T00:00:00"}


def parse_emag_datetime(value: object, tz: tzinfo = DEFAULT_TZ) -> datetime | None:
    """Parse an eMAG date into an aware datetime; None for null/empty/zero dates.

    Accepts ``YYYY-mm-dd HH:ii:ss`` (platform-local), a bare ``YYYY-mm-dd`` (local midnight),
    fractional seconds, ISO 8601 with ``T`` and an explicit offset (kept as given), and a
    ``{"date": ..., "timezone": ...}`` object as PHP's DateTime serialises
    (docs/emag-protocol.md, "Dates and time zones"). Raises ValueError for anything else.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    if isinstance(value, dict):
        zone = value.get("timezone")
        local_tz: tzinfo = tz
        if isinstance(zone, str) and "/" in zone:
            local_tz = ZoneInfo(zone)
        return parse_emag_datetime(value.get("date"), local_tz)
    if isinstance(value, list) and not value:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not an eMAG date: {value!r}")
    text = value.strip()
    if not text or text in _ZERO_DATES:
        return None
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def format_emag_datetime(value: datetime | date, tz: tzinfo = DEFAULT_TZ) -> str:
    """Format for a filter (``createdAfter``, ``modifiedAfter``, ``date_start`` ...).

    An aware datetime is converted to the platform's local time first; a naive one is taken as
    already platform-local; a ``date`` gives ``YYYY-mm-dd``.
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(tz)
        return value.strftime(EMAG_DATETIME_FORMAT)
    return value.strftime(EMAG_DATE_FORMAT)
