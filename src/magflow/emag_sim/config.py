"""Configuration of the eMAG marketplace simulator: accounts, sizes, faults.

Everything the simulator generates is a pure function of :class:`SimConfig` (the seed, the sizes,
the platform and the ``anchor`` time), so two simulators built from equal configs serve equal data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

AccountType = Literal["main", "fbe"]
Platform = Literal["ro", "bg", "hu", "fd_ro", "fd_bg"]

PLATFORMS: dict[str, dict[str, str]] = {
    # docs/emag-protocol.md, "Hosts and platforms": platform → currency, locale, country; dates are
    # platform-local wall time (docs/emag-protocol.md, "Dates and time zones").
    "ro": {"currency": "RON", "locale": "ro_RO", "country": "RO", "tz": "Europe/Bucharest"},
    # Bulgaria adopted the euro on 1 January 2026: eMAG BG sends EUR.
    "bg": {"currency": "EUR", "locale": "bg_BG", "country": "BG", "tz": "Europe/Sofia"},
    "hu": {"currency": "HUF", "locale": "hu_HU", "country": "HU", "tz": "Europe/Budapest"},
    # FashionDays RO and BG: eMAG's API on their own hosts, with the country's currency, locale
    # and time; ``market`` names the eMAG platform whose reference data (VAT rates, prices,
    # names, cities) the simulator reuses.
    "fd_ro": {
        "currency": "RON",
        "locale": "ro_RO",
        "country": "RO",
        "tz": "Europe/Bucharest",
        "market": "ro",
    },
    "fd_bg": {
        "currency": "EUR",
        "locale": "bg_BG",
        "country": "BG",
        "tz": "Europe/Sofia",
        "market": "bg",
    },
}

# Names accepted for each fault kind, in the settings string, the CLI and the control API.
FAULT_ALIASES: dict[str, str] = {
    "429": "rate_429",
    "rate_429": "rate_429",
    "500": "error_500",
    "error_500": "error_500",
    "502": "error_502",
    "error_502": "error_502",
    "504": "error_504",
    "error_504": "error_504",
    "slow": "slow",
    "timeout": "timeout",
    "malformed": "malformed",
    "is_error": "is_error",
    "vendor_ip_refused": "vendor_ip_refused",
    "iserror": "is_error",
    "error": "is_error",
    "count_zero": "count_zero",
    "count_unparseable": "count_unparseable",
    "count_missing": "count_missing",
    "edit": "edit_after_read",
    "edit_after_read": "edit_after_read",
    "slow_seconds": "slow_seconds",
    "timeout_seconds": "timeout_seconds",
    "seed": "seed",
}


#: ``SimConfig.awb_answer`` values.
AWB_ANSWERS = ("alternate", "reservation", "full")


@dataclass
class FaultConfig:
    """Probabilities (0..1) of each fault per eMAG API request, drawn from ``random.Random(seed)``.

    - ``rate_429``: a Kong 429 ``{"message":"API rate limit exceeded"}`` although under the limit.
    - ``error_500`` / ``error_502`` / ``error_504``: transient server/gateway errors
      (docs/emag-protocol.md, "Answers and errors").
    - ``slow``: the answer is delayed by ``slow_seconds`` and then served normally.
    - ``timeout``: the server sleeps ``timeout_seconds`` (longer than a client timeout), then 504.
    - ``malformed``: HTTP 200 with a truncated JSON body.
    - ``is_error``: HTTP 200 ``{"isError": true, "messages": [...]}``.
    - ``count_zero`` / ``count_unparseable`` / ``count_missing``: a ``{resource}/count`` answers
      HTTP 200, ``isError: false``, with a count of ``"0"``, with numbers that are not numbers
      (``"N/A"``), or with no count at all (``results: []``), while reads still return every row
      (docs/emag-protocol.md, "Paging, counts and filters": a count is not to be trusted). Drawn
      only for routes ending in ``/count``; other routes never get them.
    - ``edit_after_read`` (alias ``edit``): not a failure but eMAG's life going on: after an
      ``order/read`` answer is sent, each seller-fulfilled order in it that was never edited so
      is edited eMAG-side with this probability (the customer changes the shipping street and
      leaves an observation; ``modified`` moves), as if it happened between that read and the
      client's next save. At most once per order, drawn separately from the other faults.

    The fault is decided *before* the request is processed: a faulted request (every kind but
    ``slow``) is never applied, so faults cannot alter state. ``slow`` answers are processed
    normally after the delay. ``routes``: when not empty, only routes starting with one of these
    prefixes (e.g. ``"order/"``) are faulted. ``seed``: None derives it from ``SimConfig.seed``.

    ``vendor_ip_refused`` is not drawn: it lists the usernames (``"*"``: every account) whose
    calls eMAG refuses because the caller's IP is not whitelisted, answered on every route as eMAG
    does (:func:`magflow.emag_sim.faults.vendor_ip_refusal`), until the list is changed.
    """

    rate_429: float = 0.0
    error_500: float = 0.0
    error_502: float = 0.0
    error_504: float = 0.0
    slow: float = 0.0
    timeout: float = 0.0
    malformed: float = 0.0
    is_error: float = 0.0
    count_zero: float = 0.0
    count_unparseable: float = 0.0
    count_missing: float = 0.0
    edit_after_read: float = 0.0
    slow_seconds: float = 1.0
    timeout_seconds: float = 30.0
    seed: int | None = None
    routes: list[str] = field(default_factory=list)
    vendor_ip_refused: list[str] = field(default_factory=list)

    KINDS = (
        "rate_429",
        "error_500",
        "error_502",
        "error_504",
        "timeout",
        "malformed",
        "is_error",
        "count_zero",
        "count_unparseable",
        "count_missing",
    )

    def validate(self) -> None:
        total = 0.0
        for name in (*self.KINDS, "slow"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault probability {name}={value} is not within 0..1")
            total += value
        if total > 1.0:
            raise ValueError(f"fault probabilities add up to {total:.3f} > 1")
        if not 0.0 <= float(self.edit_after_read) <= 1.0:
            raise ValueError(f"edit_after_read={self.edit_after_read} is not within 0..1")
        if self.slow_seconds < 0 or self.timeout_seconds < 0:
            raise ValueError("fault delays must not be negative")

    def updated(self, changes: dict[str, Any]) -> FaultConfig:
        """A copy with ``changes`` applied; keys may be aliases (``"429"``, ``"500"``...)."""
        data = asdict(self)
        known = {f.name for f in fields(self)}
        for key, value in changes.items():
            name = FAULT_ALIASES.get(str(key).lower(), str(key))
            if name not in known:
                raise ValueError(f"unknown fault setting {key!r}")
            if name in ("routes", "vendor_ip_refused"):
                if isinstance(value, str):  # from a --faults spec: names separated by "|"
                    value = [v for v in value.split("|") if v]
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{name} must be a list of strings")
                data[name] = list(value)
            elif name == "seed":
                data[name] = None if value is None else int(value)
            else:
                data[name] = float(value)
        result = FaultConfig(**data)
        result.validate()
        return result

    @classmethod
    def parse(cls, spec: str) -> FaultConfig:
        """Parse ``"429=0.1,500=0.05,timeout=0.02,malformed=0.01,timeout_seconds=5"``."""
        changes: dict[str, Any] = {}
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault {part!r} is not NAME=VALUE")
            key = key.strip().lower()
            if key not in FAULT_ALIASES:
                raise ValueError(
                    f"unknown fault {key!r}; known: {', '.join(sorted(set(FAULT_ALIASES)))}"
                )
            try:
                name = FAULT_ALIASES[key]
                if name == "vendor_ip_refused":
                    changes[key] = value.strip()
                    continue
                changes[key] = float(value) if name != "seed" else int(value)
            except ValueError as exc:
                raise ValueError(f"fault {key!r} needs a number, not {value!r}") from exc
        return cls().updated(changes)


@dataclass
class SimAccount:
    """One seller account. The type is per order, and every account holds both
    (docs/emag-protocol.md, "Orders"): MAIN accounts mostly seller-fulfilled orders (type 3) and
    ``SimConfig.main_fbe_ratio`` of eMAG-fulfilled ones (type 2); FBE accounts mostly type 2 and
    ``SimConfig.fbe_seller_ratio`` of type 3.
    ``offers``/``orders`` override the simulator-wide sizes for this account."""

    name: str
    account_type: AccountType = "main"
    username: str = ""
    password: str = ""
    offers: int | None = None
    orders: int | None = None
    # eMAG's callback URLs configured for this account, by kind (callbacks.KINDS), as the seller
    # sets them in eMAG's UI; also settable through the control API.
    callbacks: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.account_type not in ("main", "fbe"):
            raise ValueError(f"account_type must be 'main' or 'fbe', not {self.account_type!r}")
        if not self.name:
            raise ValueError("an account needs a name")


def _generated_secret(seed: int, label: str) -> str:
    return hashlib.sha256(f"magflow-sim:{seed}:{label}".encode()).hexdigest()[:16]


@dataclass
class SimConfig:
    """The whole simulator.

    ``offers`` and ``orders`` are per account. Orders are spread over the last ``history_days``
    days before ``anchor`` (default: the time the state is built); ``customers`` is the size of
    the customer pool shared by all accounts (default: a third of all orders, so customers repeat
    and one customer can buy on MAIN and FBE, the "mixed channel"). ``rate_limit`` enables eMAG's
    per-account limits (docs/emag-protocol.md, "Rate and size limits"). When ``accounts`` is empty
    one MAIN and one FBE account are created (``main``/``fbe``) with credentials derived from the
    seed; accounts given without a username or password get generated ones (see
    :meth:`effective_accounts`). ``fbe_seller_ratio`` and ``main_fbe_ratio``: the share of the
    other order type on FBE and MAIN accounts (see :class:`SimAccount`).
    """

    seed: int = 1
    offers: int = 1000
    orders: int = 2000
    platform: Platform = "ro"
    accounts: list[SimAccount] = field(default_factory=list)
    faults: FaultConfig = field(default_factory=FaultConfig)
    rate_limit: bool = True
    history_days: int = 120
    customers: int | None = None
    categories: int = 60
    fbe_seller_ratio: float = 0.15
    main_fbe_ratio: float = 0.05
    anchor: datetime | None = None
    # What ``awb/save`` answers (docs/emag-protocol.md, "AWBs and couriers": the shape is
    # uncertain and eMAG may answer ``reservation_id`` alone): "alternate" (default: every other
    # AWB, starting with the first, is answered with ``reservation_id`` only, so a client must
    # read the number back with ``awb/read``), "reservation" (always only), "full" (never).
    awb_answer: str = "alternate"
    # Seconds between two calls of the new-order callback of an order not yet acknowledged.
    # eMAG's interval is not documented (docs/emag-protocol.md, "Uncertainties").
    callback_repeat_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {', '.join(PLATFORMS)}")
        if self.offers < 0 or self.orders < 0:
            raise ValueError("sizes must not be negative")
        if self.history_days < 1:
            raise ValueError("history_days must be at least 1")
        if not (0.0 <= self.fbe_seller_ratio <= 1.0 and 0.0 <= self.main_fbe_ratio <= 1.0):
            raise ValueError("fbe_seller_ratio and main_fbe_ratio must be within 0..1")
        self.faults.validate()
        if self.awb_answer not in AWB_ANSWERS:
            raise ValueError(f"awb_answer must be one of {', '.join(AWB_ANSWERS)}")
        self.accounts = self.effective_accounts()
        names = [a.name for a in self.accounts]
        users = [a.username for a in self.accounts]
        if len(set(names)) != len(names) or len(set(users)) != len(users):
            raise ValueError("account names and usernames must be unique")

    def effective_accounts(self) -> list[SimAccount]:
        """The configured accounts, or a generated MAIN + FBE pair."""
        if self.accounts:
            out = []
            for acc in self.accounts:
                if not acc.username or not acc.password:
                    acc = SimAccount(
                        name=acc.name,
                        account_type=acc.account_type,
                        username=acc.username or f"sim-{acc.name}",
                        password=acc.password or _generated_secret(self.seed, acc.name),
                        offers=acc.offers,
                        orders=acc.orders,
                        callbacks=acc.callbacks,
                    )
                out.append(acc)
            return out
        return [
            SimAccount(
                name="main",
                account_type="main",
                username=f"sim-main-{self.seed}",
                password=_generated_secret(self.seed, "main"),
            ),
            SimAccount(
                name="fbe",
                account_type="fbe",
                username=f"sim-fbe-{self.seed}",
                password=_generated_secret(self.seed, "fbe"),
            ),
        ]

    def to_json(self) -> str:
        """Serialise (for the subprocess mode)."""
        data = asdict(self)
        data["anchor"] = self.anchor.isoformat() if self.anchor else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> SimConfig:
        data = json.loads(text)
        data["accounts"] = [SimAccount(**a) for a in data.get("accounts", [])]
        data["faults"] = FaultConfig(**data.get("faults", {}))
        anchor = data.get("anchor")
        data["anchor"] = datetime.fromisoformat(anchor) if anchor else None
        return cls(**data)

    def anchor_timestamp(self, now: float) -> float:
        if self.anchor is None:
            return now
        anchor = self.anchor if self.anchor.tzinfo else self.anchor.replace(tzinfo=UTC)
        return anchor.timestamp()
