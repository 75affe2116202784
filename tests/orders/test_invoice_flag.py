"""``has_invoice`` follows the attachments MagFlow sets on a stored order itself (the invoicing
job attaches without re-reading the order), so the to-do list's "invoice missing" turns off at
once, not after a sync that may never re-read the order."""

from __future__ import annotations

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
