"""Pricing services: offer history, unit costs (API and CSV/XLSX import), commissions, fixed
costs, profit per offer and the profit report. They take a session and never commit.

**Cost import** (:func:`import_costs`), from JSON or a CSV/XLSX file read by
:mod:`magflow.bulk.parsing` (columns ``offer_id`` and ``unit_cost``, optionally ``currency``):
every row is checked first (the offer exists for that account and is on eMAG; the cost is a
number >= 0 with at most 4 decimals; a currency, when given, is the offer's own, since amounts
are never converted). Each row gets its result; **one bad row refuses the whole import** and
nothing is written (:class:`CostImportError`, a 422 carrying every row's result), so a file is
never half applied. A successful import re-builds the account's profit lines (the report values
lines at the cost known when they are built, :mod:`.profit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.accounts.service import credentials
from magflow.bulk.validation import blank
from magflow.catalog import repository as catalog_repository
from magflow.common.errors import InvalidInputError, NotFoundError
from magflow.context import AppContext
from magflow.pricing import commission, profit, repository
from magflow.pricing.formulas import margin, unit_profit
from magflow.pricing.models import OfferHistory, PricingSettings

MAX_COST_ROWS = 100_000
COST_COLUMNS = frozenset({"offer_id", "unit_cost", "currency"})
FBE = "fbe"


class OfferNotFoundError(NotFoundError):
    pass


class CostImportError(ValueError):
    """At least one row is bad: nothing was written; ``results`` has every row's verdict."""

    def __init__(self, results: list[dict[str, Any]]) -> None:
        bad = sum(1 for r in results if r["status"] == "invalid")
        super().__init__(f"{bad} of {len(results)} rows are invalid; nothing was imported")
        self.results = results


class PricingInputError(InvalidInputError):
    """Bad pricing input (a 422 with the message, ``common.errors``)."""


def _money(value: Any, name: str, errors: list[str]) -> Decimal | None:
    try:
        number = Decimal(str(value).strip().replace(",", ".")) if not blank(value) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        errors.append(f"{name} must be a number")
        return None
    if number < 0:
        errors.append(f"{name} must be 0 or more")
        return None
    if -number.as_tuple().exponent > 4:  # type: ignore[operator]
        errors.append(f"{name} has more than 4 decimals")
        return None
    if number >= Decimal("1e12"):
        errors.append(f"{name} is too large")
        return None
    return number


def rate_value(value: Any, name: str) -> Decimal:
    """A rate given as a fraction in [0, 1) (0.15 is 15 %)."""
    errors: list[str] = []
    number = _money(value, name, errors)
    if number is None:
        raise PricingInputError(errors[0])
    if number >= 1:
        raise PricingInputError(f"{name} is a fraction: 0.15 for 15 %")
    return number


async def offer_ref(session: AsyncSession, offer_id: int) -> tuple[EmagAccount, int]:
    """(account, eMAG id) of the offer whose MagFlow id is ``offer_id``."""
    offer = await catalog_repository.get_offer(session, offer_id)
    if offer is None:
        raise OfferNotFoundError(f"no offer {offer_id}")
    return await accounts_service.get_account(session, offer.account_id), offer.emag_id


# -- history -----------------------------------------------------------------------------------


def history_view(row: OfferHistory) -> dict[str, Any]:
    return {
        "id": row.id,
        "account_id": row.account_id,
        "emag_id": row.emag_id,
        "recorded_at": row.recorded_at,
        "sale_price": row.sale_price,
        "stock": row.stock_total,
        "buy_button_rank": row.buy_button_rank,
        "best_offer_sale_price": row.best_offer_sale_price,
        "number_of_offers": row.number_of_offers,
        "offer_validation_status": row.offer_validation_status,
        "validation_status": row.validation_status,
    }


async def offer_history(
    session: AsyncSession, account: EmagAccount, emag_id: int, since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    rows = await repository.offer_history(session, account.id, emag_id, since, limit)
    return [history_view(r) for r in rows]


async def buy_buttons(
    session: AsyncSession, account_ids: Sequence[int] | None, hours: int = 24
) -> dict[str, Any]:
    since = datetime.now(UTC) - timedelta(hours=hours)
    moves = await repository.buy_button_moves(session, account_ids, since)
    return {"since": since, "hours": hours, **moves}


# -- costs, commissions, settings --------------------------------------------------------------


async def import_costs(
    session: AsyncSession, account: EmagAccount, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Validate every row, then write them all or none (see the module)."""
    if not rows:
        raise PricingInputError("no rows")
    if len(rows) > MAX_COST_ROWS:
        raise PricingInputError(f"at most {MAX_COST_ROWS} rows")
    wanted = []
    for row in rows:
        try:
            wanted.append(int(str(row.get("offer_id")).strip()))
        except ValueError:
            continue
    offers = await catalog_repository.offers_by_emag_id(session, account.id, wanted)
    results: list[dict[str, Any]] = []
    good: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    now = datetime.now(UTC)
    for position, row in enumerate(rows, start=1):
        errors: list[str] = []
        raw_id = row.get("offer_id")
        emag_id = None
        try:
            emag_id = int(str(raw_id).strip())
        except ValueError:
            errors.append(f"offer_id {raw_id!r} is not a whole number")
        offer = offers.get(emag_id) if emag_id is not None else None
        if emag_id is not None and offer is None:
            errors.append(f"offer {emag_id} does not exist for account {account.name}")
        elif offer is not None and offer.missing_since is not None:
            errors.append(f"offer {emag_id} is no longer on eMAG")
        if emag_id is not None and emag_id in seen:
            errors.append(f"offer {emag_id} is already in row {seen[emag_id]}")
        elif emag_id is not None:
            seen[emag_id] = position
        cost = _money(row.get("unit_cost"), "unit_cost", errors)
        currency = None if blank(row.get("currency")) else str(row["currency"]).strip().upper()
        if offer is not None and currency is not None and currency != offer.currency:
            errors.append(
                f"the cost is in {currency} but the offer sells in {offer.currency}: "
                "give the cost in the offer's currency"
            )
        results.append(
            {
                "row": position,
                "offer_id": emag_id,
                "status": "invalid" if errors else "ok",
                "errors": errors,
            }
        )
        if not errors and offer is not None:
            good.append(
                {
                    "account_id": account.id,
                    "emag_id": emag_id,
                    "unit_cost": cost,
                    "currency": offer.currency,
                    "updated_at": now,
                }
            )
    if any(r["status"] == "invalid" for r in results):
        raise CostImportError(results)
    await repository.upsert_costs(session, good)
    await repository.reset_watermark(session, account.id)
    return results


async def set_category_commissions(
    session: AsyncSession, account: EmagAccount, items: list[dict[str, Any]]
) -> int:
    now = datetime.now(UTC)
    rows = []
    for item in items:
        rows.append(
            {
                "account_id": account.id,
                "category_id": int(item["category_id"]),
                "rate": rate_value(item.get("rate"), f"rate of category {item['category_id']}"),
                "updated_at": now,
            }
        )
    await repository.upsert_category_commissions(session, rows)
    await repository.reset_watermark(session, account.id)
    return len(rows)


async def category_commissions(session: AsyncSession, account: EmagAccount) -> dict[int, Decimal]:
    return await repository.category_commissions(session, account.id)


def settings_view(account: EmagAccount, s: PricingSettings | None) -> dict[str, Any]:
    zero = Decimal(0)
    return {
        "account": account.name,
        "shipping_per_order": s.shipping_per_order if s else zero,
        "packaging_per_order": s.packaging_per_order if s else zero,
        "fbe_fee_per_order": s.fbe_fee_per_order if s else zero,
        "default_commission_rate": s.default_commission_rate if s else None,
    }


async def get_settings(session: AsyncSession, account: EmagAccount) -> dict[str, Any]:
    return settings_view(account, await repository.get_settings(session, account.id))


async def put_settings(
    session: AsyncSession, account: EmagAccount, values: dict[str, Any]
) -> dict[str, Any]:
    found = await repository.get_settings(session, account.id)
    if found is None:
        found = PricingSettings(account_id=account.id)
        repository.add(session, found)
    for name in ("shipping_per_order", "packaging_per_order", "fbe_fee_per_order"):
        if values.get(name) is not None:
            errors: list[str] = []
            value = _money(values[name], name, errors)
            if value is None:
                raise PricingInputError(errors[0])
            setattr(found, name, value)
    if "default_commission_rate" in values:
        raw = values["default_commission_rate"]
        found.default_commission_rate = (
            None if raw is None else rate_value(raw, "default_commission_rate")
        )
    for name in ("shipping_per_order", "packaging_per_order", "fbe_fee_per_order"):
        if getattr(found, name) is None:
            setattr(found, name, Decimal(0))
    await session.flush()
    await repository.reset_watermark(session, account.id)
    return settings_view(account, found)


async def fetch_emag_commissions(
    ctx: AppContext, session: AsyncSession, account: EmagAccount, emag_ids: list[int]
) -> dict[int, Decimal | None]:
    """Ask eMAG's commission estimate for these offers and keep what it answers."""
    found = await commission.estimates(ctx, credentials(ctx.cipher, account), emag_ids)
    now = datetime.now(UTC)
    for emag_id, rate in found.items():
        if rate is not None:
            await repository.set_emag_commission(session, account.id, emag_id, rate, now)
    return found


# -- profit ------------------------------------------------------------------------------------


async def offer_profit(
    session: AsyncSession, account: EmagAccount, emag_id: int, prices: list[Decimal]
) -> dict[str, Any]:
    """The offer's unit profit and margin at its current price and at each candidate price."""
    offer = await repository.offer_by_emag_id(session, account.id, emag_id)
    if offer is None:
        raise OfferNotFoundError(f"no offer {emag_id} for account {account.name}")
    costs = await profit.load_costs(session, account.id)
    basis = costs.basis(emag_id, offer.category_id, offer.vat_rate, account.account_type == FBE)
    candidates = ([offer.sale_price] if offer.sale_price is not None else []) + prices

    def at(price: Decimal) -> dict[str, Any]:
        return {
            "price": price,
            "profit": unit_profit(price, basis) if basis else None,
            "margin": margin(price, basis) if basis else None,
        }

    return {
        "emag_id": emag_id,
        "currency": offer.currency,
        "sale_price": offer.sale_price,
        "unit_cost": basis.unit_cost if basis else costs.unit_cost(emag_id),
        "commission_rate": basis.commission_rate
        if basis
        else costs.commission_rate(emag_id, offer.category_id),
        "vat_rate": offer.vat_rate,
        "fixed_per_order": costs.fixed_per_order(account.account_type == FBE),
        "known": basis is not None,
        "at": [at(p) for p in candidates],
    }


async def profit_report(
    session: AsyncSession,
    accounts: Sequence[EmagAccount],
    group: str,
    date_from: date,
    date_to: date,
    limit: int,
) -> list[dict[str, Any]]:
    """The report (per day, offer or category, and per currency) from the order lines as last
    rebuilt (:func:`refresh_lines`): a read never writes."""
    if group not in repository.REPORT_GROUPS:
        raise PricingInputError("group is day, offer or category")
    if date_to < date_from:
        raise PricingInputError("date_to is before date_from")
    rows = await repository.profit_report(
        session, [a.id for a in accounts], group, date_from, date_to, limit
    )
    return profit.report_rows(rows, group)


async def refresh_lines(session: AsyncSession, account: EmagAccount) -> int:
    """Rebuild the account's order lines of the orders changed since the last rebuild (after an
    orders sync, or on demand); returns the orders re-read."""
    return await profit.refresh_lines(session, account)
