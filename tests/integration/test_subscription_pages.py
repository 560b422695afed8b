"""The subscription pages as a signed-in user sees them: the list and its filters, the renewal calendar, the
seat preview, and actions queued from the page and refused on it with the rule's message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app import clock, db
from app.subscriptions import rules
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox
from tests.integration.test_orders import BASIC, EXCHANGE, PREMIUM_TRIAL, provision
from tests.integration.test_subscription_lifecycle import buy, move

pytestmark = pytest.mark.integration


async def test_the_list_filters_by_status_offer_and_term_end(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(datetime(2027, 3, 10, 12, tzinfo=UTC)):
        monthly = await buy(client, headers, BASIC, 2, "P1M", "monthly", catalog)
        yearly = await buy(client, headers, EXCHANGE, 3, "P1Y", "annual", catalog)
        await factories.sign_in(client, admin)
        everything = (await client.get("/subscriptions")).text
        assert "Microsoft 365 Business Basic" in everything
        assert "Exchange Online" in everything
        soon = (await client.get("/subscriptions?ending=30")).text
        assert str(monthly["id"]) in soon
        assert str(yearly["id"]) not in soon
        by_name = (await client.get("/subscriptions?q=exchange")).text
        assert str(yearly["id"]) in by_name
        assert str(monthly["id"]) not in by_name
        none = (await client.get("/subscriptions?status=suspended")).text
        assert "No subscription matches these filters." in none

        calendar = (await client.get("/subscriptions/renewals?days=30")).text
        assert str(monthly["id"]) in calendar
        assert str(yearly["id"]) not in calendar
        assert "Renews" in calendar
        assert str(monthly["unit_price"] * 2)[:4] in calendar.replace(",", "")  # 2 seats, a month


async def test_the_seat_preview_and_a_change_followed_to_its_end(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        sub = await buy(client, headers, EXCHANGE, 2, "P1Y", "monthly", catalog)
        csrf = await factories.sign_in(client, admin)
        page = (await client.get(f"/subscriptions/{sub['id']}")).text
        assert "Change seats" in page
        assert "Cancel the subscription" in page
        preview = (await client.get(f"/subscriptions/{sub['id']}/seats/preview?quantity=5")).text
        assert "Adding 3 seats charges" in preview
        fixed.advance(days=8)  # every window closed
        csrf = await factories.sign_in(client, admin)  # the session has expired meanwhile
        locked = (await client.get(f"/subscriptions/{sub['id']}/seats/preview?quantity=1")).text
        assert rules.SEATS_LOCKED in locked

        refused = await client.post(
            f"/subscriptions/{sub['id']}/cancel", data={"_csrf_token": csrf}, follow_redirects=False
        )
        assert refused.status_code == 409
        closed = (sub["cancellation_window_ends_at"]).date().isoformat()
        assert f"its cancellation window closed on {closed}" in refused.text

        queued = await client.post(
            f"/subscriptions/{sub['id']}/seats", data={"_csrf_token": csrf, "quantity": "4"}, follow_redirects=False
        )
        assert queued.status_code == 303
        target = queued.headers["location"]
        assert "?operation=" in target
        waiting = (await client.get(target)).text
        assert "Sending the change to Microsoft" in waiting
        await provision(catalog)
        done = (await client.get(target)).text
        assert "Done: Microsoft has made the change." in done
        assert await db.fetchval("SELECT quantity FROM subscriptions WHERE id = $1", sub["id"]) == 4
        operation = target.split("=")[1]
        banner = await client.get(f"/subscriptions/{sub['id']}/operations/{operation}", headers={"HX-Request": "true"})
        assert banner.headers.get("hx-refresh") == "true"

        await move(fixed, catalog, days=1)
        scheduled = await client.post(
            f"/subscriptions/{sub['id']}/schedule",
            data={"_csrf_token": csrf, "quantity": "6", "offer_id": EXCHANGE, "plan": "P1Y/annual"},
            follow_redirects=False,
        )
        assert scheduled.status_code == 303
        await provision(catalog)
        page = (await client.get(f"/subscriptions/{sub['id']}")).text
        assert "At renewal: <strong>6 × Exchange Online (Plan 1)</strong>, 1 year, paid yearly." in page
        assert "Scheduled change" in page  # the change log


async def test_a_trial_shows_its_days_left_and_buys_the_paid_offer(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        trial = await buy(client, headers, PREMIUM_TRIAL, 25, "P1M", "none", catalog)
        fixed.advance(days=10)
        csrf = await factories.sign_in(client, admin)
        page = (await client.get(f"/subscriptions/{trial['id']}")).text
        left = (trial["end_date"] - clock.now().date()).days + 1
        assert f"{left} days left" in page
        assert "Buy Microsoft 365 Business Premium" in page
        bought = await client.post(
            f"/subscriptions/{trial['id']}/buy", data={"_csrf_token": csrf}, follow_redirects=False
        )
        assert bought.status_code == 303
        line = (await db.fetch("SELECT * FROM basket_lines"))[0]
        assert (line["offer_id"], line["quantity"]) == ("CFQ7TTC0LCHC:0002", 25)


async def test_the_upgrade_planner_moves_seats_from_the_page(catalog: Sandbox, admin, client):
    headers = await factories.api_token(admin)
    sub = await buy(client, headers, BASIC, 3, "P1Y", "annual", catalog)
    csrf = await factories.sign_in(client, admin)
    page = (await client.get(f"/subscriptions/{sub['id']}")).text
    assert "Microsoft 365 Business Standard" in page
    assert "credited" in page
    moved = await client.post(
        f"/subscriptions/{sub['id']}/upgrade",
        data={"_csrf_token": csrf, "offer_id": "CFQ7TTC0LDPB:0001", "quantity": "1"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    await provision(catalog)
    after = (await client.get(moved.headers["location"])).text
    assert "Done: Microsoft has made the change." in after
    assert "Upgraded" in after
    assert await db.fetchval("SELECT quantity FROM subscriptions WHERE id = $1", sub["id"]) == 2
