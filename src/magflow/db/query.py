"""Small query helpers shared by the repositories."""

from __future__ import annotations


def like_pattern(text: str) -> str:
    """A case-insensitive ``LIKE`` pattern matching ``text`` anywhere, with ``%``, ``_`` and
    the escape character itself taken literally (use with ``escape="\\\\"``)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
