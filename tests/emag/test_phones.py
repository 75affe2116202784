"""Phone numbers written as eMAG accepts them on an AWB (docs/emag-protocol.md, "AWBs and
couriers"): 8 to 11 digits, an optional leading +."""

from __future__ import annotations

import pytest

from magflow.emag.phones import PhoneError, normalize_phone


@pytest.mark.parametrize(
    ("written", "platform", "sent"),
    [
        ("0722 000 111", "ro", "0722000111"),
        ("+40 (722) 000-111", "ro", "+40722000111"),
        ("0040.722.000.111", "ro", "+40722000111"),
        ("+359 88 123 4567", "bg", "0881234567"),  # 12 digits: the national form fits
        ("+36 30 123 4567", "hu", "+36301234567"),
        ("02/123.4567", None, "021234567"),
    ],
)
def test_normalized(written: str, platform: str | None, sent: str) -> None:
    assert normalize_phone(written, platform) == sent


@pytest.mark.parametrize(
    ("written", "platform"),
    [
        ("1234567", "ro"),  # 7 digits
        ("+359 88 123 4567", "ro"),  # another country's number stays too long
        ("0722 000 111 ext 2", "ro"),
        ("٠٧٢٢٠٠٠١١١", "ro"),  # digits, but not ASCII ones
        ("", "ro"),
    ],
)
def test_refused(written: str, platform: str) -> None:
    with pytest.raises(PhoneError, match="8 to 11 digits"):
        normalize_phone(written, platform)
