"""Changing a subscription now: seats and auto-renew (NCE_RULES 4), queued against Partner Center.

The request is checked against the rules, then queued as an operation; the job changes the subscription at
Partner Center (with an MS-RequestId derived from the operation, so a retried job repeats the same request),
then in one transaction updates the local subscription, its seat windows and its charges (NCE_RULES 5: the old
quantity reversed and the new one charged for the rest of the period)."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

from app import clock, db
from app.accounts.rules import Principal
from app.audit import service as audit
from app.billing import locks
from app.billing import rules as billing_rules
from app.billing import service as billing
from app.catalog import service as catalog
from app.config import Settings
from app.errors import Conflict, Forbidden, Invalid, Malformed
from app.jobs import queue
from app.money import Money
from app.operations import service as operations
from app.orders import service as orders
from app.orders.rules import is_month_end
from app.partner_center.connection import job_client
from app.partner_center.errors import BusinessRuleError
from app.subscriptions import rules, service

JOB = "subscription_change"
REQUESTS = uuid.UUID("7b8f0c1e-52d4-4f0e-9a5e-3c2d1b0a9f88")


def _batches(rows: list[dict]) -> list[tuple[int, Any]]:
    return [(r["quantity"], r["window_ends_at"]) for r in rows]


async def queue_change(actor: Principal, sub: dict, change: dict, *, job: str = JOB) -> dict:
    """The change as an operation for the caller to follow, and its job (on the caller's transaction)."""
    operation = await operations.create(job, actor, account_id=sub["customer_id"], subject_id=str(sub["id"]))
    payload = {
        "subscription_id": str(sub["id"]),
        "operation_id": str(operation["id"]),
        "actor": str(actor.user_id),
        "actor_email": actor.email,
    }
    await queue.enqueue(job, {**payload, **change}, dedupe_key=f"{job}:{operation['id']}")
    return operation


async def _locked(actor: Principal, subscription_id: uuid.UUID) -> dict:
    """The caller's subscription, locked for a change (404 outside its scope); call it in a transaction. Its bill-to
    account is locked first (the lock order of app/billing/locks.py)."""
    await service.get_row(actor, subscription_id)
    return await locks.subscription(subscription_id)


async def request_change(actor: Principal, subscription_id: uuid.UUID, body: Any) -> dict:
    """PATCH /subscriptions/{id}: `{quantity?, auto_renew?}` checked now, done by a queued operation."""
    if not isinstance(body, dict) or not ({"quantity", "auto_renew"} & set(body)):
        raise Invalid({"quantity": "Send quantity, auto_renew or both."})
    quantity, auto_renew = body.get("quantity"), body.get("auto_renew")
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int)):
        raise Invalid({"quantity": "quantity is a whole number of seats."})
    if auto_renew is not None and not isinstance(auto_renew, bool):
        raise Invalid({"auto_renew": "auto_renew is true or false."})
    row = await service.get_row(actor, subscription_id)  # 404 outside the caller's scope
    async with db.transaction():
        bill_to, customer = await orders.lock_commitments(row["bill_to_id"], row["customer_id"])
        sub = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1 FOR NO KEY UPDATE", subscription_id))[0]
        offer = await catalog.get_offer(sub["offer_id"])
        batches = await db.fetch(
            "SELECT quantity, window_ends_at FROM subscription_seat_batches WHERE subscription_id = $1", sub["id"]
        )
        held = Money.zero(bill_to["currency"])
        if quantity is not None and quantity != sub["quantity"]:
            refundable = rules.refundable_quantity(_batches(batches), clock.now())
            refusal = rules.seat_change_refusal(
                sub["status"], sub["quantity"], quantity, refundable, offer["min_quantity"], offer["max_quantity"]
            )
            if refusal:
                raise Conflict("seat_change_refused", refusal)
            if quantity > sub["quantity"]:
                added = quantity - sub["quantity"]
                held = await billing.added_commitment(sub, added, clock.now().date(), bill_to["currency"])
                await orders.check_change(bill_to, customer, offer, quantity, held.amount, added)
        if auto_renew is not None and (sub["status"] != "active" or sub["is_trial"] or not sub["term"]):
            raise Conflict(
                "auto_renew_refused", "Auto-renew can only be changed on an active subscription with a term."
            )
        operation = await queue_change(actor, sub, {"quantity": quantity, "auto_renew": auto_renew})
        await billing.hold_credit(bill_to["id"], operation["id"], held)
        return operation


CANCEL_FIELDS = {"quantity"}


async def request_cancel(actor: Principal, subscription_id: uuid.UUID, body: Any) -> dict:
    """POST /subscriptions/{id}/cancel: `{quantity?}`. Some seats: a seat reduction (their windows must be
    open); all of them, or `{}`: the whole subscription, inside its own window. A cancel refunds the term, so
    only an explicit `{}` means everything: any other body that is not a JSON object, an unknown field or a
    quantity that is not a whole number of seats cancels nothing."""
    if not isinstance(body, dict):
        raise Malformed('Send a JSON object: {} cancels the whole subscription, {"quantity": <seats>} only some seats.')
    for name in body:
        if name not in CANCEL_FIELDS:
            raise Invalid({str(name): f"Unknown field {name}: send quantity, or nothing to cancel every seat."})
    quantity = body.get("quantity")
    if "quantity" in body and (isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1):
        raise Invalid({"quantity": "quantity is the number of seats to cancel, at least 1."})
    current = (await service.get_row(actor, subscription_id))["quantity"]  # 404 outside the caller's scope
    if quantity is not None and quantity < current:
        return await request_change(actor, subscription_id, {"quantity": current - quantity})
    async with db.transaction():
        sub = await locks.subscription(subscription_id)
        if quantity is not None and quantity > sub["quantity"]:
            raise Invalid({"quantity": f"The subscription has {sub['quantity']} seats."})
        refusal = rules.cancel_refusal(sub["status"], sub["cancellation_window_ends_at"], clock.now())
        if refusal:
            raise Conflict("cancel_refused", refusal)
        return await queue_change(actor, sub, {"cancel": True})


SCHEDULE_FIELDS = {"quantity", "offer_id", "term", "billing_plan", "coterm_end_date"}


async def request_schedule(actor: Principal, subscription_id: uuid.UUID, body: Any) -> dict:
    """PUT /subscriptions/{id}/scheduled-change: what the next term should be (NCE_RULES 4). Applied by Microsoft
    at renewal; needs auto-renew on. The SKU may only move to one of the offer's upgrade targets."""
    if not isinstance(body, dict) or not (SCHEDULE_FIELDS & set(body)) or set(body) - SCHEDULE_FIELDS:
        raise Invalid({"quantity": "Send quantity, offer_id, term and/or billing_plan for the next term."})
    async with db.transaction():
        sub = await _locked(actor, subscription_id)
        current = await catalog.get_offer(sub["offer_id"])
        offer_id = str(body.get("offer_id") or sub["offer_id"]).strip().upper()
        if offer_id != sub["offer_id"] and offer_id not in current["upgrade_targets"]:
            raise Invalid({"offer_id": f"{offer_id} is not an upgrade of {current['title']}."})
        offer = current if offer_id == sub["offer_id"] else await catalog.get_offer(offer_id)
        change = {
            "quantity": body.get("quantity", sub["quantity"]),
            "offer_id": offer_id,
            "term": body.get("term", sub["term"]),
            "billing_plan": body.get("billing_plan", sub["billing_plan"]),
        }
        refusal = rules.schedule_refusal(sub["status"], sub["auto_renew"], sub["is_trial"], sub["term"])
        if refusal:
            raise Conflict("schedule_refused", refusal)
        quantity = change["quantity"]
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise Invalid({"quantity": "quantity is a whole number of seats."})
        if not offer["min_quantity"] <= quantity <= offer["max_quantity"]:
            raise Invalid({"quantity": rules.quantity_range(offer["min_quantity"], offer["max_quantity"])})
        if {"term": change["term"], "billing_plan": change["billing_plan"]} not in catalog.plans_of(offer):
            raise Invalid({"billing_plan": f"{offer['title']} is not sold for that term and billing plan."})
        if body.get("coterm_end_date"):
            change["coterm_end_date"] = await _coterm(sub, change["term"], body["coterm_end_date"])
        return await queue_change(actor, sub, {"scheduled": change})


async def _coterm(sub: dict, term: str, value: Any) -> str:
    """A next term that ends with the customer's other subscriptions (NCE_RULES 3, check 10, at renewal): inside
    the new term, on a month's last day or on another active subscription's end date."""
    try:
        end = date.fromisoformat(str(value))
    except ValueError:
        raise Invalid({"coterm_end_date": "Give the end date as YYYY-MM-DD."}) from None
    start = sub["end_date"] + timedelta(days=1)
    natural = billing_rules.term_end(start, term)
    if not start <= end <= natural:
        raise Invalid({"coterm_end_date": f"The next term's end date must fall between {start} and {natural}."})
    others = await db.fetch(
        "SELECT end_date FROM subscriptions WHERE customer_id = $1 AND id <> $2 AND status = 'active' "
        "AND end_date = $3",
        sub["customer_id"],
        sub["id"],
        end,
    )
    if not (is_month_end(end) or others):
        raise Invalid(
            {
                "coterm_end_date": "The end date must be the end of a calendar month or the end date of one of the "
                "customer's active subscriptions."
            }
        )
    return end.isoformat()


async def request_unschedule(actor: Principal, subscription_id: uuid.UUID) -> dict:
    """DELETE /subscriptions/{id}/scheduled-change: renew as the subscription is."""
    async with db.transaction():
        sub = await _locked(actor, subscription_id)
        if sub["scheduled_change"] is None:
            raise Conflict("no_scheduled_change", "This subscription has no scheduled change.")
        return await queue_change(actor, sub, {"scheduled": None})


def instructions(change: dict, offer: dict) -> dict:
    """A scheduled change as Microsoft's scheduledNextTermInstructions (facts 7.4)."""
    return {
        "product": {
            "productId": offer["product_id"],
            "skuId": offer["sku_id"],
            "availabilityId": offer["availability_id"],
            "billingCycle": change["billing_plan"],
            "termDuration": change["term"],
        },
        "quantity": change["quantity"],
        **({"customTermEndDate": f"{change['coterm_end_date']}T00:00:00Z"} if change.get("coterm_end_date") else {}),
    }


STATUS_MOVES = {"suspended": "active", "active": "suspended"}  # target -> the status it starts from


async def request_status(actor: Principal, subscription_id: uuid.UUID, target: str) -> dict:
    """Suspend or reactivate (NCE_RULES 4): CSP admins, and resellers for their customers. Service is blocked
    while suspended; Microsoft keeps billing the CSP and Cloudseat keeps billing the account."""
    if actor.role == "customer_admin":
        raise Forbidden("The CSP or the customer's reseller suspends and reactivates subscriptions.")
    async with db.transaction():
        sub = await _locked(actor, subscription_id)
        if sub["status"] != STATUS_MOVES[target]:
            verb = "suspended" if target == "suspended" else "reactivated"
            raise Conflict(
                "status_refused",
                f"Only {STATUS_MOVES[target]} subscriptions can be {verb}; this one is {sub['status']}.",
            )
        return await queue_change(actor, sub, {"status": target})


async def apply(payload: dict, settings: Settings) -> None:
    """The queued change: Partner Center first, then the local subscription, seats and charges, once. A change
    that makes Microsoft drop the scheduled next-term instructions is followed by putting them back."""
    operation_id = uuid.UUID(payload["operation_id"])
    if await db.fetchval("SELECT status FROM operations WHERE id = $1", operation_id) in ("succeeded", "failed"):
        return
    await operations.set_status(operation_id, "running")
    sub = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", uuid.UUID(payload["subscription_id"])))[0]
    tenant = str(await db.fetchval("SELECT tenant_id FROM accounts WHERE id = $1", sub["customer_id"]))
    changes: dict[str, Any] = {"status": "deleted"} if payload.get("cancel") else {}
    if payload.get("status"):
        changes["status"] = payload["status"]
    if payload.get("quantity") is not None:
        changes["quantity"] = payload["quantity"]
    if payload.get("auto_renew") is not None:
        changes["autoRenewEnabled"] = payload["auto_renew"]
    if "scheduled" in payload:
        change = payload["scheduled"]
        offer = await catalog.get_offer(change["offer_id"]) if change else None
        changes["scheduledNextTermInstructions"] = instructions(change, offer) if change and offer else None
    client = await job_client(settings)
    try:
        current = await client.get_subscription(tenant, sub["partner_center_id"])
        try:
            changed = await client.update_subscription(
                tenant, current, request_id=str(uuid.uuid5(REQUESTS, str(operation_id))), **changes
            )
        except BusinessRuleError as refused:
            await operations.set_status(operation_id, "failed", refused.description)
            return
        if payload.get("cancel"):
            await _cancelled(sub, payload, operation_id)
            return
        if payload.get("status"):
            await _status(sub, payload, operation_id)
        else:
            await _record(sub, payload, operation_id, changed.cancellation_allowed_until_date)
        if payload.get("status") != "suspended" and not changed.scheduled_next_term_instructions:
            await reapply_intent(client, tenant, sub["id"], operation_id)
    finally:
        await client.aclose()


async def reapply_intent(client: Any, tenant: str, subscription_id: uuid.UUID, operation_id: uuid.UUID) -> None:
    """Microsoft deleted the scheduled change (a mid-term change, or a suspension now lifted): send it again, and
    log that it was re-applied, or why Microsoft no longer takes it."""
    sub = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", subscription_id))[0]
    change = service.intent(sub)
    if change is None or sub["status"] != "active" or not sub["auto_renew"]:
        return
    offer = await catalog.get_offer(change["offer_id"])
    current = await client.get_subscription(tenant, sub["partner_center_id"])
    try:
        await client.update_subscription(
            tenant, current, request_id=str(uuid.uuid5(REQUESTS, f"{operation_id}:intent")),
            scheduledNextTermInstructions=instructions(change, offer),
        )  # fmt: skip
    except BusinessRuleError as refused:
        async with db.transaction():
            await locks.subscription(subscription_id)
            await db.execute("UPDATE subscriptions SET scheduled_change = NULL WHERE id = $1", subscription_id)
            await audit.record(
                None, "subscription", subscription_id, "scheduled_change_dropped",
                before={"scheduled_change": change}, after={"reason": refused.description},
            )  # fmt: skip
        return
    await audit.record(
        None, "subscription", subscription_id, "scheduled_change_reapplied",
        before={"scheduled_change": None}, after={"scheduled_change": change},
    )  # fmt: skip


async def _log(payload: dict, subscription_id: uuid.UUID, action: str, before: dict, after: dict) -> None:
    """The change log entry, by the person who asked for the change (NCE_RULES 4: who, when, before, after)."""
    actor = uuid.UUID(payload["actor"]) if payload.get("actor") else None
    await audit.record_by(actor, payload.get("actor_email"), "subscription", subscription_id, action, before, after)


async def _status(sub: dict, payload: dict, operation_id: uuid.UUID) -> None:
    async with db.transaction():
        await locks.subscription(sub["id"])  # its bill-to account first (app/billing/locks.py)
        # the non-payment rules reactivate only what they suspended (NCE_RULES 5)
        await db.execute(
            "UPDATE subscriptions SET status = $2, status_changed_at = $3, updated_at = $3, "
            "suspended_for_nonpayment = $4 WHERE id = $1",
            sub["id"],
            payload["status"],
            clock.now(),
            payload["status"] == "suspended" and payload.get("reason") == "nonpayment",
        )
        await _log(payload, sub["id"], payload["status"], {"status": sub["status"]}, {"status": payload["status"]})
        await operations.set_status(operation_id, "succeeded")


async def _cancelled(sub: dict, payload: dict, operation_id: uuid.UUID) -> None:
    """Cancelled inside the window: the seats' charge for the rest of the period refunded (NCE_RULES 5)."""
    now = clock.now()
    async with db.transaction():
        sub = await locks.subscription(sub["id"])  # its bill-to account first (app/billing/locks.py)
        if sub["status"] == "cancelled":
            return
        if sub["term"] and sub["end_date"]:
            await billing.post_charges(sub, "cancel", [(f"cancel:{operation_id}", sub["quantity"], -1)], now.date())
        await set_batches(sub["id"], [], now)
        await db.execute(
            "UPDATE subscriptions SET status = 'cancelled', auto_renew = false, scheduled_change = NULL, "
            "status_changed_at = $2, updated_at = $2 WHERE id = $1",
            sub["id"],
            now,
        )
        await _log(payload, sub["id"], "cancelled", {"status": sub["status"]}, {"status": "cancelled"})
        await operations.set_status(operation_id, "succeeded")


async def _record(sub: dict, payload: dict, operation_id: uuid.UUID, window: Any) -> None:
    now = clock.now()
    async with db.transaction():
        sub = await locks.subscription(sub["id"])  # its bill-to account first (app/billing/locks.py)
        before = {"quantity": sub["quantity"], "auto_renew": sub["auto_renew"], "scheduled_change": service.intent(sub)}
        quantity = payload.get("quantity")
        if quantity is not None and quantity != sub["quantity"]:
            await record_seats(sub, quantity, now, window, str(operation_id))
        auto_renew = sub["auto_renew"] if payload.get("auto_renew") is None else payload["auto_renew"]
        # the intent is what the customer asked for the next term; turning auto-renew off withdraws it
        scheduled = payload["scheduled"] if "scheduled" in payload else before["scheduled_change"]
        scheduled = scheduled if auto_renew else None
        await db.execute(
            "UPDATE subscriptions SET quantity = $2, auto_renew = $3, scheduled_change = $4, updated_at = $5 "
            "WHERE id = $1",
            sub["id"],
            sub["quantity"] if quantity is None else quantity,
            auto_renew,
            None if scheduled is None else json.dumps(scheduled),
            now,
        )
        after = {
            "quantity": sub["quantity"] if quantity is None else quantity,
            "auto_renew": auto_renew,
            "scheduled_change": scheduled,
        }
        before, after = audit.changed(before, after)
        action = "scheduled_change" if "scheduled" in payload else "changed"
        await _log(payload, sub["id"], action, before, after)
        await operations.set_status(operation_id, "succeeded")


async def record_seats(sub: dict, quantity: int, now: Any, window: Any, key: str) -> None:
    """The seats' windows and the change's charges: the old quantity reversed, the new one charged, each for the
    rest of the period at the locked price (NCE_RULES 5)."""
    old = sub["quantity"]
    rows = await db.fetch(
        "SELECT quantity, window_ends_at FROM subscription_seat_batches WHERE subscription_id = $1", sub["id"]
    )
    if quantity > old:
        await db.execute(
            "INSERT INTO subscription_seat_batches (subscription_id, quantity, window_ends_at, created_at) "
            "VALUES ($1, $2, $3, $4)",
            sub["id"],
            quantity - old,
            window or now + rules.CANCELLATION_WINDOW,
            now,
        )
    else:
        await set_batches(sub["id"], rules.take_from_batches(_batches(rows), old - quantity, now), now)
    if not sub["term"] or not sub["end_date"]:
        return
    reason = f"seats:{key}"
    await billing.post_charges(
        sub,
        "add_quantity" if quantity > old else "remove_quantity",
        [(f"{reason}:old", old, -1), (f"{reason}:new", quantity, 1)],
        now.date(),
    )


async def set_batches(subscription_id: uuid.UUID, batches: list[tuple[int, Any]], now: Any) -> None:
    """The subscription's seats and their cancellation windows become `batches` `(quantity, window end)`."""
    await db.execute("DELETE FROM subscription_seat_batches WHERE subscription_id = $1", subscription_id)
    await db.execute(
        "INSERT INTO subscription_seat_batches (subscription_id, quantity, window_ends_at, created_at) "
        "SELECT $1, q, w, $4 FROM unnest($2::int[], $3::timestamptz[]) AS b(q, w)",
        subscription_id,
        [q for q, _ in batches],
        [w for _, w in batches],
        now,
    )


HANDLERS = {JOB: apply}
