"""Reading subscriptions for the API and the pages (API.md, Subscriptions)."""

from __future__ import annotations

import json
import uuid

from app import clock, db
from app.accounts.rules import AccountRef, Principal, can_see
from app.audit import service as audit
from app.errors import Invalid, NotFound
from app.money import round_amount
from app.subscriptions import rules

STATUSES = ("pending", "active", "suspended", "cancelled", "expired", "disabled", "deleted")
SELECT_SQL = """
SELECT s.*, a.parent_id,
    ARRAY(SELECT ROW(b.quantity, b.window_ends_at) FROM subscription_seat_batches b
          WHERE b.subscription_id = s.id) AS batches,
    count(*) OVER () AS total
FROM subscriptions s JOIN accounts a ON a.id = s.customer_id
"""


def _scope(viewer: Principal, args: list) -> str:
    if viewer.role == "csp_admin":
        return "TRUE"
    args.append(viewer.account_id)
    if viewer.role == "reseller_admin":
        return f"a.parent_id = ${len(args)}"
    return f"a.id = ${len(args)}"


async def list_subscriptions(
    viewer: Principal, *, customer_id: uuid.UUID | None, status: str | None, limit: int, offset: int
) -> tuple[list[dict], int]:
    if status is not None and status not in STATUSES:
        raise Invalid({"status": f"status is one of {', '.join(STATUSES)}."})
    args: list = []
    where = [_scope(viewer, args)]
    if customer_id is not None:
        args.append(customer_id)
        where.append(f"s.customer_id = ${len(args)}")
    if status is not None:
        args.append(status)
        where.append(f"s.status = ${len(args)}")
    rows = await db.fetch(
        f"{SELECT_SQL} WHERE {' AND '.join(where)} ORDER BY s.created_at DESC, s.id "
        f"LIMIT {int(limit)} OFFSET {int(offset)}",
        *args,
    )
    return [subscription_json(r, viewer) for r in rows], int(rows[0]["total"]) if rows else 0


async def get_subscription(viewer: Principal, subscription_id: uuid.UUID) -> dict:
    rows = await db.fetch(f"{SELECT_SQL} WHERE s.id = $1", subscription_id)
    if not rows or not can_see(viewer, AccountRef(rows[0]["customer_id"], "customer", rows[0]["parent_id"])):
        raise NotFound("This subscription was not found.")
    return subscription_json(rows[0], viewer)


def subscription_json(row: dict, viewer: Principal) -> dict:
    """API.md Subscriptions. The price is the viewer's: a customer sees its own, the reseller and the CSP what
    the bill-to pays."""
    now = clock.now()
    batches = [(int(quantity), until) for quantity, until in row["batches"]]
    window = rules.window_ends_at(batches, now)
    price = row["customer_unit_price"] if viewer.role == "customer_admin" else row["unit_price"]
    return {
        "id": str(row["id"]),
        "customer_id": str(row["customer_id"]),
        "offer_id": row["offer_id"],
        "title": row["title"],
        "status": row["status"],
        "quantity": row["quantity"],
        "term": row["term"],
        "billing_plan": row["billing_plan"],
        "start_date": row["start_date"].isoformat() if row["start_date"] else None,
        "end_date": row["end_date"].isoformat() if row["end_date"] else None,
        "auto_renew": row["auto_renew"],
        "unit_price": str(round_amount(price, row["currency"])),
        "currency": row["currency"],
        "promotion_id": row["promotion_id"],
        "refundable_quantity": rules.refundable_quantity(batches, now),
        "cancellation_window_ends_at": window.isoformat().replace("+00:00", "Z") if window else None,
        "scheduled_change": scheduled_json(row),
        "is_trial": row["is_trial"],
        "partner_center_id": row["partner_center_id"],
    }


async def events(viewer: Principal, subscription_id: uuid.UUID) -> list[dict]:
    """The subscription's change log (NCE_RULES 4): who, when, what, before and after, newest first."""
    await get_subscription(viewer, subscription_id)  # 404 outside the viewer's scope
    return [
        {
            "at": e["at"].isoformat().replace("+00:00", "Z"),
            "actor": e["actor"],
            "action": e["action"],
            "before": e["before"],
            "after": e["after"],
        }
        for e in await audit.history("subscription", subscription_id, limit=200)
    ]


def scheduled_json(row: dict) -> dict | None:
    value = row["scheduled_change"]
    change = json.loads(value) if isinstance(value, str) else value
    if not change:
        return None
    return {k: change[k] for k in ("quantity", "offer_id", "term", "billing_plan")}
