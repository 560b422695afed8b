"""Upgrades (NCE_RULES 4): all or some seats move to one of the SKU's upgrade targets through Microsoft's
transitions API. The target ends with the source, is priced at today's price list, and loses the source's
promotion; the moved seats keep their cancellation windows. Both sides are billed `convert` (NCE_RULES 5):
the source's old quantity reversed and its remaining seats charged, the target charged for the rest of the
period."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app import clock, db
from app.accounts.rules import Principal
from app.audit import service as audit
from app.billing import locks
from app.billing import rules as billing_rules
from app.billing import service as billing
from app.catalog import rules as catalog_rules
from app.catalog import service as catalog
from app.config import Settings
from app.errors import Conflict, Invalid, NotFound
from app.operations import service as operations
from app.orders import service as orders
from app.partner_center.connection import job_client
from app.partner_center.errors import BusinessRuleError
from app.subscriptions import changes, rules, service

JOB = "subscription_upgrade"


Layers = tuple[catalog_rules.Quote, catalog_rules.Quote]  # what the bill-to pays, what the customer pays


async def _price(account: dict, sub: dict, target: dict, quantity: int, at: datetime, settings: dict) -> Layers | None:
    """The target at today's price for the source's term and plan (None: the target is not sold that way)."""
    try:
        return await catalog.quote_holder(
            account, target, term=sub["term"], billing_plan=sub["billing_plan"], at=at, seats=quantity,
            settings=settings,
        )  # fmt: skip
    except catalog_rules.PriceUnavailable:
        return None


async def _target(offer_id: str) -> dict | None:
    """An upgrade target still sold, or None."""
    try:
        offer = await catalog.get_offer(offer_id)
    except NotFound:
        return None
    return offer if offer["status"] == "active" else None


def _move_charges(sub: dict, target_price: Decimal, source_price: Decimal, quantity: int, today: date) -> dict:
    """What moving `quantity` seats does now: the target charged for the rest of the period, the source credited
    for the same seats and days, in the viewer's prices."""
    if not sub["term"] or not sub["end_date"] or today > sub["end_date"]:
        return {"charge": Decimal(0), "credit": Decimal(0)}
    _, target = billing_rules.charge_from(
        today, sub["end_date"], sub["term"], sub["billing_plan"], target_price, sub["currency"], today
    )
    _, source = billing_rules.charge_from(
        sub["start_date"], sub["end_date"], sub["term"], sub["billing_plan"], source_price, sub["currency"], today
    )
    return {"charge": target * quantity, "credit": source * quantity}


async def options(viewer: Principal, subscription_id: uuid.UUID) -> list[dict]:
    """GET /subscriptions/{id}/upgrades."""
    sub = await service.get_row(viewer, subscription_id)
    return await options_for(viewer, sub, await catalog.get_offer(sub["offer_id"]))


async def options_for(viewer: Principal, sub: dict, source: dict) -> list[dict]:
    """Each upgrade target of `sub` (its offer `source`), whether all seats can move now and why not, its price,
    what the move charges and credits now, and the promotion it gives up."""
    targets = [t for t in [await _target(t) for t in source["upgrade_targets"]] if t is not None]
    account = (await db.fetch("SELECT * FROM accounts WHERE id = $1", sub["customer_id"]))[0]
    settings = await catalog.catalog_settings()
    now = clock.now()
    items = []
    for target in targets:
        priced = await _price(account, sub, target, sub["quantity"], now, settings)
        refusal = rules.upgrade_refusal(
            sub["status"], sub["is_trial"], source["upgrade_targets"], target["id"], priced is not None,
            sub["quantity"], sub["quantity"], target["min_quantity"], target["max_quantity"],
        )  # fmt: skip
        price = None if priced is None else priced[1 if viewer.role == "customer_admin" else 0]
        source_price = sub["customer_unit_price"] if viewer.role == "customer_admin" else sub["unit_price"]
        moving = _move_charges(sub, price.unit_price, source_price, sub["quantity"], now.date()) if price else None
        items.append(
            {
                "offer_id": target["id"],
                "title": target["title"],
                "eligible": refusal is None,
                "reason": refusal,
                "term": sub["term"],
                "billing_plan": sub["billing_plan"],
                "unit_price": str(price.unit_price) if price else None,
                "currency": price.currency if price else sub["currency"],
                "end_date": sub["end_date"].isoformat() if sub["end_date"] else None,
                "charge_now": str(moving["charge"]) if moving else None,
                "credit_now": str(moving["credit"]) if moving else None,
                "promotion_lost": sub["promotion_id"],
                "promotion_id": price.promotion.id if price and price.promotion else None,
                "min_quantity": target["min_quantity"],
                "max_quantity": min(target["max_quantity"], sub["quantity"]),
            }
        )
    return items


async def request_upgrade(actor: Principal, subscription_id: uuid.UUID, body: Any) -> dict:
    """POST /subscriptions/{id}/upgrade `{offer_id, quantity?}` (no quantity: every seat). Checked now, priced now,
    credit checked under the bill-to's lock, then done by a queued operation."""
    if not isinstance(body, dict) or not isinstance(body.get("offer_id"), str):
        raise Invalid({"offer_id": "offer_id is the upgrade target's ProductId:SkuId."})
    quantity = body.get("quantity")
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int)):
        raise Invalid({"quantity": "quantity is a whole number of seats."})
    row = await service.get_row(actor, subscription_id)  # 404 outside the caller's scope
    target_id = body["offer_id"].strip().upper()
    source = await catalog.get_offer(row["offer_id"])
    target = await _target(target_id) if target_id in source["upgrade_targets"] else None
    if target is None:
        raise Invalid({"offer_id": f"{target_id} is not an upgrade of {source['title']}."})
    account = (await db.fetch("SELECT * FROM accounts WHERE id = $1", row["customer_id"]))[0]
    settings = await catalog.catalog_settings()
    now = clock.now()
    async with db.transaction():
        bill_to, customer = await orders.lock_commitments(row["bill_to_id"], row["customer_id"])
        sub = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1 FOR NO KEY UPDATE", subscription_id))[0]
        seats = sub["quantity"] if quantity is None else quantity
        priced = await _price(account, sub, target, seats, now, settings)
        refusal = rules.upgrade_refusal(
            sub["status"], sub["is_trial"], source["upgrade_targets"], target_id, priced is not None, seats,
            sub["quantity"], target["min_quantity"], target["max_quantity"],
        )  # fmt: skip
        if refusal or priced is None:
            raise Conflict("upgrade_refused", refusal or "The upgrade has no price.")
        bought, sold = priced
        # the moved seats' rest of term at the target's price, less the same at the source's (NCE_RULES 4)
        today = now.date()
        added = await billing.added_commitment(
            sub, seats, today, bill_to["currency"], bought.unit_price
        ) - await billing.added_commitment(sub, seats, today, bill_to["currency"])
        await orders.check_change(bill_to, customer, target, seats, added.amount, seats)
        change = {
            "offer_id": target_id,
            "quantity": seats,
            "unit_price": str(bought.unit_price),
            "customer_unit_price": str(sold.unit_price),
            "cost_price": str(bought.microsoft_cost),
            "cost_currency": bought.microsoft_currency,
        }
        operation = await changes.queue_change(actor, sub, change, job=JOB)
        await billing.hold_credit(bill_to["id"], operation["id"], added)
        return operation


async def apply(payload: dict, settings: Settings) -> None:
    """The queued upgrade: Microsoft's transition (an MS-RequestId derived from the operation, so a retried job
    repeats the same request), then both subscriptions, their windows and their charges here, once."""
    operation_id = uuid.UUID(payload["operation_id"])
    if await db.fetchval("SELECT status FROM operations WHERE id = $1", operation_id) in ("succeeded", "failed"):
        return
    await operations.set_status(operation_id, "running")
    sub = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", uuid.UUID(payload["subscription_id"])))[0]
    tenant = str(await db.fetchval("SELECT tenant_id FROM accounts WHERE id = $1", sub["customer_id"]))
    source, target = await catalog.get_offer(sub["offer_id"]), await catalog.get_offer(payload["offer_id"])
    client = await job_client(settings)
    try:
        try:
            moved = await client.create_transition(
                tenant,
                sub["partner_center_id"],
                {
                    "fromCatalogItemId": f"{source['product_id']}:{source['sku_id']}:{source['availability_id']}",
                    "toCatalogItemId": f"{target['product_id']}:{target['sku_id']}:{target['availability_id']}",
                    "quantity": payload["quantity"],
                    "transitionType": "transition_only",
                },
                request_id=str(uuid.uuid5(changes.REQUESTS, f"upgrade:{operation_id}")),
            )
        except BusinessRuleError as refused:
            await operations.set_status(operation_id, "failed", refused.description)
            return
        pc_target = await client.get_subscription(tenant, str(moved.to_subscription_id))
        await _record(sub, target, payload, pc_target, operation_id)
        if sub["quantity"] > payload["quantity"]:
            await changes.reapply_intent(client, tenant, sub["id"], operation_id)
    finally:
        await client.aclose()


async def _record(sub: dict, target: dict, payload: dict, pc: Any, operation_id: uuid.UUID) -> None:
    now = clock.now()
    quantity = int(payload["quantity"])
    async with db.transaction():
        sub = await locks.subscription(sub["id"])  # its bill-to account first (app/billing/locks.py)
        if await db.fetchval("SELECT 1 FROM subscriptions WHERE partner_center_id = $1", pc.id):
            return  # recorded by an earlier run of this job
        remaining = sub["quantity"] - quantity
        batches = [(int(b["quantity"]), b["window_ends_at"]) for b in await db.fetch(
            "SELECT quantity, window_ends_at FROM subscription_seat_batches WHERE subscription_id = $1", sub["id"]
        )]  # fmt: skip
        missing = sub["quantity"] - sum(q for q, _ in batches)
        if missing > 0:  # seats without a batch moved with a closed window
            batches.append((missing, sub["cancellation_window_ends_at"] or sub["created_at"]))
        kept, moved = rules.move_seats(batches, quantity)
        lines = [(f"upgrade:{operation_id}:old", sub["quantity"], -1)]
        if remaining:
            lines.append((f"upgrade:{operation_id}:new", remaining, 1))
        await billing.post_charges(sub, "convert", lines, now.date())
        await changes.set_batches(sub["id"], kept, now)
        await db.execute(
            "UPDATE subscriptions SET quantity = $2, status = $3, auto_renew = auto_renew AND $2 > 0, "
            "scheduled_change = CASE WHEN $2 > 0 THEN scheduled_change END, status_changed_at = "
            "CASE WHEN $2 > 0 THEN status_changed_at ELSE $4 END, updated_at = $4 WHERE id = $1",
            sub["id"],
            remaining,
            sub["status"] if remaining else "deleted",
            now,
        )
        window = pc.cancellation_allowed_until_date or max((until for _, until in moved), default=now)
        new = (
            await db.fetch(
                "INSERT INTO subscriptions (id, customer_id, bill_to_id, offer_id, title, partner_center_id, status, "
                "quantity, term, billing_plan, start_date, end_date, auto_renew, is_trial, currency, unit_price, "
                "customer_unit_price, cost_price, cost_currency, promotion_id, cancellation_window_ends_at, "
                "status_changed_at, created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, 'active', "
                "$6, $7, $8, $9, $10, $11, false, $12, $13, $14, $15, $16, $17, $18, $19, $19, $19) RETURNING *",
                sub["customer_id"],
                sub["bill_to_id"],
                target["id"],
                target["title"],
                pc.id,
                quantity,
                sub["term"],
                sub["billing_plan"],
                now.date(),
                sub["end_date"],
                bool(pc.auto_renew_enabled),
                sub["currency"],
                Decimal(payload["unit_price"]),
                Decimal(payload["customer_unit_price"]),
                Decimal(payload["cost_price"]),
                payload["cost_currency"],
                pc.promotion_id,
                window,
                now,
            )
        )[0]
        await changes.set_batches(new["id"], moved, now)
        await billing.post_charges(new, "convert", [("convert", quantity, 1)], now.date())
        by = uuid.UUID(payload["actor"]) if payload.get("actor") else None
        email = payload.get("actor_email")
        await audit.record_by(
            by, email, "subscription", sub["id"], "upgraded",
            {"quantity": sub["quantity"], "offer_id": sub["offer_id"], "promotion_id": sub["promotion_id"]},
            {"quantity": remaining, "moved": quantity, "to_offer_id": target["id"], "to_subscription": str(new["id"])},
        )  # fmt: skip
        await audit.record_by(
            by, email, "subscription", new["id"], "upgraded_from",
            None, {"from_subscription": str(sub["id"]), "from_offer_id": sub["offer_id"], "quantity": quantity},
        )  # fmt: skip
        await operations.set_status(operation_id, "succeeded")


HANDLERS = {JOB: apply}
