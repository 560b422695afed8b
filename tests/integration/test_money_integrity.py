"""Money at the edges (issue 16): a bill-to in another currency than Microsoft prices its customer in
(NCE_RULES 2), and every change that commits more credit checked like an order (NCE_RULES 4)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from app import clock, db
from app.accounts import service as accounts
from app.billing import rules as billing_rules
from app.jobs.worker import drain
from app.money import round_amount
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox
from tests.integration.test_catalog import synced
from tests.integration.test_orders import EXCHANGE, EXTERNAL, line, order, provision, us_customer

pytestmark = pytest.mark.integration

BASIC = "CFQ7TTC0LH18:0001"
RATE = Decimal("1.0823")


@pytest.fixture
async def markets(pc_sandbox: Sandbox, admin) -> Sandbox:
    """The US and German markets: a US reseller selling to a German customer."""
    await synced(pc_sandbox, admin, ["US", "DE"])
    return pc_sandbox


async def _german_customer_of(reseller: dict) -> dict:
    customer = await factories.customer(reseller["id"], country="DE", currency="EUR")
    await accounts.record_mca_acceptance(
        await factories.user(customer), customer["id"], {"first_name": "Ada", "last_name": "L", "email": "a@x.test"}
    )
    return customer


async def _rate(client: httpx.AsyncClient, csp: dict, rate: Decimal = RATE) -> None:
    since = (clock.now().date() - timedelta(days=30)).isoformat()
    stored = await client.put(
        "/api/v1/catalog/fx-rates",
        json=[{"from": "EUR", "to": "USD", "rate": str(rate), "effective_from": since}],
        headers=csp,
    )
    assert stored.status_code == 200, stored.text


async def test_a_usd_reseller_is_billed_in_usd_for_its_eur_customer_with_the_rate_kept(markets: Sandbox, admin, client):
    csp = await factories.api_token(admin)
    reseller = await factories.reseller(country="US", currency="USD")
    person = await factories.user(reseller)
    as_reseller = await factories.api_token(person)
    customer = await _german_customer_of(reseller)
    await _rate(client, csp)
    # what the CSP bills the reseller, as Microsoft's German market prices it: EUR
    price = await client.get(
        f"/api/v1/catalog/offers/{BASIC}/price",
        params={"customer_id": str(customer["id"]), "term": "P1Y", "billing_plan": "annual"},
        headers=csp,
    )
    assert price.json()["currency"] == "EUR"
    eur_term = Decimal(price.json()["term_price"])
    usd_seat = round_amount(eur_term * RATE, "USD")  # converted per seat, then multiplied

    placed = await order(client, as_reseller, customer, line(BASIC, 2, "P1Y", "annual"))
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert body["currency"] == "USD"
    (ordered,) = body["lines"]
    assert (ordered["currency"], ordered["unit_price"], ordered["first_charge"]) == (
        "USD",
        str(usd_seat),
        str(usd_seat * 2),
    )
    assert ordered["fx"] == {"rate": "1.0823", "from": "EUR", "to": "USD", "source_amount": str(eur_term * 2)}
    # the reseller's exposure holds the order in its own currency
    credit = (await client.get(f"/api/v1/accounts/{reseller['id']}/credit", headers=csp)).json()
    assert (credit["currency"], credit["parts"]["pending_orders"]) == ("USD", str(usd_seat * 2))

    await provision(markets)
    sub = (await db.fetch("SELECT * FROM subscriptions WHERE customer_id = $1", customer["id"]))[0]
    assert (sub["currency"], sub["unit_price"]) == ("EUR", eur_term)  # the locked price is Microsoft's market's
    charges = (await client.get(f"/api/v1/accounts/{reseller['id']}/charges", headers=as_reseller)).json()["items"]
    (new,) = charges
    assert (new["currency"], new["per_seat_amount"], new["amount"]) == ("USD", str(usd_seat), str(usd_seat * 2))
    assert new["fx"] == {"rate": "1.0823", "from": "EUR", "to": "USD", "source_amount": str(eur_term * 2)}
    assert (await db.fetchval("SELECT cost_currency FROM charges")).strip() == "EUR"  # Microsoft's side stays EUR
    credit = (await client.get(f"/api/v1/accounts/{reseller['id']}/credit", headers=csp)).json()
    assert (credit["parts"]["uninvoiced_charges"], credit["parts"]["pending_orders"]) == (str(usd_seat * 2), "0.00")

    run = await client.post("/api/v1/billing/runs", json={}, headers=csp)
    assert run.status_code == 202, run.text
    await drain(db.DB.config["dsn"], markets.settings)
    (invoice,) = (await client.get("/api/v1/invoices", headers=as_reseller)).json()["items"]
    document = (await client.get(f"/api/v1/invoices/{invoice['id']}", headers=as_reseller)).json()
    assert (document["currency"], document["subtotal"]) == ("USD", str(usd_seat * 2))
    assert document["lines"][0]["fx"] == new["fx"]
    await factories.sign_in(client, person)
    page = await client.get(f"/invoices/{invoice['id']}")
    assert page.status_code == 200
    assert "1.0823 EUR→USD" in page.text  # on each converted line and in the note under the totals
    pdf = await client.get(f"/invoices/{invoice['id']}/pdf")
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")


async def test_no_rate_in_force_refuses_the_order_with_the_exact_message(markets: Sandbox, admin, client):
    reseller = await factories.reseller(country="US", currency="USD")
    customer = await _german_customer_of(reseller)
    headers = await factories.api_token(await factories.user(reseller))
    refused = await order(client, headers, customer, line(BASIC, 1, "P1Y", "annual"))
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["message"] == (
        "No exchange rate from EUR to USD is in force. Add one under Catalog → FX rates."
    )
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    # a rate that only starts tomorrow is not in force today either
    tomorrow = (clock.now().date() + timedelta(days=1)).isoformat()
    await client.put(
        "/api/v1/catalog/fx-rates",
        json=[{"from": "EUR", "to": "USD", "rate": "1.1", "effective_from": tomorrow}],
        headers=await factories.api_token(admin),
    )
    assert (await order(client, headers, customer, line(BASIC, 1, "P1Y", "annual"))).status_code == 409


async def test_a_monthly_installment_is_converted_at_the_rate_in_force_on_its_day(markets: Sandbox, admin, client):
    from app.subscriptions import lifecycle

    csp = await factories.api_token(admin)
    reseller = await factories.reseller(country="US", currency="USD")
    customer = await _german_customer_of(reseller)
    await _rate(client, csp)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        placed = await order(client, await factories.api_token(admin), customer, line(BASIC, 3, "P1Y", "monthly"))
        assert placed.status_code == 201, placed.text
        await provision(markets)
        sub = (await db.fetch("SELECT * FROM subscriptions WHERE customer_id = $1", customer["id"]))[0]
        second = billing_rules.add_months(sub["start_date"], 1)
        # the rate changes before the second month: the installment takes the new one
        await db.execute(
            "INSERT INTO fx_rates (from_currency, to_currency, effective_from, rate, created_at) "
            "VALUES ('EUR', 'USD', $1, 1.2, now())",
            second,
        )
        fixed.advance(days=(second - clock.now().date()).days)
        assert await lifecycle.charge_cycles(clock.now().date()) == 1
    cycle = (await db.fetch("SELECT * FROM charges WHERE charge_type = 'cycle'"))[0]
    _, eur_seat = billing_rules.charge_from(
        sub["start_date"], sub["end_date"], "P1Y", "monthly", sub["unit_price"], "EUR", second
    )
    assert (cycle["currency"].strip(), cycle["fx_rate"], cycle["source_currency"]) == ("USD", Decimal("1.2"), "EUR")
    assert cycle["per_seat_amount"] == round_amount(eur_seat * Decimal("1.2"), "USD")
    assert (cycle["amount"], cycle["source_amount"]) == (cycle["per_seat_amount"] * 3, eur_seat * 3)


# --- Seat increases: the order's checks (NCE_RULES 4) -------------------------------------------------------------


async def _active(customer: dict, offer: str, quantity: int, plan: str = "monthly") -> dict:
    """A subscription Cloudseat holds, active since three days, at 57.60 a seat-year (4.80 a month)."""
    start = clock.now().date() - timedelta(days=3)
    return await db.fetchrow(
        "INSERT INTO subscriptions (id, customer_id, bill_to_id, offer_id, title, status, quantity, term, "
        "billing_plan, start_date, end_date, auto_renew, currency, unit_price, customer_unit_price, cost_price, "
        "cost_currency, partner_center_id, created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, $3, $3, "
        "'active', $4, 'P1Y', $5, $6, $7, true, 'USD', 57.60, 57.60, 50, 'USD', $8, now(), now()) RETURNING *",
        customer["id"],
        customer["parent_id"] or customer["id"],
        offer,
        quantity,
        plan,
        start,
        billing_rules.term_end(start, "P1Y"),
        str(uuid.uuid4()),
    )


async def _jobs() -> int:
    return int(await db.fetchval("SELECT count(*) FROM pgqueuer"))  # type: ignore[arg-type]


async def test_a_seat_increase_past_the_credit_limit_is_refused_and_changes_nothing(catalog, admin, client):
    customer = await us_customer()
    headers = await factories.api_token(admin)
    sub = await _active(customer, EXCHANGE, 1, plan="annual")
    await db.execute("UPDATE accounts SET credit_limit = 100 WHERE id = $1", customer["id"])
    before = (await client.get(f"/api/v1/accounts/{customer['id']}/credit", headers=headers)).json()
    jobs = await _jobs()
    refused = await client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"quantity": 100}, headers=headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == {
        "code": "credit_limit",
        "message": f"This change exceeds the available credit of {before['available']} USD.",
    }
    assert await _jobs() == jobs  # nothing queued for Microsoft
    after = (await client.get(f"/api/v1/accounts/{customer['id']}/credit", headers=headers)).json()
    assert after == before
    # within the limit it is queued, and holds what it commits until Microsoft has done it
    accepted = await client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"quantity": 2}, headers=headers)
    assert accepted.status_code == 202, accepted.text
    held = (await client.get(f"/api/v1/accounts/{customer['id']}/credit", headers=headers)).json()
    _, rest_of_term = billing_rules.charge_from(
        sub["start_date"], sub["end_date"], "P1Y", "annual", Decimal("57.60"), "USD", clock.now().date()
    )
    assert held["parts"]["pending_changes"] == str(rest_of_term)


async def test_a_seat_increase_through_the_page_is_checked_like_the_api(catalog, admin, client):
    customer = await us_customer()
    sub = await _active(customer, EXCHANGE, 1, plan="annual")
    await db.execute("UPDATE accounts SET credit_limit = 10 WHERE id = $1", customer["id"])
    person = await factories.user(customer)
    token = await factories.sign_in(client, person)
    jobs = await _jobs()
    page = await client.post(
        f"/subscriptions/{sub['id']}/seats",
        data={"quantity": "50", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert "This change exceeds the available credit of" in page.text, page.text[:500]
    assert await _jobs() == jobs


async def test_a_seat_increase_past_the_pooled_tenant_maximum_is_refused(catalog, admin, client):
    first = await factories.reseller(country="US", currency="USD")
    second = await factories.reseller(country="US", currency="USD")
    tenant = str(uuid.uuid4())
    await _active(await us_customer(first["id"], tenant_id=tenant), EXTERNAL, 2)
    mine = await _active(await us_customer(second["id"], tenant_id=tenant), EXTERNAL, 1)
    headers = await factories.api_token(await factories.user(second))
    refused = await client.patch(f"/api/v1/subscriptions/{mine['id']}", json={"quantity": 2}, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (
        409,
        {
            "code": "tenant_limit",
            "message": "Item 'Dynamics 365 Business Central External Accountant' exceeds the tenant limit of 3 seats; "
            "0 remaining.",
        },
    )


async def test_fifty_racing_seat_increases_never_pass_the_credit_limit(catalog, admin, client):
    customer = await us_customer()
    headers = await factories.api_token(admin)
    subs = [await _active(customer, EXCHANGE, 1, plan="annual") for _ in range(50)]
    _, per_seat = billing_rules.charge_from(
        subs[0]["start_date"], subs[0]["end_date"], "P1Y", "annual", Decimal("57.60"), "USD", clock.now().date()
    )
    limit = per_seat * 10 + Decimal("0.50")  # room for exactly ten more seats
    await db.execute("UPDATE accounts SET credit_limit = $2 WHERE id = $1", customer["id"], limit)
    responses = await asyncio.gather(
        *(client.patch(f"/api/v1/subscriptions/{s['id']}", json={"quantity": 2}, headers=headers) for s in subs)
    )
    statuses = [r.status_code for r in responses]
    assert (statuses.count(202), statuses.count(409)) == (10, 40), statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"credit_limit"}
    credit = (await client.get(f"/api/v1/accounts/{customer['id']}/credit", headers=headers)).json()
    assert Decimal(credit["exposure"]) == per_seat * 10 <= limit
    print(  # the figures for the issue note (pytest -s)
        f"racing seat increases: tried 50, accepted {statuses.count(202)}, refused {statuses.count(409)}, "
        f"exposure {credit['exposure']} of limit {limit}"
    )


async def test_an_upgrade_past_the_credit_limit_is_refused_with_the_change_message(catalog, admin, client):
    from tests.integration.test_subscription_lifecycle import buy
    from tests.integration.test_subscription_upgrades import STANDARD

    headers = await factories.api_token(admin)
    sub = await buy(client, headers, BASIC, 3, "P1Y", "annual", catalog)
    credit = (await client.get(f"/api/v1/accounts/{sub['customer_id']}/credit", headers=headers)).json()
    limit = Decimal(credit["exposure"]) + 1
    await db.execute("UPDATE accounts SET credit_limit = $2 WHERE id = $1", sub["customer_id"], limit)
    jobs = await _jobs()
    refused = await client.post(
        f"/api/v1/subscriptions/{sub['id']}/upgrade", json={"offer_id": STANDARD}, headers=headers
    )
    assert (refused.status_code, refused.json()["error"]) == (
        409,
        {"code": "credit_limit", "message": "This change exceeds the available credit of 1.00 USD."},
    )
    assert await _jobs() == jobs
    # with room for it, the upgrade holds what it adds until Microsoft has made it
    await db.execute("UPDATE accounts SET credit_limit = NULL WHERE id = $1", sub["customer_id"])
    accepted = await client.post(
        f"/api/v1/subscriptions/{sub['id']}/upgrade", json={"offer_id": STANDARD}, headers=headers
    )
    assert accepted.status_code == 202, accepted.text
    held = (await client.get(f"/api/v1/accounts/{sub['customer_id']}/credit", headers=headers)).json()
    assert Decimal(held["parts"]["pending_changes"]) > 0
    await provision(catalog)
    done = (await client.get(f"/api/v1/accounts/{sub['customer_id']}/credit", headers=headers)).json()
    assert done["parts"]["pending_changes"] == "0.00"  # released: the convert charges count instead
