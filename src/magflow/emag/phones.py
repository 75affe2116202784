"""Phone numbers as eMAG accepts them on an AWB (docs/emag-protocol.md, "AWBs and couriers"):
8 to 11 digits with an optional leading ``+``, nothing else.

People write numbers with spaces, dashes, dots, slashes or parentheses, and with ``00`` or ``+``
and the country code. :func:`normalize_phone` removes the separators, reads ``00`` as ``+``, and,
when an international number of the account's own country is too long for eMAG (Bulgaria's
``+359 88 123 4567`` has 12 digits), writes it the national way: the country code replaced by the
trunk prefix (``0``; ``06`` in Hungary). What still does not fit is refused here, with the number
in the message, rather than by eMAG.
"""

from __future__ import annotations

import re

#: Country calling code and national trunk prefix per platform.
NATIONAL = {"ro": ("40", "0"), "bg": ("359", "0"), "hu": ("36", "06")}

_SEPARATORS = re.compile(r"[\s\-./()]+")
_ACCEPTED = re.compile(r"^\+?[0-9]{8,11}$")


class PhoneError(ValueError):
    """A phone number that cannot be written the way eMAG accepts."""


def normalize_phone(value: str, platform: str | None = None) -> str:
    """``value`` as eMAG accepts it (see the module docstring); :class:`PhoneError` when it
    cannot be."""
    phone = _SEPARATORS.sub("", str(value).strip())
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    digits = phone.removeprefix("+")
    if phone.startswith("+") and len(digits) > 11 and platform in NATIONAL:
        code, trunk = NATIONAL[platform]
        if digits.startswith(code):
            phone = trunk + digits[len(code) :]
    if not phone.isascii() or not _ACCEPTED.match(phone):
        raise PhoneError(
            f"phone number {value!r} cannot be sent to eMAG: it needs 8 to 11 digits, "
            "with an optional leading +"
        )
    return phone
