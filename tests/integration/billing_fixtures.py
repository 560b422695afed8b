"""Billing test data: a subscription and its charges written straight into the ledger (the charge arithmetic has its
own tests), so invoicing, payment and dunning tests start from the ledger they are about."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from app import clock, db


async def subscription(account: dict, *, bill_to: dict | None = None, title: str = "Microsoft 365 Business Basic",
                       plan: str = "monthly", status: str = "active", pc_id: str | None = None,
                       currency: str | None = None) -> dict:  # fmt: skip
    bill_to = bill_to or account
    now = clock.now()
    row = await db.fetchrow(
        "INSERT INTO subscriptions (id, customer_id, bill_to_id, offer_id, title, status, quantity, term, "
        "billing_plan, "
        "start_date, end_date, auto_renew, currency, unit_price, customer_unit_price, cost_price, cost_currency, "
        "partner_center_id, created_at, updated_at) VALUES ($1, $2, $3, 'CFQ7TTC0LH18:0001', $4, $5, 1, 'P1Y', $6, "
        "$7, $8, true, $9, 72, 72, 61.2, $9, $10, $11, $11) RETURNING *",
        uuid.uuid4(),
        account["id"],
        bill_to["id"],
        title,
        status,
        plan,
        now.date(),
        date(now.year + 1, now.month, 1),
        currency or bill_to["currency"],
        pc_id,
        now,
    )
    assert row is not None
    return row


async def charge(sub: dict, amount: str, *, posted_on: date | None = None, charge_type: str = "new",
                 quantity: int = 1, reason: str | None = None) -> int:  # fmt: skip
    """One charge line; `amount` is the line's total (per seat × quantity)."""
    posted_on = posted_on or clock.now().date()
    value = Decimal(amount)
    return int(
        await db.fetchval(  # type: ignore[arg-type]
            "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, "
            "period_end, per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, posted_on, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6::date, $6::date + 29, $7, $8, $9, 0, 0, $9, $6::date, $10) "
            "RETURNING id",
            sub["id"],
            sub["bill_to_id"],
            charge_type,
            reason or f"{charge_type}:{uuid.uuid4().hex[:8]}",
            quantity,
            posted_on,
            value / quantity,
            value,
            sub["currency"],
            clock.now(),
        )
    )
