"""Ordering through the API: NCE_RULES 3 in order with its exact messages, the credit lock, and provisioning at
the sandbox exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from app import clock, db
from app.accounts import service as accounts
from app.accounts import tenants
from app.billing import rules as billing_rules
from app.config import ROOT
from app.jobs.worker import drain
from app.orders import jobs
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox

pytestmark = pytest.mark.integration

BASIC = "CFQ7TTC0LH18:0001"  # Microsoft 365 Business Basic, tenant max 300
COPILOT = "CFQ7TTC0MM8R:0002"  # add-on of Business Basic
EXCHANGE = "CFQ7TTC0LH16:0001"
FINANCE = "CFQ7TTC0LH3D:0001"  # Dynamics 365 Finance: at least 20 seats
A3_FACULTY = "CFQ7TTC0LHPL:000W"  # education
PREMIUM_TRIAL = "CFQ7TTC0LCHC:0007"
EXTERNAL = "CFQ7TTC0LH33:0001"  # Business Central External Accountant: 3 per tenant


async def us_customer(reseller_id=None, *, mca: bool = True, **overrides) -> dict:
    customer = await factories.customer(
        reseller_id, country="US", currency="USD", state="WA", postal_code="98052", **overrides
    )
    if mca:
        await accounts.record_mca_acceptance(
            await factories.user(customer),
            customer["id"],
            {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.test"},
        )
    return customer


def line(offer: str = BASIC, quantity: int = 1, term: str = "P1Y", plan: str = "monthly", **extra) -> dict:
    return {"offer_id": offer, "quantity": quantity, "term": term, "billing_plan": plan, **extra}


async def order(client: httpx.AsyncClient, headers: dict, customer: dict, *lines: dict) -> httpx.Response:
    body = {"customer_id": str(customer["id"]), "lines": list(lines or [line()])}
    return await client.post("/api/v1/orders", json=body, headers=headers)


async def at_partner_center() -> tuple[int, int]:
    """Customers and carts the sandbox has seen: a refused order must send nothing."""
    return (
        int(await db.fetchval("SELECT count(*) FROM pcs_customers")),  # type: ignore[arg-type]
        int(await db.fetchval("SELECT count(*) FROM pcs_carts")),  # type: ignore[arg-type]
    )


async def provision(sandbox: Sandbox) -> None:
    """Run the queued jobs as the app's worker does; a job that used up its retries fails the test (its
    operation could otherwise look done at Microsoft and pass)."""
    await drain(db.DB.config["dsn"], sandbox.settings)
    failed = await db.fetch("SELECT id, entrypoint, attempts FROM pgqueuer WHERE status = 'failed'")
    assert not failed, f"jobs gave up: {[dict(f) for f in failed]}"


# --- Provisioning -------------------------------------------------------------------------------------------


async def test_an_order_is_provisioned_once_with_its_subscription_and_new_charge(catalog: Sandbox, admin, client):
    customer = await us_customer()
    headers = await factories.api_token(await factories.user(customer))
    placed = await order(client, headers, customer, line(BASIC, 3, "P1Y", "monthly"))
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert (body["status"], body["lines"][0]["status"], body["operation"]["status"]) == (
        "accepted",
        "pending",
        "queued",
    )
    per_month = Decimal(body["lines"][0]["unit_price"]) / 12
    assert Decimal(body["lines"][0]["first_charge"]) == 3 * per_month.quantize(Decimal("0.01"))

    await provision(catalog)
    done = (await client.get(f"/api/v1/orders/{body['id']}", headers=headers)).json()
    assert (done["status"], done["lines"][0]["status"], done["operation"]["status"]) == (
        "completed",
        "provisioned",
        "succeeded",
    )
    subscription = (await db.fetch("SELECT * FROM subscriptions"))[0]
    assert str(subscription["id"]) == done["lines"][0]["subscription_id"]
    assert (subscription["status"], subscription["quantity"], subscription["offer_id"]) == ("active", 3, BASIC)
    assert subscription["end_date"] == subscription["start_date"].replace(year=subscription["start_date"].year + 1) - (
        timedelta(days=1)
    )
    pc = (await db.fetch("SELECT * FROM pcs_subscriptions WHERE id::text = $1", subscription["partner_center_id"]))[0]
    assert (pc["quantity"], pc["status"]) == (3, "active")
    charges = await db.fetch("SELECT * FROM charges")
    assert [(c["charge_type"], c["quantity"]) for c in charges] == [("new", 3)]
    assert charges[0]["amount"] == Decimal(done["lines"][0]["first_charge"])
    # the cost side is what Microsoft bills the CSP for the same seats and month
    microsoft = await db.fetch("SELECT * FROM pcs_line_items WHERE subscription_id::text = $1", pc["id"].hex)
    microsoft = await db.fetch("SELECT * FROM pcs_line_items WHERE subscription_id = $1", pc["id"])
    assert [(m["charge_type"], m["quantity"], m["subtotal"]) for m in microsoft] == [
        ("new", 3, charges[0]["cost_amount"])
    ]
    assert await db.fetchval("SELECT count(*) FROM order_lines WHERE released_at IS NULL") == 0
    assert (await db.fetch("SELECT tenant_origin FROM accounts WHERE id = $1", customer["id"]))[0][
        "tenant_origin"
    ] == "created"
    assert await db.fetchval("SELECT sent_at IS NOT NULL FROM mca_acceptances WHERE account_id = $1", customer["id"])

    # delivered again (a retried job): nothing new anywhere
    await jobs.provision(uuid.UUID(body["id"]), catalog.client(await catalog.user_tokens()))
    await db.execute("UPDATE orders SET status = 'provisioning' WHERE id = $1", uuid.UUID(body["id"]))
    await jobs.provision(uuid.UUID(body["id"]), catalog.client(await catalog.user_tokens()))
    assert await db.fetchval("SELECT count(*) FROM subscriptions") == 1
    assert await db.fetchval("SELECT count(*) FROM charges") == 1
    tenant = await db.fetchval("SELECT tenant_id FROM accounts WHERE id = $1", customer["id"])
    assert await db.fetchval("SELECT count(*) FROM pcs_subscriptions WHERE customer_id = $1", tenant) == 1


async def test_a_base_and_its_addon_in_one_order_are_bought_base_first(catalog: Sandbox, admin, client):
    reseller = await factories.reseller(country="US", currency="USD")
    customer = await us_customer(reseller["id"])
    headers = await factories.api_token(await factories.user(reseller))
    placed = await order(client, headers, customer, line(COPILOT, 2, "P1Y", "annual"), line(BASIC, 2))
    assert placed.status_code == 201, placed.text
    await provision(catalog)
    done = (await client.get(f"/api/v1/orders/{placed.json()['id']}", headers=headers)).json()
    assert done["status"] == "completed"
    assert [li["status"] for li in done["lines"]] == ["provisioned", "provisioned"]
    bought = {r["offer_id"]: r for r in await db.fetch("SELECT * FROM subscriptions")}
    assert set(bought) == {BASIC, COPILOT}
    assert all(s["bill_to_id"] == reseller["id"] for s in bought.values())  # the reseller is billed
    tenant = await db.fetchval("SELECT tenant_id FROM accounts WHERE id = $1", customer["id"])
    partners = {
        r["partner_id"]
        for r in await db.fetch("SELECT partner_id FROM pcs_subscriptions WHERE customer_id = $1", tenant)
    }
    assert partners == {reseller["mpn_id"]}  # partner of record
    assert await db.fetchval("SELECT count(*) FROM pcs_carts WHERE customer_id = $1", tenant) == 2  # base first


async def test_a_line_microsoft_refuses_fails_with_its_reason_and_releases_its_credit(catalog: Sandbox, client):
    customer = await us_customer()
    headers = await factories.api_token(await factories.user(customer))
    # another partner already holds 299 of the tenant's 300 Business Basic seats: only Microsoft knows
    placed = await order(client, headers, customer, line(BASIC, 2), line(EXCHANGE, 1))
    assert placed.status_code == 201
    await db.execute("UPDATE pcs_faults SET provisioning_ms = 0")
    tenant = await tenants.ensure_tenant(catalog.client(await catalog.user_tokens()), customer["id"])
    await db.execute(
        "INSERT INTO pcs_subscriptions (id, customer_id, product_id, sku_id, availability_id, segment, friendly_name, "
        "quantity, status, term_duration, billing_cycle, unit_price, currency, start_date, end_date, auto_renew, "
        "status_changed_at, created_at) VALUES (gen_random_uuid(), $1, 'CFQ7TTC0LH18', '0001', 'X', 'commercial', "
        "'Business Basic', 299, 'active', 'P1Y', 'monthly', 72, 'USD', $2, $3, true, now(), now())",
        uuid.UUID(tenant),
        clock.now().date(),
        clock.now().date() + timedelta(days=364),
    )
    await provision(catalog)
    done = (await client.get(f"/api/v1/orders/{placed.json()['id']}", headers=headers)).json()
    assert done["status"] == "completed"
    basic, exchange = done["lines"]
    assert (basic["status"], exchange["status"]) == ("failed", "provisioned")
    assert "remaining limit of 1 seats" in basic["error"]
    assert done["operation"]["error"].startswith("Microsoft 365 Business Basic: ")
    assert await db.fetchval("SELECT count(*) FROM order_lines WHERE released_at IS NULL") == 0


# --- NCE_RULES 3, one test per check, in order ----------------------------------------------------------------


async def refused(client, headers, customer, *lines) -> dict:
    before = await at_partner_center()
    response = await order(client, headers, customer, *lines)
    assert response.status_code == 409, response.text
    assert await at_partner_center() == before  # nothing sent to Microsoft
    assert await db.fetchval("SELECT count(*) FROM orders") == 0  # nothing written
    return response.json()["error"]


async def test_check_1_the_account_must_be_active_and_not_on_hold(catalog, admin, client):
    customer = await us_customer()
    headers = await factories.api_token(admin)
    await db.execute("UPDATE accounts SET payment_hold = true WHERE id = $1", customer["id"])
    error = await refused(client, headers, customer, line(FINANCE, 1))  # check 5 would refuse too: 1 comes first
    assert error == {
        "code": "payment_hold",
        "message": "This account is on hold for non-payment. Pay the overdue balance to order again.",
    }
    await db.execute("UPDATE accounts SET payment_hold = false, status = 'suspended' WHERE id = $1", customer["id"])
    assert (await refused(client, headers, customer))["message"] == "This account is suspended and cannot order."


async def test_check_2_the_mca_must_be_accepted(catalog, admin, client):
    customer = await us_customer(mca=False)
    error = await refused(client, await factories.api_token(admin), customer, line(FINANCE, 1))
    assert error == {
        "code": "mca_required",
        "message": "The customer must accept the Microsoft Customer Agreement before ordering.",
    }


async def test_check_3_an_existing_tenant_needs_gdap(catalog, admin, client):
    customer = await us_customer(tenant_id=str(uuid.uuid4()))
    headers = await factories.api_token(admin)
    error = await refused(client, headers, customer, line(FINANCE, 1))
    assert error["code"] == "gdap_required"
    assert error["message"] == (
        "Ordering for an existing tenant needs an active delegated-admin (GDAP) relationship with the CSP."
    )


GDAP_MISSING = "Ordering for an existing tenant needs an active delegated-admin (GDAP) relationship with the CSP."


async def _tenant_the_csp_created(catalog: Sandbox, client, headers: dict) -> tuple[dict, uuid.UUID]:
    """A tenant the CSP created at Partner Center for a first reseller's customer's order, and a second reseller."""
    first = await factories.reseller(country="US", currency="USD")
    second = await factories.reseller(country="US", currency="USD")
    created = await us_customer(first["id"], tenant_domain=f"fabrikam-{uuid.uuid4().hex[:8]}")
    assert (await order(client, headers, created, line(EXCHANGE, 1))).status_code == 201
    await provision(catalog)  # the CSP creates the tenant at Partner Center for the first order
    tenant = await db.fetchval("SELECT tenant_id FROM accounts WHERE id = $1", created["id"])
    assert tenant is not None
    return second, tenant


async def test_check_3_a_tenant_the_csp_created_needs_no_gdap_for_a_second_resellers_customer(catalog, admin, client):
    """NCE_RULES 3: the CSP already manages a tenant it created; a second reseller's customer linked to it orders
    at once, and its subscription is bought in that very tenant."""
    headers = await factories.api_token(admin)
    second, tenant = await _tenant_the_csp_created(catalog, client, headers)

    linked = await us_customer(second["id"], tenant_id=str(tenant), mca=False)
    await accounts.record_mca_acceptance(  # its own signer: the tenant's first attestation stays as it was
        await factories.user(linked),
        linked["id"],
        {"first_name": "Grace", "last_name": "Hopper", "email": "grace@x.test"},
    )
    placed = await order(client, headers, linked, line(EXCHANGE, 2))
    assert placed.status_code == 201, placed.text
    await provision(catalog)
    done = (await client.get(f"/api/v1/orders/{placed.json()['id']}", headers=headers)).json()
    assert done["status"] == "completed", [ln["error"] for ln in done["lines"]]
    assert sorted(
        r["quantity"] for r in await db.fetch("SELECT quantity FROM pcs_subscriptions WHERE customer_id = $1", tenant)
    ) == [1, 2]  # both resellers' customers in the one tenant
    await factories.sign_in(client, admin)
    page = (await client.get(f"/accounts/{linked['id']}")).text
    assert "The CSP already manages this tenant" in page
    assert "Ask for delegated admin access" not in page


async def test_a_second_customer_on_a_tenant_signed_by_the_same_person_is_provisioned(catalog, admin, client):
    """Microsoft keeps one attestation per tenant and signer and refuses the same one again (600061,
    PartnerConfirmedAgreementAlreadyExists): the agreement is in place, so the order goes on."""
    headers = await factories.api_token(admin)
    second, tenant = await _tenant_the_csp_created(catalog, client, headers)
    linked = await us_customer(second["id"], tenant_id=str(tenant))  # Ada Lovelace signs for both
    placed = await order(client, headers, linked, line(EXCHANGE, 2))
    assert placed.status_code == 201, placed.text
    await provision(catalog)
    done = (await client.get(f"/api/v1/orders/{placed.json()['id']}", headers=headers)).json()
    assert (done["status"], [ln["error"] for ln in done["lines"]]) == ("completed", [None])
    assert await db.fetchval("SELECT count(*) FROM pcs_agreements WHERE customer_id = $1", tenant) == 1
    assert await db.fetchval(
        "SELECT sent_at IS NOT NULL FROM mca_acceptances WHERE account_id = $1", linked["id"]
    )  # not sent again by the next order


async def test_check_3_a_tenant_with_gdap_active_for_another_account_needs_no_new_gdap(catalog, admin, client):
    first, second = (
        await factories.reseller(country="US", currency="USD"),
        await factories.reseller(country="US", currency="USD"),
    )
    tenant = str(uuid.uuid4())
    through = await us_customer(first["id"], tenant_id=tenant)
    await db.execute(
        "UPDATE accounts SET gdap_relationship_id = 'rel-1', gdap_status = 'active' WHERE id = $1", through["id"]
    )
    linked = await us_customer(second["id"], tenant_id=tenant)
    placed = await order(client, await factories.api_token(admin), linked, line(EXCHANGE, 1))
    assert placed.status_code == 201, placed.text


async def test_check_3_a_tenant_new_to_the_csp_still_needs_gdap(catalog, admin, client):
    """Linking never grants access by itself: another account's relationship still waiting for the admin's
    approval (or ended) does not make the tenant the CSP's."""
    first, second = (
        await factories.reseller(country="US", currency="USD"),
        await factories.reseller(country="US", currency="USD"),
    )
    headers = await factories.api_token(admin)
    tenant = str(uuid.uuid4())
    pending = await us_customer(first["id"], tenant_id=tenant)
    await db.execute(
        "UPDATE accounts SET gdap_relationship_id = 'rel-2', gdap_status = 'approvalPending' WHERE id = $1",
        pending["id"],
    )
    await db.execute(
        "UPDATE accounts SET gdap_relationship_id = 'rel-3', gdap_status = 'terminated' WHERE id = $1",
        (await us_customer(first["id"], tenant_id=tenant))["id"],
    )
    linked = await us_customer(second["id"], tenant_id=tenant)
    for customer in (linked, pending):
        assert await refused(client, headers, customer, line(EXCHANGE, 1)) == {
            "code": "gdap_required",
            "message": GDAP_MISSING,
        }
    await factories.sign_in(client, admin)
    assert "Ask for delegated admin access" in (await client.get(f"/accounts/{linked['id']}")).text


async def test_check_4_segment_offers_need_the_qualification(catalog, admin, client):
    customer = await us_customer()
    error = await refused(client, await factories.api_token(admin), customer, line(BASIC), line(A3_FACULTY, 1, "P1Y"))
    assert error == {
        "code": "segment",
        "message": "Item 'Microsoft 365 A3 for faculty' is for education customers only.",
        "field": "lines[1]",
    }


async def test_check_5_quantity_within_the_skus_range(catalog, admin, client):
    customer = await us_customer()
    error = await refused(client, await factories.api_token(admin), customer, line(FINANCE, 5))
    assert error == {
        "code": "quantity_range",
        "message": "Item 'Dynamics 365 Finance' supports quantity range between 20 and 10000.",
        "field": "lines[0]",
    }


async def test_check_6_the_pooled_tenant_limit_counts_every_resellers_seats(catalog, admin, client):
    first = await factories.reseller(country="US", currency="USD")
    second = await factories.reseller(country="US", currency="USD")
    tenant = uuid.uuid4()
    held = await us_customer(first["id"], tenant_id=str(tenant))
    await _subscription(held, EXTERNAL, 2)
    ordering = await us_customer(second["id"], tenant_id=str(tenant))
    await db.execute("UPDATE accounts SET gdap_status = 'active' WHERE id = $1", ordering["id"])
    error = await refused(client, await factories.api_token(admin), ordering, line(EXTERNAL, 2, "P1Y", "annual"))
    assert (
        error["message"]
        == "Item 'Dynamics 365 Business Central External Accountant' exceeds the tenant limit of 3 seats; 1 remaining."
    )


async def test_check_7_an_addon_needs_a_base(catalog, admin, client):
    customer = await us_customer()
    error = await refused(client, await factories.api_token(admin), customer, line(COPILOT, 1, "P1Y", "annual"))
    assert error == {
        "code": "addon_without_base",
        "message": "The addon is not purchasable without a compatible base subscription",
        "field": "lines[0]",
    }


async def test_check_8_the_billing_plan_must_be_offered_to_the_account(catalog, admin, client):
    reseller = await factories.reseller(country="US", currency="USD")
    customer = await us_customer(reseller["id"])
    await db.execute("UPDATE accounts SET billing_plans = '{annual}' WHERE id = $1", reseller["id"])  # the bill-to
    error = await refused(client, await factories.api_token(admin), customer, line(BASIC, 1, "P1Y", "monthly"))
    assert error["message"] == "The monthly billing plan is not available for this account."


async def test_check_9_the_credit_limit(catalog, admin, client):
    customer = await us_customer()
    await db.execute("UPDATE accounts SET credit_limit = 100 WHERE id = $1", customer["id"])
    await _subscription(customer, EXCHANGE, 1, charged=Decimal("4.80"))  # 4.80 charged, 11 months to come
    error = await refused(client, await factories.api_token(admin), customer, line(BASIC, 2, "P1Y", "annual"))
    # exposure: 4.80 uninvoiced + 11 × 4.80 committed = 57.60 of 100
    assert error == {"code": "credit_limit", "message": "This order exceeds the available credit of 42.40 USD."}


async def test_check_10_a_coterm_end_date_is_a_month_end_or_an_existing_end(catalog, admin, client):
    customer = await us_customer()
    today = clock.now().date()
    odd = today + timedelta(days=100)
    if odd.day == 1 or (odd + timedelta(days=1)).day == 1:
        odd += timedelta(days=3)
    error = await refused(client, await factories.api_token(admin), customer, line(BASIC, coterm_end_date=str(odd)))
    assert error["code"] == "coterm_end_date"
    assert error["message"] == (
        "The end date of 'Microsoft 365 Business Basic' must be the end of a calendar month or the end date of one "
        "of the customer's active subscriptions."
    )
    existing = await _subscription(customer, EXCHANGE, 1)
    placed = await order(
        client, await factories.api_token(admin), customer, line(BASIC, coterm_end_date=str(existing["end_date"]))
    )
    assert placed.status_code == 201, placed.text


async def test_check_11_one_trial_per_offer_per_tenant(catalog, admin, client):
    customer = await us_customer()
    await _subscription(customer, PREMIUM_TRIAL, 1, trial=True)
    error = await refused(client, await factories.api_token(admin), customer, line(PREMIUM_TRIAL, 1, "P1M", "none"))
    assert error == {
        "code": "trial_used",
        "message": "This customer has already had the trial of 'Microsoft 365 Business Premium Trial'; it can buy the "
        "paid offer.",
        "field": "lines[0]",
    }


async def _subscription(
    customer: dict, offer: str, quantity: int, *, trial: bool = False, charged: Decimal | None = None
) -> dict:
    """A subscription Cloudseat already holds (bought earlier), with its first month charged if `charged`."""
    start = clock.now().date() - timedelta(days=3)
    term, plan = ("P1M", "none") if trial else ("P1Y", "monthly")
    end = start + timedelta(days=29) if trial else start.replace(year=start.year + 1) - timedelta(days=1)
    row = (
        await db.fetch(
            "INSERT INTO subscriptions (id, customer_id, bill_to_id, offer_id, title, status, quantity, term, "
            "billing_plan, start_date, end_date, auto_renew, is_trial, currency, unit_price, customer_unit_price, "
            "cost_price, cost_currency, created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, $3, $3, 'active', "
            "$4, $5, $6, $7, $8, NOT $9, $9, 'USD', $10, $10, $10, 'USD', now(), now()) RETURNING *",
            customer["id"],
            customer["parent_id"] or customer["id"],
            offer,
            quantity,
            term,
            plan,
            start,
            end,
            trial,
            Decimal("57.60") if not trial else Decimal(0),
        )
    )[0]
    if charged is not None:
        await db.execute(
            "INSERT INTO charges (subscription_id, account_id, charge_type, reason, quantity, period_start, "
            "period_end, per_seat_amount, amount, currency, cost_per_seat, cost_amount, cost_currency, created_at, "
            "posted_on) VALUES ($1, $2, 'new', 'new', $3::int, $4, $5, $6::numeric, $6::numeric * $3::int, 'USD', 0, "
            "0, 'USD', now(), $4)",
            row["id"],
            row["bill_to_id"],
            quantity,
            start,
            billing_rules.add_months(start, 1) - timedelta(days=1),  # the first month, whatever its length
            charged,
        )
    return row


# --- Input, scope, concurrency ---------------------------------------------------------------------------------


async def test_bad_input_is_a_422_naming_the_field(catalog, admin, client):
    customer = await us_customer()
    headers = await factories.api_token(admin)
    for lines, field in (
        ([line(quantity=0)], "lines[0].quantity"),
        ([line(), line(offer="NOPE:0001")], "lines[1].offer_id"),
        ([line(plan="weekly")], "lines[0].billing_plan"),
        ([line(coterm_end_date="soon")], "lines[0].coterm_end_date"),
    ):
        response = await order(client, headers, customer, *lines)
        assert (response.status_code, response.json()["error"]["field"]) == (422, field)
    other = await factories.reseller()
    outsider = await factories.api_token(await factories.user(other))
    assert (await order(client, outsider, customer)).status_code == 404
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_fifty_parallel_orders_never_pass_the_credit_limit_together(catalog, admin, client):
    customer = await us_customer()
    headers = await factories.api_token(admin)
    # one seat of Exchange Online (Plan 1) for a year, paid monthly, commits its term price: room for exactly 10
    price = await client.get(
        f"/api/v1/catalog/offers/{EXCHANGE}/price",
        params={"customer_id": str(customer["id"]), "term": "P1Y", "billing_plan": "monthly"},
        headers=headers,
    )
    term_price = Decimal(price.json()["term_price"])
    await db.execute("UPDATE accounts SET credit_limit = $2 WHERE id = $1", customer["id"], term_price * 10 + 1)
    responses = await asyncio.gather(*(order(client, headers, customer, line(EXCHANGE, 1)) for _ in range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 40
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"credit_limit"}
    assert await db.fetchval("SELECT count(*) FROM orders") == 10


# --- Exactly once: faults and a killed worker -----------------------------------------------------------------


async def _until_closed(sandbox: Sandbox, orders: list[str], heartbeat: timedelta, limit: float = 90) -> None:
    """Work the queue until every order has ended (failed jobs and dead workers' jobs come back later)."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        await drain(db.DB.config["dsn"], sandbox.settings, heartbeat_timeout=heartbeat)
        open_orders = await db.fetchval(
            "SELECT count(*) FROM orders WHERE id = ANY($1::uuid[]) AND status NOT IN ('completed', 'failed')",
            [uuid.UUID(o) for o in orders],
        )
        if not open_orders:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{open_orders} orders still open"
        await asyncio.sleep(0.5)


async def _one_subscription_each(orders: list[str]) -> None:
    rows = await db.fetch(
        "SELECT o.status, l.quantity, s.partner_center_id, "
        "(SELECT count(*) FROM charges c WHERE c.subscription_id = s.id) AS charges, "
        "(SELECT count(*) FROM pcs_subscriptions p JOIN accounts a ON p.customer_id = a.tenant_id "
        " WHERE a.id = o.customer_id) AS at_microsoft, "
        "(SELECT sum(p.quantity) FROM pcs_subscriptions p JOIN accounts a ON p.customer_id = a.tenant_id "
        " WHERE a.id = o.customer_id) AS seats_at_microsoft "
        "FROM orders o JOIN order_lines l ON l.order_id = o.id LEFT JOIN subscriptions s ON s.order_line_id = l.id "
        "WHERE o.id = ANY($1::uuid[])",
        [uuid.UUID(o) for o in orders],
    )
    assert len(rows) == len(orders)
    for row in rows:
        assert row["status"] == "completed"
        assert row["partner_center_id"] is not None
        assert (row["charges"], row["at_microsoft"], row["seats_at_microsoft"]) == (1, 1, row["quantity"])


async def test_faults_at_partner_center_are_retried_and_nothing_is_bought_twice(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    orders = []
    for n in range(8):
        customer = await us_customer()
        placed = await order(client, headers, customer, line(EXCHANGE, n + 1))
        assert placed.status_code == 201, placed.text
        orders.append(placed.json()["id"])
    # 20% of calls fail with a 5xx (half of the failed writes after doing the write), 10% are throttled
    await catalog.set_faults(error_rate=0.2, throttle_rate=0.1)
    await _until_closed(catalog, orders, timedelta(seconds=30))
    await catalog.set_faults()
    await _one_subscription_each(orders)


@pytest.mark.parametrize("moment", ["cart", "checkout", "provisioning"])
async def test_a_worker_killed_mid_order_completes_it_once_when_work_resumes(catalog: Sandbox, admin, client, moment):
    customer = await us_customer()
    placed = await order(client, await factories.api_token(admin), customer, line(EXCHANGE, 2))
    order_id = placed.json()["id"]
    # slow calls and a slow provisioning, so the kill lands where it is aimed
    await catalog.set_faults(latency_ms=300, provisioning_ms=2000)
    served = catalog.settings
    env = {
        **os.environ,
        "DATABASE_URL": db.DB.config["dsn"],
        "CLOUDSEAT_DATA_DIR": str(served.data_dir),
        "SECRET_KEY": served.secret_key,
        "CLOUDSEAT_HOST": served.host,
        "CLOUDSEAT_PORT": str(served.port),
        "CLOUDSEAT_SANDBOX_PORT": str(served.sandbox_port),
        "CLOUDSEAT_BASE_URL": served.base_url,
    }
    worker = subprocess.Popen(  # noqa: ASYNC220 - a child process to kill, not to wait on
        [sys.executable, "-m", "app.cli", "worker"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    reached = {
        "cart": "SELECT count(*) FROM pcs_carts c JOIN accounts a ON a.tenant_id = c.customer_id WHERE a.id = $1",
        "checkout": "SELECT count(*) FROM pcs_carts c JOIN accounts a ON a.tenant_id = c.customer_id "
        "WHERE a.id = $1 AND c.checkout_result IS NOT NULL",
        "provisioning": "SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE o.customer_id = $1 AND l.status = 'ordered'",
    }[moment]
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while not await db.fetchval(reached, customer["id"]):
            assert worker.poll() is None, "the worker stopped on its own"
            assert asyncio.get_running_loop().time() < deadline, f"the worker never reached {moment}"
            await asyncio.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert await db.fetchval("SELECT status FROM orders WHERE id = $1", uuid.UUID(order_id)) == "provisioning"
    if moment == "provisioning":  # Microsoft has the order: the subscription is there, pending
        assert await db.fetchval("SELECT status FROM subscriptions WHERE customer_id = $1", customer["id"]) == (
            "pending"
        )
    # the app starts again: its worker picks the dead one's job once the heartbeat is stale
    await _until_closed(catalog, [order_id], timedelta(seconds=1))
    await catalog.set_faults()
    await _one_subscription_each([order_id])


# --- The pages ---------------------------------------------------------------------------------------------------


async def test_a_reseller_orders_for_its_customer_through_the_basket(catalog: Sandbox, client):
    reseller = await factories.reseller(country="US", currency="USD")
    customer = await us_customer(reseller["id"], mca=False, name="Fabrikam Dental")
    csrf = await factories.sign_in(client, await factories.user(reseller))
    form = {"_csrf_token": csrf}
    added = await client.post(
        "/basket/lines",
        data={**form, "offer_id": BASIC, "plan": "P1Y/annual", "quantity": "2", "customer_id": str(customer["id"])},
    )
    assert (added.status_code, added.headers["location"]) == (303, "/basket")
    basket = await client.get("/basket")
    assert "Attest that Fabrikam Dental accepted" in basket.text
    assert "Term ends" in basket.text

    refused = await client.post("/basket/checkout", data=form)
    assert refused.status_code == 409
    assert "The customer must accept the Microsoft Customer Agreement before ordering." in refused.text
    assert await db.fetchval("SELECT count(*) FROM orders") == 0

    earlier = clock.now().date() - timedelta(days=21)
    future = await client.post(
        "/basket/mca",
        data={
            **form,
            "first_name": "Ada",
            "last_name": "Byron",
            "email": "ada@fabrikam.test",
            "accepted_on": "2099-01-01",
        },
    )
    assert "The acceptance cannot be in the future." in future.text
    attested = await client.post(
        "/basket/mca",
        data={
            **form,
            "first_name": "Ada",
            "last_name": "Byron",
            "email": "ada@fabrikam.test",
            "accepted_on": earlier.isoformat(),
        },
    )
    assert "accepted" in attested.text
    assert await db.fetchval("SELECT accepted_at FROM mca_acceptances WHERE account_id = $1", customer["id"]) == (
        datetime(earlier.year, earlier.month, earlier.day, tzinfo=UTC)
    )
    assert await db.fetchval("SELECT method FROM mca_acceptances WHERE account_id = $1", customer["id"]) == (
        "reseller_attested"
    )
    too_many = await client.post(f"/basket/lines/{(await _basket_line())}", data={**form, "quantity": "301"})
    assert too_many.status_code == 200  # the basket keeps what was typed; the checkout decides
    refused = await client.post("/basket/checkout", data=form)
    assert refused.status_code == 409
    assert "supports quantity range between 1 and 300." in refused.text
    assert 'class="row-error"' in refused.text  # beside its line

    await client.post(f"/basket/lines/{(await _basket_line())}", data={**form, "quantity": "2"})
    placed = await client.post("/basket/checkout", data=form)
    assert placed.status_code == 303
    assert placed.headers["location"].startswith("/orders/")
    assert await db.fetchval("SELECT count(*) FROM basket_lines") == 0
    await provision(catalog)
    page = await client.get(placed.headers["location"])
    assert "Completed" in page.text
    assert "1 year, paid yearly" in page.text


async def _basket_line() -> uuid.UUID:
    return await db.fetchval("SELECT id FROM basket_lines LIMIT 1")  # type: ignore[return-value]


async def test_a_new_tenants_domain_is_checked_at_microsoft_as_it_is_typed(talks_to_sandbox, admin):
    served = talks_to_sandbox
    csrf = await factories.sign_in(served, admin)

    async def message(prefix: str) -> str:
        response = await served.post(
            "/accounts/validate?field=tenant_domain",
            data={"_csrf_token": csrf, "kind": "customer", "country": "US", "tenant_domain": prefix},
        )
        assert response.status_code == 200
        return response.text

    # an existing tenant at Microsoft that nobody here has as a customer yet
    assert "The domain tailspintoys.onmicrosoft.com is already taken at Microsoft. Choose another." in (
        await message("tailspintoys")
    )
    assert "already taken" not in await message(f"fresh{uuid.uuid4().hex[:8]}")


async def test_a_second_subscription_can_end_with_the_first_and_its_first_term_is_pro_rata(
    catalog: Sandbox, talks_to_sandbox
):
    client = talks_to_sandbox
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        customer = await us_customer()
        user = await factories.user(customer)
        first = await order(client, await factories.api_token(user), customer, line(EXCHANGE, 1, "P1Y", "annual"))
        await provision(catalog)
        exchange = (await db.fetch("SELECT * FROM subscriptions"))[0]
        # 40 days on: a new term would end later than the first subscription; it may end with it instead
        fixed.advance(days=40)
        csrf = await factories.sign_in(client, user)
        form = {"_csrf_token": csrf}
        await client.post("/basket/lines", data={**form, "offer_id": BASIC, "plan": "P1Y/annual", "quantity": "2"})
        page = await client.get("/basket")
        assert f'<option value="{exchange["end_date"]}"' in page.text
        assert "with Exchange Online (Plan 1)" in page.text
        line_id = await _basket_line()
        await client.post(f"/basket/lines/{line_id}", data={**form, "coterm_end_date": str(exchange["end_date"])})
        placed = await client.post("/basket/checkout", data=form)
        assert placed.status_code == 303, placed.text
        await provision(catalog)
        basic = (await db.fetch("SELECT * FROM subscriptions WHERE offer_id = $1", BASIC))[0]
        assert basic["end_date"] == exchange["end_date"]  # co-termed
        charge = (await db.fetch("SELECT * FROM charges WHERE subscription_id = $1", basic["id"]))[0]
        days = (basic["end_date"] - basic["start_date"]).days + 1
        full = (basic["start_date"].replace(year=basic["start_date"].year + 1) - basic["start_date"]).days
        assert charge["per_seat_amount"] == (basic["unit_price"] * days / full).quantize(Decimal("0.01"))
        microsoft = await db.fetch(
            "SELECT subtotal FROM pcs_line_items WHERE subscription_id::text = $1", basic["partner_center_id"]
        )
        assert [m["subtotal"] for m in microsoft] == [charge["cost_amount"]]  # Microsoft prorates the same way
        assert first.status_code == 201


async def test_an_existing_tenant_is_linked_through_gdap_and_then_ordered_for(talks_to_sandbox, catalog, admin):
    from app.partner_center.sandbox import directory

    served = talks_to_sandbox
    tailspin = directory.EXISTING_TENANTS[0]
    customer = await us_customer(tenant_id=str(tailspin.id), name="Tailspin Toys")
    headers = await factories.api_token(admin)
    refused = await order(served, headers, customer, line(EXCHANGE, 1))
    assert refused.json()["error"]["code"] == "gdap_required"

    csrf = await factories.sign_in(served, admin)
    asked = await served.post(f"/accounts/{customer['id']}/gdap", data={"_csrf_token": csrf})
    assert "waiting for approval" in asked.text
    relationship = await db.fetchval("SELECT gdap_relationship_id FROM accounts WHERE id = $1", customer["id"])
    assert f"/AdminPortal/Home/partners/invitation/granularAdminRelationships/{relationship}" in asked.text
    checked = await served.post(f"/accounts/{customer['id']}/gdap/refresh", data={"_csrf_token": csrf})
    assert "waiting for approval" in checked.text
    await directory.approve(relationship, f"admin@{tailspin.domain}")  # the tenant's admin, on Microsoft's page
    # nobody presses a button: the scheduler's hourly look at what Microsoft has answered finds it active
    assert await tenants.due(clock.now()) == 1
    await provision(catalog)
    page = await served.get(f"/accounts/{customer['id']}")
    assert "The CSP manages this tenant" in page.text
    assert await tenants.due(clock.now()) == 0

    placed = await order(served, headers, customer, line(EXCHANGE, 1))
    assert placed.status_code == 201, placed.text
    await provision(catalog)
    done = (await served.get(f"/api/v1/orders/{placed.json()['id']}", headers=headers)).json()
    assert done["status"] == "completed"
    assert (
        await db.fetchval("SELECT count(*) FROM pcs_subscriptions WHERE customer_id = $1", tailspin.id) == 1
    )  # bought in the tenant the customer already had


async def test_an_education_qualification_is_asked_of_microsoft_and_opens_its_offers(talks_to_sandbox, catalog, admin):
    served = talks_to_sandbox
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        customer = await us_customer(name="Litware College")
        headers = await factories.api_token(admin)
        csrf = await factories.sign_in(served, admin)
        missing = await served.post(
            f"/accounts/{customer['id']}/qualification", data={"_csrf_token": csrf, "qualification": "education"}
        )
        assert missing.status_code == 422
        assert "Choose K-12 or higher education." in missing.text
        asked = await served.post(
            f"/accounts/{customer['id']}/qualification",
            data={"_csrf_token": csrf, "qualification": "education", "education_segment": "HigherEducation",
                  "website": "https://college.example"},
        )  # fmt: skip
        assert asked.status_code == 200, asked.text
        assert "in review" in asked.text
        account = (await db.fetch("SELECT * FROM accounts WHERE id = $1", customer["id"]))[0]
        assert account["tenant_id"] is not None  # the tenant was created to be vetted
        assert (account["qualification"], account["qualification_status"]) == ("commercial", "InReview")
        refused = await order(served, headers, customer, line(A3_FACULTY, 5, "P1Y", "annual"))
        assert refused.json()["error"]["code"] == "segment"

        fixed.advance(days=1, minutes=1)  # Microsoft's vetting (the sandbox approves after a day)
        checked = await served.post(f"/accounts/{customer['id']}/qualification/refresh", data={"_csrf_token": csrf})
        assert "Buys <strong>education</strong> prices" in checked.text
        placed = await order(served, headers, customer, line(A3_FACULTY, 5, "P1Y", "annual"))
        assert placed.status_code == 201, placed.text


async def test_a_promotion_for_enough_seats_lowers_the_order_and_microsofts_cost_alike(catalog: Sandbox, admin, client):
    sales = "CFQ7TTC0LH3B:0002"  # Dynamics 365 Sales Enterprise: 15% off on three years from 5 seats
    customer = await us_customer()
    headers = await factories.api_token(admin)
    few = (await order(client, headers, customer, line(sales, 4, "P3Y", "monthly"))).json()
    many = (await order(client, headers, customer, line(sales, 5, "P3Y", "monthly"))).json()
    lines = {r["quantity"]: r for r in await db.fetch("SELECT * FROM order_lines")}
    assert lines[4]["promotion_id"] is None
    assert lines[5]["promotion_id"] == "39NFJQT1T6HX:0001:39NFJQT1Q9KB"
    # the same amount every month: 15% off the monthly installment, times 36
    per_month = (lines[4]["unit_price"] / 36 * Decimal("0.85")).quantize(Decimal("0.01"))
    assert lines[5]["unit_price"] == per_month * 36
    await provision(catalog)
    for placed in (few, many):
        assert (await client.get(f"/api/v1/orders/{placed['id']}", headers=headers)).json()["status"] == "completed"
    promoted = (await db.fetch("SELECT * FROM subscriptions WHERE quantity = 5"))[0]
    charge = (await db.fetch("SELECT * FROM charges WHERE subscription_id = $1", promoted["id"]))[0]
    microsoft = await db.fetch(
        "SELECT subtotal, promotion_id FROM pcs_line_items WHERE subscription_id::text = $1",
        promoted["partner_center_id"],
    )
    assert [(m["subtotal"], m["promotion_id"]) for m in microsoft] == [
        (charge["cost_amount"], "39NFJQT1T6HX:0001:39NFJQT1Q9KB")
    ]


async def test_two_lines_of_one_offer_each_get_their_own_subscription(catalog: Sandbox, admin, client):
    customer = await us_customer()
    headers = await factories.api_token(admin)
    placed = await order(client, headers, customer, line(EXCHANGE, 3, "P1Y", "annual"), line(EXCHANGE, 2))
    assert placed.status_code == 201, placed.text
    await provision(catalog)
    rows = await db.fetch(
        "SELECT l.quantity, l.billing_plan, s.quantity AS seats, s.billing_plan AS plan, p.quantity AS at_microsoft, "
        "p.billing_cycle FROM order_lines l JOIN subscriptions s ON s.order_line_id = l.id "
        "JOIN pcs_subscriptions p ON p.id::text = s.partner_center_id ORDER BY l.line_no"
    )
    assert [(r["quantity"], r["seats"], r["at_microsoft"], r["plan"], r["billing_cycle"]) for r in rows] == [
        (3, 3, 3, "annual", "annual"),
        (2, 2, 2, "monthly", "monthly"),
    ]


async def test_a_provisioned_subscription_reads_back_with_its_refundable_seats_and_window(catalog: Sandbox, client):
    reseller = await factories.reseller(country="US", currency="USD")
    customer = await us_customer(reseller["id"])
    as_customer = await factories.api_token(await factories.user(customer))
    as_reseller = await factories.api_token(await factories.user(reseller))
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        placed = await order(client, as_reseller, customer, line(BASIC, 4, "P1Y", "annual"))
        assert placed.status_code == 201
        await provision(catalog)
        listed = (await client.get("/api/v1/subscriptions", params={"customer_id": str(customer["id"])},
                                   headers=as_customer)).json()  # fmt: skip
        (item,) = listed["items"]
        assert (item["status"], item["quantity"], item["refundable_quantity"], item["auto_renew"]) == (
            "active", 4, 4, True
        )  # fmt: skip
        window = datetime.fromisoformat(item["cancellation_window_ends_at"].replace("Z", "+00:00"))
        assert timedelta(hours=167) < window - clock.now() <= timedelta(hours=168)
        # the reseller sees what it is billed; the customer its own price (the reseller's 0% margin here)
        billed = (await client.get(f"/api/v1/subscriptions/{item['id']}", headers=as_reseller)).json()
        assert billed["unit_price"] == item["unit_price"]
        assert item["partner_center_id"] == billed["partner_center_id"]
        fixed.advance(hours=169)
        closed = (await client.get(f"/api/v1/subscriptions/{item['id']}", headers=as_customer)).json()
        assert (closed["refundable_quantity"], closed["cancellation_window_ends_at"]) == (0, None)
        bad = await client.get("/api/v1/subscriptions", params={"status": "alive"}, headers=as_customer)
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "status")
