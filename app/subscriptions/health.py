"""The daily health check (issue 6): every customer's subscriptions compared with Partner Center's (quantity,
status, auto-renew, end date, scheduled change, and subscriptions only Microsoft has). Differences are kept
until fixed, in either direction, or until they go away; subscriptions and customers created directly in
Partner Center are imported."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from app import clock, db
from app.accounts import service as accounts
from app.accounts import tenants
from app.accounts.rules import Principal
from app.audit import service as audit
from app.billing import locks
from app.billing import rules as billing_rules
from app.catalog import rules as catalog_rules
from app.catalog import service as catalog
from app.config import Settings
from app.errors import Conflict, Invalid, NotFound
from app.jobs import queue
from app.partner_center import models as m
from app.partner_center.connection import job_client
from app.subscriptions import changes, rules, service

JOB = "subscription_health"
LIVE = ("active", "suspended")
# customers whose subscriptions Partner Center shows the CSP: those on a tenant it manages (NCE_RULES 3)
REACHABLE = f"kind = 'customer' AND {tenants.managed_tenant_sql()}"


@dataclasses.dataclass(frozen=True)
class Difference:
    partner_center_id: str
    field: str
    ours: str | None
    microsoft: str | None
    subscription_id: uuid.UUID | None = None


def offer_of(pc: m.Subscription) -> str:
    return rules.catalog_offer_id(pc.offer_id or "")


def scheduled_of(pc: m.Subscription) -> dict | None:
    """Microsoft's scheduled next-term instructions in Cloudseat's words (API.md scheduled_change)."""
    instructions = pc.scheduled_next_term_instructions
    if instructions is None:
        return None
    product = instructions.product
    return {
        "quantity": instructions.quantity,
        "offer_id": f"{product.product_id}:{product.sku_id}".upper() if product else offer_of(pc),
        "term": product.term_duration if product else pc.term_duration,
        "billing_plan": (product.billing_cycle or "").lower() if product else (pc.billing_cycle or "").lower(),
    }


def _scheduled_text(change: dict | None) -> str:
    if not change:
        return "none"
    return f"{change['quantity']} x {change['offer_id']} {change['term']}/{change['billing_plan']}"


def _status_of(local: str) -> str:
    return {"cancelled": "deleted"}.get(local, local)  # Microsoft calls a cancelled subscription deleted


def differences(local: list[dict], microsoft: list[m.Subscription]) -> list[Difference]:
    """What differs between Cloudseat's subscriptions of a customer and Microsoft's. Pure."""
    ours = {row["partner_center_id"]: row for row in local if row["partner_center_id"]}
    found = []
    for pc in microsoft:
        status = (pc.status or "").lower()
        row = ours.get(pc.id)
        if row is None:
            if status in LIVE:
                found.append(
                    Difference(str(pc.id), "missing", None, f"{pc.quantity} x {pc.friendly_name or offer_of(pc)}")
                )
            continue
        if row["status"] == "pending":
            continue
        pairs: list[tuple[str, Any, Any]] = [("status", _status_of(row["status"]), status)]
        if row["status"] in LIVE and status in LIVE:
            end = pc.commitment_end_day
            pairs += [
                ("quantity", row["quantity"], pc.quantity),
                ("auto_renew", row["auto_renew"], bool(pc.auto_renew_enabled)),
                ("end_date", row["end_date"], end),
                ("scheduled_change", _scheduled_text(service.intent(row)), _scheduled_text(scheduled_of(pc))),
            ]
        for field, mine, theirs in pairs:
            if str(mine) != str(theirs):
                found.append(Difference(str(pc.id), field, _text(mine), _text(theirs), row["id"]))
    return found


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    return value.isoformat() if isinstance(value, date) else str(value)


async def _queue_checks(customers: list[dict]) -> None:
    await queue.enqueue_many(JOB, [({"customer_id": str(r["id"])}, f"{JOB}:{r['id']}") for r in customers])


async def due(now: datetime) -> int:
    """Once a day, a check per customer with a tenant (whichever processes tick: the day is claimed)."""
    # many accounts in one statement: taken by id, as every lock on accounts is (app/billing/locks.py)
    claimed = await db.fetch(
        f"UPDATE accounts SET health_checked_on = $1 WHERE id IN (SELECT id FROM accounts WHERE {REACHABLE} "
        "AND coalesce(health_checked_on, '-infinity'::date) < $1 ORDER BY id FOR NO KEY UPDATE) RETURNING id",
        now.date(),
    )
    await _queue_checks(claimed)
    return len(claimed)


async def check_all(actor: Principal) -> int:
    """The admin's "Check now": every customer with a tenant, queued."""
    rows = await db.fetch(f"SELECT id FROM accounts WHERE {REACHABLE}")
    await _queue_checks(rows)
    await audit.record(actor, "subscription_health", "all", "check_requested", after={"customers": len(rows)})
    return len(rows)


async def check(payload: dict, settings: Settings) -> None:
    """One customer compared with Partner Center: one call for its subscriptions, one statement per outcome."""
    customer_id = uuid.UUID(payload["customer_id"])
    tenant = await db.fetchval(f"SELECT tenant_id FROM accounts WHERE id = $1 AND {REACHABLE}", customer_id)
    if tenant is None:  # not (or no longer) a customer Partner Center shows the CSP
        return
    client = await job_client(settings)
    try:
        microsoft = await client.list_subscriptions(str(tenant))
    finally:
        await client.aclose()
    local = await db.fetch("SELECT * FROM subscriptions WHERE customer_id = $1", customer_id)
    await record(customer_id, differences(local, microsoft))


async def record(customer_id: uuid.UUID, found: list[Difference]) -> None:
    """Open what is new, refresh what is still there, close what went away (resolution `gone`)."""
    now = clock.now()
    keys = [f"{d.partner_center_id}|{d.field}" for d in found]
    async with db.transaction():
        await db.execute(
            "UPDATE subscription_drifts SET resolved_at = $2, resolution = 'gone' WHERE customer_id = $1 "
            "AND resolved_at IS NULL AND NOT (partner_center_id || '|' || field = ANY($3::text[]))",
            customer_id,
            now,
            keys,
        )
        await db.execute(
            "INSERT INTO subscription_drifts (customer_id, subscription_id, partner_center_id, field, ours, microsoft, "
            "found_at, seen_at) SELECT $1, s, p, f, o, mi, $2, $2 FROM unnest($3::uuid[], $4::text[], $5::text[], "
            "$6::text[], $7::text[]) AS d(s, p, f, o, mi) "
            "ON CONFLICT (partner_center_id, field) WHERE resolved_at IS NULL "
            "DO UPDATE SET ours = EXCLUDED.ours, microsoft = EXCLUDED.microsoft, seen_at = EXCLUDED.seen_at",
            customer_id,
            now,
            [d.subscription_id for d in found],
            [d.partner_center_id for d in found],
            [d.field for d in found],
            [d.ours for d in found],
            [d.microsoft for d in found],
        )


async def open_drifts() -> list[dict]:
    return await db.fetch(
        "SELECT d.*, a.name AS customer_name, s.title FROM subscription_drifts d "
        "JOIN accounts a ON a.id = d.customer_id "
        "LEFT JOIN subscriptions s ON s.id = d.subscription_id WHERE d.resolved_at IS NULL "
        "ORDER BY a.name, d.partner_center_id, d.field"
    )


async def fix(actor: Principal, drift_id: int, direction: str, settings: Settings) -> dict | None:
    """One click: `pull` makes Cloudseat match Microsoft, `push` sends Cloudseat's value to Microsoft (a queued
    operation, returned), `import` brings in a subscription only Microsoft has."""
    rows = await db.fetch("SELECT * FROM subscription_drifts WHERE id = $1 AND resolved_at IS NULL", drift_id)
    if not rows:
        raise NotFound("This difference was fixed already or has gone away.")
    drift = rows[0]
    if direction not in {"pull", "push", "import"}:
        raise Invalid({"direction": "Choose pull, push or import."})
    if (direction == "import") != (drift["field"] == "missing"):
        raise Conflict("fix_refused", "Import brings in a subscription only Microsoft has; pull or push the others.")
    if direction == "push" and drift["field"] == "end_date":
        raise Conflict("fix_refused", "Microsoft sets term dates: use Microsoft's end date.")
    pc = await _microsoft(drift, settings)
    operation = None
    if direction == "import":
        await import_subscription(actor, drift["customer_id"], pc)
    elif direction == "pull":
        await _pull(actor, drift, pc)
    else:
        operation = await _push(actor, drift)
    resolution = {"pull": "pulled", "push": "pushed", "import": "imported"}[direction]
    await db.execute(
        "UPDATE subscription_drifts SET resolved_at = $2, resolution = $3, resolved_by = $4 WHERE id = $1",
        drift_id,
        clock.now(),
        resolution,
        actor.email,
    )
    return operation


async def _microsoft(drift: dict, settings: Settings) -> m.Subscription:
    tenant = await db.fetchval("SELECT tenant_id FROM accounts WHERE id = $1", drift["customer_id"])
    client = await job_client(settings)
    try:
        return await client.get_subscription(str(tenant), drift["partner_center_id"])
    finally:
        await client.aclose()


async def _pull(actor: Principal, drift: dict, pc: m.Subscription) -> None:
    """Cloudseat takes Microsoft's value. Seats are billed from today like a change made here."""
    now = clock.now()
    field = drift["field"]
    async with db.transaction():
        sub = await locks.subscription(drift["subscription_id"])  # its bill-to first (app/billing/locks.py)
        if field == "quantity" and pc.quantity != sub["quantity"]:
            await changes.record_seats(
                sub, pc.quantity, now, pc.cancellation_allowed_until_date, f"health:{drift['id']}"
            )
            await db.execute("UPDATE subscriptions SET quantity = $2 WHERE id = $1", sub["id"], pc.quantity)
        elif field == "status":
            status = (pc.status or sub["status"]).lower()
            await db.execute(
                "UPDATE subscriptions SET status = $2, status_changed_at = $3 WHERE id = $1", sub["id"], status, now
            )
        elif field == "auto_renew":
            await db.execute(
                "UPDATE subscriptions SET auto_renew = $2, scheduled_change = CASE WHEN $2 THEN scheduled_change END "
                "WHERE id = $1",
                sub["id"],
                bool(pc.auto_renew_enabled),
            )
        elif field == "end_date":
            await db.execute(
                "UPDATE subscriptions SET end_date = $2 WHERE id = $1",
                sub["id"],
                pc.commitment_end_day,
            )
        elif field == "scheduled_change":
            scheduled = scheduled_of(pc)
            await db.execute(
                "UPDATE subscriptions SET scheduled_change = $2 WHERE id = $1",
                sub["id"],
                json.dumps(scheduled) if scheduled else None,
            )
        await db.execute("UPDATE subscriptions SET updated_at = $2 WHERE id = $1", sub["id"], now)
        await audit.record(
            actor, "subscription", sub["id"], "health_pulled", before={field: drift["ours"]},
            after={field: drift["microsoft"]},
        )  # fmt: skip


async def _push(actor: Principal, drift: dict) -> dict:
    """Microsoft gets Cloudseat's value, through the same queued change as any other."""
    sub = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", drift["subscription_id"]))[0]
    field = drift["field"]
    if field == "quantity":
        change: dict = {"quantity": sub["quantity"]}
    elif field == "auto_renew":
        change = {"auto_renew": sub["auto_renew"]}
    elif field == "scheduled_change":
        change = {"scheduled": service.intent(sub)}
    elif sub["status"] in LIVE:
        change = {"status": sub["status"]}
    else:
        raise Conflict("fix_refused", f"A {sub['status']} subscription cannot be sent to Microsoft; use Microsoft's.")
    async with db.transaction():
        operation = await changes.queue_change(actor, sub, change)
        await audit.record(actor, "subscription", sub["id"], "health_pushed", before={field: drift["microsoft"]},
                           after={field: drift["ours"]})  # fmt: skip
    return operation


async def import_subscription(actor: Principal, customer_id: uuid.UUID, pc: m.Subscription) -> dict:
    """A subscription created directly in Partner Center, brought in at today's price for its offer. Its current
    period was billed outside Cloudseat: billing here starts with its next installment or renewal."""
    if await db.fetchval("SELECT 1 FROM subscriptions WHERE partner_center_id = $1", pc.id):
        raise Conflict("already_imported", "This subscription is already in Cloudseat.")
    try:
        offer = await catalog.get_offer(offer_of(pc))
    except NotFound:
        raise Conflict("offer_unknown", f"{offer_of(pc)} is not in the catalog; sync the catalog first.") from None
    account = (await db.fetch("SELECT * FROM accounts WHERE id = $1", customer_id))[0]
    now = clock.now()
    term, plan = pc.term_duration or "", (pc.billing_cycle or "none").lower()
    try:
        bought, sold = await catalog.quote_holder(
            account, offer, term=term, billing_plan=plan, at=now, seats=pc.quantity,
            settings=await catalog.catalog_settings(),
        )  # fmt: skip
    except catalog_rules.PriceUnavailable as unavailable:
        raise Conflict("price_unavailable", str(unavailable)) from None
    start, end = pc.effective_start_day, pc.commitment_end_day
    window = pc.cancellation_allowed_until_date
    billed_from = None
    if term and start and end and now.date() >= start:
        # from the next period: the current one was billed before Cloudseat knew the subscription
        period = billing_rules.billing_period(start, term, plan, now.date(), end)
        billed_from = period.end + timedelta(days=1)
    async with db.transaction():
        row = (
            await db.fetch(
                "INSERT INTO subscriptions (id, customer_id, bill_to_id, offer_id, title, partner_center_id, status, "
                "quantity, term, billing_plan, start_date, end_date, auto_renew, is_trial, currency, unit_price, "
                "customer_unit_price, cost_price, cost_currency, promotion_id, cancellation_window_ends_at, "
                "status_changed_at, billed_from, created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, $3, $4, "
                "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $20, $20) "
                "RETURNING *",
                customer_id,
                account["parent_id"] or customer_id,
                offer["id"],
                offer["title"],
                pc.id,
                (pc.status or "active").lower(),
                pc.quantity,
                term,
                plan,
                start,
                end,
                bool(pc.auto_renew_enabled),
                bool(pc.is_trial),
                bought.currency,
                bought.unit_price,
                sold.unit_price,
                bought.microsoft_cost,
                bought.microsoft_currency,
                pc.promotion_id,
                window,
                now,
                billed_from,
            )
        )[0]
        await changes.set_batches(row["id"], [(pc.quantity, window or now)], now)
        await audit.record(
            actor, "subscription", row["id"], "imported",
            after={"partner_center_id": pc.id, "quantity": pc.quantity, "billed_from": billed_from},
        )  # fmt: skip
    return row


async def unlinked_customers(settings: Settings) -> list[m.Customer]:
    """Partner Center's customers no Cloudseat account is linked to."""
    linked = {str(r["tenant_id"]) for r in await db.fetch("SELECT tenant_id FROM accounts WHERE tenant_id IS NOT NULL")}
    client = await job_client(settings)
    try:
        return [c async for c in client.list_customers() if c.id and c.id not in linked]
    finally:
        await client.aclose()


async def import_customer(actor: Principal, tenant_id: str, reseller_id: str | None, settings: Settings) -> dict:
    """A customer created directly in Partner Center becomes an account (its details from Microsoft's billing
    profile), with every live subscription it has there."""
    client = await job_client(settings)
    try:
        customer = await client.get_customer(tenant_id)
        subscriptions = await client.list_subscriptions(tenant_id)
    finally:
        await client.aclose()
    billing = customer.billing_profile or m.BillingProfile()
    address = billing.default_address or m.Address()
    company = customer.company_profile or m.CompanyProfile()
    country = (address.country or "").upper()
    currency = await db.fetchval("SELECT currency FROM catalog_prices WHERE market = $1 LIMIT 1", country)
    domain = (company.domain or "").removesuffix(".onmicrosoft.com")
    account = await accounts.create_customer(
        actor,
        {
            "name": billing.company_name or company.company_name or domain,
            "email": billing.email or company.email or "",
            "country": country,
            "currency": currency or "",
            "address_line1": address.address_line1 or "",
            "address_line2": address.address_line2 or "",
            "city": address.city or "",
            "state": address.state or "",
            "postal_code": address.postal_code or "",
            "tenant_id": tenant_id,
            "reseller_id": reseller_id or None,
        },
    )
    # Microsoft lists it among the partner's customers: the relationship exists, no GDAP step is needed
    await db.execute(
        "UPDATE accounts SET tenant_origin = 'created', tenant_domain = $2 WHERE id = $1", account["id"], domain or None
    )
    for pc in subscriptions:
        if (pc.status or "").lower() in LIVE and pc.term_duration is not None:
            await import_subscription(actor, account["id"], pc)
    return account


HANDLERS = {JOB: check}
