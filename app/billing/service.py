"""The charge ledger and the bill-to account's exposure (NCE_RULES 5)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app import clock, db
from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.billing import rules
from app.errors import Forbidden
from app.money import FxRate, Money, conversion, fx_json, minor_units, round_amount

# committed installments: monthly plans of yearly terms owe every month of the term (NCE_RULES 5)
COMMITTED_SQL = """
SELECT s.id, s.quantity, s.term, s.billing_plan, s.unit_price, s.currency, s.start_date, s.end_date,
    (SELECT max(c.period_end) FROM charges c WHERE c.subscription_id = s.id AND c.period_start >= s.start_date)
        AS charged_until
FROM subscriptions s
WHERE s.bill_to_id = $1 AND s.status IN ('active', 'suspended') AND s.billing_plan = 'monthly'
  AND s.term IN ('P1Y', 'P3Y') AND s.end_date IS NOT NULL
"""


async def exposure(account_id: uuid.UUID) -> Money:
    """What the bill-to account owes or has committed to, in its currency (NCE_RULES 5); the credit checks compare
    it with the limit."""
    parts = await exposure_parts(account_id)
    return sum(parts.values(), Money.zero(next(iter(parts.values())).currency))


async def exposure_parts(account_id: uuid.UUID) -> dict[str, Money]:
    """Exposure by part, each in the bill-to's currency: open invoice balances (less open credit notes), uninvoiced
    charges, the remaining installments of monthly-billed yearly subscriptions (converted at today's rate when
    Microsoft prices them in another currency), and the credit held by orders and changes still at Microsoft."""
    row = await db.fetchrow(
        "SELECT (SELECT currency FROM accounts WHERE id = $1) AS currency, "
        "(SELECT coalesce(sum(CASE kind WHEN 'invoice' THEN total - amount_paid ELSE total + amount_paid END),"
        "        0) FROM invoices WHERE account_id = $1 AND status IN ('issued', 'partially_paid')) AS open_invoices, "
        "(SELECT coalesce(sum(amount), 0) FROM charges WHERE account_id = $1 AND invoice_id IS NULL) AS uninvoiced, "
        "(SELECT coalesce(sum(l.reserved), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id "
        " WHERE o.bill_to_id = $1 AND l.released_at IS NULL) AS held, "
        "(SELECT coalesce(sum(h.amount), 0) FROM credit_holds h JOIN operations op ON op.id = h.operation_id "
        " WHERE h.account_id = $1 AND op.status IN ('queued', 'running')) AS changes",
        account_id,
    )
    assert row is not None
    currency = str(row["currency"]).strip()
    subs = await db.fetch(COMMITTED_SQL, account_id)
    rates = await fx_rates({(str(s["currency"]).strip(), currency) for s in subs})
    today = clock.now().date()
    committed = Money.zero(currency)
    for sub in subs:
        committed += billed(remaining_installments(sub), str(sub["currency"]).strip(), currency, rates, today)
    return {
        "open_invoices": Money(row["open_invoices"], currency),
        "uninvoiced_charges": Money(row["uninvoiced"], currency),
        "committed_installments": committed,
        "pending_orders": Money(row["held"], currency),
        "pending_changes": Money(row["changes"], currency),
    }


def remaining_installments(sub: dict) -> Decimal:
    """The installments of the current term not charged yet, for the subscription's seats (in its price's
    currency)."""
    start = sub["start_date"] if sub["charged_until"] is None else sub["charged_until"] + timedelta(days=1)
    if start > sub["end_date"]:
        return Decimal(0)
    remaining = rules.term_commitment(
        start, sub["end_date"], sub["term"], sub["billing_plan"], sub["unit_price"], sub["currency"]
    )
    return remaining * sub["quantity"]


def billed(amount: Decimal, source: str, target: str, rates: list[FxRate], on: date) -> Money:
    """An amount Microsoft prices in `source` as the bill-to pays it in `target` (NCE_RULES 2); NoRate when no
    rate is in force."""
    converted = conversion(rates, source, target, on)
    return Money(converted.per_seat(amount) if converted else amount, target)


async def fx_rates(pairs: set[tuple[str, str]]) -> list[FxRate]:
    """Every rate of the currency pairs that need converting (pairs of one currency need none)."""
    pairs = {(a, b) for a, b in pairs if a != b}
    if not pairs:
        return []
    rows = await db.fetch(
        "SELECT from_currency, to_currency, effective_from, rate FROM fx_rates "
        "WHERE (from_currency, to_currency) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        [a for a, _ in pairs],
        [b for _, b in pairs],
    )
    return [FxRate(str(r["from_currency"]), str(r["to_currency"]), r["effective_from"], r["rate"]) for r in rows]


async def added_commitment(
    sub: dict, seats: int, on: date, bill_currency: str, unit_price: Decimal | None = None
) -> Money:
    """What `seats` more seats of `sub` commit its bill-to to from `on` until the term ends (the rest of the current
    period, then each later one), at its locked price or at `unit_price`, in the bill-to's currency."""
    if not sub["term"] or not sub["end_date"] or on > sub["end_date"]:
        return Money.zero(bill_currency)
    currency = str(sub["currency"]).strip()
    price = sub["unit_price"] if unit_price is None else unit_price
    per_seat = rules.commitment_from(
        sub["start_date"], sub["end_date"], sub["term"], sub["billing_plan"], price, currency, on
    )
    return billed(per_seat, currency, bill_currency, await fx_rates({(currency, bill_currency)}), on).times(seats)


async def hold_credit(account_id: uuid.UUID, operation_id: uuid.UUID, amount: Money) -> None:
    """A queued change's commitment counts in its bill-to's exposure until its operation ends (NCE_RULES 4)."""
    if amount.amount <= 0:
        return
    await db.execute(
        "INSERT INTO credit_holds (operation_id, account_id, amount, currency, created_at) VALUES ($1, $2, $3, $4, $5)",
        operation_id,
        account_id,
        amount.amount,
        amount.currency,
        clock.now(),
    )


async def post_charge(subscription: dict, charge_type: str, reason: str, quantity: int, on: date) -> None:
    """One charge line for `quantity` seats from `on` to the end of its billing period."""
    await post_charges(subscription, charge_type, [(reason, quantity, 1)], on)


async def post_charges(subscription: dict, charge_type: str, lines: list[tuple[str, int, int]], on: date) -> None:
    """Charge lines `(reason, quantity, sign)` for seats from `on` to the end of their billing period (NCE_RULES 5:
    a change posts the old quantity reversed, sign -1, and the new one charged)."""
    await post_many(
        [ChargeLine(subscription, charge_type, reason, quantity, sign, on) for reason, quantity, sign in lines]
    )


@dataclass(frozen=True)
class ChargeLine:
    subscription: dict
    charge_type: str
    reason: str  # the event and side it bills; unique per subscription and period
    quantity: int
    sign: int
    on: date


def _priced(line: ChargeLine, bill_currency: str, rates: list[FxRate]) -> tuple:
    """The line's period, per-seat amount and per-seat cost: the subscription's locked price and Microsoft's cost
    for the same seats and days. A price in another currency than the bill-to's is converted per seat at the rate
    in force on the charge's day, and the line keeps where it came from (NCE_RULES 2)."""
    sub = line.subscription
    currency = str(sub["currency"]).strip()
    if sub["term"]:
        period, per_seat = rules.charge_from(
            sub["start_date"], sub["end_date"], sub["term"], sub["billing_plan"], sub["unit_price"],
            currency, line.on,
        )  # fmt: skip
        _, cost = rules.charge_from(
            sub["start_date"], sub["end_date"], sub["term"], sub["billing_plan"], sub["cost_price"],
            sub["cost_currency"], line.on,
        )  # fmt: skip
    else:  # a perpetual licence: billed once
        period, per_seat, cost = rules.Period(line.on, line.on), sub["unit_price"], sub["cost_price"]
    sign = line.sign
    converted = conversion(rates, currency, bill_currency, line.on)
    billed_per_seat = converted.per_seat(per_seat) if converted else per_seat
    return (
        sub["id"], sub["bill_to_id"], line.charge_type, line.reason, line.quantity, period.start, period.end,
        sign * billed_per_seat, sign * billed_per_seat * line.quantity, bill_currency, sign * cost,
        sign * cost * line.quantity, sub["cost_currency"], line.on,
        converted.rate if converted else None, currency if converted else None,
        sign * per_seat if converted else None, sign * per_seat * line.quantity if converted else None,
    )  # fmt: skip


async def post_many(lines: list[ChargeLine]) -> int:
    """The one charge writer: every line in one statement, idempotent per subscription, period and reason.
    Returns how many were new. NoRate when a line needs a rate and none is in force."""
    if not lines:
        return 0
    bill_currencies = {
        r["id"]: str(r["currency"]).strip()
        for r in await db.fetch(
            "SELECT id, currency FROM accounts WHERE id = ANY($1::uuid[])",
            list({line.subscription["bill_to_id"] for line in lines}),
        )
    }
    rates = await fx_rates(
        {(str(ln.subscription["currency"]).strip(), bill_currencies[ln.subscription["bill_to_id"]]) for ln in lines}
    )
    priced = (_priced(line, bill_currencies[line.subscription["bill_to_id"]], rates) for line in lines)
    columns = list(zip(*priced, strict=True))
    status = await db.execute(
        "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, period_end, "
        "per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, posted_on, fx_rate, "
        "source_currency, source_per_seat, source_amount, created_at) "
        "SELECT s, a, t, r, q, ps, pe, u, amt, cur, cu, camt, ccur, po, fx, src, su, samt, $19 "
        "FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::date[], $7::date[], "
        "$8::numeric[], $9::numeric[], $10::text[], $11::numeric[], $12::numeric[], $13::text[], $14::date[], "
        "$15::numeric[], $16::text[], $17::numeric[], $18::numeric[]) "
        "AS c(s, a, t, r, q, ps, pe, u, amt, cur, cu, camt, ccur, po, fx, src, su, samt) "
        "ON CONFLICT (subscription_id, period_start, reason) DO NOTHING",
        *[list(column) for column in columns],
        clock.now(),
    )
    return int(status.split()[-1])


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
        "fx": fx_json(row["fx_rate"], row["source_currency"], row["currency"], row["source_amount"]),
        "period_start": row["period_start"].isoformat(),
        "period_end": row["period_end"].isoformat(),
        "invoice_id": str(row["invoice_id"]) if row["invoice_id"] else None,
    }


async def account_charges(
    viewer: Principal, account_id: uuid.UUID, *, uninvoiced: bool, limit: int, offset: int
) -> tuple[list[dict], int]:
    """API.md `GET /accounts/{id}/charges`: what the account is billed for (as bill-to), or for a reseller's
    customer the lines of its subscriptions on the reseller's bill (the reseller's and the CSP's view only)."""
    account = await accounts.get_account(viewer, account_id)
    if viewer.role == "customer_admin" and account["parent_id"] is not None:
        raise Forbidden("Your reseller bills you: its invoices are not shown here.")
    rows = await db.fetch(
        "SELECT c.*, count(*) OVER () AS matches FROM charges c JOIN subscriptions s ON s.id = c.subscription_id "
        "WHERE (c.account_id = $1 OR s.customer_id = $1) AND (NOT $2 OR c.invoice_id IS NULL) "
        f"ORDER BY c.id LIMIT {int(limit)} OFFSET {int(offset)}",
        account_id,
        uninvoiced,
    )
    return [charge_json(r) for r in rows], int(rows[0]["matches"]) if rows else 0


# NCE_RULES 5: an upfront term is earned day by day and the last day takes the remainder. Each charge's running
# total earned by a month's end is rounded to the currency's minor unit ($2, $3) and the month earns the difference
# from the month before: every month is in cents, and the month of period_end brings the charge to its amount
# exactly (rounding each month's share on its own lets the cents drift, e.g. 151.75 earned of 151.76 billed).
DEFERRED_SQL = """
WITH minor(currency, places) AS (SELECT * FROM unnest($2::text[], $3::int[])),
upfront AS (
    SELECT c.amount, c.currency, c.posted_on, c.period_start, c.period_end, m.places,
           (c.period_end - c.period_start + 1) AS days
    FROM charges c JOIN subscriptions s ON s.id = c.subscription_id JOIN minor m ON m.currency = c.currency
    WHERE s.billing_plan IN ('annual', 'triennial') AND c.period_end > c.period_start
      AND ($1::text IS NULL OR c.currency = $1)
), shares AS (
    SELECT u.currency, m::date AS month,
           round(u.amount * (least((m + interval '1 month')::date - 1, u.period_end) - u.period_start + 1) / u.days,
                 u.places)
           - round(u.amount * (greatest(m::date, u.period_start) - u.period_start) / u.days, u.places) AS recognised,
           0 AS billed
    FROM upfront u
    CROSS JOIN LATERAL generate_series(date_trunc('month', u.period_start), u.period_end, interval '1 month') m
    UNION ALL
    SELECT currency, date_trunc('month', posted_on)::date, 0, amount FROM upfront
)
SELECT currency, month, sum(billed) AS billed, sum(recognised) AS recognised
FROM shares GROUP BY currency, month ORDER BY currency, month
"""


async def deferred_revenue(currency: str | None = None) -> list[dict]:
    """Deferred revenue of upfront plans: per currency and month, what was billed, what was earned (recognised) and
    what is still to earn at the month's end (0 once every term has ended)."""
    currencies = [str(c).strip() for c in await db.fetch_column("SELECT DISTINCT currency FROM charges")]
    items = []
    deferred: dict[str, Decimal] = {}
    rows = await db.fetch(DEFERRED_SQL, currency, currencies, [minor_units(c) for c in currencies])
    for row in rows:
        cur = row["currency"]
        billed, recognised = round_amount(row["billed"], cur), round_amount(row["recognised"], cur)
        deferred[cur] = deferred.get(cur, Decimal(0)) + billed - recognised
        items.append({
            "currency": cur, "month": row["month"].strftime("%Y-%m"), "billed": str(billed),
            "recognised": str(recognised), "deferred": str(deferred[cur]),
        })  # fmt: skip
    return items
