"""Changing a subscription now through the API: seats and auto-renew at the sandbox, windows and charges here
(NCE_RULES 4 and 5)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app import clock, db
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox
from tests.integration.test_orders import EXCHANGE, line, order, provision, us_customer

pytestmark = pytest.mark.integration


async def _bought(client, headers, quantity: int = 2, plan: str = "monthly") -> dict:
    customer = await us_customer()
    placed = await order(client, headers, customer, line(EXCHANGE, quantity, "P1Y", plan))
    assert placed.status_code == 201, placed.text
    return customer


async def _change(client, headers, subscription_id, catalog: Sandbox, **body):
    response = await client.patch(f"/api/v1/subscriptions/{subscription_id}", json=body, headers=headers)
    if response.status_code == 202:
        await provision(catalog)
    return response


async def test_seats_added_and_removed_inside_the_window_bill_like_microsoft(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        await _bought(client, headers, 2)
        await provision(catalog)
        sub = (await db.fetch("SELECT * FROM subscriptions"))[0]
        fixed.advance(days=3)
        added = await _change(client, headers, sub["id"], catalog, quantity=5)
        assert added.status_code == 202, added.text
        assert added.json()["operation"]["status"] == "queued"
        item = (await client.get(f"/api/v1/subscriptions/{sub['id']}", headers=headers)).json()
        assert (item["quantity"], item["refundable_quantity"]) == (5, 5)
        pc = (await db.fetch("SELECT * FROM pcs_subscriptions WHERE id::text = $1", sub["partner_center_id"]))[0]
        assert pc["quantity"] == 5

        ours = await db.fetch(
            "SELECT charge_type, quantity, per_seat_amount, cost_amount FROM charges WHERE subscription_id = $1 "
            "ORDER BY id",
            sub["id"],
        )
        # 3 days into a month of (30 or 31) days: the old 2 seats reversed and the new 5 charged for the rest
        assert [(c["charge_type"], c["quantity"]) for c in ours] == [
            ("new", 2), ("add_quantity", 2), ("add_quantity", 5)
        ]  # fmt: skip
        assert ours[1]["per_seat_amount"] == -ours[2]["per_seat_amount"]
        assert Decimal(0) < ours[2]["per_seat_amount"] < ours[0]["per_seat_amount"]
        microsoft = await db.fetch(
            "SELECT charge_type, quantity, subtotal FROM pcs_line_items WHERE subscription_id = $1",
            pc["id"],
        )
        assert sorted(m["subtotal"] for m in microsoft) == sorted(c["cost_amount"] for c in ours)  # to the cent

        fixed.advance(days=1)
        removed = await _change(client, headers, sub["id"], catalog, quantity=3)  # the 3 added seats' window is open
        assert removed.status_code == 202
        assert (await db.fetchval("SELECT quantity FROM subscriptions WHERE id = $1", sub["id"])) == 3

        fixed.advance(days=7)  # every window has closed
        refused = await client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"quantity": 2}, headers=headers)
        assert (refused.status_code, refused.json()["error"]["message"]) == (
            409,
            "Seats can only be reduced within 168 hours of purchase or renewal. Schedule the change for renewal "
            "instead.",
        )
        assert await db.fetchval("SELECT quantity FROM pcs_subscriptions WHERE id = $1", pc["id"]) == 3  # unchanged
        more = await _change(client, headers, sub["id"], catalog, quantity=4)  # increases: any time
        assert more.status_code == 202
        assert await db.fetchval("SELECT quantity FROM pcs_subscriptions WHERE id = $1", pc["id"]) == 4


async def test_auto_renew_is_toggled_at_microsoft(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    await _bought(client, headers, 1, "annual")
    await provision(catalog)
    sub = (await db.fetch("SELECT * FROM subscriptions"))[0]
    assert (await _change(client, headers, sub["id"], catalog, auto_renew=False)).status_code == 202
    assert (
        await db.fetchval("SELECT auto_renew FROM pcs_subscriptions WHERE id::text = $1", sub["partner_center_id"])
        is False
    )
    item = (await client.get(f"/api/v1/subscriptions/{sub['id']}", headers=headers)).json()
    assert item["auto_renew"] is False
    bad = await client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"auto_renew": "no"}, headers=headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "auto_renew")
    events = await db.fetch("SELECT * FROM events WHERE subject_type = 'subscription' AND action = 'changed'")
    assert len(events) == 1


async def test_a_subscription_is_cancelled_inside_its_window_and_refunded_like_microsoft(
    catalog: Sandbox, admin, client
):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        await _bought(client, headers, 3)
        await _bought(client, headers, 2)
        await provision(catalog)
        first, second = await db.fetch("SELECT * FROM subscriptions ORDER BY quantity DESC")
        fixed.advance(days=2)
        some = await client.post(f"/api/v1/subscriptions/{first['id']}/cancel", json={"quantity": 1}, headers=headers)
        assert some.status_code == 202  # some seats: a reduction inside their window
        await provision(catalog)
        assert await db.fetchval("SELECT quantity FROM subscriptions WHERE id = $1", first["id"]) == 2
        whole = await client.post(f"/api/v1/subscriptions/{first['id']}/cancel", headers=headers)
        assert whole.status_code == 202, whole.text
        await provision(catalog)
        item = (await client.get(f"/api/v1/subscriptions/{first['id']}", headers=headers)).json()
        assert (item["status"], item["auto_renew"], item["refundable_quantity"]) == ("cancelled", False, 0)
        pc = (await db.fetch("SELECT * FROM pcs_subscriptions WHERE id::text = $1", first["partner_center_id"]))[0]
        assert pc["status"] == "deleted"
        ours = await db.fetch(
            "SELECT charge_type, quantity, cost_amount FROM charges WHERE subscription_id = $1 ORDER BY id", first["id"]
        )
        assert [(c["charge_type"], c["quantity"]) for c in ours][-1] == ("cancel", 2)
        microsoft = await db.fetch("SELECT subtotal FROM pcs_line_items WHERE subscription_id = $1", pc["id"])
        assert sorted(m["subtotal"] for m in microsoft) == sorted(c["cost_amount"] for c in ours)

        fixed.advance(days=6)  # the second subscription's window (purchase + 168 hours) has closed
        closed = (second["cancellation_window_ends_at"] or clock.now()).date()
        refused = await client.post(f"/api/v1/subscriptions/{second['id']}/cancel", headers=headers)
        assert (refused.status_code, refused.json()["error"]["message"]) == (
            409,
            f"This subscription can no longer be cancelled: its cancellation window closed on {closed.isoformat()}.",
        )


async def test_a_cancel_body_that_is_not_a_json_object_cancels_nothing(catalog: Sandbox, admin, client):
    """API.md: `{quantity?}`; an empty object is the whole subscription, anything else that is not a JSON object
    is 400 and cancels nothing; unknown fields and bad quantities are 422 (money: a cancel refunds the term)."""
    headers = await factories.api_token(admin)
    await _bought(client, headers, 3)
    await provision(catalog)
    sub = (await db.fetch("SELECT * FROM subscriptions"))[0]
    url = f"/api/v1/subscriptions/{sub['id']}/cancel"
    json_type = {**headers, "Content-Type": "application/json"}
    queued_before = await db.fetchval("SELECT count(*) FROM operations")

    for body in (b'"x"', b"[]", b'[{"quantity": 1}]', b"3", b"null", b"true", b"x", b"{quantity: 1}"):
        refused = await client.post(url, content=body, headers=json_type)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["error"]["code"] == "malformed_request", body
        assert refused.json()["error"]["message"], body
    not_json = await client.post(url, content=b"quantity=1", headers={**headers, "Content-Type": "text/plain"})
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "malformed_request")

    for body, field in (
        ({"seats": 1}, "seats"),
        ({"quantity": 1, "reason": "too many"}, "reason"),
        ({"quantity": None}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": "2"}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"quantity": 4}, "quantity"),  # more seats than it has
    ):
        invalid = await client.post(url, json=body, headers=headers)
        assert (invalid.status_code, invalid.json()["error"]["code"]) == (422, "invalid"), (body, invalid.text)
        assert invalid.json()["error"]["field"] == field, body

    item = (await client.get(f"/api/v1/subscriptions/{sub['id']}", headers=headers)).json()
    assert (item["status"], item["quantity"]) == ("active", 3)
    assert await db.fetchval("SELECT count(*) FROM operations") == queued_before  # nothing was queued
    assert await db.fetchval("SELECT count(*) FROM pgqueuer WHERE status = 'queued'") == 0
    pc = await db.fetchval("SELECT status FROM pcs_subscriptions WHERE id::text = $1", sub["partner_center_id"])
    assert pc == "active"

    # the page's "Cancel some seats" form sent with its field emptied is not the whole subscription either
    csrf = await factories.sign_in(client, admin)
    for seats in ("", " ", "x", "0"):
        emptied = await client.post(
            f"/subscriptions/{sub['id']}/cancel", data={"_csrf_token": csrf, "quantity": seats}, follow_redirects=False
        )
        assert emptied.status_code == 422, (seats, emptied.text)
    assert await db.fetchval("SELECT count(*) FROM operations") == queued_before
    assert await db.fetchval("SELECT (status, quantity)::text FROM subscriptions WHERE id = $1", sub["id"]) == (
        "(active,3)"
    )

    whole = await client.post(url, json={}, headers=headers)  # the empty object: the whole subscription
    assert whole.status_code == 202, whole.text
    await provision(catalog)
    item = (await client.get(f"/api/v1/subscriptions/{sub['id']}", headers=headers)).json()
    assert item["status"] == "cancelled"


async def test_a_reseller_suspends_and_reactivates_its_customers_subscription(catalog: Sandbox, admin, client):
    reseller = await factories.reseller(country="US", currency="USD")
    customer = await us_customer(reseller["id"])
    as_reseller = await factories.api_token(await factories.user(reseller))
    as_customer = await factories.api_token(await factories.user(customer))
    placed = await order(client, as_reseller, customer, line(EXCHANGE, 2, "P1Y", "annual"))
    assert placed.status_code == 201
    await provision(catalog)
    sub = (await db.fetch("SELECT * FROM subscriptions"))[0]
    url = f"/api/v1/subscriptions/{sub['id']}"
    assert (await client.post(f"{url}/suspend", headers=as_customer)).status_code == 403
    assert (await client.post(f"{url}/suspend", headers=as_reseller)).status_code == 202
    await provision(catalog)
    pc_status = "SELECT status FROM pcs_subscriptions WHERE id::text = $1"
    assert await db.fetchval(pc_status, sub["partner_center_id"]) == "suspended"
    assert (await client.get(url, headers=as_customer)).json()["status"] == "suspended"
    blocked = await client.patch(url, json={"quantity": 3}, headers=as_reseller)
    assert (blocked.status_code, blocked.json()["error"]["message"]) == (
        409,
        "Seats can only be changed while the subscription is active; it is suspended.",
    )
    assert (await client.post(f"{url}/reactivate", headers=as_reseller)).status_code == 202
    await provision(catalog)
    assert await db.fetchval(pc_status, sub["partner_center_id"]) == "active"
    assert (await client.get(url, headers=as_customer)).json()["status"] == "active"
    again = await client.post(f"{url}/reactivate", headers=as_reseller)
    assert (again.status_code, again.json()["error"]["message"]) == (
        409,
        "Only suspended subscriptions can be reactivated; this one is active.",
    )
    log = (await client.get(f"{url}/events", headers=as_customer)).json()["items"]
    assert [e["action"] for e in log[:3]] == ["active", "suspended", "activated"]  # newest first
    assert (log[1]["before"], log[1]["after"]["status"]) == ({"status": "active"}, "suspended")
