"""eMAG's numeric codes, defined once (docs/emag-protocol.md, "Codes").

Every module, template and API schema that needs an order status, an order type, a payment mode
or an offer status uses these enums; a bare ``2`` or ``[3, 2]`` for one of them is a bug. Each
member carries the label a person reads (``OrderStatus.NEW.label == "new"``). Platforms live in
:mod:`magflow.emag.platforms` beside their hosts.
"""

from __future__ import annotations

from enum import IntEnum


class _LabelledCode(IntEnum):
    """An eMAG code with a human label (the member name, lower-cased, spaces for underscores)."""

    @property
    def label(self) -> str:
        return _LABELS.get((type(self).__name__, int(self)), self.name.lower().replace("_", " "))

    @classmethod
    def labels(cls) -> dict[int, str]:
        """``{code: label}`` in code order, for select boxes and API docs."""
        return {int(member): member.label for member in cls}

    @classmethod
    def label_of(cls, value: object) -> str:
        """The label of ``value``, or the value itself when eMAG sent a code we do not know."""
        try:
            return cls(int(value)).label  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return "—" if value is None else str(value)


class OrderStatus(_LabelledCode):
    """``order.status``: 0 cancelled, 1 new, 2 in progress, 3 prepared, 4 finalized, 5 returned.

    Only acknowledgement moves 1 → 2; ``order/save`` may set 0, 3 and 4 (and eMAG sets 5).
    """

    CANCELLED = 0
    NEW = 1
    IN_PROGRESS = 2
    PREPARED = 3
    FINALIZED = 4
    RETURNED = 5


class OrderType(_LabelledCode):
    """``order.type``: 2 fulfilled by eMAG (FBE), 3 fulfilled by the seller.

    A property of each order, not of the account: ``order/read`` defaults to type 3, so both
    types are read explicitly.
    """

    FBE = 2
    SELLER = 3


class PaymentMode(_LabelledCode):
    """``order.payment_mode_id``: 1 cash on delivery, 2 bank transfer, 3 card online."""

    COD = 1
    BANK_TRANSFER = 2
    CARD_ONLINE = 3


class OfferStatus(_LabelledCode):
    """``product_offer.status``: 0 inactive, 1 active, 2 end of life (updates only)."""

    INACTIVE = 0
    ACTIVE = 1
    END_OF_LIFE = 2


_LABELS: dict[tuple[str, int], str] = {
    ("OrderType", 2): "FBE (fulfilled by eMAG)",
    ("OrderType", 3): "fulfilled by seller",
    ("PaymentMode", 1): "cash on delivery",
    ("PaymentMode", 3): "card online",
}

#: Statuses an ``order/save`` may set (acknowledgement is its own route).
WRITABLE_ORDER_STATUSES = frozenset(
    {OrderStatus.CANCELLED, OrderStatus.PREPARED, OrderStatus.FINALIZED}
)
#: Both order types, in the order the sync reads them.
ALL_ORDER_TYPES = (OrderType.SELLER, OrderType.FBE)
