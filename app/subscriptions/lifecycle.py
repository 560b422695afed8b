"""Time-driven work on subscriptions (NCE_RULES 4, 5), asked for by the scheduler tick with the app clock:

- monthly installments (`cycle` charges) on the subscription's start day, set-based;
- at term end, a job per subscription reads what Partner Center did (renewed or expired) and follows it:
  a renewal is a new term at the price then in force, with the promotion Microsoft re-evaluated, the scheduled
  change applied, a new 168-hour window and its `renew` charge;
- expired -> disabled after 30 days -> deleted after 90 more, dated from the term's end.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from app import clock, db, money
from app.audit import service as audit
from app.billing import locks
from app.billing import rules as billing_rules
from app.billing import service as billing
from app.catalog import rules as catalog_rules
from app.catalog import service as catalog
from app.config import Settings
from app.jobs import queue
from app.partner_center import models as m
from app.partner_center.connection import job_client
from app.subscriptions import changes, rules

JOB = "subscription_term_end"
RECHECK = timedelta(hours=1)  # how often a term end Microsoft has not acted on yet is looked at again

# every monthly installment due by $1 and not charged yet, charged in one statement (NCE_RULES 5, the same
# arithmetic as billing.rules.charge_from): the k-th month starts k months after the term's start (PostgreSQL
# clamps to the month's end like add_months), N is that whole month's days, R the days it runs before the term
# ends, and each seat pays round(term price / months x R / N) in the currency's minor unit
CHARGE_CYCLES_SQL = """
WITH minor(currency, places) AS (SELECT * FROM unnest($3::text[], $4::int[])),
due AS (
    SELECT s.id, s.bill_to_id, s.quantity, s.currency, s.cost_currency, s.unit_price, s.cost_price, s.end_date,
           b.currency AS bill_currency, t.months, (s.start_date + make_interval(months => k))::date AS ps,
           (s.start_date + make_interval(months => k + 1))::date AS ns
    FROM subscriptions s
    JOIN accounts b ON b.id = s.bill_to_id
    CROSS JOIN LATERAL (SELECT CASE s.term WHEN 'P1Y' THEN 12 ELSE 36 END AS months) t
    -- the months begun by $1 (age() counts a clamped month one short, hence the + 1; the date test below decides)
    CROSS JOIN LATERAL generate_series(
        1, least(t.months - 1, (extract(year FROM age($1::date, s.start_date)) * 12
                                + extract(month FROM age($1::date, s.start_date)))::int + 1)) AS k
    WHERE s.billing_plan = 'monthly' AND s.term IN ('P1Y', 'P3Y') AND s.status IN ('active', 'suspended')
      AND s.start_date IS NOT NULL AND s.end_date IS NOT NULL
      AND (s.start_date + make_interval(months => k))::date <= least($1::date, s.end_date)
      AND (s.start_date + make_interval(months => k))::date >= coalesce(s.billed_from, s.start_date)
      AND NOT EXISTS (SELECT 1 FROM charges c WHERE c.subscription_id = s.id AND c.reason = 'cycle'
                      AND c.period_start = (s.start_date + make_interval(months => k))::date)
),
priced AS (
    SELECT d.*, least(d.ns - 1, d.end_date) AS pe,
           round(d.unit_price / d.months * (least(d.ns - 1, d.end_date) - d.ps + 1) / (d.ns - d.ps), sell.places)
               AS source_per_seat,
           round(d.cost_price / d.months * (least(d.ns - 1, d.end_date) - d.ps + 1) / (d.ns - d.ps), cost.places)
               AS cost,
           fx.rate, bill.places AS bill_places
    FROM due d JOIN minor sell ON sell.currency = d.currency JOIN minor cost ON cost.currency = d.cost_currency
    JOIN minor bill ON bill.currency = d.bill_currency
    -- NCE_RULES 2: a price in another currency than the bill-to's is converted at the rate in force on the
    -- installment's day, per seat; without one the installment waits for the next pass (the orders and changes
    -- that need a rate were refused without one, so only a rate deleted since leaves one waiting)
    LEFT JOIN LATERAL (SELECT f.rate FROM fx_rates f WHERE d.currency <> d.bill_currency
                       AND f.from_currency = d.currency AND f.to_currency = d.bill_currency
                       AND f.effective_from <= d.ps ORDER BY f.effective_from DESC LIMIT 1) fx ON true
    WHERE d.currency = d.bill_currency OR fx.rate IS NOT NULL
),
billed AS (
    SELECT p.*, CASE WHEN p.rate IS NULL THEN p.source_per_seat
                     ELSE round(p.source_per_seat * p.rate, p.bill_places) END AS per_seat
    FROM priced p
)
INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, period_end,
                     per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, created_at,
                     posted_on, fx_rate, source_currency, source_per_seat, source_amount)
SELECT id, bill_to_id, 'cycle', 'cycle', quantity, ps, pe, per_seat, per_seat * quantity, bill_currency, cost,
       cost * quantity, cost_currency, $2, ps, rate, CASE WHEN rate IS NOT NULL THEN currency END,
       CASE WHEN rate IS NOT NULL THEN source_per_seat END,
       CASE WHEN rate IS NOT NULL THEN source_per_seat * quantity END
FROM billed
ON CONFLICT (subscription_id, period_start, reason) DO NOTHING
"""


async def due(now: datetime) -> dict[str, int]:
    """What fell due by `now`. Idempotent, and safe from several processes at once: charges are unique per
    subscription, period and reason; a term end is claimed by one process per hour."""
    today = now.date()
    counts = {"cycle_charges": await charge_cycles(today) if await claim_day("cycles", today) else 0}
    # many subscriptions and no account in one statement: taken by id (the lock order of app/billing/locks.py)
    claimed = await db.fetch(
        "UPDATE subscriptions SET term_checked_at = $2 WHERE id IN (SELECT id FROM subscriptions "
        "WHERE status IN ('active', 'suspended') AND end_date < $1 AND term <> '' AND partner_center_id IS NOT NULL "
        "AND (term_checked_at IS NULL OR term_checked_at <= $3) ORDER BY id FOR NO KEY UPDATE) "
        "RETURNING id, end_date",
        today,
        now,
        now - RECHECK,
    )

    await queue.enqueue_many(
        JOB, [({"subscription_id": str(r["id"])}, f"{JOB}:{r['id']}:{r['end_date']}") for r in claimed]
    )
    counts["term_ends"] = len(claimed)
    counts.update(await expiry_chain(today))
    return counts


async def claim_day(name: str, today: date) -> bool:
    """True for the first process to ask on a new day: a daily pass runs once per day, not once per tick."""
    claimed = await db.fetchval(
        "INSERT INTO scheduler_days (name, last_day) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET last_day = EXCLUDED.last_day "
        "WHERE scheduler_days.last_day < EXCLUDED.last_day "
        "RETURNING true",
        name,
        today,
    )
    return bool(claimed)


async def charge_cycles(today: date) -> int:
    """Monthly plans charge each month on the subscription's start day, suspended or not (NCE_RULES 4, 5)."""
    rows = await db.fetch(
        "SELECT DISTINCT c FROM subscriptions s JOIN accounts b ON b.id = s.bill_to_id, "
        "LATERAL (VALUES (s.currency), (s.cost_currency), (b.currency)) AS v(c) WHERE s.billing_plan = 'monthly'"
    )
    currencies = [str(r["c"]).strip() for r in rows]
    status = await db.execute(
        CHARGE_CYCLES_SQL, today, clock.now(), currencies, [money.minor_units(c) for c in currencies]
    )
    return int(status.split()[-1])


async def expiry_chain(today: date) -> dict[str, int]:
    """Expired for 30 days -> disabled; disabled for 90 days -> deleted. Each step is dated the day it fell due,
    so a clock moved far still shows the dates Microsoft would. Many subscriptions at once: taken by id (the lock
    order of app/billing/locks.py)."""
    disabled = await db.fetch(
        "UPDATE subscriptions SET status = 'disabled', updated_at = now(), "
        "status_changed_at = (end_date + $2::int + 1)::timestamp AT TIME ZONE 'UTC' "
        "WHERE id IN (SELECT id FROM subscriptions WHERE status = 'expired' AND end_date + $2::int < $1 "
        "ORDER BY id FOR NO KEY UPDATE) RETURNING id, status_changed_at",
        today,
        rules.EXPIRED_DAYS,
    )
    deleted = await db.fetch(
        "UPDATE subscriptions SET status = 'deleted', "
        "status_changed_at = status_changed_at + make_interval(days => $2), updated_at = now() "
        "WHERE id IN (SELECT id FROM subscriptions WHERE status = 'disabled' "
        "AND status_changed_at + make_interval(days => $2) <= $1::date ORDER BY id FOR NO KEY UPDATE) "
        "RETURNING id, status_changed_at",
        today,
        rules.DISABLED_DAYS,
    )
    for before, status, rows in (("expired", "disabled", disabled), ("disabled", "deleted", deleted)):
        await audit.record_many(
            "subscription", status,
            [(r["id"], {"status": before}, {"status": status, "on": r["status_changed_at"].date()}) for r in rows],
        )  # fmt: skip
    return {"disabled": len(disabled), "deleted": len(deleted)}


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


async def term_end(payload: dict, settings: Settings) -> None:
    """One subscription past its term's end: follow what Partner Center did. Not acted on yet: nothing changes,
    and the scheduler looks again within the hour."""
    sub_id = uuid.UUID(payload["subscription_id"])
    rows = await db.fetch("SELECT * FROM subscriptions WHERE id = $1", sub_id)
    if not rows or rows[0]["status"] not in ("active", "suspended") or rows[0]["end_date"] >= clock.now().date():
        return
    sub = rows[0]
    tenant = await db.fetchval("SELECT tenant_id FROM accounts WHERE id = $1", sub["customer_id"])
    client = await job_client(settings)
    try:
        pc = await client.get_subscription(str(tenant), sub["partner_center_id"])
    finally:
        await client.aclose()
    status = (pc.status or "").lower()
    if status in ("expired", "disabled", "deleted"):
        await _expired(sub)
        return
    pc_end = pc.commitment_end_day
    if status in ("active", "suspended") and pc_end and pc_end > sub["end_date"]:
        await _renewed(sub, pc, pc_end)


async def _expired(sub: dict) -> None:
    async with db.transaction():
        current = await locks.subscription(sub["id"])  # its bill-to account first (app/billing/locks.py)
        if current["status"] not in ("active", "suspended") or current["end_date"] != sub["end_date"]:
            return
        await db.execute(
            "UPDATE subscriptions SET status = 'expired', auto_renew = false, scheduled_change = NULL, "
            "status_changed_at = $2, updated_at = $3 WHERE id = $1",
            sub["id"],
            midnight(sub["end_date"] + timedelta(days=1)),
            clock.now(),
        )
        await changes.set_batches(sub["id"], [], clock.now())
        await audit.record(
            None, "subscription", sub["id"], "expired",
            before={"status": current["status"], "auto_renew": current["auto_renew"]},
            after={"status": "expired", "on": (sub["end_date"] + timedelta(days=1)).isoformat()},
        )  # fmt: skip


async def _renewed(sub: dict, pc: m.Subscription, pc_end: date) -> None:
    """Term after term until Microsoft's end date (a clock moved far renews several times), each at the price in
    force on its first day and charged like Microsoft's `renew` line."""
    offer = await catalog.get_offer(rules.catalog_offer_id(pc.offer_id or sub["offer_id"]))
    account = (await db.fetch("SELECT * FROM accounts WHERE id = $1", sub["customer_id"]))[0]
    settings = await catalog.catalog_settings()
    term = pc.term_duration or sub["term"]
    plan = (pc.billing_cycle or sub["billing_plan"]).lower()
    quantity = pc.quantity or sub["quantity"]
    async with db.transaction():
        current = await locks.subscription(sub["id"])  # its bill-to account first (app/billing/locks.py)
        if current["end_date"] != sub["end_date"] or current["status"] not in ("active", "suspended"):
            return
        start, renewed = sub["end_date"] + timedelta(days=1), dict(current)
        lines = []
        while start <= pc_end:
            end = min(billing_rules.term_end(start, term), pc_end)  # a scheduled co-term date ends it sooner
            bought: catalog_rules.Quote | None
            sold: catalog_rules.Quote | None
            try:
                bought, sold = await catalog.quote_holder(
                    account, offer, term=term, billing_plan=plan, at=midnight(start), seats=quantity, settings=settings
                )
            except catalog_rules.PriceUnavailable:
                # Microsoft renewed what our catalog no longer prices: keep the last price, flag it in the log
                bought = sold = None
            renewed.update(
                offer_id=offer["id"], title=offer["title"], term=term, billing_plan=plan, quantity=quantity,
                start_date=start, end_date=end,
                unit_price=bought.unit_price if bought else renewed["unit_price"],
                customer_unit_price=sold.unit_price if sold else renewed["customer_unit_price"],
                cost_price=bought.microsoft_cost if bought else renewed["cost_price"],
                cost_currency=bought.microsoft_currency if bought else renewed["cost_currency"],
            )  # fmt: skip
            lines.append(billing.ChargeLine(dict(renewed), "renew", "renew", quantity, 1, start))
            start = end + timedelta(days=1)
        window = pc.cancellation_allowed_until_date or midnight(renewed["start_date"]) + rules.CANCELLATION_WINDOW
        await db.execute(
            "UPDATE subscriptions SET offer_id = $2, title = $3, term = $4, billing_plan = $5, quantity = $6, "
            "start_date = $7, end_date = $8, unit_price = $9, customer_unit_price = $10, cost_price = $11, "
            "cost_currency = $12, promotion_id = $13, status = $14, auto_renew = $15, scheduled_change = NULL, "
            "cancellation_window_ends_at = $16, updated_at = $17 WHERE id = $1",
            sub["id"], renewed["offer_id"], renewed["title"], term, plan, quantity, renewed["start_date"],
            renewed["end_date"], renewed["unit_price"], renewed["customer_unit_price"], renewed["cost_price"],
            renewed["cost_currency"], pc.promotion_id, (pc.status or "active").lower(), bool(pc.auto_renew_enabled),
            window, clock.now(),
        )  # fmt: skip
        # a renewal opens one new window for all the seats; the old batches are history
        await changes.set_batches(sub["id"], [(quantity, window)], clock.now())
        await billing.post_many(lines)
        keys = ("offer_id", "quantity", "term", "billing_plan", "end_date", "unit_price")
        await audit.record(
            None, "subscription", sub["id"], "renewed",
            before={k: current[k] for k in keys},
            after={**{k: renewed[k] for k in keys}, "promotion_id": pc.promotion_id,
                   "scheduled_change_applied": current["scheduled_change"] is not None, "terms": len(lines)},
        )  # fmt: skip


HANDLERS = {JOB: term_end}
