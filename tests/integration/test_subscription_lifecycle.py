"""Time-driven subscription work (NCE_RULES 4, 5) against the sandbox, with the clock moved as a CSP moves it:
monthly installments, renewals at the price then in force with the scheduled change applied, expiry and its
chain, and the renewal intent Cloudseat keeps when Microsoft drops it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from app import clock, db
from app.jobs import scheduler
from app.partner_center.sandbox import service as pc_service
from app.subscriptions import rules
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox
from tests.integration.test_orders import BASIC, EXCHANGE, line, order, provision, us_customer

SALES_ENTERPRISE = "CFQ7TTC0LH3B:0002"  # Dynamics 365 Sales Enterprise: 15% off on three years from 5 seats

pytestmark = pytest.mark.integration


async def move(fixed, sandbox: Sandbox, **delta: float) -> None:
    """What `POST /sandbox/clock` does: Partner Center's due work, then Cloudseat's tick, then the queue."""
    fixed.advance(**delta)
    async with db.transaction():
        await pc_service.run_scheduler(clock.now())
    await scheduler.tick(clock.now())
    await provision(sandbox)


async def pay_open_invoices(client, headers) -> None:
    """Every open invoice paid in full by bank transfer, as the CSP's admin records it."""
    for invoice in (await client.get("/api/v1/invoices", headers=headers)).json()["items"]:
        if invoice["status"] in ("issued", "partially_paid"):
            paid = await client.post(
                f"/api/v1/invoices/{invoice['id']}/payments",
                json={"amount": invoice["balance"], "method": "manual", "reference": "bank transfer"},
                headers=headers,
            )
            assert paid.status_code == 201, paid.text


async def buy(client, headers, offer: str, quantity: int, term: str, plan: str, sandbox: Sandbox) -> dict:
    customer = await us_customer()
    placed = await order(client, headers, customer, line(offer, quantity, term, plan))
    assert placed.status_code == 201, placed.text
    await provision(sandbox)
    return (await db.fetch("SELECT * FROM subscriptions WHERE customer_id = $1", customer["id"]))[0]


async def ours(subscription_id) -> list[dict]:
    return await db.fetch(
        "SELECT charge_type, quantity, period_start, period_end, per_seat_amount, amount, cost_amount "
        "FROM charges WHERE subscription_id = $1 ORDER BY period_start, id",
        subscription_id,
    )


async def microsoft(sub: dict) -> list[dict]:
    return await db.fetch(
        "SELECT charge_type, quantity, charge_start, subtotal FROM pcs_line_items WHERE subscription_id::text = $1 "
        "ORDER BY charge_start, id",
        sub["partner_center_id"],
    )


async def pc_row(sub: dict) -> dict:
    row = (await db.fetch("SELECT * FROM pcs_subscriptions WHERE id::text = $1", sub["partner_center_id"]))[0]
    return dict(row, scheduled=json.loads(row["scheduled"]) if isinstance(row["scheduled"], str) else row["scheduled"])


async def test_monthly_installments_fall_on_the_start_day_and_match_microsoft(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(datetime(2027, 1, 31, 9, tzinfo=UTC)) as fixed:
        sub = await buy(client, headers, BASIC, 2, "P1Y", "monthly", catalog)
        await move(fixed, catalog, days=28)  # 2027-02-28: the second month starts (January 31 clamped)
        await move(fixed, catalog, days=31)  # 2027-03-31
        await move(fixed, catalog, days=30)  # 2027-04-30
        await scheduler.tick(clock.now())  # the tick again: nothing more
        charges = await ours(sub["id"])
    assert [(c["charge_type"], c["period_start"]) for c in charges] == [
        ("new", date(2027, 1, 31)),
        ("cycle", date(2027, 2, 28)),
        ("cycle", date(2027, 3, 31)),
        ("cycle", date(2027, 4, 30)),
    ]
    assert len({c["per_seat_amount"] for c in charges}) == 1  # every month the same installment
    assert charges[1]["period_end"] == date(2027, 3, 30)
    lines = await microsoft(sub)
    assert [(m["charge_type"], m["charge_start"]) for m in lines] == [
        ("new", date(2027, 1, 31)),
        ("cycleCharge", date(2027, 2, 28)),
        ("cycleCharge", date(2027, 3, 31)),
        ("cycleCharge", date(2027, 4, 30)),
    ]
    assert [m["subtotal"] for m in lines] == [c["cost_amount"] for c in charges]  # to the cent


async def test_renewal_is_at_the_price_then_in_force_with_the_scheduled_change_and_a_new_window(
    catalog: Sandbox, admin, client
):
    """Price protection holds for the term (a seat added after Microsoft's price change is charged at the
    locked price); the renewal is at the new price, with the scheduled quantity and a new 168-hour window."""
    headers = await factories.api_token(admin)
    change_date = await pc_service.price_change_date()
    with clock.use_fixed_clock(datetime.combine(change_date - timedelta(days=5), datetime.min.time(), UTC)) as fixed:
        sub = await buy(client, headers, BASIC, 2, "P1Y", "annual", catalog)
        locked, cost = sub["unit_price"], sub["cost_price"]
        await move(fixed, catalog, days=10)  # past Microsoft's price change
        added = await client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"quantity": 4}, headers=headers)
        assert added.status_code == 202, added.text
        await provision(catalog)
        after_change = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", sub["id"]))[0]
        assert (after_change["unit_price"], after_change["cost_price"]) == (locked, cost)  # price protection

        scheduled = await client.put(
            f"/api/v1/subscriptions/{sub['id']}/scheduled-change", json={"quantity": 3}, headers=headers
        )
        assert scheduled.status_code == 202, scheduled.text
        await provision(catalog)
        item = (await client.get(f"/api/v1/subscriptions/{sub['id']}", headers=headers)).json()
        assert item["scheduled_change"] == {"quantity": 3, "offer_id": BASIC, "term": "P1Y", "billing_plan": "annual"}
        assert (await pc_row(sub))["scheduled"]["quantity"] == 3

        end = after_change["end_date"]
        await move(fixed, catalog, days=(end - clock.now().date()).days)  # the term's last day: nothing yet
        assert await db.fetchval("SELECT end_date FROM subscriptions WHERE id = $1", sub["id"]) == end
        await pay_open_invoices(client, headers)  # a customer that pays is not suspended for non-payment
        await move(fixed, catalog, days=1, hours=2)  # the renewal's first day
        renewed = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", sub["id"]))[0]
        item = (await client.get(f"/api/v1/subscriptions/{sub['id']}", headers=headers)).json()
    start = end + timedelta(days=1)
    assert (renewed["status"], renewed["quantity"], renewed["start_date"]) == ("active", 3, start)
    assert renewed["end_date"] == date(start.year + 1, start.month, start.day) - timedelta(days=1)
    assert renewed["cost_price"] > cost
    assert renewed["unit_price"] > locked
    assert renewed["scheduled_change"] is None
    assert item["scheduled_change"] is None
    window = datetime.combine(start, datetime.min.time(), UTC) + rules.CANCELLATION_WINDOW
    assert (item["refundable_quantity"], item["cancellation_window_ends_at"]) == (3, window.isoformat()[:19] + "Z")
    charges = await ours(sub["id"])
    assert [(c["charge_type"], c["quantity"]) for c in charges][-1] == ("renew", 3)
    assert charges[-1]["per_seat_amount"] == renewed["unit_price"]  # a whole year at the new price
    lines = await microsoft(sub)
    assert [m["charge_type"] for m in lines][-1] == "renew"
    assert sorted(m["subtotal"] for m in lines) == sorted(c["cost_amount"] for c in charges)  # to the cent
    renewal = await db.fetch("SELECT * FROM events WHERE subject_id = $1 AND action = 'renewed'", str(sub["id"]))
    assert len(renewal) == 1
    assert json.loads(renewal[0]["after"])["scheduled_change_applied"] is True


async def test_without_auto_renew_it_expires_then_is_disabled_and_deleted_on_their_dates(
    catalog: Sandbox, admin, client
):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(datetime(2027, 3, 10, 12, tzinfo=UTC)) as fixed:
        sub = await buy(client, headers, BASIC, 1, "P1M", "monthly", catalog)
        off = await client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"auto_renew": False}, headers=headers)
        assert off.status_code == 202
        await provision(catalog)
        end = sub["end_date"]
        await move(fixed, catalog, days=31)
        expired = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", sub["id"]))[0]
        assert (expired["status"], expired["status_changed_at"].date()) == ("expired", end + timedelta(days=1))
        assert (await pc_row(sub))["status"] == "expired"
        await move(fixed, catalog, days=29)  # expired for 30 days: not yet
        assert await db.fetchval("SELECT status FROM subscriptions WHERE id = $1", sub["id"]) == "expired"
        await move(fixed, catalog, days=200)  # far: both steps fall due in one tick, each on its own date
        final = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", sub["id"]))[0]
        steps = await db.fetch(
            "SELECT action, after FROM events WHERE subject_id = $1 AND action IN ('expired', 'disabled', 'deleted') "
            "ORDER BY id",
            str(sub["id"]),
        )
    disabled_on = end + timedelta(days=31)
    assert (final["status"], final["status_changed_at"].date()) == ("deleted", disabled_on + timedelta(days=90))
    assert [(s["action"], json.loads(s["after"])["on"]) for s in steps] == [
        ("expired", (end + timedelta(days=1)).isoformat()),
        ("disabled", disabled_on.isoformat()),
        ("deleted", (disabled_on + timedelta(days=90)).isoformat()),
    ]
    assert (await pc_row(sub))["status"] == "deleted"  # Microsoft's chain, on the same dates
    assert [c["charge_type"] for c in await ours(sub["id"])] == ["new"]  # nothing billed after the term


async def test_still_suspended_at_term_end_it_expires(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(datetime(2027, 3, 10, 12, tzinfo=UTC)) as fixed:
        sub = await buy(client, headers, BASIC, 1, "P1M", "monthly", catalog)
        assert (await client.post(f"/api/v1/subscriptions/{sub['id']}/suspend", headers=headers)).status_code == 202
        await provision(catalog)
        await move(fixed, catalog, days=32)
        row = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", sub["id"]))[0]
    assert (row["status"], row["auto_renew"]) == ("expired", False)


async def test_a_scheduled_change_needs_auto_renew_and_valid_values(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    sub = await buy(client, headers, BASIC, 2, "P1Y", "annual", catalog)
    url = f"/api/v1/subscriptions/{sub['id']}/scheduled-change"
    too_many = await client.put(url, json={"quantity": 301}, headers=headers)
    assert (too_many.status_code, too_many.json()["error"]["field"]) == (422, "quantity")
    sideways = await client.put(url, json={"offer_id": EXCHANGE}, headers=headers)
    assert (sideways.status_code, sideways.json()["error"]["field"]) == (422, "offer_id")
    plan = await client.put(url, json={"term": "P3Y", "billing_plan": "weekly"}, headers=headers)
    assert (plan.status_code, plan.json()["error"]["field"]) == (422, "billing_plan")
    await client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"auto_renew": False}, headers=headers)
    await provision(catalog)
    refused = await client.put(url, json={"quantity": 3}, headers=headers)
    assert (refused.status_code, refused.json()["error"]["message"]) == (409, rules.AUTO_RENEW_NEEDED)
    assert (await pc_row(sub))["scheduled"] is None
    nothing = await client.delete(url, headers=headers)
    assert nothing.status_code == 409
    # turning auto-renew off withdraws an intent: on again, schedule, off again
    await client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"auto_renew": True}, headers=headers)
    await provision(catalog)
    assert (await client.put(url, json={"quantity": 3}, headers=headers)).status_code == 202
    await provision(catalog)
    await client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"auto_renew": False}, headers=headers)
    await provision(catalog)
    assert await db.fetchval("SELECT scheduled_change FROM subscriptions WHERE id = $1", sub["id"]) is None
    assert (await pc_row(sub))["scheduled"] is None


async def test_the_renewal_intent_is_reapplied_after_microsoft_drops_it(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        sub = await buy(client, headers, BASIC, 2, "P1Y", "annual", catalog)
        url = f"/api/v1/subscriptions/{sub['id']}"
        assert (await client.put(f"{url}/scheduled-change", json={"quantity": 5}, headers=headers)).status_code == 202
        await provision(catalog)
        fixed.advance(days=20)
        assert (await client.patch(url, json={"quantity": 3}, headers=headers)).status_code == 202  # immediate
        await provision(catalog)
        assert (await pc_row(sub))["scheduled"]["quantity"] == 5  # dropped by Microsoft, put back by Cloudseat

        assert (await client.post(f"{url}/suspend", headers=headers)).status_code == 202
        await provision(catalog)
        assert (await pc_row(sub))["scheduled"] is None  # a suspension drops it at Microsoft
        kept = (await client.get(url, headers=headers)).json()
        assert kept["scheduled_change"]["quantity"] == 5  # the customer's intent is kept
        assert (await client.post(f"{url}/reactivate", headers=headers)).status_code == 202
        await provision(catalog)
        assert (await pc_row(sub))["scheduled"]["quantity"] == 5
    log = [e["action"] for e in (await client.get(f"{url}/events", headers=headers)).json()["items"]]
    assert log.count("scheduled_change_reapplied") == 2
    assert log[0] == "scheduled_change_reapplied"
    assert log[1] == "active"


async def test_the_demo_year_renews_expires_and_bills_as_the_rules_say(pc_sandbox: Sandbox, admin, client):
    """The demo data with the clock moved a year, a month at a time: Wingtip's monthly Business Basic is charged
    every month and renews; its Exchange, auto-renew turned off, expires and is disabled 30 days later."""
    from app import demo

    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(datetime(2027, 1, 15, 10, tzinfo=UTC)) as fixed:
        await demo.seed(pc_sandbox.settings.base_url)
        await demo.seed_sandbox_partner_center(pc_sandbox.settings)
        await provision(pc_sandbox)  # the catalog sync, then the demo orders, then their provisioning
        await provision(pc_sandbox)
        subs = {
            s["offer_id"]: s
            for s in await db.fetch(
                "SELECT s.* FROM subscriptions s JOIN accounts a ON a.id = s.customer_id WHERE a.name = $1",
                demo.DEMO_CUSTOMER,
            )
        }
        basic, exchange = subs[BASIC], subs[EXCHANGE]
        assert (basic["status"], basic["quantity"], exchange["status"]) == ("active", 12, "active")
        off = await client.patch(f"/api/v1/subscriptions/{exchange['id']}", json={"auto_renew": False}, headers=headers)
        assert off.status_code == 202
        await provision(pc_sandbox)
        for _ in range(14):  # to 2028-03-10
            await move(fixed, pc_sandbox, days=30)
        basic_after = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", basic["id"]))[0]
        exchange_after = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", exchange["id"]))[0]
    assert basic_after["start_date"] == date(2028, 1, 15)  # renewed for a second year
    assert (exchange_after["status"], exchange_after["status_changed_at"].date()) == ("disabled", date(2028, 2, 14))
    charges = await ours(basic["id"])
    assert [c["charge_type"] for c in charges] == ["new"] + ["cycle"] * 11 + ["renew"] + ["cycle"]
    assert [c["period_start"] for c in charges][:3] == [date(2027, 1, 15), date(2027, 2, 15), date(2027, 3, 15)]
    assert [m["subtotal"] for m in await microsoft(basic)] == [c["cost_amount"] for c in charges]
    assert [c["charge_type"] for c in await ours(exchange["id"])] == ["new"]  # a year paid upfront, then nothing


async def test_a_promotion_is_re_evaluated_at_renewal(catalog: Sandbox, admin, client):
    """Sales Enterprise is 15% off on three years from 5 seats: bought with 5, renewed with 4 as scheduled, the
    renewal no longer qualifies and is at the full price, here and at Microsoft."""
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        sub = await buy(client, headers, SALES_ENTERPRISE, 5, "P3Y", "annual", catalog)
        assert sub["promotion_id"] == "39NFJQT1T6HX:0001:39NFJQT1Q9KB"
        url = f"/api/v1/subscriptions/{sub['id']}/scheduled-change"
        assert (await client.put(url, json={"quantity": 4}, headers=headers)).status_code == 202
        await provision(catalog)
        await move(fixed, catalog, days=(sub["end_date"] - clock.now().date()).days + 1)
        renewed = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", sub["id"]))[0]
    assert (renewed["start_date"], renewed["quantity"]) == (sub["end_date"] + timedelta(days=1), 4)
    assert renewed["promotion_id"] is None
    assert renewed["cost_price"] > sub["cost_price"]  # the 15% is gone
    assert (await pc_row(sub))["promotion_id"] is None
    charges = await ours(sub["id"])
    assert sorted(m["subtotal"] for m in await microsoft(sub)) == sorted(c["cost_amount"] for c in charges)


async def test_a_scheduled_co_term_date_ends_the_next_term_sooner_and_bills_it_pro_rata(
    catalog: Sandbox, admin, client
):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(datetime(2027, 3, 10, 12, tzinfo=UTC)) as fixed:
        sub = await buy(client, headers, BASIC, 2, "P1Y", "annual", catalog)
        url = f"/api/v1/subscriptions/{sub['id']}/scheduled-change"
        mid_month = await client.put(url, json={"coterm_end_date": "2028-06-15"}, headers=headers)
        assert (mid_month.status_code, mid_month.json()["error"]["field"]) == (422, "coterm_end_date")
        too_late = await client.put(url, json={"coterm_end_date": "2029-06-30"}, headers=headers)
        assert (
            too_late.json()["error"]["message"]
            == "The next term's end date must fall between 2028-03-10 and 2029-03-09."
        )
        scheduled = await client.put(url, json={"coterm_end_date": "2028-06-30"}, headers=headers)
        assert scheduled.status_code == 202, scheduled.text
        await provision(catalog)
        assert (await pc_row(sub))["scheduled"]["customTermEndDate"] == "2028-06-30T00:00:00Z"
        await move(fixed, catalog, days=366)  # 2028-03-10: the renewal's first day
        renewed = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", sub["id"]))[0]
    assert (renewed["start_date"], renewed["end_date"]) == (date(2028, 3, 10), date(2028, 6, 30))
    charges = await ours(sub["id"])
    assert charges[-1]["charge_type"] == "renew"
    assert charges[-1]["per_seat_amount"] < renewed["unit_price"] / 2  # 113 of 365 days
    assert sorted(m["subtotal"] for m in await microsoft(sub)) == sorted(c["cost_amount"] for c in charges)


async def test_a_daily_pass_runs_once_a_day_whichever_process_ticks(committed):
    from app.subscriptions import lifecycle

    day = date(2027, 5, 1)
    assert await lifecycle.claim_day("cycles", day) is True
    assert await lifecycle.claim_day("cycles", day) is False  # the next minute's tick, or another process
    assert await lifecycle.claim_day("cycles", day - timedelta(days=1)) is False
    assert await lifecycle.claim_day("cycles", day + timedelta(days=1)) is True  # a new day, or a moved clock
