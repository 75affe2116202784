"""Copies of an order MagFlow stores itself after its own action, without re-reading it from eMAG:
``has_invoice`` follows the attachments it sets (the invoicing job attaches without a re-read),
so the to-do list's "invoice missing" turns off at once, not after a sync that may never re-read
the order; and a status it sets (the intake's acknowledgement) is dated when it happened, not at
the stale ``modified`` of the read before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from magflow.emag.platforms import platform_info
from magflow.orders.mapping import acknowledgement_seen, order_row
from magflow.orders.models import EmagOrder


def test_setting_attachments_updates_has_invoice() -> None:
    order = EmagOrder(status=4, has_invoice=False, attachments=[])
    assert order.has_invoice is False
    warranty = {"name": "Garantie", "url": "https://x.example/w.pdf", "type": 3}
    order.attachments = [warranty]
    assert order.has_invoice is False
    # As magflow.invoicing.service attaches: the known attachments plus the one sent (type 1).
    invoice = {"name": "Factura MF000001", "url": "https://x.example/i.pdf", "type": 1}
    order.attachments = [*order.attachments, {**invoice, "visibility": 1}]
    assert order.has_invoice is True
    # An attachment without a type is an invoice (eMAG's default type).
    assert EmagOrder(attachments=[{"url": "https://x.example/j.pdf"}]).has_invoice is True


def test_a_status_set_by_magflow_is_dated_when_it_happened() -> None:
    placed = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # "modified" below is Bucharest time
    read = {"id": 9, "status": 1, "date": "2026-11-02 12:00:00", "modified": "2026-11-02 12:00:00"}
    kwargs: dict[str, Any] = {"account_id": 1, "platform": "ro", "run_id": None, "currency": "RON"}
    tz = platform_info("ro").tz
    first = order_row(
        read, now=placed, tz=tz, previous_status=None, previous_history=None, **kwargs
    )
    acknowledged = placed + timedelta(minutes=10)
    # The intake's copy after acknowledging: the same read with status 2.
    copy = order_row(
        {**read, "status": 2},
        now=acknowledged,
        tz=tz,
        previous_status=1,
        previous_history=first["status_history"],
        **kwargs,
    )
    assert copy["ack_observed_at"] == acknowledged
    assert acknowledgement_seen(copy["status_history"]) == acknowledged
    # eMAG's own read after the change carries a later "modified": that dates it.
    later = order_row(
        {**read, "status": 2, "modified": "2026-11-02 12:07:00"},
        now=acknowledged,
        tz=tz,
        previous_status=1,
        previous_history=first["status_history"],
        **kwargs,
    )
    assert later["ack_observed_at"] == placed + timedelta(minutes=7)
