"""Reference data and deterministic generators (pure functions of the seed and an index).

Product identity (name, brand, part number, PNK, EAN, category) is plain arithmetic on
``(seed, product index)``, shared by every account of a simulator, so the same product can be
offered on MAIN and FBE and be looked up by PNK or EAN without an index. Customers come from a
pool shared by all accounts (``customer(seed, j)``), hence repeat and mixed-channel customers.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# --- time ------------------------------------------------------------------------------------

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def fmt_ts(ts: float, tz: ZoneInfo) -> str:
    """Epoch seconds → ``YYYY-mm-dd HH:ii:ss`` in platform-local time
    (docs/emag-protocol.md, "Dates and time zones")."""
    return datetime.fromtimestamp(int(ts), tz).strftime(DATE_FORMAT)


_EPOCH = datetime(1970, 1, 1)


class LocalTimeFormatter:
    """A fast :func:`fmt_ts`: the UTC offset is cached per UTC hour (EU DST switches on the
    hour) and the date part per local day."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._offsets: dict[int, int] = {}
        self._days: dict[int, str] = {}

    def __call__(self, ts: float) -> str:
        ts = int(ts)
        hour = ts // 3600
        offset = self._offsets.get(hour)
        if offset is None:
            delta = datetime.fromtimestamp(hour * 3600, self.tz).utcoffset()
            offset = self._offsets[hour] = int(delta.total_seconds()) if delta else 0
        day, secs = divmod(ts + offset, 86400)
        date = self._days.get(day)
        if date is None:
            date = self._days[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        h, rem = divmod(secs, 3600)
        m, s = divmod(rem, 60)
        return f"{date} {h:02d}:{m:02d}:{s:02d}"


def parse_local(value: Any, tz: ZoneInfo) -> float:
    """A filter date (``YYYY-mm-dd HH:ii:ss``, or ``YYYY-mm-dd``) in platform-local time → epoch.

    uncertain ("no timezone is given", docs/emag-protocol.md, "Dates and time zones"): we read it as
    platform-local wall time, as [SIG] does for BG. ISO strings with an explicit offset are
    honoured. Raises ValueError.
    """
    text = str(value).strip()
    if not text:
        raise ValueError("empty date")
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def mix(*parts: int) -> int:
    """A stable seed for ``random.Random`` from integers (no ``hash()``, which is salted)."""
    value = 0x345678
    for part in parts:
        value = (value * 1_000_003 ^ (part & 0xFFFFFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    return value


# --- platform reference data ------------------------------------------------------------------

VAT_RATES: dict[str, list[tuple[int, float, int]]] = {
    # (vat_id, vat_rate fraction, is_default), docs/emag-protocol.md, "Offers": vat_rate is a
    # fraction.
    "ro": [(1, 0.21, 1), (2, 0.11, 0), (3, 0.0, 0)],
    "bg": [(1, 0.20, 1), (2, 0.09, 0), (3, 0.0, 0)],
    "hu": [(1, 0.27, 1), (2, 0.18, 0), (3, 0.05, 0), (4, 0.0, 0)],
}

# Prices per platform against RON; BG is in EUR since 1 January 2026 (about 1 EUR = 5 RON).
PRICE_SCALE = {"ro": 1.0, "bg": 0.2, "hu": 80.0}

HANDLING_TIMES = [0, 1, 2, 3, 4, 5, 6, 7, 10, 14, 20, 30]

FIRST_NAMES = {
    "ro": ["Andrei", "Maria", "Ioana", "Mihai", "Elena", "Alexandru", "Ana", "Cristian", "Diana",
           "Gabriel", "Raluca", "Stefan", "Irina", "Vlad", "Oana", "Bogdan"],
    "bg": ["Georgi", "Maria", "Ivan", "Elena", "Dimitar", "Petya", "Nikolay", "Desislava",
           "Stoyan", "Yana", "Hristo", "Vesela"],
    "hu": ["Bence", "Anna", "Levente", "Eszter", "Mate", "Zsofia", "Dominik", "Reka", "Adam",
           "Katalin", "Balazs", "Nora"],
}  # fmt: skip
LAST_NAMES = {
    "ro": ["Popescu", "Ionescu", "Popa", "Radu", "Dumitru", "Stan", "Stoica", "Gheorghe",
           "Matei", "Ciobanu", "Rusu", "Munteanu", "Marin", "Tudor"],
    "bg": ["Ivanov", "Georgiev", "Dimitrov", "Petrov", "Nikolov", "Hristov", "Stoyanov",
           "Todorov", "Iliev", "Angelov"],
    "hu": ["Nagy", "Kovacs", "Toth", "Szabo", "Horvath", "Varga", "Kiss", "Molnar", "Nemeth",
           "Farkas"],
}  # fmt: skip
CITIES = {
    "ro": [("Bucuresti", "Bucuresti"), ("Cluj-Napoca", "Cluj"), ("Timisoara", "Timis"),
           ("Iasi", "Iasi"), ("Constanta", "Constanta"), ("Craiova", "Dolj"),
           ("Brasov", "Brasov"), ("Galati", "Galati"), ("Ploiesti", "Prahova"),
           ("Oradea", "Bihor"), ("Braila", "Braila"), ("Arad", "Arad"), ("Pitesti", "Arges"),
           ("Sibiu", "Sibiu"), ("Bacau", "Bacau"), ("Suceava", "Suceava")],
    "bg": [("Sofia", "Sofia-grad"), ("Plovdiv", "Plovdiv"), ("Varna", "Varna"),
           ("Burgas", "Burgas"), ("Ruse", "Ruse"), ("Stara Zagora", "Stara Zagora"),
           ("Pleven", "Pleven"), ("Sliven", "Sliven")],
    "hu": [("Budapest", "Budapest"), ("Debrecen", "Hajdu-Bihar"), ("Szeged", "Csongrad"),
           ("Miskolc", "Borsod"), ("Pecs", "Baranya"), ("Gyor", "Gyor-Moson-Sopron"),
           ("Nyiregyhaza", "Szabolcs"), ("Kecskemet", "Bacs-Kiskun")],
}  # fmt: skip
STREETS = ["Str. Mihai Eminescu", "Bd. Unirii", "Str. Libertatii", "Calea Victoriei",
           "Str. Florilor", "Str. Zorilor", "Bd. Independentei", "Str. Garii"]  # fmt: skip

BRANDS = ["Arduino", "Raspberry", "Velleman", "Elegoo", "Seeed", "Keyestone", "Adafruit",
          "Sparkfun", "DFRobot", "Waveshare", "Generic", "OEM"]  # fmt: skip
NOUNS = ["Modul senzor", "Placa dezvoltare", "Cablu USB", "Sursa alimentare", "Display LCD",
         "Motor pas cu pas", "Releu", "Kit robot", "Breadboard", "Senzor temperatura",
         "Amplificator audio", "Modul Bluetooth", "Convertor DC-DC", "Baterie Li-Ion"]  # fmt: skip
CATEGORY_WORDS = ["Componente electronice", "Kituri educationale", "Cabluri", "Surse",
                  "Afisaje", "Motoare", "Senzori", "Robotica", "Audio", "Wireless",
                  "Alimentare", "Unelte", "Accesorii", "Iluminat", "Retelistica"]  # fmt: skip

VALIDATION_DESCRIPTIONS = {
    0: "Draft", 1: "In MKTP validation", 2: "Awaiting brand validation",
    3: "Waiting for EAN approval", 4: "New documentation validation pending",
    5: "Rejected brand", 6: "EAN rejected", 8: "Documentation rejected", 9: "Approved",
    10: "Blocked", 11: "Update awaiting approval", 12: "Update rejected",
    13: "Waiting for saleable offer", 14: "Unsuccessful translation",
    15: "Translation in progress", 16: "Translation pending", 17: "Partial translation",
}  # fmt: skip
OFFER_VALIDATION_DESCRIPTIONS = {1: "Valid", 2: "Invalid price"}

CANCELLATION_REASONS = {
    1: "Lipsa stoc", 2: "Anulata de client", 3: "Clientul nu poate fi contactat",
    15: "Termen livrare curier prea mare", 16: "Taxa transport prea mare",
    17: "Termen livrare prea mare", 18: "Oferta mai buna in alt magazin",
}  # fmt: skip

PAYMENT_MODES = {1: "Ramburs", 2: "Transfer bancar", 3: "Card online"}

COURIERS = [
    (1, "Sameday Comenzi", "SAMEDAY", 3, [0, 2]),
    (2, "FAN Courier", "FANCOURIER", 2, [0]),
    (3, "Cargus retururi", "CARGUS", 1, [0, 6]),
]


def seller_addresses(k: int, country: str) -> list[dict[str, object]]:
    """``addresses/read`` of account number ``k`` (docs/emag-protocol.md, "AWBs and couriers"): a
    default pickup address (type 2) and a return address (type 1); ``address_id`` is a string."""
    base = 1000 * (k + 1)
    common = {"country_id": 1, "country_code": country, "suburb": "Ilfov", "quarter": None}
    return [
        {
            **common,
            "address_id": str(base + 1),
            "address_type_id": 2,
            "locality_id": 8801,
            "city": "Chiajna",
            "address": "Strada Depozitului 1",
            "zipcode": "077040",
            "floor": None,
            "is_default": True,
        },
        {
            **common,
            "address_id": str(base + 2),
            "address_type_id": 1,
            "locality_id": 8802,
            "city": "Voluntari",
            "address": "Bulevardul Pipera 2",
            "zipcode": "077190",
            "floor": "1",
            "is_default": False,
        },
    ]


# --- products (shared by accounts) --------------------------------------------------------------

_PNK_MOD = 36**8
_PNK_MUL = 2654435761
_PNK_INV = pow(_PNK_MUL, -1, _PNK_MOD)
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


_B36_PAIRS = [a + b for a in _B36 for b in _B36]


def _base36(value: int, width: int) -> str:
    """``value`` in base 36 on ``width`` (even) digits, two digits per step."""
    out = []
    for _ in range(width // 2):
        value, r = divmod(value, 1296)
        out.append(_B36_PAIRS[r])
    return "".join(reversed(out))


def product_pnk(seed: int, p: int) -> str:
    """A unique, invertible part_number_key for product ``p``."""
    return "D" + _base36((p * _PNK_MUL + seed * 97) % _PNK_MOD, 8)


def pnk_index(seed: int, pnk: str) -> int | None:
    if len(pnk) != 9 or pnk[0] != "D":
        return None
    try:
        h = int(pnk[1:], 36)
    except ValueError:
        return None
    return ((h - seed * 97) * _PNK_INV) % _PNK_MOD


def product_part_number(seed: int, p: int) -> str:
    return f"MF{seed % 1000:03d}-{p:07d}"


def part_number_index(seed: int, part_number: str) -> int | None:
    prefix = f"MF{seed % 1000:03d}-"
    if not part_number.startswith(prefix) or len(part_number) != len(prefix) + 7:
        return None
    tail = part_number[len(prefix) :]
    return int(tail) if tail.isdigit() else None


def _ean_check(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return str((10 - total % 10) % 10)


def product_ean(seed: int, p: int) -> str:
    """EAN-13 ``594`` (GS1 Romania) + 2 seed digits + 7 index digits + check digit."""
    body = f"594{seed % 100:02d}{p:07d}"
    return body + _ean_check(body)


def ean_index(seed: int, ean: str) -> int | None:
    if len(ean) != 13 or not ean.isdigit() or not ean.startswith(f"594{seed % 100:02d}"):
        return None
    if _ean_check(ean[:12]) != ean[12]:
        return None
    return int(ean[5:12])


def product_brand(p: int) -> str:
    return BRANDS[(p * 7 + 3) % len(BRANDS)]


def product_name(seed: int, p: int) -> str:
    noun = NOUNS[(p * 13 + seed) % len(NOUNS)]
    return f"{noun} {product_brand(p)} {(p * 7919 + seed) % 9000 + 1000}"


def product_category(p: int, n_categories: int) -> int:
    return 100 + (p * 31) % max(1, n_categories)


# --- categories, localities ------------------------------------------------------------------


def categories(seed: int, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in range(n):
        word = CATEGORY_WORDS[c % len(CATEGORY_WORDS)]
        parent = None if c < len(CATEGORY_WORDS) else 100 + c % len(CATEGORY_WORDS)
        out.append(
            {
                "id": 100 + c,
                "name": word if parent is None else f"{word} {c // len(CATEGORY_WORDS)}",
                "is_allowed": 1 if c % 11 else 0,
                "parent_id": parent,
                "is_ean_mandatory": int(c % 3 == 0),
                "is_warranty_mandatory": int(c % 4 == 0),
            }
        )
    return out


def category_details(seed: int, category_id: int) -> dict[str, Any]:
    """``characteristics`` and ``family_types`` of one category
    (docs/emag-protocol.md, "Offers")."""
    base = category_id * 10
    characteristics = [
        {
            "id": base + 1,
            "name": "Culoare",
            "type_id": 11,
            "display_order": 1,
            "is_mandatory": 1,
            "is_filter": 1,
            "allow_new_value": 0,
            "values": ["Negru", "Alb", "Rosu", "Albastru"],
            "tags": [],
        },
        {
            "id": base + 2,
            "name": "Greutate",
            "type_id": 2,
            "display_order": 2,
            "is_mandatory": 0,
            "is_filter": 0,
            "allow_new_value": 1,
            "values": [],
            "tags": ["original", "converted"],
        },
    ]
    family_types = [
        {
            "id": base + 5,
            "name": "Culoare",
            "characteristics": [
                {
                    "characteristic_id": base + 1,
                    "characteristic_family_type_id": 1,
                    "is_foldable": 0,
                    "display_order": 1,
                }
            ],
        }
    ]
    return {"characteristics": characteristics, "family_types": family_types}


def localities(seed: int, country: str, n: int = 250) -> list[dict[str, Any]]:
    """Localities of one country (docs/emag-protocol.md, "AWBs and couriers"); emag_id is stable per
    (country, index)."""
    platform = {"RO": "ro", "BG": "bg", "HU": "hu"}.get(country, "ro")
    cities = CITIES[platform]
    offset = {"RO": 1, "BG": 200_001, "HU": 400_001}.get(country, 600_001)
    out = []
    for i in range(n):
        city, county = cities[i % len(cities)]
        name = city if i < len(cities) else f"{city} Sat {i // len(cities)}"
        out.append(
            {
                "emag_id": offset + i,
                "name": name,
                "name_latin": name,
                "region1": county,
                "region2": county,
                "region3": None,
                "region4": None,
                "region1_latin": county,
                "region2_latin": county,
                "region3_latin": None,
                "region4_latin": None,
                "geoid": 1000 + i,
                "modified": "2024-01-15 10:00:00",
                "zipcode": f"{(100000 + i * 37) % 900000 + 100000}",
                "country_code": country,
                "iso2": country,
            }
        )
    return out


# --- customers (shared by accounts) ----------------------------------------------------------

CUSTOMER_BASE = 5_000_000


def _cui(body: int) -> str:
    """A Romanian CUI with a correct check digit (key 753217532, docs/invoicing-providers.md,
    "CUI check digit"): real buyers' codes are valid, so the simulator's are too."""
    digits = str(body).rjust(9, "0")
    rest = sum(int(d) * int(k) for d, k in zip(digits, "753217532", strict=True)) * 10 % 11
    return f"{body}{0 if rest == 10 else rest}"


def customer(
    seed: int, platform: str, j: int, fmt: Callable[[float], str], anchor: float
) -> dict[str, Any]:
    """Customer ``j`` of the shared pool (customer fields: docs/emag-protocol.md, "Orders";
    ``email`` is a hash, docs/emag-protocol.md, "Orders")."""
    rng = random.Random(mix(seed, 77, j))
    bits = rng.getrandbits(128)  # the e-mail hash
    r = rng.getrandbits(64)  # every other choice is carved out of these bits
    firsts, lasts, cities = FIRST_NAMES[platform], LAST_NAMES[platform], CITIES[platform]
    first = firsts[r % len(firsts)]
    r //= len(firsts)
    last = lasts[r % len(lasts)]
    r //= len(lasts)
    city_index = r % len(cities)
    city, county = cities[city_index]
    r //= len(cities)
    company = r % 100 < 12
    r //= 100
    name = f"{first} {last}"
    street = f"{STREETS[r % len(STREETS)]} nr. {1 + (r >> 3) % 120}"
    r >>= 10
    phone = f"07{10_000_000 + r % 90_000_000}"
    r //= 90_000_000
    country = {"ro": "RO", "bg": "BG", "hu": "HU"}[platform]
    created = fmt(anchor - 86400 * (130 + r % 900) - (bits % 86400))
    locality_id = 1 + city_index + {"ro": 0, "bg": 200_000, "hu": 400_000}[platform]
    company_name = f"SC {last} Impex SRL" if company else name
    email_hash = bits
    postal = f"{100000 + (bits >> 40) % 900000}"
    return {
        "id": CUSTOMER_BASE + j,
        "mkt_id": CUSTOMER_BASE + j,
        "name": name,
        "email": f"{email_hash:032x}@emag-marketplace.invalid",
        "company": company_name,
        "gender": "MF"[bits >> 127],
        "code": f"RO{_cui(100_000 + bits % 4_899_999)}" if company else None,
        "registration_number": f"J40/{100 + bits % 9900}/2015" if company else None,
        "bank": "Banca Transilvania" if company else None,
        "iban": f"RO{10 + bits % 90}BTRL{10**15 + bits % (9 * 10**15)}" if company else None,
        "fax": None,
        "legal_entity": 1 if company else 0,
        "is_vat_payer": 1 if company else 0,
        "phone_1": phone,
        "phone_2": None,
        "phone_3": None,
        "liable_person": name if company else "",
        "billing_name": company_name,
        "billing_phone": phone,
        "billing_country": country,
        "billing_suburb": county,
        "billing_city": city,
        "billing_locality_id": str(locality_id),
        "billing_street": street,
        "billing_postal_code": postal,
        "shipping_country": country,
        "shipping_suburb": county,
        "shipping_city": city,
        "shipping_locality_id": locality_id,
        "shipping_street": street,
        "shipping_postal_code": postal,
        "shipping_contact": name,
        "shipping_phone": phone,
        "created": created,
        "modified": created,
    }
