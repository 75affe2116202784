"""How MagFlow reads eMAG values: the one set of converters for every payload.

eMAG answers are PHP's ``json_encode`` of loosely typed arrays (docs/emag-protocol.md,
"PHP serialization quirks"): numbers arrive as numbers or as strings, flags as ``0``/``1``,
``"1"`` or ``true``, an empty object as ``[]``, a list as an object keyed ``"0"``, ``"1"``...,
and any field may be ``null``. Every reader (the sync, returns, the order refresh after a write,
the few typed answers of :mod:`magflow.emag.schemas`) converts through this module, so one value
means one thing everywhere. The rules:

- **Blank**: ``None``, ``""`` (or only spaces), ``[]`` and ``{}`` read as "no value": ``None``
  from the scalar readers, ``[]`` from :func:`to_list`, ``None`` from :func:`to_dict`.
- **Strings** are stripped before they are read as numbers or flags: ``" 3 "`` is 3.
- :func:`to_int`: ints; integral strings and numbers (``"12"``, ``"12.0"``, ``12.0``); booleans
  as 1/0 (PHP flags typed int, e.g. ``is_complete``). A fraction (``"12.5"``) is not an int and
  reads as ``None``: it is never truncated.
- :func:`to_decimal`: exact decimals from ints, strings (``"12.5"``) and floats (by their
  shortest repr, so ``0.19`` is ``Decimal("0.19")``). Booleans, NaN and infinities are ``None``:
  an amount is never a flag.
- :func:`to_bool`: ``1``/``0``, ``"1"``/``"0"``, ``"true"``/``"false"``, ``"yes"``/``"no"``
  and real booleans; anything else is ``None``.
- :func:`to_str`: strings as sent (not stripped: names keep their spaces, only a blank one is
  ``None``); numbers as their text; booleans as ``"1"``/``"0"``; containers are ``None``.
- :func:`to_list`: a list as is; an object keyed by ``"0"``, ``"1"``... (a PHP array) as its
  values in order; any other non-empty object as a list of that one object (eMAG sometimes
  answers an object where a list of one is due: it is kept, never dropped); scalars as ``[]``.
- :func:`to_dict`: a non-empty object; ``[]`` (PHP's empty object) and everything else ``None``.
- :func:`to_datetime`: ``YYYY-mm-dd HH:ii:ss`` in the platform's zone (docs/emag-protocol.md,
  "Dates and time zones") to an aware datetime; anything unreadable is ``None``.
- :func:`rows`: the ``results`` of a read: the :func:`to_list` rule, and a scalar is refused
  (:class:`ValueError`) because it cannot be a page of rows.

Bad values never raise from the scalar readers: they read as ``None``, and the caller decides
whether a missing value is acceptable (a row without an id is skipped by its mapper).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from magflow.emag.dates import parse_emag_datetime

__all__ = [
    "is_blank",
    "rows",
    "to_bool",
    "to_datetime",
    "to_decimal",
    "to_dict",
    "to_int",
    "to_list",
    "to_str",
]

_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})


def is_blank(value: Any) -> bool:
    """``None``, an empty or all-space string, ``[]`` or ``{}``."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return not value
    return False


def to_int(value: Any) -> int | None:
    if type(value) is int:  # the common cases first: a sync calls this a dozen times per row
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass  # "12.0", "" and junk are read below
        value = text
    number = to_decimal(value)
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


def to_decimal(value: Any) -> Decimal | None:
    kind = type(value)
    if kind is str:  # the common case: eMAG sends amounts as strings
        value = value.strip()
    elif kind is float:
        value = repr(value)
    elif value is None or kind is bool or not isinstance(value, int | Decimal):
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {0: False, 1: True}.get(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def to_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return None


def to_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if not value:
            return []
        if all(str(key).isdigit() for key in value):
            return [value[key] for key in sorted(value, key=lambda key: int(key))]
        return [value]
    return []


def to_dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) and value else None


def to_datetime(value: Any, tz: tzinfo) -> datetime | None:
    try:
        return parse_emag_datetime(value, tz)
    except (ValueError, TypeError):
        return None


def rows(results: Any) -> list[Any]:
    """The rows of a read's ``results``: see the module rules. ``None`` or ``""`` is no rows."""
    if results is None or results == "":
        return []
    if not isinstance(results, list | dict):
        raise ValueError(f"results of type {type(results).__name__} are not rows")
    return to_list(results)
