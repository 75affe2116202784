"""Results of reads and saves that span several requests: pages and chunked saves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from magflow.emag.errors import EmagValidationError
from magflow.emag.schemas import OfferItemResult


@dataclass
class Page:
    """One page of a ``{resource}/read``: its rows exactly as received (dicts, read by
    :func:`magflow.emag.coerce.rows`), for the caller's domain mapper to convert.
    ``total_items``/``total_pages`` come from the preceding ``count`` when there was one.
    """

    resource: str
    number: int
    items_per_page: int
    rows: list[dict[str, Any]]
    total_items: int | None = None
    total_pages: int | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def is_empty(self) -> bool:
        return not self.rows

    @property
    def is_full(self) -> bool:
        return len(self.rows) >= self.items_per_page


@dataclass
class ChunkResult:
    """The answer to one chunk of a save (at most 50 entities, 4000 vars,
    docs/emag-protocol.md, "Rate and size limits").

    ``saved`` is False when eMAG refused the chunk (``error`` holds why).
    """

    index: int
    ids: list[Any]
    saved: bool
    messages: list[str] = field(default_factory=list)
    error: EmagValidationError | None = None
    results: Any = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class SaveResult:
    """All chunks of one save call. Validation refusals are reported here, not raised (the other
    chunks may have been saved); auth, rate-limit and transient failures are raised."""

    route: str
    chunks: list[ChunkResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every chunk saved."""
        return all(c.saved for c in self.chunks)

    @property
    def saved_ids(self) -> list[Any]:
        return [i for c in self.chunks if c.saved for i in c.ids]

    @property
    def failed_ids(self) -> list[Any]:
        return [i for c in self.chunks if not c.saved for i in c.ids]

    @property
    def errors(self) -> list[EmagValidationError]:
        return [c.error for c in self.chunks if c.error is not None]

    def raise_for_errors(self) -> None:
        """Raise the first chunk's validation error, if any chunk was refused."""
        for chunk in self.chunks:
            if chunk.error is not None:
                raise chunk.error


@dataclass
class OfferSaveResult:
    """Per-offer outcome of the light ``offer/save`` (docs/emag-protocol.md, "Offers"): the
    top-level ``isError`` stays false while items fail, so each offer id maps to its own
    ``isError``/``messages``. When eMAG refuses a whole chunk (top-level ``isError: true``) every
    offer of that chunk gets the chunk's messages. Offers the answer does not mention are assumed
    saved (``results`` UNCERTAIN when empty) and listed in ``unreported``."""

    items: dict[str, OfferItemResult] = field(default_factory=dict)
    unreported: list[str] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> dict[str, list[str]]:
        return {k: v.messages for k, v in self.items.items() if v.is_error}

    @property
    def succeeded(self) -> list[str]:
        return [k for k, v in self.items.items() if not v.is_error] + self.unreported

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class Document:
    """A document eMAG sent as bytes (an AWB label): the content and its media type."""

    content: bytes
    content_type: str
