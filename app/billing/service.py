"""The charge ledger and the bill-to account's exposure (NCE_RULES 5)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from app import clock, db
from app.billing import rules
from app.money import round_amount

# committed installments: monthly plans of yearly terms owe every month of the term (NCE_RULES 5)
COMMITTED_SQL = """
SELECT s.id, s.quantity, s.term, s.billing_plan, s.unit_price, s.currency, s.start_date, s.end_date,
    (SELECT max(c.period_end) FROM charges c WHERE c.subscription_id = s.id AND c.period_start >= s.start_date)
        AS charged_until
FROM subscriptions s
WHERE s.bill_to_id = $1 AND s.status IN ('active', 'suspended') AND s.billing_plan = 'monthly'
  AND s.term IN ('P1Y', 'P3Y') AND s.end_date IS NOT NULL
"""


async def exposure(account_id: uuid.UUID) -> Decimal:
    """What the bill-to account owes or has committed to: uninvoiced charges, the remaining installments of its
    monthly-billed yearly subscriptions, and the credit held by orders still provisioning. (Open invoice
    balances join it with invoicing.)"""
    held = await db.fetchval(
        "SELECT (SELECT coalesce(sum(amount), 0) FROM charges WHERE account_id = $1 AND invoice_id IS NULL) "
        "+ (SELECT coalesce(sum(l.reserved), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "   WHERE o.bill_to_id = $1 AND l.released_at IS NULL)",
        account_id,
    )
    total = Decimal(str(held))
    for sub in await db.fetch(COMMITTED_SQL, account_id):
        total += remaining_installments(sub)
    return total


def remaining_installments(sub: dict) -> Decimal:
    """The installments of the current term not charged yet, for the subscription's seats."""
    start = sub["start_date"] if sub["charged_until"] is None else sub["charged_until"] + timedelta(days=1)
    if start > sub["end_date"]:
        return Decimal(0)
    remaining = rules.term_commitment(
        start, sub["end_date"], sub["term"], sub["billing_plan"], sub["unit_price"], sub["currency"]
    )
    return remaining * sub["quantity"]


async def post_charge(subscription: dict, charge_type: str, reason: str, quantity: int, on: date) -> None:
    """One charge line for `quantity` seats from `on` to the end of its billing period."""
    await post_charges(subscription, charge_type, [(reason, quantity, 1)], on)


async def post_charges(subscription: dict, charge_type: str, lines: list[tuple[str, int, int]], on: date) -> None:
    """Charge lines `(reason, quantity, sign)` for seats from `on` to the end of their billing period, at the
    subscription's locked price and Microsoft's cost for the same seats and days (NCE_RULES 5: a change posts
    the old quantity reversed, sign -1, and the new one charged); idempotent per subscription, period and
    reason."""
    sub = subscription
    if sub["term"]:
        period, per_seat = rules.charge_from(
            sub["start_date"], sub["end_date"], sub["term"], sub["billing_plan"], sub["unit_price"],
            sub["currency"], on,
        )  # fmt: skip
        _, cost = rules.charge_from(
            sub["start_date"], sub["end_date"], sub["term"], sub["billing_plan"], sub["cost_price"],
            sub["cost_currency"], on,
        )  # fmt: skip
    else:  # a perpetual licence: billed once
        period, per_seat, cost = rules.Period(on, on), sub["unit_price"], sub["cost_price"]
    await db.execute(
        "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, period_end, "
        "per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, created_at) "
        "SELECT $1, $2, $3, c.reason, c.quantity, $4, $5, c.sign * $6::numeric, c.sign * $6::numeric * c.quantity, "
        "$7, c.sign * $8::numeric, c.sign * $8::numeric * c.quantity, $9, $10 "
        "FROM unnest($11::text[], $12::int[], $13::int[]) AS c(reason, quantity, sign) "
        "ON CONFLICT (subscription_id, period_start, reason) DO NOTHING",
        sub["id"],
        sub["bill_to_id"],
        charge_type,
        period.start,
        period.end,
        per_seat,
        sub["currency"],
        cost,
        sub["cost_currency"],
        clock.now(),
        [reason for reason, _, _ in lines],
        [quantity for _, quantity, _ in lines],
        [sign for _, _, sign in lines],
    )


async def charges_json(subscription_id: uuid.UUID) -> list[dict]:
    rows = await db.fetch("SELECT * FROM charges WHERE subscription_id = $1 ORDER BY id", subscription_id)
    return [charge_json(r) for r in rows]


def charge_json(row: dict) -> dict:
    """API.md Billing: a charge line."""
    return {
        "id": row["id"],
        "subscription_id": str(row["subscription_id"]),
        "charge_type": row["charge_type"],
        "quantity": row["quantity"],
        "per_seat_amount": str(round_amount(row["per_seat_amount"], row["currency"])),
        "amount": str(round_amount(row["amount"], row["currency"])),
        "cost_amount": str(round_amount(row["cost_amount"], row["cost_currency"])),
        "currency": row["currency"],
        "period_start": row["period_start"].isoformat(),
        "period_end": row["period_end"].isoformat(),
        "invoice_id": str(row["invoice_id"]) if row["invoice_id"] else None,
    }
