"""Creating, changing and reading repricing rules, runs and decisions. Never commits.

A rule is refused (422, with why) when it cannot work as written: an unknown scope or strategy,
a step <= 0, a minimum margin outside [0, 0.9), a "margin" rule without a target margin at
least the minimum, a list naming offers the account does not have, or (for a list of offers)
**a floor above an offer's max_sale_price**: eMAG would refuse every price the rule may set
(docs/emag-protocol.md, "Offers"). A group rule is checked per offer when it runs
(``floor_above_max`` decisions), since its members change with every sync.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.catalog import repository as catalog_repository
from magflow.common.errors import NotFoundError
from magflow.pricing import profit, repository
from magflow.pricing.formulas import floor_price
from magflow.pricing.models import PricingDecision, PricingRule, PricingRun, Scope, Strategy
from magflow.pricing.repricer import reconcile, reconcile_account
from magflow.pricing.service import PricingInputError, rate_value

MAX_LIST = 10_000


class RuleNotFoundError(NotFoundError):
    pass


class RunNotFoundError(NotFoundError):
    pass


def rule_view(rule: PricingRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "account_id": rule.account_id,
        "name": rule.name,
        "scope": rule.scope,
        "category_id": rule.category_id,
        "brand": rule.brand,
        "offer_ids": rule.offer_ids,
        "strategy": rule.strategy,
        "step": rule.step,
        "min_margin": rule.min_margin,
        "target_margin": rule.target_margin,
        "cooldown_minutes": rule.cooldown_minutes,
        "max_changes_per_day": rule.max_changes_per_day,
        "stop_after_steps": rule.stop_after_steps,
        "enabled": rule.enabled,
        "created_at": rule.created_at,
    }


async def _check(session: AsyncSession, account: EmagAccount, rule: PricingRule) -> None:
    if rule.scope not in Scope.__members__:
        raise PricingInputError(f"scope is one of {', '.join(Scope.__members__)}")
    if rule.strategy not in Strategy.__members__:
        raise PricingInputError(f"strategy is one of {', '.join(Strategy.__members__)}")
    if rule.step is None or rule.step <= 0:
        raise PricingInputError("step must be > 0")
    if rule.min_margin >= Decimal("0.9"):
        raise PricingInputError("min_margin must be below 0.9")
    if rule.strategy == Strategy.margin.value and (
        rule.target_margin is None or rule.target_margin < rule.min_margin
    ):
        raise PricingInputError("a margin rule needs target_margin >= min_margin")
    if rule.scope == Scope.category.value and rule.category_id is None:
        raise PricingInputError("a category rule needs category_id")
    if rule.scope == Scope.brand.value and not rule.brand:
        raise PricingInputError("a brand rule needs brand")
    if rule.scope != Scope.offers.value:
        return
    ids = list(rule.offer_ids or [])
    if not ids or len(ids) > MAX_LIST:
        raise PricingInputError(f"an offers rule needs 1 to {MAX_LIST} offer_ids")
    offers = await catalog_repository.offers_by_emag_id(session, account.id, ids)
    missing = sorted(set(ids) - set(offers))
    if missing:
        raise PricingInputError(f"no offers {missing[:10]} for account {account.name}")
    costs = await profit.load_costs(session, account.id)
    for emag_id in ids:
        offer = offers[emag_id]
        basis = costs.basis(
            emag_id, offer.category_id, offer.vat_rate, account.account_type == "fbe"
        )
        if basis is None or offer.max_sale_price is None:
            continue  # no floor yet: the rule will not run for it (a "no_floor" decision)
        floor = floor_price(basis, rule.min_margin)
        if floor is not None and floor > offer.max_sale_price:
            raise PricingInputError(
                f"offer {emag_id}: the floor {floor} {offer.currency} (unit cost "
                f"{basis.unit_cost}, commission {basis.commission_rate}, fixed costs "
                f"{basis.fixed_per_order}, minimum margin {rule.min_margin}) is above its "
                f"max_sale_price {offer.max_sale_price}: eMAG would refuse every price"
            )


def _apply(rule: PricingRule, values: dict[str, Any]) -> None:
    for name in ("name", "scope", "category_id", "brand", "strategy", "enabled"):
        if name in values and values[name] is not None:
            setattr(rule, name, values[name])
    if values.get("offer_ids") is not None:
        rule.offer_ids = sorted({int(i) for i in values["offer_ids"]})
    if values.get("step") is not None:
        rule.step = Decimal(str(values["step"]))
    for name in ("min_margin", "target_margin"):
        if values.get(name) is not None:
            setattr(rule, name, rate_value(values[name], name))
    for name in ("cooldown_minutes", "max_changes_per_day", "stop_after_steps"):
        if values.get(name) is not None:
            setattr(rule, name, int(values[name]))


async def create_rule(
    session: AsyncSession, account: EmagAccount, values: dict[str, Any]
) -> dict[str, Any]:
    rule = PricingRule(
        account_id=account.id,
        step=Decimal("0.01"),
        cooldown_minutes=60,
        max_changes_per_day=10,
        stop_after_steps=5,
        enabled=True,
    )
    if values.get("min_margin") is None:
        raise PricingInputError("min_margin is required: a rule without a floor does not run")
    _apply(rule, values)
    await _check(session, account, rule)
    repository.add(session, rule)
    await session.flush()
    return rule_view(rule)


async def update_rule(
    session: AsyncSession, account: EmagAccount, rule_id: int, values: dict[str, Any]
) -> dict[str, Any]:
    rule = await _rule(session, account, rule_id)
    _apply(rule, values)
    await _check(session, account, rule)
    await session.flush()
    return rule_view(rule)


async def _rule(session: AsyncSession, account: EmagAccount, rule_id: int) -> PricingRule:
    rule = await repository.get_rule(session, rule_id)
    if rule is None or rule.account_id != account.id:
        raise RuleNotFoundError(f"no rule {rule_id} for account {account.name}")
    return rule


async def account_of_rule(session: AsyncSession, rule_id: int) -> EmagAccount:
    rule = await repository.get_rule(session, rule_id)
    if rule is None:
        raise RuleNotFoundError(f"no pricing rule {rule_id}")
    return await accounts_service.get_account(session, rule.account_id)


async def account_of_run(session: AsyncSession, run_id: int) -> EmagAccount:
    found = await repository.get_run(session, run_id)
    if found is None:
        raise RunNotFoundError(f"no pricing run {run_id}")
    return await accounts_service.get_account(session, found.account_id)


async def delete_rule(session: AsyncSession, account: EmagAccount, rule_id: int) -> None:
    await repository.delete_rule(session, await _rule(session, account, rule_id))


async def list_rules(session: AsyncSession, account: EmagAccount) -> list[dict[str, Any]]:
    return [rule_view(r) for r in await repository.rules(session, account.id)]


def decision_view(d: PricingDecision) -> dict[str, Any]:
    return {
        "id": d.id,
        "run_id": d.run_id,
        "emag_id": d.emag_id,
        "rule_id": d.rule_id,
        "decided_at": d.decided_at,
        "action": d.action,
        "reason": d.reason,
        "detail": d.detail,
        "currency": d.currency,
        "price_before": d.price_before,
        "price_after": d.price_after,
        "buy_button_rank": d.buy_button_rank,
        "best_offer_sale_price": d.best_offer_sale_price,
        "floor": d.floor,
        "profit_after": d.profit_after,
        "dry_run": d.dry_run,
        "outcome": d.outcome,
        "messages": d.messages,
    }


def run_view(r: PricingRun) -> dict[str, Any]:
    return {
        "id": r.id,
        "account_id": r.account_id,
        "trigger": r.trigger,
        "dry_run": r.dry_run,
        "status": r.status,
        "evaluated": r.evaluated,
        "changes": r.changes,
        "refused": r.refused,
        "bulk_operation_id": r.bulk_operation_id,
        "error": r.error,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
    }


async def get_run(session: AsyncSession, account: EmagAccount, run_id: int) -> dict[str, Any]:
    found = await repository.get_run(session, run_id)
    if found is None or found.account_id != account.id:
        raise RunNotFoundError(f"no pricing run {run_id} for account {account.name}")
    await reconcile(session, found)
    decisions = await repository.decisions_of_run(session, run_id)
    return {**run_view(found), "decisions": [decision_view(d) for d in decisions]}


async def list_runs(
    session: AsyncSession, account: EmagAccount, limit: int
) -> list[dict[str, Any]]:
    await reconcile_account(session, account.id)
    return [run_view(r) for r in await repository.runs(session, account.id, limit)]


async def offer_decisions(
    session: AsyncSession, account: EmagAccount, emag_id: int, limit: int
) -> dict[str, Any]:
    await reconcile_account(session, account.id)
    state = await repository.state_of(session, account.id, emag_id)
    decisions = await repository.decisions_of_offer(session, account.id, emag_id, limit)
    return {
        "emag_id": emag_id,
        "paused_reason": state.paused_reason if state else None,
        "paused_at": state.paused_at if state else None,
        "changes_today": state.changes_today if state else 0,
        "last_change_at": state.last_change_at if state else None,
        "steps_without_win": state.steps_without_win if state else 0,
        "decisions": [decision_view(d) for d in decisions],
    }


async def resume_offer(session: AsyncSession, account: EmagAccount, emag_id: int) -> None:
    """Lift an offer's pause (after the seller dealt with eMAG's refusal)."""
    state = await repository.state_of(session, account.id, emag_id)
    if state is not None:
        state.paused_at = None
        state.paused_reason = None
        state.steps_without_win = 0
        state.last_reason = None
