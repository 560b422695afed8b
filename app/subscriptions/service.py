"""Reading subscriptions for the API and the pages (API.md, Subscriptions)."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from decimal import Decimal

from app import clock, db
from app.accounts.rules import AccountRef, Principal, can_see, scope_sql
from app.audit import service as audit
from app.billing import rules as billing_rules
from app.errors import Invalid, NotFound
from app.money import round_amount
from app.subscriptions import rules

STATUSES = ("pending", "active", "suspended", "cancelled", "expired", "disabled", "deleted")
SELECT_SQL = """
SELECT s.*, a.parent_id, a.name AS customer_name,
    ARRAY(SELECT ROW(b.quantity, b.window_ends_at) FROM subscription_seat_batches b
          WHERE b.subscription_id = s.id) AS batches,
    count(*) OVER () AS total
FROM subscriptions s JOIN accounts a ON a.id = s.customer_id
"""


async def list_subscriptions(
    viewer: Principal,
    *,
    customer_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    offset: int,
    q: str | None = None,
    ending_within: int | None = None,
) -> tuple[list[dict], int]:
    """The viewer's subscriptions, newest first; `q` matches the offer's title or id, `ending_within` keeps those
    whose term ends in that many days."""
    if status is not None and status not in STATUSES:
        raise Invalid({"status": f"status is one of {', '.join(STATUSES)}."})
    args: list = []
    where = [scope_sql(viewer, "a.id", "a.parent_id", args)]
    if customer_id is not None:
        args.append(customer_id)
        where.append(f"s.customer_id = ${len(args)}")
    if status is not None:
        args.append(status)
        where.append(f"s.status = ${len(args)}")
    if q:
        args.append(f"%{q.strip()}%")
        where.append(f"(s.title ILIKE ${len(args)} OR s.offer_id ILIKE ${len(args)})")
    if ending_within is not None:
        today = clock.now().date()
        args.extend([today, today + timedelta(days=ending_within)])
        where.append(f"s.status IN ('active', 'suspended') AND s.end_date BETWEEN ${len(args) - 1} AND ${len(args)}")
    order = "s.end_date, s.id" if ending_within is not None else "s.created_at DESC, s.id"
    rows = await db.fetch(
        f"{SELECT_SQL} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {int(limit)} OFFSET {int(offset)}",
        *args,
    )
    return [dict(subscription_json(r, viewer), customer_name=r["customer_name"]) for r in rows], (
        int(rows[0]["total"]) if rows else 0
    )


async def renewals(viewer: Principal, days: int) -> list[dict]:
    """The renewal calendar: what renews or ends in the next `days` days, with what the renewal charges at the
    locked price and the scheduled quantity (Microsoft's price for the next term may differ)."""
    items, _ = await list_subscriptions(viewer, customer_id=None, status=None, limit=500, offset=0, ending_within=days)
    calendar = []
    for item in items:
        scheduled = item["scheduled_change"] or {}
        renews = item["auto_renew"] and item["status"] == "active" and not item["is_trial"]
        quantity = scheduled.get("quantity", item["quantity"])
        first = None
        if renews and item["term"]:
            start = date.fromisoformat(item["end_date"]) + timedelta(days=1)
            end = billing_rules.term_end(start, item["term"])
            _, per_seat = billing_rules.charge_from(
                start, end, item["term"], item["billing_plan"], Decimal(item["unit_price"]), item["currency"], start
            )
            first = per_seat * quantity
        calendar.append({**item, "renews": renews, "renewal_quantity": quantity, "renewal_charge": first})
    return calendar


def seat_preview(sub: dict, price: Decimal, new_quantity: int, today: date) -> dict:
    """What a seat change charges or refunds now (NCE_RULES 5: the old quantity reversed and the new one charged
    for the rest of the billing period), and what each following period costs."""
    if not sub["term"] or not sub["end_date"] or today > sub["end_date"]:
        return {"now": Decimal(0), "per_seat": Decimal(0), "days_left": 0, "next": None, "period": None}
    period, per_seat = billing_rules.charge_from(
        sub["start_date"], sub["end_date"], sub["term"], sub["billing_plan"], price, sub["currency"], today
    )
    next_charge = None
    if sub["billing_plan"] == "monthly" and period.end < sub["end_date"]:
        _, installment = billing_rules.charge_from(
            sub["start_date"], sub["end_date"], sub["term"], sub["billing_plan"], price, sub["currency"],
            period.end + timedelta(days=1),
        )  # fmt: skip
        next_charge = {"on": period.end + timedelta(days=1), "amount": installment * new_quantity}
    return {
        "now": per_seat * (new_quantity - sub["quantity"]),
        "per_seat": per_seat,
        "days_left": (period.end - today).days + 1,
        "period": period,
        "next": next_charge,
    }


async def get_row(viewer: Principal, subscription_id: uuid.UUID) -> dict:
    """The subscription's row with its seat batches, if the viewer may see it."""
    rows = await db.fetch(f"{SELECT_SQL} WHERE s.id = $1", subscription_id)
    if not rows or not can_see(viewer, AccountRef(rows[0]["customer_id"], "customer", rows[0]["parent_id"])):
        raise NotFound("This subscription was not found.")
    return rows[0]


async def get_subscription(viewer: Principal, subscription_id: uuid.UUID) -> dict:
    return subscription_json(await get_row(viewer, subscription_id), viewer)


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


def intent(row: dict) -> dict | None:
    """The renewal intent Cloudseat keeps (NCE_RULES 4): `{quantity, offer_id, term, billing_plan,
    coterm_end_date?}` or None."""
    value = row["scheduled_change"]
    return json.loads(value) if isinstance(value, str) else value


def scheduled_json(row: dict) -> dict | None:
    """API.md's `scheduled_change`."""
    change = intent(row)
    if not change:
        return None
    return {k: change[k] for k in ("quantity", "offer_id", "term", "billing_plan")}
