"""Provisioning an order at Partner Center, exactly once (issue 5).

Every write to Microsoft carries an MS-RequestId derived from what it is for (the account's tenant, the
acceptance, the order's cart of these lines), so a job killed at any point and run again repeats the same
requests and Partner Center answers them as the first time. Local writes are keyed the same way (a line's
subscription, a subscription's `new` charge), so a second pass adds nothing.

Per wave (add-ons whose base is in the same order go in a second cart, once the base is active): a cart with the
wave's lines; lines Microsoft refuses fail with its reason and release their credit, the rest are bought; the
order is polled until its subscriptions exist; each line then gets its subscription and its `new` charge.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from app import clock, db
from app.accounts import tenants
from app.audit import service as audit
from app.billing import locks
from app.billing import service as billing
from app.config import Settings
from app.operations import service as operations
from app.partner_center import models as m
from app.partner_center.client import PartnerCenterClient
from app.partner_center.connection import job_client
from app.partner_center.errors import BusinessRuleError
from app.subscriptions.rules import CANCELLATION_WINDOW

log = logging.getLogger(__name__)
JOB = "order_provision"
AGREEMENT_ALREADY_ATTESTED = "600061"  # PartnerConfirmedAgreementAlreadyExists (partner_center_facts.md)
REQUESTS = uuid.UUID("6c1f3f62-4c55-4f0b-9d4e-0f6e2b3c9a10")  # namespace of the derived MS-RequestIds
POLL_SECONDS = 0.5
POLL_LIMIT_SECONDS = 300.0  # then the job fails and the queue retries it later, from where it stood


class LinesRefused(Exception):
    """Microsoft refused the whole step for these lines (a customer it will not create, say)."""


def request_id(*parts: object) -> str:
    return str(uuid.uuid5(REQUESTS, ":".join(str(p) for p in parts)))


async def provision(order_id: uuid.UUID, client: PartnerCenterClient) -> dict:
    order = (await db.fetch("SELECT * FROM orders WHERE id = $1", order_id))[0]
    if order["status"] in ("completed", "failed"):
        return order  # delivered again after it finished
    await db.execute("UPDATE orders SET status = 'provisioning', updated_at = $2 WHERE id = $1", order_id, clock.now())
    await operations.set_status(order["operation_id"], "running")
    try:
        tenant = await tenants.ensure_tenant(client, order["customer_id"])
        await ensure_agreement(client, order["customer_id"], tenant)
    except (tenants.TenantRefused, LinesRefused) as refused:
        await _fail_lines(order_id, None, str(refused))
    waves = [r["wave"] for r in await db.fetch("SELECT DISTINCT wave FROM order_lines WHERE order_id = $1", order_id)]
    for wave in sorted(waves):
        await _buy_wave(client, order, wave)
    return await _close(order_id)


# --- The customer at Partner Center --------------------------------------------------------------------------


async def ensure_agreement(client: PartnerCenterClient, customer_id: uuid.UUID, tenant: str) -> None:
    """Send the customer's latest MCA acceptance to Partner Center, once (NCE_RULES 3.2)."""
    rows = await db.fetch(
        "SELECT * FROM mca_acceptances WHERE account_id = $1 ORDER BY accepted_at DESC LIMIT 1", customer_id
    )
    if not rows or rows[0]["sent_at"] is not None:
        return
    acceptance = rows[0]
    template = await client.agreement_metadata()
    body = {
        "primaryContact": {
            "firstName": acceptance["first_name"],
            "lastName": acceptance["last_name"],
            "email": acceptance["email"],
            **({"phoneNumber": acceptance["phone"]} if acceptance["phone"] else {}),
        },
        "templateId": template.template_id,
        "dateAgreed": acceptance["accepted_at"].isoformat().replace("+00:00", "Z"),
        "type": "MicrosoftCustomerAgreement",
    }
    try:
        await client.attest_agreement(tenant, body, request_id=request_id("mca", acceptance["id"]))
    except BusinessRuleError as exc:
        # Microsoft holds this very attestation for the tenant already (the same signer for a second reseller's
        # customer on it, or a first post whose answer was lost): the agreement is in place
        if str(exc.code) != AGREEMENT_ALREADY_ATTESTED:
            raise LinesRefused(exc.description) from None
    await db.execute("UPDATE mca_acceptances SET sent_at = $2 WHERE id = $1", acceptance["id"], clock.now())


# --- Carts, checkout, subscriptions --------------------------------------------------------------------------


async def _lines(order_id: uuid.UUID, wave: int, status: str) -> list[dict]:
    return await db.fetch(
        "SELECT l.*, o.availability_id, o.product_id, o.sku_id, o.kind FROM order_lines l "
        "JOIN catalog_offers o ON o.id = l.offer_id "
        "WHERE l.order_id = $1 AND l.wave = $2 AND l.status = $3 ORDER BY l.line_no",
        order_id,
        wave,
        status,
    )


async def _buy_wave(client: PartnerCenterClient, order: dict, wave: int) -> None:
    order_id = order["id"]
    account = (await db.fetch("SELECT * FROM accounts WHERE id = $1", order["customer_id"]))[0]
    if account["tenant_id"] is None:
        return  # the tenant could not be created: its lines have failed
    tenant = str(account["tenant_id"])
    mpn = None
    if order["reseller_id"]:
        mpn = await db.fetchval("SELECT mpn_id FROM accounts WHERE id = $1", order["reseller_id"])
    pending = await _lines(order_id, wave, "pending")
    while pending:
        cart_key = request_id("cart", order_id, wave, *sorted(str(line["id"]) for line in pending))
        # cart line ids are the lines' places, from 0, as Microsoft's own examples number them
        items = [_cart_item(line, n, str(mpn) if mpn else None) for n, line in enumerate(pending)]
        try:
            cart = await client.create_cart(tenant, {"lineItems": items}, request_id=cart_key)
        except BusinessRuleError as exc:
            await _fail_lines(order_id, [line["id"] for line in pending], exc.description)
            break
        refused = {n: item.error for n, item in enumerate(cart.line_items) if item.error is not None}
        if refused:  # fail what Microsoft refused, and buy the rest in a cart of their own
            for n, line in enumerate(pending):
                if n in refused:
                    error = refused[n]
                    await _fail_lines(order_id, [line["id"]], error.error_description or str(error.error_code))
            pending = [line for n, line in enumerate(pending) if n not in refused]
            continue
        try:
            result = await client.checkout(tenant, str(cart.id), request_id=request_id("checkout", cart_key))
        except BusinessRuleError as exc:
            await _fail_lines(order_id, [line["id"] for line in pending], exc.description)
            break
        await _record_checkout(order_id, pending, result)
        break
    for line in await _lines(order_id, wave, "ordered"):
        item, subscription = await _wait_for_subscription(client, tenant, line)
        await _provisioned(order, line, item, subscription)


def _cart_item(line: dict, n: int, mpn: str | None) -> dict:
    item: dict[str, Any] = {
        "id": n,
        "catalogItemId": f"{line['product_id']}:{line['sku_id']}:{line['availability_id']}",
        "quantity": line["quantity"],
        "billingCycle": line["billing_plan"],
    }
    if line["term"]:
        item["termDuration"] = line["term"]
    if line["promotion_id"]:
        item["promotionId"] = line["promotion_id"]
    if line["coterm_end_date"]:
        item["customTermEndDate"] = line["coterm_end_date"].isoformat()
    if mpn:  # the reseller is partner of record (NCE_RULES 3)
        item["participants"] = [{"key": "transaction_reseller", "value": mpn}]
    return item


async def _record_checkout(order_id: uuid.UUID, lines: list[dict], result: m.CartCheckoutResult) -> None:
    """Each line's Partner Center order and line number; lines no order holds fail with Microsoft's reasons.
    Microsoft may split a checkout into several orders (one per order group), each numbering its lines from 0,
    so a line is found by its catalog item and seats, in the cart's order."""
    items = [
        (o.id, i.line_item_number, i)
        for o in result.orders
        for i in o.line_items
        if o.id and i.line_item_number is not None
    ]
    placed: dict[int, tuple[str, int]] = {}
    for n, line in enumerate(lines):
        offer = f"{line['product_id']}:{line['sku_id']}".upper()
        for pc_order, number, item in items:
            if (pc_order, number) in placed.values() or not (item.offer_id or "").upper().startswith(offer):
                continue
            if item.quantity == line["quantity"]:
                placed[n] = (pc_order, number)
                break
    reasons = "; ".join(e.description or str(e.code) for e in result.order_errors)
    for n, line in enumerate(lines):
        if n not in placed:
            await _fail_lines(order_id, [line["id"]], reasons or "Partner Center did not place this line.")
            continue
        async with db.transaction():
            ordered = await db.execute(
                "UPDATE order_lines SET status = 'ordered', pc_order_id = $2, pc_line_no = $3 "
                "WHERE id = $1 AND status = 'pending'",
                line["id"],
                *placed[n],
            )
            if ordered.endswith(" 1"):
                await _pending_subscription(line["id"])


# Microsoft has the order: the line's subscription exists, pending, until Partner Center provisions it
PENDING_SQL = """
WITH created AS (
    INSERT INTO subscriptions (id, customer_id, bill_to_id, order_line_id, offer_id, title, pc_order_id, status,
        quantity, term, billing_plan, auto_renew, is_trial, currency, unit_price, customer_unit_price, cost_price,
        cost_currency, promotion_id, created_at, updated_at)
    SELECT gen_random_uuid(), o.customer_id, o.bill_to_id, l.id, l.offer_id, l.title, l.pc_order_id, 'pending',
        l.quantity, l.term, l.billing_plan, l.term <> '' AND c.kind <> 'trial', c.kind = 'trial', l.source_currency,
        l.source_unit_price, l.customer_unit_price, l.cost_price, l.cost_currency, l.promotion_id, $2, $2
    FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN catalog_offers c ON c.id = l.offer_id
    WHERE l.id = $1
    ON CONFLICT (order_line_id) DO NOTHING
    RETURNING id, order_line_id
)
UPDATE order_lines l SET subscription_id = created.id FROM created WHERE l.id = created.order_line_id
"""


async def _pending_subscription(line_id: uuid.UUID) -> None:
    await db.execute(PENDING_SQL, line_id, clock.now())


async def _wait_for_subscription(
    client: PartnerCenterClient, tenant: str, line: dict
) -> tuple[m.OrderLineItem, m.Subscription]:
    """Poll the order until Microsoft has provisioned the line's subscription and it is active."""
    waited = 0.0
    while True:
        pc_order = await client.get_order(tenant, line["pc_order_id"])
        item = next((i for i in pc_order.line_items if i.line_item_number == line["pc_line_no"]), None)
        if item is not None and item.subscription_id:
            subscription = await client.get_subscription(tenant, item.subscription_id)
            if (subscription.status or "").lower() == "active":
                return item, subscription
        if waited >= POLL_LIMIT_SECONDS:
            raise TimeoutError(f"Partner Center order {line['pc_order_id']} is still provisioning")
        await asyncio.sleep(POLL_SECONDS)
        waited += POLL_SECONDS


async def _provisioned(order: dict, line: dict, item: m.OrderLineItem, pc: m.Subscription) -> None:
    """The line's subscription, its `new` charge and the credit it held released: one transaction, once. The
    cost is what Microsoft's order says it charges per seat (after any promotion)."""
    cost = item.pricing.price if item.pricing and item.pricing.price is not None else line["cost_price"]
    now = clock.now()
    start = pc.effective_start_day or now.date()
    end = pc.commitment_end_day if line["term"] else None
    # the cancellation window, as Microsoft counts it from the purchase (NCE_RULES 4)
    window = pc.cancellation_allowed_until_date or now + CANCELLATION_WINDOW
    async with db.transaction():
        # the bill-to first, before the subscription and the charge that references it (app/billing/locks.py)
        await locks.account(order["bill_to_id"])
        current = (await db.fetch("SELECT status FROM order_lines WHERE id = $1 FOR UPDATE", line["id"]))[0]
        if current["status"] == "provisioned":
            return
        subscription = (
            await db.fetch(
                "UPDATE subscriptions SET status = 'active', partner_center_id = $2, start_date = $3, end_date = $4, "
                "auto_renew = $5, cost_price = $6, promotion_id = $7, updated_at = $8, "
                "cancellation_window_ends_at = $9 WHERE order_line_id = $1 RETURNING *",
                line["id"],
                pc.id,
                start,
                end,
                bool(pc.auto_renew_enabled) and line["kind"] != "trial",
                cost,
                pc.promotion_id or line["promotion_id"],
                now,
                window,
            )
        )[0]
        await db.execute(
            "INSERT INTO subscription_seat_batches (subscription_id, quantity, window_ends_at, created_at) "
            "VALUES ($1, $2, $3, $4)",
            subscription["id"],
            line["quantity"],
            window,
            now,
        )
        await billing.post_charge(subscription, "new", "new", line["quantity"], start)
        await db.execute(
            "UPDATE order_lines SET status = 'provisioned', subscription_id = $2, released_at = $3 WHERE id = $1",
            line["id"],
            subscription["id"],
            now,
        )
        await audit.record(
            None, "subscription", subscription["id"], "activated", before={"status": "pending"},
            after={"status": "active", "partner_center_id": pc.id, "order_id": str(order["id"])},
        )  # fmt: skip


async def _fail_lines(order_id: uuid.UUID, line_ids: list[uuid.UUID] | None, reason: str) -> None:
    """Lines Microsoft refused: failed with its reason, their credit released (None: every open line)."""
    await db.execute(
        "UPDATE order_lines SET status = 'failed', error = $3, released_at = coalesce(released_at, $4) "
        "WHERE order_id = $1 AND status IN ('pending', 'ordered') AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))",
        order_id,
        line_ids,
        reason,
        clock.now(),
    )


async def _close(order_id: uuid.UUID) -> dict:
    statuses = [r["status"] for r in await db.fetch("SELECT status FROM order_lines WHERE order_id = $1", order_id)]
    if any(s in ("pending", "ordered") for s in statuses):
        raise RuntimeError(f"order {order_id} has lines still open")  # the queue runs the job again
    status = "completed" if "provisioned" in statuses else "failed"
    now = clock.now()
    rows = await db.fetch(
        "UPDATE orders SET status = $2, updated_at = $3, completed_at = $3 WHERE id = $1 RETURNING *",
        order_id,
        status,
        now,
    )
    failed = [
        r for r in await db.fetch("SELECT title, error FROM order_lines WHERE order_id = $1", order_id) if r["error"]
    ]
    error = "; ".join(f"{r['title']}: {r['error']}" for r in failed) or None
    await operations.set_status(rows[0]["operation_id"], "succeeded" if status == "completed" else "failed", error)
    await audit.record(None, "order", order_id, status, after={"failed_lines": len(failed)})
    return rows[0]


async def run_job(payload: dict, settings: Settings) -> None:
    client = await job_client(settings)
    try:
        await provision(uuid.UUID(payload["order_id"]), client)
    finally:
        await client.aclose()


HANDLERS = {JOB: run_job}
