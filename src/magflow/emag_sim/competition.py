"""Competing offers on the simulator's products, so the Buy Button moves as on eMAG.

On eMAG several sellers offer the same product; the offer that holds the Buy Button (rank 1 on
the product page) takes most sales. ``product_offer/read`` shows the seller where they stand:
``number_of_offers``, ``buy_button_rank`` and ``best_offer_sale_price`` (docs/emag-protocol.md,
"Offers").

Here each product in the *arena* has competitors, each with a strategy and its own schedule
(``interval`` seconds between two repricings):

- ``undercut``: at each of its turns, a step under the lowest other offer (ours included), never
  under its own ``floor``; when it already is the lowest it keeps its price;
- ``hold``: never changes its price;
- ``dumper``: sells at a price below any sane floor and keeps it (no repricer should follow it).

Rank: offers sorted by price; **a tie goes to the competitor** (the simulator must never be
friendlier than eMAG, whose Buy Button also weighs seller rating and delivery, which a
newcomer's equal price does not beat). ``buy_button_rank`` = 1 + the competitors at or below
our price; ``best_offer_sale_price`` = the lowest price, ours included.

Which products: a product joins the arena when the control API gives it competitors
(``POST /_sim/accounts/{account}/offers/{id}/competitors``), or when the seller first changes it
through the API (``offer/save``, ``product_offer/save``): then its generated
``number_of_offers - 1`` competitors come alive from the generated ``best_offer_sale_price``
(deterministic per product: mostly undercutters and holders, and a dumper on every tenth
product). Products never touched keep their generated values, which costs nothing on a
100,000-offer catalogue.
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass
from typing import Any

from magflow.emag_sim.state import AccountState

Json = dict[str, Any]
STRATEGIES = ("undercut", "hold", "dumper")


@dataclass
class Competitor:
    name: str
    strategy: str
    price: float
    floor: float = 0.0
    step: float = 0.01
    interval: float = 900.0
    next_at: float = 0.0

    def view(self) -> Json:
        return asdict(self)


class Arena:
    """One account's competing offers, by offer id."""

    def __init__(self) -> None:
        self.offers: dict[int, list[Competitor]] = {}

    def set(self, offer_id: int, competitors: list[Competitor]) -> None:
        self.offers[offer_id] = competitors

    def tick(self, offer_id: int, own_price: float | None, now: float, force: bool = False) -> None:
        """Let every competitor of ``offer_id`` whose turn came (or all, ``force``) reprice."""
        competitors = self.offers.get(offer_id)
        if not competitors:
            return
        for competitor in competitors:
            if not force and competitor.next_at > now:
                continue
            competitor.next_at = now + competitor.interval
            if competitor.strategy != "undercut":
                continue
            others = [c.price for c in competitors if c is not competitor]
            if own_price is not None:
                others.append(own_price)
            if not others:
                continue
            lowest = min(others)
            if competitor.price < lowest:
                continue  # already the best: keeps its price
            competitor.price = round(max(competitor.floor, lowest - competitor.step), 4)

    def apply(self, offer: Json, now: float) -> Json:
        """``offer`` with ``number_of_offers``, ``buy_button_rank`` and ``best_offer_sale_price``
        from the arena (a copy), or ``offer`` itself when its product is not in the arena."""
        offer_id = int(offer["id"])
        competitors = self.offers.get(offer_id)
        if competitors is None:
            return offer
        own = _price(offer.get("sale_price"))
        self.tick(offer_id, own, now)
        prices = [c.price for c in competitors]
        out = dict(offer)
        out["number_of_offers"] = 1 + len(competitors)
        if own is None:
            out["buy_button_rank"] = None
            out["best_offer_sale_price"] = min(prices) if prices else None
            return out
        out["buy_button_rank"] = 1 + sum(1 for p in prices if p <= own)
        out["best_offer_sale_price"] = min([own, *prices])
        return out


def _price(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


_ARENAS: weakref.WeakKeyDictionary[AccountState, Arena] = weakref.WeakKeyDictionary()


def arena(acc: AccountState) -> Arena:
    found = _ARENAS.get(acc)
    if found is None:
        found = _ARENAS[acc] = Arena()
    return found


def view(acc: AccountState, offer: Json, now: float) -> Json:
    """The offer as ``product_offer/read`` shows it, competition included."""
    found = _ARENAS.get(acc)
    return found.apply(offer, now) if found is not None else offer


def default_competitors(offer: Json, now: float) -> list[Competitor]:
    """The generated competitors of a product, from its generated values (see the module)."""
    offer_id = int(offer["id"])
    count = max(0, int(offer.get("number_of_offers") or 1) - 1)
    best = _price(offer.get("best_offer_sale_price")) or _price(offer.get("sale_price")) or 1.0
    made = []
    for n in range(count):
        strategy = "undercut" if (offer_id + n) % 3 else "hold"
        price = round(best * (1 + 0.02 * n), 4)
        made.append(
            Competitor(
                name=f"seller-{offer_id}-{n + 1}",
                strategy=strategy,
                price=price,
                floor=round(best * 0.85, 4),
                step=0.01 if best < 100 else 0.1,
                interval=600.0 + (offer_id * 7 + n * 131) % 1800,
                next_at=now + (offer_id * 13 + n * 17) % 600,
            )
        )
    if count and offer_id % 10 == 0:
        made[-1] = Competitor(
            name=f"seller-{offer_id}-dumper", strategy="dumper", price=round(best * 0.45, 4)
        )
    return made


def touched(acc: AccountState, offer_id: int, now: float) -> None:
    """The seller changed ``offer_id`` through the API: its product joins the arena."""
    current = arena(acc)
    if offer_id in current.offers:
        return
    offer = acc.get_offer(offer_id)
    if offer is not None:
        current.set(offer_id, default_competitors(offer, now))


def parse_competitors(body: Any, now: float) -> list[Competitor]:
    """The control API's ``[{name?, strategy, price, floor?, step?, interval?}]``."""
    if not isinstance(body, list):
        raise ValueError("send a list of competitors")
    made = []
    for n, entry in enumerate(body):
        if not isinstance(entry, dict):
            raise ValueError("each competitor is an object")
        strategy = str(entry.get("strategy", "hold"))
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")
        price = float(entry["price"])
        if price <= 0:
            raise ValueError("price must be > 0")
        made.append(
            Competitor(
                name=str(entry.get("name") or f"competitor-{n + 1}"),
                strategy=strategy,
                price=price,
                floor=float(entry.get("floor", 0.0)),
                step=float(entry.get("step", 0.01)),
                interval=float(entry.get("interval", 900.0)),
                next_at=now + float(entry.get("interval", 900.0)),
            )
        )
    return made
