"""The simulator's in-memory marketplace: accounts, offers, orders, AWBs, RMAs.

Scale (100,000 offers and 200,000 orders per account): only the attributes that filters need are
generated up front, into compact arrays (order created/modified epoch seconds, status, type,
payment mode, customer; offer status, stock, validation statuses). Full documents are generated
on demand from ``random.Random(mix(seed, account, index, ...))``, so an offer or an order is the
same every time it is read, and only mutated documents are kept, in an overlay keyed by index.
Order ``created`` dates grow with the index, so ``createdAfter``/``createdBefore`` are a bisect;
other filters scan the arrays once and the matching index list is cached until the account's
state changes (a sync paging through one filter pays the scan on its first page only).

Orders are returned by ascending id (= ascending creation), offers by ascending id. Offers at
index ``i % 3 == 1`` are read without ``stock[]`` until a save gives them one (it is not a
documented read field, docs/emag-protocol.md, "Offers").
"""

from __future__ import annotations

import random
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from magflow.emag_sim import data
from magflow.emag_sim.config import PLATFORMS, SimAccount, SimConfig
from magflow.emag_sim.data import mix

ORDER_ID_BASE = 300_000_000
ACCOUNT_ID_STRIDE = 10_000_000
RMA_ID_BASE = 700_000_000
OFFER_ID_MAX = 16_777_215  # docs/emag-protocol.md, "Offers"
MAX_CACHED_QUERIES = 32
MAX_CACHED_CUSTOMERS = 8192

ORDER_STATUS_NAMES = {0: "canceled", 1: "new", 2: "in progress", 3: "prepared", 4: "finalized",
                      5: "returned"}  # fmt: skip
HOUR = 3600
DAY = 86400

Json = dict[str, Any]


@dataclass(frozen=True)
class OrderFilter:
    """Parsed ``order/read|count`` filters (docs/emag-protocol.md, "Paging, counts and filters").
    Date bounds are inclusive epoch seconds."""

    ids: frozenset[int] | None = None
    statuses: frozenset[int] | None = None
    types: frozenset[int] = frozenset({3})
    payment_modes: frozenset[int] | None = None
    is_complete: int | None = None
    created_after: float | None = None
    created_before: float | None = None
    modified_after: float | None = None
    modified_before: float | None = None


@dataclass(frozen=True)
class OfferFilter:
    """Parsed ``product_offer/read|count`` filters
    (docs/emag-protocol.md, "Paging, counts and filters")."""

    id: int | None = None
    status: int | None = None
    part_number: str | None = None
    part_number_key: str | None = None
    general_stock: int | None = None
    estimated_stock: int | None = None
    offer_validation_status: int | None = None
    validation_status: int | None = None
    translation_validation_status: int | None = None


def _money(value: float) -> str:
    return f"{value:.4f}"


#: Romania's SGR deposit (beverage packaging) per package, without VAT, and its VAT rate
# (docs/emag-protocol.md, "Orders").
SGR_UNIT = 0.50
SGR_VAT = 0.21
#: Products whose id is a multiple of this are sold with an SGR deposit.
SGR_PRODUCT_MODULUS = 7


def sgr_deposit(platform: str, product_id: int, quantity: int) -> list[Json]:
    """``recycle_warranties`` of an order line: one package per unit for products whose id is a
    multiple of :data:`SGR_PRODUCT_MODULUS`, on eMAG RO only (the scheme is Romanian)."""
    if platform != "ro" or product_id % SGR_PRODUCT_MODULUS:
        return []
    return [
        {
            "quantity": quantity,
            "sale_price": _money(SGR_UNIT),
            "vat_rate": f"{SGR_VAT:.2f}",
            "product_name": "Garantie SGR",
            "recycle_warranty_voucher_split": [],
        }
    ]


def enforced_couriers(idx: int, order_type: int) -> list[int] | None:
    """An order's ``enforced_vendor_courier_accounts`` (docs/emag-protocol.md, "Orders"): null
    (any courier) for most orders; for seller-shipped orders, one in 16 must use courier account 1
    (index 5 mod 16) and one in 16 cannot get an AWB through the marketplace at all (``[]``,
    index 13 mod 16)."""
    if order_type != 3:
        return None
    if idx % 16 == 5:
        return [data.COURIERS[0][0]]
    if idx % 16 == 13:
        return []
    return None


class AccountState:
    """One seller account's marketplace state."""

    def __init__(self, sim: SimState, k: int, acc: SimAccount) -> None:
        self.sim = sim
        self.k = k
        self.name = acc.name
        self.account_type = acc.account_type
        self.username = acc.username
        self.password = acc.password
        cfg = sim.config
        self.n_offers = acc.offers if acc.offers is not None else cfg.offers
        self.order_base = ORDER_ID_BASE + k * ACCOUNT_ID_STRIDE
        self.rma_base = RMA_ID_BASE + k * ACCOUNT_ID_STRIDE
        self.version = 0
        self._cache: dict[Any, Any] = {}
        self.offer_overlay: dict[int, Json] = {}
        self.extra_offer_ids: list[int] = []
        self.measurements: dict[int, Json] = {}
        self.order_overlay: dict[int, Json] = {}
        self.status_since: dict[int, float] = {}
        self.awbs: dict[int, Json] = {}
        # A return's request_status set since it was generated (``set_rma_status``), by index.
        self.rma_status: dict[int, int] = {}
        self.addresses: list[Json] = data.seller_addresses(k, sim.country)
        self.edited_after_read: set[int] = set()  # the ``edit_after_read`` fault's, once each
        self._gen_offer_arrays()
        self._gen_order_arrays(acc.orders if acc.orders is not None else cfg.orders)

    # --- generation ------------------------------------------------------------------------

    def _gen_offer_arrays(self) -> None:
        n = self.n_offers
        rng = random.Random(mix(self.sim.seed, self.k, 1))
        rnd = rng.random
        status = bytearray(n)
        stock = array("l", [0]) * n
        reserved = bytearray(n)
        vstatus = bytearray(n)
        ovs = bytearray(n)
        for i in range(n):
            r = rnd()
            v = 9 if r < 0.85 else 3 if r < 0.89 else 11 if r < 0.93 else 1 if r < 0.96 else 8
            if r >= 0.98:
                v = 6
            vstatus[i] = v
            r = rnd()
            status[i] = 0 if v == 6 or r < 0.08 else 2 if r < 0.10 else 1
            ovs[i] = 2 if rnd() < 0.03 else 1
            r = rnd()
            stock[i] = 0 if r < 0.15 else int(r * 1000) % 200 + 1
            reserved[i] = 0 if r > 0.07 or stock[i] == 0 else min(stock[i], 1 + int(r * 100) % 3)
        self.offer_status = status
        self.offer_stock = stock
        self.offer_reserved = reserved
        self.offer_vstatus = vstatus
        self.offer_ovs = ovs

    def _gen_order_arrays(self, n: int) -> None:
        sim = self.sim
        rng = random.Random(mix(sim.seed, self.k, 2))
        rnd = rng.random
        anchor = sim.anchor
        start = anchor - sim.config.history_days * DAY
        span = anchor - start
        fbe = self.account_type == "fbe"
        fbe_ratio = sim.config.fbe_seller_ratio
        # The type is per order: MAIN accounts hold some FBE orders too (docs/emag-protocol.md,
        # "Orders"), drawn from their own stream so the rest of the data keeps its seed.
        main_fbe = random.Random(mix(sim.seed, self.k, 4)).random
        main_ratio = sim.config.main_fbe_ratio
        n_cust = sim.n_customers
        created = array("q", [0]) * n
        modified = array("q", [0]) * n
        status = bytearray(n)
        otype = bytearray(n)
        pay = bytearray(n)
        cust = array("l", [0]) * n
        step = span / n if n else 0.0
        for i in range(n):
            c = int(start + (i + rnd() * 0.999) * step)
            age = anchor - c
            r = rnd()
            if age < 6 * HOUR:
                st, mod = (1, c) if r < 0.5 else (2, c + 300) if r < 0.8 else (3, c + 3600)
            elif age < 2 * DAY:
                if r < 0.1:
                    st, mod = 1, c
                elif r < 0.4:
                    st, mod = 2, c + 600
                elif r < 0.6:
                    st, mod = 3, c + 5 * HOUR
                elif r < 0.9:
                    st, mod = 4, c + 20 * HOUR
                else:
                    st, mod = 0, c + 2 * HOUR
            elif r < 0.86 or (r >= 0.96 and age < 12 * DAY):
                st, mod = 4, c + DAY + int(r * 3 * DAY)
            elif r < 0.96:
                st, mod = 0, c + int(r * DAY)
            else:
                st, mod = 5, c + 10 * DAY + int(r * 20 * DAY)
            created[i] = c
            modified[i] = min(mod, int(anchor))
            status[i] = st
            if fbe:
                otype[i] = 2 if rnd() >= fbe_ratio else 3
            else:
                otype[i] = 2 if main_fbe() < main_ratio else 3
            r = rnd()
            pay[i] = 1 if r < 0.6 else 3 if r < 0.9 else 2
            cust[i] = int(n_cust * rnd() ** 2)
        self.created = created
        self.modified = modified
        self.status = status
        self.otype = otype
        self.pay = pay
        self.cust = cust

    @property
    def n_orders(self) -> int:
        return len(self.created)

    def changed(self) -> None:
        self.version += 1
        self._cache.clear()

    def _remember(self, key: Any, value: Any) -> None:
        """Cache a filter result; the cache is small (every mutation clears it anyway)."""
        if len(self._cache) >= MAX_CACHED_QUERIES:
            self._cache.clear()
        self._cache[key] = value

    # --- offers ----------------------------------------------------------------------------

    def offer_exists(self, offer_id: int) -> bool:
        return 1 <= offer_id <= self.n_offers or offer_id in self.offer_overlay

    def _gen_offer(self, i: int) -> Json:
        sim = self.sim
        seed = sim.seed
        rng = random.Random(mix(seed, self.k, i, 11))
        scale = data.PRICE_SCALE[sim.market]
        sale = round(rng.uniform(5, 1500) * scale, 4)
        rec = round(sale * rng.uniform(1.05, 1.4), 4) if rng.random() < 0.4 else None
        lo = round(sale * 0.7, 4)
        hi = round(sale * 1.6, 4)
        stock = self.offer_stock[i]
        v = self.offer_vstatus[i]
        ovs = self.offer_ovs[i]
        category = data.product_category(i, sim.config.categories)
        # PHP quirk (docs/emag-protocol.md, "PHP serialization quirks"): some prices come as strings
        as_str = i % 3 == 0
        n_offers = 1 + int(rng.random() * 4)
        best = round(sale * rng.uniform(0.9, 1.0), 4) if n_offers > 1 else sale
        genius = rng.random() < 0.5
        name = data.product_name(seed, i)
        return {
            "id": i + 1,
            "part_number_key": data.product_pnk(seed, i),
            "category_id": category,
            "vendor_category_id": None,
            "brand": data.product_brand(i),
            "name": name,
            "part_number": data.product_part_number(seed, i),
            "description": f"<p>{name}. Produs testat, garantie inclusa.</p>",
            "url": f"https://magflow-sim.invalid/p/{i + 1}",
            "warranty": 24 if i % 4 else 12,
            "ean": [data.product_ean(seed, i)],
            "sale_price": _money(sale) if as_str else sale,
            "recommended_price": (_money(rec) if as_str else rec) if rec else None,
            "min_sale_price": _money(lo) if as_str else lo,
            "max_sale_price": _money(hi) if as_str else hi,
            "currency": sim.currency,
            "general_stock": stock,
            "estimated_stock": max(0, stock - self.offer_reserved[i]),
            # ``stock[]`` is a save-body field, not a documented read field (docs/emag-protocol.md,
            # "Offers"): a third of the offers (deterministic) come without it, as a real read
            # may; ``general_stock`` is always there.
            **({} if i % 3 == 1 else {"stock": [{"warehouse_id": 1, "value": stock}]}),
            "status": self.offer_status[i],
            "images": [
                {"url": f"https://magflow-sim.invalid/img/{i + 1}-1.jpg", "display_type": 1},
                {"url": f"https://magflow-sim.invalid/img/{i + 1}-2.jpg", "display_type": 2},
            ],
            "characteristics": [{"id": category * 10 + 1, "value": "Negru"}],
            "vat_id": 1,
            "family": None if i % 5 else {"id": 900 + i // 5, "name": f"Familia {i // 5}"},
            "handling_time": [{"warehouse_id": 1, "value": 1 + i % 3}],
            "supply_lead_time": 14,
            "number_of_offers": n_offers,
            "buy_button_rank": 1 + int(rng.random() * n_offers),
            "best_offer_sale_price": best,
            "best_offer_recommended_price": rec,
            "ownership": 1 if rng.random() < 0.8 else 2,
            "validation_status": [
                {"value": v, "description": data.VALIDATION_DESCRIPTIONS.get(v, ""), "errors": None}
            ],
            "translation_validation_status": [
                {"value": 17 if i % 7 == 0 else v, "description": "", "errors": None}
            ],
            "offer_validation_status": {
                "value": ovs,
                "description": data.OFFER_VALIDATION_DESCRIPTIONS[ovs],
            },
            "genius_eligibility": int(genius),
            "genius_eligibility_type": 1 + i % 3 if genius else None,
            "genius_computed": 1 + i % 3 if genius else 0,
            "emag_club": 1,
            "manufacturer": bool(i % 2),
            "eu_representative": bool(i % 3),
            "safety_information": None,
            "doc_errors": None,
            "auto_translated": 0,
            "start_date": None,
        }

    def get_offer(self, offer_id: int) -> Json | None:
        found = self.offer_overlay.get(offer_id)
        if found is not None:
            return found
        if 1 <= offer_id <= self.n_offers:
            return self._gen_offer(offer_id - 1)
        return None

    def materialize_offer(self, offer_id: int) -> Json:
        found = self.offer_overlay.get(offer_id)
        if found is None:
            generated = self.get_offer(offer_id)
            assert generated is not None
            found = self.offer_overlay[offer_id] = generated
        return found

    def put_offer(self, offer: Json) -> None:
        """Store a new or changed offer and refresh the filter arrays."""
        offer_id = int(offer["id"])
        is_new = not self.offer_exists(offer_id)
        self.offer_overlay[offer_id] = offer
        if is_new and offer_id > self.n_offers:
            self.extra_offer_ids.append(offer_id)
            self.extra_offer_ids.sort()
        if 1 <= offer_id <= self.n_offers:
            i = offer_id - 1
            self.offer_status[i] = int(offer["status"])
            self.offer_stock[i] = int(offer["general_stock"])
            self.offer_reserved[i] = max(
                0, int(offer["general_stock"]) - int(offer["estimated_stock"])
            )
            self.offer_vstatus[i] = int(_first_value(offer["validation_status"]))
            self.offer_ovs[i] = int(offer["offer_validation_status"]["value"])
        self.changed()

    def _offer_matches(self, offer_id: int, f: OfferFilter) -> bool:
        if 1 <= offer_id <= self.n_offers:
            i = offer_id - 1
            status, stock = self.offer_status[i], self.offer_stock[i]
            estimated = max(0, stock - self.offer_reserved[i])
            vstat, ovs = self.offer_vstatus[i], self.offer_ovs[i]
            translation = None
        else:
            offer = self.offer_overlay[offer_id]
            status, stock = int(offer["status"]), int(offer["general_stock"])
            estimated = int(offer["estimated_stock"])
            vstat = int(_first_value(offer["validation_status"]))
            ovs = int(offer["offer_validation_status"]["value"])
            translation = int(_first_value(offer["translation_validation_status"]))
        if f.status is not None and status != f.status:
            return False
        if f.general_stock is not None and not 0 <= stock <= f.general_stock:
            return False
        if f.estimated_stock is not None and not 0 <= estimated <= f.estimated_stock:
            return False
        if f.validation_status is not None and vstat != f.validation_status:
            return False
        if f.offer_validation_status is not None and ovs != f.offer_validation_status:
            return False
        if f.translation_validation_status is not None:
            if translation is None:
                full = self.get_offer(offer_id)
                assert full is not None
                translation = int(_first_value(full["translation_validation_status"]))
            if translation != f.translation_validation_status:
                return False
        return True

    def offer_ids(self, f: OfferFilter) -> Sequence[int]:
        key = ("offers", f)
        cached = self._cache.get(key)
        if cached is not None:
            result: Sequence[int] = cached
            return result
        seed = self.sim.seed
        candidates: Sequence[int]
        if f.id is not None:
            candidates = [f.id] if self.offer_exists(f.id) else []
        elif f.part_number is not None or f.part_number_key is not None:
            wanted_pn, wanted_pnk = f.part_number, f.part_number_key
            index = (
                data.part_number_index(seed, wanted_pn)
                if wanted_pn is not None
                else data.pnk_index(seed, str(wanted_pnk))
            )
            found = set()
            if index is not None and index < self.n_offers:
                found.add(index + 1)
            found.update(self.offer_overlay)
            candidates = []
            for offer_id in sorted(found):
                offer = self.get_offer(offer_id)
                if offer is None:
                    continue
                if wanted_pn is not None and offer.get("part_number") != wanted_pn:
                    continue
                if wanted_pnk is not None and offer.get("part_number_key") != wanted_pnk:
                    continue
                candidates.append(offer_id)
        elif self.extra_offer_ids:
            candidates = [*range(1, self.n_offers + 1), *self.extra_offer_ids]
        else:
            candidates = range(1, self.n_offers + 1)
        plain = OfferFilter(id=f.id, part_number=f.part_number, part_number_key=f.part_number_key)
        if f != plain:
            candidates = [c for c in candidates if self._offer_matches(c, f)]
        self._remember(key, candidates)
        return candidates

    # --- orders ----------------------------------------------------------------------------

    def order_index(self, order_id: int) -> int | None:
        idx = order_id - self.order_base
        return idx if 0 <= idx < self.n_orders else None

    def _gen_order(self, idx: int) -> Json:
        sim = self.sim
        seed = sim.seed
        rng = random.Random(mix(seed, self.k, idx, 3))
        rnd = rng.random
        order_id = self.order_base + idx
        status = self.status[idx]
        created_ts = self.created[idx]
        created = sim.fmt(created_ts)
        modified = sim.fmt(self.modified[idx])
        pay = self.pay[idx]
        vat_rate = data.VAT_RATES[sim.market][0][1]
        vat = f"{vat_rate:.4f}"
        scale = data.PRICE_SCALE[sim.market]
        n_catalog = self.n_offers or 1000
        r = rnd()
        n_lines = 1 if r < 0.65 else 2 if r < 0.9 else 3 if r < 0.97 else 4
        products = []
        total = 0.0
        deposit = 0.0
        for j in range(n_lines):
            p = int(rnd() * n_catalog)
            qty = 1 if rnd() < 0.8 else 2 + int(rnd() * 2)
            price = round(rnd() * 900 * scale + 5 * scale, 4)
            total += price * qty * (1 + vat_rate)
            pnk = data.product_pnk(seed, p)
            warranties = sgr_deposit(sim.market, p + 1, qty)
            deposit += sum(w["quantity"] * SGR_UNIT * (1 + SGR_VAT) for w in warranties)
            products.append(
                {
                    "id": order_id * 10 + j,
                    "product_id": p + 1,
                    "mkt_id": 70_000_000 + p,
                    "name": data.product_name(seed, p),
                    "status": 1,
                    "part_number": pnk,
                    "part_number_key": pnk,
                    "ext_part_number": data.product_part_number(seed, p),
                    "currency": sim.currency,
                    "quantity": qty if j % 2 == 0 else str(qty),
                    "initial_qty": qty,
                    "storno_qty": 0,
                    "sale_price": _money(price),
                    "original_price": _money(price),
                    "vat": vat,
                    "created": created,
                    "modified": modified,
                    "details": [],
                    "product_voucher_split": [],
                    "recycle_warranties": warranties,
                    "serial_numbers": None,
                    "attachments": [],
                    "retained_amount": 0,
                    "reversible_vat_charging": 0,
                }
            )
        locker = rnd() < 0.25
        shipping = 0.0 if total > 200 * scale or locker else round(19.99 * scale, 2)
        vouchers = []
        if rnd() < 0.1:
            value = round(total * 0.1 / (1 + vat_rate), 4)
            vouchers.append(
                {
                    "voucher_id": 4_000_000 + idx,
                    "modified": created,
                    "created": created,
                    "status": 1,
                    "sale_price": _money(-value),
                    "sale_price_vat": _money(-value * vat_rate),
                    "voucher_name": "Voucher eMAG",
                    "vat": f"{vat_rate:.2f}",
                    "issue_date": created[:10],
                }
            )
        attachments = []
        # Sellers attach the invoice when they finalize (docs/emag-protocol.md, "Attachments and
        # invoices"): almost every older order has one, a recent one often not yet.
        if status in (4, 5) and rnd() < (0.98 if sim.anchor - created_ts > 3 * DAY else 0.6):
            attachments.append(
                {
                    "name": f"Factura {order_id}",
                    "url": f"https://magflow-sim.invalid/invoices/{order_id}.pdf",
                    "type": 1,
                    "force_download": 0,
                    "visibility": 1,
                }
            )
        reason: Any = None
        if status == 0:
            code = (1, 2, 3, 15, 16, 17, 18)[idx % 7]
            # docs/emag-protocol.md, "Orders": [DOC] says an integer, [SF] parses {id, name}; both
            # shapes are served.
            reason = code if idx % 2 else {"id": code, "name": data.CANCELLATION_REASONS[code]}
        paid = pay == 3 or (status in (4, 5) and pay == 2) or (status in (4, 5) and rnd() < 0.9)
        # The deposit is charged to the buyer (collected on delivery) but is no sale: it does not
        # count towards free shipping or the voucher.
        total_all = total + deposit + shipping
        j_customer = self.cust[idx]
        deadlines = self._order_deadlines(idx, status, created_ts)
        return {
            "id": order_id,
            "vendor_name": "MagFlow Sim SRL",
            "type": self.otype[idx],
            "parent_id": None,
            "date": created,
            "created": created,
            "modified": modified,
            "status": status,
            "is_complete": 1,
            "payment_mode": data.PAYMENT_MODES[pay],
            "payment_mode_id": pay,
            "detailed_payment_method": "eCREDIT"
            if pay == 3 and idx % 9 == 0
            else data.PAYMENT_MODES[pay],
            "delivery_payment_mode": "Ramburs" if pay == 1 else "Achitat",
            "delivery_mode": "pickup" if locker else "courier",
            "observation": None,
            # docs/emag-protocol.md, "Orders", "PHP serialization quirks": PHP serialises the empty
            # details as [].
            "details": {
                "locker_id": f"LK{idx % 5000:05d}",
                "locker_name": f"easybox {idx % 5000}",
                "locker_delivery_eligible": 1,
                "courier_external_office_id": None,
            }
            if locker
            else [],
            "payment_status": int(paid),
            "cashed_co": _money(total_all) if pay == 3 else "0",
            "cashed_cod": _money(total_all) if pay == 1 and status in (4, 5) else "0",
            "shipping_tax": f"{shipping:.2f}",
            "shipping_tax_voucher_split": [],
            "customer": sim.customer(j_customer),
            "products": products,
            "attachments": attachments,
            "vouchers": vouchers,
            "is_storno": False,
            "reason_cancellation": reason,
            "cancellation_request": deadlines["cancellation_request"],
            "refunded_amount": "0",
            "refund_status": None,
            "maximum_date_for_shipment": deadlines["maximum_date_for_shipment"],
            "finalization_date": deadlines["finalization_date"],
            "late_shipment": deadlines["late_shipment"],
            "flags": [],
            "emag_club": int(idx % 4 == 0),
            "weekend_delivery": 0,
            "has_editable_products": int(status in (2, 3)),
            "proforms": [],
            "currency": sim.currency,
            "enforced_vendor_courier_accounts": enforced_couriers(idx, self.otype[idx]),
        }

    def _order_deadlines(self, idx: int, status: int, created_ts: int) -> Json:
        """Shipping deadline, finalization and lateness, and the customer's cancellation request
        (docs/emag-protocol.md, "Orders"), from an RNG of their own (the rest of the order keeps
        its values).

        ``maximum_date_for_shipment``: the order's date plus the handling time, 1 working day for
        a third of the orders, 2 for the others. ``finalization_date`` (status 4 and 5): within
        the deadline for about 95 % of the orders, up to a day after it otherwise, and never
        after ``modified``. ``late_shipment`` is 1 when the order was finalized after its
        deadline, or is not shipped yet (1-3) and the deadline had passed when the simulator
        started. ``cancellation_request`` is 1 on about 8 % of the orders not shipped yet and on
        half of those the customer cancelled (reason 2), ``None`` otherwise."""
        rng = random.Random(mix(self.sim.seed, self.k, idx, 6))
        deadline = created_ts + (DAY if rng.random() < 1 / 3 else 2 * DAY)
        finalized: float | None = None
        if status in (4, 5):
            handled = (
                deadline + rng.random() * DAY
                if rng.random() < 0.05
                else created_ts + 2 * HOUR + rng.random() * (deadline - created_ts - 2 * HOUR)
            )
            finalized = min(handled, float(self.modified[idx]))
        late = (finalized is not None and finalized > deadline) or (
            status in (1, 2, 3) and self.sim.anchor > deadline
        )
        r = rng.random()
        customer_cancelled = status == 0 and (1, 2, 3, 15, 16, 17, 18)[idx % 7] == 2
        requested = (status in (1, 2, 3) and r < 0.08) or (customer_cancelled and r < 0.5)
        return {
            "maximum_date_for_shipment": self.sim.fmt(deadline),
            "finalization_date": self.sim.fmt(finalized) if finalized is not None else None,
            "late_shipment": int(late),
            "cancellation_request": 1 if requested else None,
        }

    def get_order(self, idx: int) -> Json:
        found = self.order_overlay.get(idx)
        return found if found is not None else self._gen_order(idx)

    def get_order_by_id(self, order_id: int) -> Json | None:
        idx = self.order_index(order_id)
        return None if idx is None else self.get_order(idx)

    def materialize_order(self, idx: int) -> Json:
        found = self.order_overlay.get(idx)
        if found is None:
            found = self.order_overlay[idx] = self._gen_order(idx)
        return found

    def order_status_since(self, idx: int) -> float:
        return self.status_since.get(idx, float(self.modified[idx]))

    def set_order_status(self, idx: int, status: int, now: float) -> Json:
        """Apply a status (and touch ``modified``); keeps the filter arrays in step."""
        order = self.materialize_order(idx)
        before = order["status"]
        if before != status:
            self.status_since[idx] = now
            if status == 4:
                # eMAG records when the order was finalized and whether that was after its
                # shipping deadline (docs/emag-protocol.md, "Orders").
                order["finalization_date"] = self.sim.fmt(now)
                deadline = order.get("maximum_date_for_shipment")
                if deadline:
                    late = now > data.parse_local(deadline, self.sim.tz)
                    order["late_shipment"] = int(late or bool(order.get("late_shipment")))
        order["status"] = status
        self.status[idx] = status
        self.touch_order(idx, now)
        if before != status:
            self.sim.notify("status", self, {"id": order["id"], "from": before, "to": status})
        return order

    def edit_order(self, idx: int, changes: Json, now: float) -> Json:
        """An eMAG-side edit (the customer, eMAG or the seller in eMAG's UI), outside the API and
        its status matrix: ``status`` is set as given, ``customer`` keys are merged into the
        customer, other keys replace the order's; ``id``, ``type`` and ``products`` stay.
        ``modified`` becomes ``now``."""
        order = self.materialize_order(idx)
        for key, value in changes.items():
            if key in ("id", "type", "products", "status"):
                continue
            if key == "customer" and isinstance(value, dict):
                order["customer"] = {**(order.get("customer") or {}), **value}
            else:
                order[key] = value
        if "status" in changes:
            status = int(changes["status"])
            if status not in (0, 1, 2, 3, 4, 5):
                raise ValueError(f"status must be 0..5, not {status}")
            return self.set_order_status(idx, status, now)
        self.touch_order(idx, now)
        return order

    def touch_order(self, idx: int, now: float) -> None:
        order = self.materialize_order(idx)
        ts = max(int(now), self.modified[idx])
        self.modified[idx] = ts
        order["modified"] = self.sim.fmt(ts)
        order["has_editable_products"] = int(order["status"] in (2, 3))
        self.changed()

    def order_indices(self, f: OrderFilter) -> Sequence[int]:
        key = ("orders", f)
        cached = self._cache.get(key)
        if cached is not None:
            result: Sequence[int] = cached
            return result
        n = self.n_orders
        candidates: Sequence[int]
        if f.ids is not None:
            candidates = sorted(
                idx for idx in (self.order_index(i) for i in f.ids) if idx is not None
            )
        else:
            lo, hi = 0, n
            if f.created_after is not None:
                lo = bisect_left(self.created, int(-(-f.created_after // 1)))
            if f.created_before is not None:
                hi = bisect_right(self.created, int(f.created_before))
            candidates = range(lo, max(lo, hi))
        created, modified = self.created, self.modified
        status, otype, pay = self.status, self.otype, self.pay
        types = f.types
        statuses = f.statuses
        modes = f.payment_modes
        ma, mb = f.modified_after, f.modified_before
        ca, cb = f.created_after, f.created_before
        all_types = {2, 3} <= types
        if all_types and statuses is None and modes is None and ma is None and mb is None:
            if f.ids is not None and (ca is not None or cb is not None):
                candidates = [
                    i
                    for i in candidates
                    if (ca is None or created[i] >= ca) and (cb is None or created[i] <= cb)
                ]
        else:
            candidates = [
                i
                for i in candidates
                if otype[i] in types
                and (statuses is None or status[i] in statuses)
                and (modes is None or pay[i] in modes)
                and (ma is None or modified[i] >= ma)
                and (mb is None or modified[i] <= mb)
                and (ca is None or created[i] >= ca)
                and (cb is None or created[i] <= cb)
            ]
        if f.is_complete is not None:
            want = f.is_complete
            candidates = [
                i
                for i in candidates
                if int(self.order_overlay.get(i, {}).get("is_complete", 1)) == want
            ]
        self._remember(key, candidates)
        return candidates

    def add_orders(
        self, count: int, now: float, rng: random.Random, order_type: int | None = None
    ) -> list[int]:
        """New orders (status 1) created ``now``; created dates stay monotonic in the index.
        ``order_type`` 2 or 3 for all of them; None: an FBE account's mix, type 3 on MAIN."""
        ids = []
        last = self.created[-1] if self.n_orders else 0
        fbe = self.account_type == "fbe"
        for _ in range(count):
            idx = self.n_orders
            ts = max(int(now), last)
            last = ts
            self.created.append(ts)
            self.modified.append(ts)
            self.status.append(1)
            if order_type is None:
                fbe_order = fbe and rng.random() >= self.sim.config.fbe_seller_ratio
                self.otype.append(2 if fbe_order else 3)
            else:
                self.otype.append(order_type)
            r = rng.random()
            self.pay.append(1 if r < 0.6 else 3 if r < 0.9 else 2)
            self.cust.append(int(self.sim.n_customers * rng.random() ** 2))
            ids.append(self.order_base + idx)
        self.changed()
        for order_id, order_type in zip(ids, self.otype[-len(ids) :] if ids else [], strict=True):
            self.sim.notify("order_new", self, {"id": order_id, "type": order_type})
        return ids

    # --- RMA (docs/emag-protocol.md, "Returns") ---------------------------------------------------

    def rma_indices(self) -> list[int]:
        key = ("rma",)
        cached = self._cache.get(key)
        if cached is None:
            cached = [i for i, s in enumerate(self.status) if s == 5]
            self._remember(key, cached)
        result: list[int] = cached
        return result

    def approve_documentation(self, offer_id: int) -> Json:
        """eMAG approves an offer's documentation (validation status 9, "Approved"; the offer
        keeps its part number key) and fires the ``documentation`` callback
        (docs/emag-protocol.md, "Callbacks"). Only an offer awaiting a review can be approved."""
        if self.get_offer(offer_id) is None:
            raise LookupError("no such offer")
        offer = self.materialize_offer(offer_id)
        before = _first_value(offer["validation_status"])
        if before not in DOCUMENTATION_PENDING:
            raise ValueError(
                f"offer {offer_id} awaits no documentation review (validation status {before})"
            )
        offer["validation_status"] = [
            {"value": 9, "description": data.VALIDATION_DESCRIPTIONS[9], "errors": None}
        ]
        self.put_offer(offer)
        self.sim.notify("documentation", self, {"id": offer_id})
        return offer

    def set_rma_status(self, idx: int, status: int) -> Json:
        """Move a return to ``status`` as eMAG or the seller does in eMAG's UI, within eMAG's
        RMA status matrix (docs/emag-protocol.md, "Returns"); fires the ``return`` callback."""
        if idx not in self.rma_indices():
            raise LookupError("no such return")
        before = int(self.get_rma(idx)["request_status"])
        if status not in RMA_TRANSITIONS.get(before, ()):
            raise ValueError(f"a return cannot go from request_status {before} to {status}")
        self.rma_status[idx] = status
        self.changed()
        if status != before:
            info = {"id": self.order_base + idx, "rma_id": self.rma_base + idx, "to": status}
            self.sim.notify("rma_status", self, info)
        return self.get_rma(idx)

    def get_rma(self, idx: int) -> Json:
        sim = self.sim
        order = self.get_order(idx)
        rng = random.Random(mix(sim.seed, self.k, idx, 5))
        line = order["products"][0]
        age = sim.anchor - self.modified[idx]
        request_status = 7 if age > 5 * DAY else rng.choice([2, 3, 6])
        request_status = self.rma_status.get(idx, request_status)
        customer = order["customer"]
        return {
            "emag_id": self.rma_base + idx,
            "order_id": order["id"],
            "type": order["type"],
            "is_full_fbe": int(order["type"] == 2),
            "return_parent_id": None,
            "customer_name": customer["name"],
            "customer_company": customer["company"],
            "customer_phone": customer["phone_1"],
            "products": [
                {
                    "id": line["id"],
                    "product_emag_id": line["mkt_id"],
                    "product_id": line["product_id"],
                    "quantity": int(line["quantity"]),
                    "product_name": line["name"],
                    "return_reason": rng.choice([30, 31, 32, 36, 37, 39]),
                    "observations": None,
                    "diagnostic": None,
                    "reject_reason": None,
                    "refund_value": line["sale_price"],
                }
            ],
            "awbs": [{"reservation_id": 50_000_000 + idx}],
            "pickup_country": customer["shipping_country"],
            "pickup_suburb": customer["shipping_suburb"],
            "pickup_city": customer["shipping_city"],
            "pickup_address": customer["shipping_street"],
            "pickup_zipcode": customer["shipping_postal_code"],
            "pickup_locality_id": customer["shipping_locality_id"],
            "pickup_method": 1,
            "return_reason": None,
            "return_type": 3,
            "return_address_id": None,
            "observations": None,
            "date": order["modified"],
            "request_status": request_status,
            # Real answers carry extra_info with eMAG's deadline to finalize the return
            # (docs/emag-protocol.md, "Returns"): here ten days after the request.
            "extra_info": {
                "maximum_finalization_date": sim.fmt(self.modified[idx] + 10 * DAY),
                "first_pickup_date": None,
                "estimated_product_pickup": None,
                "estimated_product_reception": None,
            },
            "locker": [],
            "currency": sim.currency,
        }


#: Validation statuses of an offer waiting for eMAG's review of its documentation
#: (docs/emag-protocol.md, "Offers"): MKTP validation, brand, EAN, new documentation, an update.
DOCUMENTATION_PENDING = (1, 2, 3, 4, 11)

#: eMAG's RMA status matrix (docs/emag-protocol.md, "Returns"): the statuses each may go to.
RMA_TRANSITIONS = {
    2: (2, 3, 5),
    3: (3, 5, 6),
    4: (4,),
    5: (5,),
    6: (4, 6, 7),
    7: (7,),
}


def _first_value(statuses: Any) -> int:
    if isinstance(statuses, list) and statuses:
        return int(statuses[0].get("value", 0))
    if isinstance(statuses, dict):
        return int(statuses.get("value", 0))
    return 0


class SimState:
    """All accounts plus the shared reference data. Build it with :meth:`build`."""

    def __init__(self, config: SimConfig, now: float | None = None) -> None:
        self.config = config
        self.seed = config.seed
        self.platform: str = config.platform
        info = PLATFORMS[self.platform]
        # The eMAG platform whose reference data serves this one (FashionDays RO -> ro).
        self.market: str = info.get("market", self.platform)
        self.currency = info["currency"]
        self.country = info["country"]
        self.locale = info["locale"]
        self.tz = ZoneInfo(info["tz"])
        self.fmt = data.LocalTimeFormatter(self.tz)
        self.anchor = float(int(config.anchor_timestamp(time.time() if now is None else now)))
        accounts = config.effective_accounts()
        total_orders = sum(a.orders if a.orders is not None else config.orders for a in accounts)
        self.n_customers = config.customers or max(1, total_orders // 3)
        self._customers: dict[int, Json] = {}
        self.categories = data.categories(self.seed, config.categories)
        self._localities: dict[str, list[Json]] = {}
        self.awb_counter = 8_000_000
        self.reservation_counter = 40_000_000
        self.line_counter = 0
        self.accounts: dict[str, AccountState] = {}
        # Called on marketplace events (callbacks.CallbackDispatcher fires eMAG's callbacks).
        self.listener: Callable[[str, AccountState, Json], None] | None = None
        for k, acc in enumerate(accounts):
            self.accounts[acc.username] = AccountState(self, k, acc)

    def notify(self, event: str, acc: AccountState, info: Json) -> None:
        if self.listener is not None:
            self.listener(event, acc, info)

    def account(self, key: str) -> AccountState | None:
        """An account by username or by name."""
        found = self.accounts.get(key)
        if found is not None:
            return found
        for acc in self.accounts.values():
            if acc.name == key:
                return acc
        return None

    def customer(self, j: int) -> Json:
        found = self._customers.get(j)
        if found is None:
            if len(self._customers) >= MAX_CACHED_CUSTOMERS:
                self._customers.clear()
            found = self._customers[j] = data.customer(
                self.seed, self.market, j, self.fmt, self.anchor
            )
        return dict(found)

    def localities(self, country: str) -> list[Json]:
        found = self._localities.get(country)
        if found is None:
            found = self._localities[country] = data.localities(self.seed, country)
        return found
