"""The daily health check and the import tool (issue 6): changes made directly in Partner Center show up as
differences, each fixed in one click in either direction; customers and subscriptions made there are imported."""

from __future__ import annotations

import pytest

from app import clock, db
from app.jobs import scheduler
from app.partner_center.sandbox import catalog as pc_catalog
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox, new_customer
from tests.integration.sandbox_fixtures import buy as pc_buy
from tests.integration.sandbox_fixtures import line as pc_line
from tests.integration.test_orders import BASIC, provision
from tests.integration.test_subscription_lifecycle import buy, pc_row

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(talks_to_sandbox):
    """The pages here call Partner Center while answering: an app that talks to the served sandbox."""
    return talks_to_sandbox


async def open_drifts() -> dict[tuple[str, str], dict]:
    rows = await db.fetch("SELECT * FROM subscription_drifts WHERE resolved_at IS NULL")
    return {(r["partner_center_id"], r["field"]): r for r in rows}


async def test_changes_made_in_partner_center_are_found_and_fixed_both_ways(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    sub = await buy(client, headers, BASIC, 2, "P1Y", "monthly", catalog)
    tenant = str(await db.fetchval("SELECT tenant_id FROM accounts WHERE id = $1", sub["customer_id"]))
    portal = catalog.app_only_client()  # a person working in Partner Center directly
    current = await portal.get_subscription(tenant, sub["partner_center_id"])
    await portal.update_subscription(tenant, current, quantity=7)
    current = await portal.get_subscription(tenant, sub["partner_center_id"])
    await portal.update_subscription(tenant, current, autoRenewEnabled=False)
    [direct] = await pc_buy(
        portal, tenant, pc_line(pc_catalog.offer_by_key("CFQ7TTC0LH16", "0001"), 3, "P1Y", "annual")
    )

    await scheduler.tick(clock.now())  # the day's check is claimed and queued
    await provision(catalog)
    found = await open_drifts()
    assert set(found) == {
        (sub["partner_center_id"], "quantity"),
        (sub["partner_center_id"], "auto_renew"),
        (direct.id, "missing"),
    }
    assert (
        found[(sub["partner_center_id"], "quantity")]["ours"],
        found[(sub["partner_center_id"], "quantity")]["microsoft"],
    ) == ("2", "7")
    await scheduler.tick(clock.now())  # the same day: not checked again
    assert await db.fetchval("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'subscription_health'") == 0

    csrf = await factories.sign_in(client, admin)
    page = (await client.get("/admin/subscription-health")).text
    assert "Only at Microsoft" in page
    assert "Use Microsoft’s" in page or "Use Microsoft" in page

    async def fix(key, direction):
        response = await client.post(
            f"/admin/subscription-health/{found[key]['id']}",
            data={"_csrf_token": csrf, "direction": direction},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        await provision(catalog)

    await fix((sub["partner_center_id"], "quantity"), "pull")  # Microsoft's 7 seats, billed from today
    local = (await db.fetch("SELECT * FROM subscriptions WHERE id = $1", sub["id"]))[0]
    assert local["quantity"] == 7
    types = [
        r["charge_type"]
        for r in await db.fetch("SELECT charge_type FROM charges WHERE subscription_id = $1", sub["id"])
    ]
    assert types.count("add_quantity") == 2
    await fix((sub["partner_center_id"], "auto_renew"), "push")  # Cloudseat's "on" sent to Microsoft
    assert (await pc_row(sub))["auto_renew"] is True
    await fix((direct.id, "missing"), "import")
    imported = (await db.fetch("SELECT * FROM subscriptions WHERE partner_center_id = $1", direct.id))[0]
    assert (imported["quantity"], imported["status"], imported["customer_id"]) == (3, "active", sub["customer_id"])
    assert imported["billed_from"] > clock.now().date()  # its current period was billed before Cloudseat knew it

    await client.post("/admin/subscription-health/check", data={"_csrf_token": csrf})
    await provision(catalog)
    assert await open_drifts() == {}
    resolutions = await db.fetch("SELECT resolution FROM subscription_drifts ORDER BY id")
    assert [r["resolution"] for r in resolutions] == ["pulled", "pushed", "imported"]


async def test_a_customer_created_in_partner_center_is_imported_with_its_subscriptions(catalog: Sandbox, admin, client):
    portal = catalog.app_only_client()
    customer = await new_customer(portal)
    await pc_buy(portal, customer.id, pc_line(pc_catalog.offer_by_key("CFQ7TTC0LH18", "0001"), 4, "P1Y", "monthly"))
    csrf = await factories.sign_in(client, admin)
    listing = (await client.get("/admin/partner-center/import")).text
    assert customer.id in listing
    imported = await client.post(
        "/admin/partner-center/import", data={"_csrf_token": csrf, "tenant_id": customer.id}, follow_redirects=False
    )
    assert imported.status_code == 303, imported.text
    account = (await db.fetch("SELECT * FROM accounts WHERE tenant_id::text = $1", customer.id))[0]
    assert account["kind"] == "customer"
    assert account["tenant_origin"] == "created"
    subs = await db.fetch("SELECT * FROM subscriptions WHERE customer_id = $1", account["id"])
    assert [(s["offer_id"], s["quantity"], s["billing_plan"]) for s in subs] == [(BASIC, 4, "monthly")]
    assert customer.id not in (await client.get("/admin/partner-center/import")).text
