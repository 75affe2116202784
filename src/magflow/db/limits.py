"""Make eMAG rows fit their columns the same way on every database.

PostgreSQL refuses a value longer than its ``VARCHAR(n)`` (the whole page's transaction fails);
SQLite ignores the length and stores anything. So a 10,000-character customer name from eMAG
failed a sync on one database and was stored whole on the other. Every batched write of eMAG
rows (:mod:`magflow.db.upsert`) now passes its rows through :func:`fit_rows` first:

- free text (names, brands, payment mode labels...) longer than its column is cut to the
  column's length, in characters (what ``VARCHAR(n)`` counts on PostgreSQL);
- codes (:data:`CODE_COLUMNS`: a currency is three letters A-Z) are never cut: a value of the
  wrong shape refuses the write with :class:`StoredValueError`, whose message names the table,
  the eMAG id, the column and the value, and which the sync run records as its error
  (the page is not written, on any database).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String, Table

#: Columns holding codes, by name: (pattern the whole value must match, what it must be).
CODE_COLUMNS: dict[str, tuple[re.Pattern[str], str]] = {
    "currency": (re.compile(r"[A-Z]{3}"), "a currency code: 3 letters A-Z"),
}

_LIMITS: dict[str, dict[str, int]] = {}


class StoredValueError(ValueError):
    """A value from eMAG that no column may store (a code of the wrong shape). The message is
    safe and meant to be shown to users."""


def string_limits(table: Table) -> dict[str, int]:
    """``{column: length}`` for every ``String(n)`` column of ``table`` (cached per table)."""
    limits = _LIMITS.get(table.name)
    if limits is None:
        limits = _LIMITS[table.name] = {
            column.name: column.type.length
            for column in table.columns
            if isinstance(column.type, String) and column.type.length
        }
    return limits


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def fit_rows(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with free text cut to its column's length and codes checked (see the module).

    Rows are copied only when something is cut; raises :class:`StoredValueError` for a code of
    the wrong shape."""
    limits = string_limits(table)
    if not limits or not rows:
        return rows
    checked = [(name, length, CODE_COLUMNS.get(name)) for name, length in limits.items()]
    fitted: list[dict[str, Any]] = []
    for row in rows:
        changed: dict[str, str] | None = None
        for name, length, code in checked:
            value = row.get(name)
            if not isinstance(value, str):
                continue
            if code is not None:
                pattern, shape = code
                if not pattern.fullmatch(value) or len(value) > length:
                    emag_id = row.get("emag_id")
                    which = f" (eMAG id {emag_id})" if emag_id is not None else ""
                    raise StoredValueError(
                        f"{table.name} row{which}: {name} {_shown(value)} is not {shape}; "
                        "the page was not stored"
                    )
            elif len(value) > length:
                changed = changed or {}
                changed[name] = value[:length]
        fitted.append({**row, **changed} if changed else row)
    return fitted
