"""Upgrades through the API against the sandbox's transitions (NCE_RULES 4, 5): the targets offered, a full and
a partial move, their windows, and `convert` charges whose cost side is Microsoft's line items to the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app import clock, db
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox
from tests.integration.test_orders import BASIC, EXCHANGE, provision
from tests.integration.test_subscription_lifecycle import buy, microsoft, ours

pytestmark = pytest.mark.integration

STANDARD = "CFQ7TTC0LDPB:0001"  # Microsoft 365 Business Standard, an upgrade target of Business Basic


async def test_the_planner_lists_the_targets_with_what_the_move_costs(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    sub = await buy(client, headers, BASIC, 3, "P1Y", "annual", catalog)
    listed = (await client.get(f"/api/v1/subscriptions/{sub['id']}/upgrades", headers=headers)).json()["items"]
    offered = {item["offer_id"]: item for item in listed}
    source = await db.fetchval("SELECT upgrade_targets FROM catalog_offers WHERE id = $1", BASIC)
    assert set(offered) == set(source)
    standard = offered[STANDARD]
    assert standard["eligible"] is True
    assert standard["reason"] is None
    assert Decimal(standard["unit_price"]) > sub["unit_price"]
    assert Decimal(standard["credit_now"]) == sub["unit_price"] * 3  # bought today: the whole year comes back
    assert standard["end_date"] == sub["end_date"].isoformat()  # the target co-terms with the source


async def test_a_full_upgrade_moves_every_seat_and_bills_like_microsoft(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        sub = await buy(client, headers, BASIC, 3, "P1Y", "monthly", catalog)
        fixed.advance(days=12)
        response = await client.post(
            f"/api/v1/subscriptions/{sub['id']}/upgrade", json={"offer_id": STANDARD}, headers=headers
        )
        assert response.status_code == 202, response.text
        await provision(catalog)
        operation = (
            await client.get(f"/api/v1/operations/{response.json()['operation']['id']}", headers=headers)
        ).json()
        assert operation["status"] == "succeeded", operation
    source = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", sub["id"]))[0]
    target = (await db.fetch("SELECT * FROM subscriptions WHERE offer_id = $1", STANDARD))[0]
    assert (source["status"], source["quantity"]) == ("deleted", 0)
    assert (target["status"], target["quantity"], target["end_date"]) == ("active", 3, sub["end_date"])
    assert target["promotion_id"] is None
    for row in (source, target):
        charges = await ours(row["id"])
        assert charges[-1]["quantity"] > 0
        assert {c["charge_type"] for c in charges} - {"new"} == {"convert"}
        lines = await microsoft(row)
        assert sorted(m["subtotal"] for m in lines) == sorted(c["cost_amount"] for c in charges)  # to the cent
    log = (await client.get(f"/api/v1/subscriptions/{sub['id']}/events", headers=headers)).json()["items"]
    assert log[0]["action"] == "upgraded"
    assert log[0]["after"]["to_subscription"] == str(target["id"])


async def test_a_partial_upgrade_keeps_the_moved_seats_windows(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        sub = await buy(client, headers, BASIC, 5, "P1Y", "annual", catalog)
        fixed.advance(days=2)
        response = await client.post(
            f"/api/v1/subscriptions/{sub['id']}/upgrade", json={"offer_id": STANDARD, "quantity": 2}, headers=headers
        )
        assert response.status_code == 202, response.text
        await provision(catalog)
        target = (await db.fetch("SELECT * FROM subscriptions WHERE offer_id = $1", STANDARD))[0]
        moved = (await client.get(f"/api/v1/subscriptions/{target['id']}", headers=headers)).json()
        kept = (await client.get(f"/api/v1/subscriptions/{sub['id']}", headers=headers)).json()
    assert (kept["status"], kept["quantity"], kept["refundable_quantity"]) == ("active", 3, 3)
    assert (moved["quantity"], moved["refundable_quantity"]) == (2, 2)
    assert moved["cancellation_window_ends_at"] == kept["cancellation_window_ends_at"]  # inherited
    for row in (sub, target):
        charges = await ours(row["id"])
        lines = await microsoft(dict(row, partner_center_id=row["partner_center_id"]))
        assert sorted(m["subtotal"] for m in lines) == sorted(c["cost_amount"] for c in charges)


async def test_upgrade_refusals_change_nothing(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    sub = await buy(client, headers, BASIC, 2, "P1Y", "annual", catalog)
    url = f"/api/v1/subscriptions/{sub['id']}/upgrade"
    sideways = await client.post(url, json={"offer_id": EXCHANGE}, headers=headers)
    assert (sideways.status_code, sideways.json()["error"]["field"]) == (422, "offer_id")
    too_many = await client.post(url, json={"offer_id": STANDARD, "quantity": 3}, headers=headers)
    assert (too_many.status_code, too_many.json()["error"]["message"]) == (
        409,
        "An upgrade moves between 1 and 2 seats.",
    )
    await client.post(f"/api/v1/subscriptions/{sub['id']}/suspend", headers=headers)
    await provision(catalog)
    suspended = await client.post(url, json={"offer_id": STANDARD}, headers=headers)
    assert suspended.json()["error"]["message"] == "Only an active subscription can be upgraded; this one is suspended."
    assert await db.fetchval("SELECT count(*) FROM subscriptions WHERE customer_id = $1", sub["customer_id"]) == 1
    assert await db.fetchval("SELECT quantity FROM subscriptions WHERE id = $1", sub["id"]) == 2
    tenant = await db.fetchval("SELECT tenant_id FROM accounts WHERE id = $1", sub["customer_id"])
    assert await db.fetchval("SELECT count(*) FROM pcs_subscriptions WHERE customer_id = $1", tenant) == 1
