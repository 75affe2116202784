"""A run's plan: what it reads (segments of filtered pages) and which pages are done.

The plan is the run's checkpoint: it is stored as JSON on the run (``emag_sync_logs``) after every
page written, so a resumed run reads only the pages not yet done (docs/architecture.md, "A sync
run").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

#: The longest order window one read covers: eMAG accepts at most one month between the two
#: date bounds of an order filter (docs/emag-protocol.md, "Paging, counts and filters"). 28 days
#: is no longer than any calendar month (30 days from 31 January would pass 28 February), so a
#: window is never refused, whichever day it starts on.
ORDER_WINDOW = timedelta(days=28)


def compress_pages(pages: set[int]) -> list[list[int]]:
    """Sorted page numbers as inclusive ranges: {1,2,3,7} -> [[1,3],[7,7]]."""
    ranges: list[list[int]] = []
    for page in sorted(pages):
        if ranges and page == ranges[-1][1] + 1:
            ranges[-1][1] = page
        else:
            ranges.append([page, page])
    return ranges


def expand_pages(ranges: list[list[int]]) -> set[int]:
    return {page for start, end in ranges for page in range(start, end + 1)}


@dataclass
class Segment:
    """One filtered read: offers, or orders of one type in one window.

    ``items`` and ``pages`` start from eMAG's ``count`` and follow what the pages show (the last
    page tells the true size); ``counted`` keeps what eMAG's ``count`` said, None when its answer
    held no readable number (docs/emag-protocol.md, "Paging, counts and filters"). ``pages`` is at
    least 1 whatever the count: page 1 is always read.
    """

    resource: str
    filters: dict[str, Any]
    items: int
    pages: int
    done: set[int] = field(default_factory=set)
    counted: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "filters": self.filters,
            "items": self.items,
            "pages": self.pages,
            "done": compress_pages(self.done),
            "counted": self.counted,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        return cls(
            resource=data["resource"],
            filters=data["filters"],
            items=int(data["items"]),
            pages=int(data["pages"]),
            done=expand_pages(data.get("done", [])),
            # A plan stored before ``counted`` existed has None: the missing guard then withholds.
            counted=int(data["counted"]) if data.get("counted") is not None else None,
        )


@dataclass
class Plan:
    segments: list[Segment]
    upper_bound: datetime
    vat_rates: dict[int, Decimal]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "upper_bound": self.upper_bound.isoformat(),
            "vat_rates": {str(k): str(v) for k, v in self.vat_rates.items()},
            "segments": [s.to_json() for s in self.segments],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            segments=[Segment.from_json(s) for s in data["segments"]],
            upper_bound=datetime.fromisoformat(data["upper_bound"]),
            vat_rates={int(k): Decimal(v) for k, v in data.get("vat_rates", {}).items()},
        )

    @property
    def total_items(self) -> int:
        return sum(s.items for s in self.segments)

    @property
    def total_pages(self) -> int:
        return sum(s.pages for s in self.segments)

    @property
    def pages_done(self) -> int:
        return sum(len(s.done) for s in self.segments)

    def pending(self) -> list[tuple[int, int]]:
        return [
            (index, page)
            for index, segment in enumerate(self.segments)
            for page in range(1, segment.pages + 1)
            if page not in segment.done
        ]


def order_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive windows of at most :data:`ORDER_WINDOW`, each starting
    where the previous one stopped (no gap, no overlap)."""
    windows = []
    while start < end:
        stop = min(start + ORDER_WINDOW, end)
        windows.append((start, stop))
        start = stop
    return windows
