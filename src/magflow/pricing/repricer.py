"""Running the repricing rules of an account (:mod:`.rules` decides; this module loads, records
and sends).

A **run** (``pricing_runs``) evaluates every offer of the account still on eMAG against the
enabled rules, in one pass over rows read in one query each (offers with their costs,
commissions, states).

- **Decisions recorded**: every change, and any other decision whose action and reason differ
  from the last ones recorded for the offer (so a holding offer writes one "winning" row, not one
  per run; the per-offer state keeps them). Each carries the price before and after, the rank
  and the best offer price seen, the floor, the rule, the profit at the new price and the reason.
- **Dry run**: the decisions only (what would change, at what profit); no state moves, nothing
  is sent.
- **Live run**: the changes go to eMAG as one bulk operation of the light offer API
  (:mod:`magflow.bulk`: batches of 50, the account's rate budget, every request in the audit
  log, resumable), queued on the job system; at most :data:`MAX_CHANGES` per run (the rest wait
  for the next run). The offer's state moves at once: changes today, last change time (the
  cool-down counts from the attempt), steps without winning.
- **eMAG's answers** (:func:`reconcile`): once the bulk operation has finished, each change gets
  its outcome: ``sent``, or ``refused`` with eMAG's own messages, and a refused offer is
  **paused** (its rules skip it until ``POST .../offers/{id}/resume``) with eMAG's message as the
  reason; an offer deleted on eMAG meanwhile is refused ("does not exist") the same way. A run
  whose operation failed as a whole (eMAG refused the account's requests: authentication, a
  whole-chunk refusal) is ``stopped``. Reconciling happens before the account's next run and
  whenever a run or an offer's decisions are read, so it works whichever process sent the
  changes.

Triggers: after each completed offers sync (:func:`after_offer_sync`, called by the job runner)
and on demand (``POST /api/v1/pricing/runs``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from magflow.accounts import service as accounts_service
from magflow.accounts.models import EmagAccount
from magflow.audit.service import Actor
from magflow.bulk import repository as bulk_repository
from magflow.bulk import service as bulk_service
from magflow.bulk.models import ItemStatus, OperationStatus
from magflow.context import AppContext
from magflow.pricing import profit, repository
from magflow.pricing.formulas import CostBasis
from magflow.pricing.models import PricingRun, RunStatus
from magflow.pricing.rules import Decision, OfferView, StateView, as_rule, decide, pick_rule

log = logging.getLogger("magflow.pricing")

MAX_CHANGES = bulk_service.MAX_ITEMS
DONE = {
    OperationStatus.completed.value,
    OperationStatus.completed_with_errors.value,
    OperationStatus.failed.value,
}


async def evaluate(
    session: AsyncSession, account: EmagAccount, now: datetime
) -> tuple[list[tuple[Decision, OfferView]], dict[int, dict[str, Any]]]:
    """Every decision of the account's enabled rules now, with the offers' states (plain dicts
    by eMAG id, see :data:`.repository.STATE_COLUMNS`)."""
    rules = [as_rule(r) for r in await repository.rules(session, account.id) if r.enabled]
    states = await repository.states(session, account.id)
    if not rules:
        return [], states
    costs = await profit.load_costs(session, account.id, offers=False)
    # Per run, not per offer: the fixed costs per order (three settings read from an ORM row).
    fixed = costs.fixed_per_order(account.account_type == "fbe")
    out: list[tuple[Decision, OfferView]] = []
    fresh = StateView()
    for row in await repository.offers_for_pricing(session, account.id):
        view = OfferView(
            emag_id=row.emag_id,
            category_id=row.category_id,
            brand=row.brand,
            currency=row.currency,
            sale_price=row.sale_price,
            min_sale_price=row.min_sale_price,
            max_sale_price=row.max_sale_price,
            buy_button_rank=row.buy_button_rank,
            best_offer_sale_price=row.best_offer_sale_price,
            number_of_offers=row.number_of_offers,
            recommended_price=row.recommended_price,
        )
        rule = pick_rule(rules, view)
        if rule is None:
            continue
        # As Costs.basis, from the cost columns read with the offer (no basis without a VAT rate).
        rate = costs.rate_of(row.category_id, row.emag_commission_rate)
        basis = (
            CostBasis(row.unit_cost, rate, row.vat_rate, fixed)
            if row.unit_cost is not None and rate is not None and row.vat_rate is not None
            else None
        )
        state = states.get(row.emag_id)
        state_view = (
            StateView(
                day=state["day"],
                changes_today=state["changes_today"],
                last_change_at=state["last_change_at"],
                steps_without_win=state["steps_without_win"],
                paused_reason=state["paused_reason"],
            )
            if state is not None
            else fresh
        )
        out.append((decide(rule, view, basis, state_view, now), view))
    return out, states


def _move_state(
    state: dict[str, Any], decision: Decision, view: OfferView, strategy: str, now: datetime
) -> None:
    """A live decision's effect on the offer's state."""
    state["last_reason"] = f"{decision.action}:{decision.reason}"
    if view.buy_button_rank == 1:
        state["steps_without_win"] = 0
    if decision.action == "change":
        today = now.date()
        if state["day"] != today:
            state["day"], state["changes_today"] = today, 0
        state["changes_today"] += 1
        state["last_change_at"] = now
        if strategy == "win" and view.buy_button_rank not in (None, 1):
            state["steps_without_win"] += 1
    if decision.pause:
        state["paused_at"], state["paused_reason"] = now, decision.pause


async def run(
    ctx: AppContext,
    account: EmagAccount,
    *,
    trigger: str,
    dry_run: bool,
    actor: Actor,
) -> int:
    """Evaluate, record and (live) queue the changes; returns the run's id. Commits."""
    now = datetime.now(UTC)
    op_id = None
    async with ctx.db.session() as session:
        await reconcile_account(session, account.id)
        pricing_run = PricingRun(
            account_id=account.id,
            trigger=trigger,
            dry_run=dry_run,
            status=RunStatus.running.value,
            started_at=now,
        )
        repository.add(session, pricing_run)
        await session.flush()
        decided, states = await evaluate(session, account, now)
        rules = {r.id: r for r in await repository.rules(session, account.id)}
        records: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        dirty: list[dict[str, Any]] = []
        for decision, view in decided:
            if decision.action == "change" and len(items) >= MAX_CHANGES:
                continue
            state = states.get(decision.emag_id)
            key = f"{decision.action}:{decision.reason}"
            last = state["last_reason"] if state is not None else None
            if decision.action != "change" and last == key and not decision.pause:
                continue  # the same as last time: nothing to record, nothing moves
            records.append(_record(pricing_run.id, account.id, decision, view, dry_run, now))
            if decision.action == "change":
                items.append(
                    {"offer_id": decision.emag_id, "sale_price": str(decision.price_after)}
                )
            if dry_run:
                continue
            if state is None:
                state = states[decision.emag_id] = {
                    "day": None,
                    "changes_today": 0,
                    "last_change_at": None,
                    "steps_without_win": 0,
                    "paused_at": None,
                    "paused_reason": None,
                    "last_reason": None,
                }
            _move_state(state, decision, view, rules[decision.rule_id].strategy, now)
            dirty.append({"account_id": account.id, "emag_id": decision.emag_id, **state})
        await repository.insert_decisions(session, records)
        await repository.save_states(session, dirty)
        pricing_run.evaluated = len(decided)
        pricing_run.changes = len(items)
        if items and not dry_run:
            op, _created = await bulk_service.create_operation(
                session, items, actor=actor, default_account=str(account.id), source="pricing"
            )
            pricing_run.bulk_operation_id = op_id = op.id
        else:
            pricing_run.status = RunStatus.completed.value
            pricing_run.finished_at = datetime.now(UTC)
        await session.commit()
        run_id = pricing_run.id
    if op_id is not None:
        if ctx.runner is not None:
            await ctx.jobs.enqueue_bulk(op_id)
        else:  # a ``magflow worker`` (after a sync run) has no runner: send now, in this job
            from magflow.bulk.events import bus_publisher
            from magflow.bulk.runner import BulkRunner

            await BulkRunner(ctx, bus_publisher(ctx)).execute(op_id)
    return run_id


def _record(
    run_id: int,
    account_id: int,
    decision: Decision,
    view: OfferView,
    dry_run: bool,
    now: datetime,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "account_id": account_id,
        "emag_id": decision.emag_id,
        "rule_id": decision.rule_id,
        "decided_at": now,
        "action": decision.action,
        "reason": decision.reason,
        "detail": decision.detail,
        "currency": view.currency,
        "price_before": decision.price_before,
        "price_after": decision.price_after,
        "buy_button_rank": view.buy_button_rank,
        "best_offer_sale_price": view.best_offer_sale_price,
        "floor": decision.floor,
        "profit_after": decision.profit_after,
        "dry_run": dry_run,
        "outcome": None if dry_run or decision.action != "change" else "pending",
        "messages": None,
    }


async def reconcile(session: AsyncSession, pricing_run: PricingRun) -> None:
    """Give a live run's changes eMAG's answers once its bulk operation finished (see the
    module). Idempotent; never commits."""
    if pricing_run.status != RunStatus.running.value or pricing_run.bulk_operation_id is None:
        return
    op = await bulk_repository.get_operation(session, pricing_run.bulk_operation_id)
    if op is None or op.status not in DONE:
        return
    items = await bulk_repository.items_in(
        session,
        op.id,
        [ItemStatus.succeeded.value, ItemStatus.failed.value, ItemStatus.invalid.value],
    )
    outcomes: dict[int, tuple[str, list[str]]] = {}
    now = datetime.now(UTC)
    refused = 0
    for item in items:
        if item.offer_emag_id is None:
            continue
        messages = list(item.messages or [])
        if item.status == ItemStatus.succeeded.value:
            outcomes[item.offer_emag_id] = ("sent", messages)
            continue
        refused += 1
        outcomes[item.offer_emag_id] = ("refused", messages)
        state = await repository.state_of(session, pricing_run.account_id, item.offer_emag_id)
        if state is not None:
            state.paused_at = now
            state.paused_reason = "eMAG refused the price: " + ("; ".join(messages) or "refused")
    await repository.set_decision_outcomes(session, pricing_run.id, outcomes)
    pricing_run.refused = refused
    pricing_run.status = (
        RunStatus.stopped.value
        if op.status == OperationStatus.failed.value or (refused and refused == len(items))
        else RunStatus.completed.value
    )
    pricing_run.error = op.error
    pricing_run.finished_at = now


async def reconcile_account(session: AsyncSession, account_id: int) -> None:
    for pricing_run in await repository.runs(session, account_id, 20):
        await reconcile(session, pricing_run)


async def after_offer_sync(ctx: AppContext, run_id: int, status: str) -> None:
    """Run the account's rules (live) after a completed offers sync. Never raises: a pricing
    failure must not look like a sync failure (it is logged)."""
    from magflow.sync.models import SyncKind, SyncLog

    if status != "completed":
        return
    try:
        async with ctx.db.session() as session:
            sync_run = await session.get(SyncLog, run_id)
            if sync_run is None or sync_run.account_id is None:
                return
            if sync_run.kind != SyncKind.offers.value:
                return
            if not any(r.enabled for r in await repository.rules(session, sync_run.account_id)):
                return
            account = await accounts_service.get_account(session, sync_run.account_id)
        await run(ctx, account, trigger="sync", dry_run=False, actor=Actor(None, "repricer"))
    except Exception:
        log.exception("repricing after offers run %s failed", run_id)


async def after_orders_sync(ctx: AppContext, run_id: int, status: str) -> None:
    """Rebuild the account's profit lines after an orders sync (complete or partial: what was
    stored counts). Never raises."""
    from magflow.sync.models import SyncKind, SyncLog

    if status not in ("completed", "partial"):
        return
    try:
        async with ctx.db.session() as session:
            sync_run = await session.get(SyncLog, run_id)
            if sync_run is None or sync_run.account_id is None:
                return
            if sync_run.kind != SyncKind.orders.value:
                return
            account = await accounts_service.get_account(session, sync_run.account_id)
            await profit.refresh_lines(session, account)
            await session.commit()
    except Exception:
        log.exception("profit lines after orders run %s failed", run_id)
