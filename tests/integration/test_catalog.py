"""Catalog sync from the sandbox over HTTPS, and the catalog API that prices offers per viewer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from app import db
from app.catalog import sync
from app.partner_center.connect import connect_sandbox
from app.partner_center.sandbox import catalog as sandbox_catalog
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox

pytestmark = pytest.mark.integration

MARKETS = list(sandbox_catalog.MARKETS)
BASIC = "CFQ7TTC0LH18:0001"


async def synced(pc_sandbox: Sandbox, admin, markets: list[str] | None = None) -> dict:
    """Sell in every sandbox market (or `markets`) and run one sync through the real client with the admin agent's
    tokens."""
    await db.execute(
        "UPDATE catalog_settings SET markets = $1, currencies = $2",
        markets or MARKETS,
        sorted({*sandbox_catalog.MARKETS.values(), "CHF"}),
    )
    client = pc_sandbox.client(await pc_sandbox.user_tokens())
    run = await sync.request_sync(admin)
    counts = await sync.run(run["id"], client)
    return {**counts, "run_id": run["id"], "operation_id": run["operation_id"]}


async def test_sync_loads_every_market_and_counts_what_changed(pc_sandbox: Sandbox, admin):
    first = await synced(pc_sandbox, admin)
    change = await _change_date()
    expected_rows = len(MARKETS) * len(sandbox_catalog.price_sheet_rows("US", change))
    assert (first["offers"], first["offers_new"], first["prices_new"]) == (
        len(sandbox_catalog.OFFERS),
        len(sandbox_catalog.OFFERS),
        expected_rows,
    )
    assert first["promotions"] == 3 * len(MARKETS)  # the sandbox's active promotions, listed per market
    run = (await db.fetch("SELECT * FROM catalog_sync_runs WHERE id = $1", first["run_id"]))[0]
    assert (run["status"], run["done"], run["total"]) == ("completed", run["total"], 2 + 2 * len(MARKETS))
    assert await db.fetchval("SELECT status FROM operations WHERE id = $1", first["operation_id"]) == "succeeded"

    # this month's and next month's sheets: the price change starts on the 1st with its own row
    rows = await db.fetch(
        "SELECT unit_price, erp_price, effective_start, effective_end FROM catalog_prices "
        "WHERE offer_id = $1 AND market = 'JP' AND term = 'P1Y' AND billing_plan = 'annual' ORDER BY effective_start",
        BASIC,
    )
    assert len(rows) == 2
    assert rows[0]["effective_end"] < rows[1]["effective_start"]
    assert rows[1]["unit_price"] > rows[0]["unit_price"]
    assert rows[0]["unit_price"] == rows[0]["unit_price"].to_integral()  # JPY, as Microsoft prices it
    offer = (await db.fetch("SELECT * FROM catalog_offers WHERE id = 'CFQ7TTC0MM8R:0002'"))[0]  # Copilot add-on
    assert offer["is_addon"]
    assert "CFQ7TTC0LH18:0001" in offer["prerequisites"]
    kinds = {r["kind"]: r["n"] for r in await db.fetch("SELECT kind, count(*) AS n FROM catalog_offers GROUP BY kind")}
    assert kinds == {kind: sum(1 for o in sandbox_catalog.OFFERS if o.kind == kind) for kind in sandbox_catalog.KINDS}

    # Microsoft's side "changes": a price we hold differs, an offer and a price we hold are gone from its sheets
    await db.execute(
        "UPDATE catalog_prices SET unit_price = unit_price + 1 WHERE offer_id = $1 AND market = 'US' "
        "AND term = 'P1Y' AND billing_plan = 'annual' AND effective_start = '2025-01-01'",
        BASIC,
    )
    await db.execute(
        "INSERT INTO catalog_offers (id, product_id, sku_id, title, product_title, publisher, kind, segment, "
        "min_quantity, max_quantity, fingerprint, first_run_id, changed_run_id) VALUES ('GONE00000000:0001', "
        "'GONE00000000', '0001', 'Retired', 'Retired', 'Microsoft Corporation', 'license', 'commercial', 1, 1, "
        "'x', $1, $1)",
        first["run_id"],
    )
    await db.execute(
        "INSERT INTO catalog_prices (offer_id, market, currency, segment, term, billing_plan, unit_price, erp_price, "
        "effective_start, effective_end, first_run_id, changed_run_id) VALUES ('GONE00000000:0001', 'US', 'USD', "
        "'commercial', 'P1Y', 'annual', 1, 1, '2025-01-01', '9999-12-31 23:59:59+00', $1, $1)",
        first["run_id"],
    )
    second = await synced(pc_sandbox, admin)
    assert {k: second[k] for k in second if k.startswith(("offers_", "prices_"))} == {
        "offers_new": 0,
        "offers_changed": 0,
        "offers_discontinued": 1,
        "prices_new": 0,
        "prices_changed": 1,
        "prices_removed": 1,
    }
    gone = (await db.fetch("SELECT status, discontinued_at FROM catalog_offers WHERE id = 'GONE00000000:0001'"))[0]
    assert gone["status"] == "discontinued"
    assert gone["discontinued_at"] is not None


async def _change_date():
    from app.partner_center.sandbox import service

    return await service.price_change_date()


async def test_a_sync_without_a_partner_center_connection_fails_with_the_reason(committed, settings, admin):
    run = await sync.request_sync(admin)
    again = await sync.request_sync(admin)
    assert again["id"] == run["id"]  # one sync at a time
    await sync.run_job({"run_id": run["id"]}, settings)
    failed = (await db.fetch("SELECT status, error FROM catalog_sync_runs WHERE id = $1", run["id"]))[0]
    assert failed["status"] == "failed"
    assert "Partner Center is not connected" in failed["error"]
    operation = (await db.fetch("SELECT status, error FROM operations WHERE id = $1", run["operation_id"]))[0]
    assert (operation["status"], operation["error"]) == ("failed", failed["error"])


async def test_the_demo_connection_lets_the_queued_job_sync(pc_sandbox: Sandbox, admin):
    await connect_sandbox(pc_sandbox.settings, admin)
    await db.execute("UPDATE catalog_settings SET markets = '{US, GB}', currencies = '{USD, GBP}'")
    run = await sync.request_sync(admin)
    await sync.run_job({"run_id": run["id"]}, pc_sandbox.settings)
    done = (await db.fetch("SELECT status, counts FROM catalog_sync_runs WHERE id = $1", run["id"]))[0]
    assert done["status"] == "completed", done
    assert json.loads(done["counts"])["offers"] == len(sandbox_catalog.OFFERS)
    assert await db.fetchval("SELECT count(DISTINCT market) FROM catalog_prices") == 2


async def test_price_sheets_are_read_by_header_names_in_any_order(committed):
    sheet = (
        '"Currency","SkuId","ProductId","Market","BillingPlan","TermDuration","UnitPrice","ERP Price\u201c",'
        '"EffectiveStartDate","EffectiveEndDate","SomethingNew","Segment"\n'
        '"USD","1","cfq7ttc0hdk0","US","Annual","P1Y","115.2","144","2/1/2019 12:00:00 AM",'
        '"2/4/2021 8:35:31 PM","x","Charity"\n'
        '"USD","0001","CFQ7TTC0HDK0","US","OneTime","","10","","11/1/2021 12:00:00 AM","","y",""\n'
    ).encode()

    async def chunks(body: bytes):
        for n in range(0, len(body), 50):  # split mid-line, as the network does
            yield body[n : n + 50]

    async with sync.staging():
        assert await sync.load_price_sheet(chunks(sheet)) == 2
        rows = await db.fetch("SELECT * FROM price_staging ORDER BY billing_plan")
    assert [(r["offer_id"], r["segment"], r["term"], r["billing_plan"]) for r in rows] == [
        ("CFQ7TTC0HDK0:0001", "nonprofit", "P1Y", "annual"),
        ("CFQ7TTC0HDK0:0001", "commercial", "", "one_time"),
    ]
    assert rows[0]["effective_start"] == datetime(2019, 2, 1, tzinfo=UTC)
    assert rows[0]["effective_end"] == datetime(2021, 2, 4, 20, 35, 31, tzinfo=UTC)
    assert (rows[0]["unit_price"], rows[0]["erp_price"]) == (Decimal("115.2"), Decimal(144))
    assert rows[1]["erp_price"] == Decimal(10)  # no ERP: the unit price
    assert rows[1]["effective_end"] == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)  # no end
    with pytest.raises(sync.SheetError, match="no unit_price"):
        sync.sheet_columns('"ProductId","SkuId","BillingPlan","Market","Currency","EffectiveStartDate"')
    broken = sheet.replace(b'"115.2"', b'"a lot"')
    with pytest.raises(sync.SheetError, match="could not be read"):
        async with sync.staging():
            await sync.load_price_sheet(chunks(broken))


# --- The API ----------------------------------------------------------------------------------------------


async def _price(client: httpx.AsyncClient, headers: dict, offer: str = BASIC, **params) -> httpx.Response:
    params.setdefault("term", "P1Y")
    params.setdefault("billing_plan", "annual")
    return await client.get(f"/api/v1/catalog/offers/{offer}/price", params=params, headers=headers)


async def test_offers_are_searched_filtered_and_paged(pc_sandbox: Sandbox, admin, client: httpx.AsyncClient):
    await synced(pc_sandbox, admin)
    headers = await factories.api_token(admin)
    found = (await client.get("/api/v1/catalog/offers", params={"q": "busi prem"}, headers=headers)).json()
    titles = [o["title"] for o in found["items"]]
    assert "Microsoft 365 Business Premium" in titles
    assert all("business" in t.lower() and "prem" in t.lower() for t in titles)
    premium = next(o for o in found["items"] if o["title"] == "Microsoft 365 Business Premium")
    assert {"term": "P1Y", "billing_plan": "monthly"} in premium["plans"]
    addons = (await client.get("/api/v1/catalog/offers", params={"addon": "true"}, headers=headers)).json()
    assert addons["items"]
    assert all(o["is_addon"] for o in addons["items"])
    trials = (await client.get("/api/v1/catalog/offers", params={"kind": "trial"}, headers=headers)).json()
    assert {o["kind"] for o in trials["items"]} == {"trial"}
    seen, cursor = [], None
    while True:
        page = (
            await client.get(
                "/api/v1/catalog/offers",
                params={"limit": 20, **({"cursor": cursor} if cursor else {})},
                headers=headers,
            )
        ).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == len(sandbox_catalog.OFFERS)
    bad = await client.get("/api/v1/catalog/offers", params={"kind": "lease"}, headers=headers)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "kind")


async def test_prices_per_viewer_margin_rules_surcharge_and_fx(pc_sandbox: Sandbox, admin, client: httpx.AsyncClient):
    await synced(pc_sandbox, admin)
    reseller = await factories.reseller(country="US", currency="USD")
    customer = await factories.customer(reseller["id"], country="US", currency="USD", state="WA", postal_code="98052")
    other = await factories.reseller()
    csp = await factories.api_token(admin)
    as_reseller = await factories.api_token(await factories.user(reseller))
    as_customer = await factories.api_token(await factories.user(customer))
    as_other = await factories.api_token(await factories.user(other))
    erp = await db.fetchval(
        "SELECT erp_price FROM catalog_prices WHERE offer_id = $1 AND market = 'US' AND term = 'P1Y' "
        "AND billing_plan = 'annual' AND effective_start <= now() AND effective_end >= now()",
        BASIC,
    )

    mine = (await _price(client, as_customer)).json()
    assert (mine["unit_price"], mine["currency"], mine["per"], mine["promotion"]) == (f"{erp:.2f}", "USD", "term", None)
    assert (mine["cost"], mine["margin"]) == (None, None)  # Microsoft's cost is the CSP's business
    for_reseller = (await _price(client, as_reseller, customer_id=str(customer["id"]))).json()
    # the reseller sees its own cost: what the CSP charges it (the default: ERP), and so no margin yet
    assert (for_reseller["unit_price"], for_reseller["cost"], for_reseller["margin"]) == (
        mine["unit_price"],
        mine["unit_price"],
        "0.00",
    )
    microsoft = (await _price(client, csp, customer_id=str(customer["id"]))).json()
    assert Decimal(microsoft["cost"]) < Decimal(microsoft["unit_price"])
    assert (await _price(client, as_other, customer_id=str(customer["id"]))).status_code == 404

    rule = await client.post(
        "/api/v1/catalog/margin-rules",
        json={"scope": "customer", "account_id": str(customer["id"]), "kind": "markup_on_cost", "percent": "10"},
        headers=as_reseller,
    )
    assert rule.status_code == 201, rule.text
    # the reseller's markup is on its own price; what the CSP bills the reseller does not move
    assert (await _price(client, as_customer)).json()["unit_price"] == f"{erp * Decimal('1.1'):.2f}"
    resold = (await _price(client, as_reseller, customer_id=str(customer["id"]))).json()
    assert (resold["cost"], resold["margin"]) == (f"{erp:.2f}", f"{erp * Decimal('0.1'):.2f}")
    assert (await _price(client, csp, customer_id=str(customer["id"]))).json() == microsoft
    below = await client.post(
        "/api/v1/catalog/margin-rules",
        json={"scope": "customer", "account_id": str(customer["id"]), "offer_id": BASIC, "kind": "discount_off_erp",
              "percent": "30"},
        headers=as_reseller,
    )  # fmt: skip
    assert below.status_code == 201, below.text
    # an offer's rule beats the customer's every-offer rule; 30% off ERP would sell below the reseller's price
    assert (await _price(client, as_customer)).json()["unit_price"] == f"{erp:.2f}"
    assert (await _price(client, csp, customer_id=str(customer["id"]))).json() == microsoft
    await client.delete(f"/api/v1/catalog/margin-rules/{below.json()['id']}", headers=as_reseller)
    refused = await client.post(
        "/api/v1/catalog/margin-rules",
        json={"scope": "reseller", "account_id": str(reseller["id"]), "kind": "markup_on_cost", "percent": "1"},
        headers=as_reseller,
    )
    assert refused.status_code == 403
    assert [r["id"] for r in (await client.get("/api/v1/catalog/margin-rules", headers=as_other)).json()["items"]] == []
    assert (
        await client.delete(f"/api/v1/catalog/margin-rules/{rule.json()['id']}", headers=as_other)
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/catalog/margin-rules/{rule.json()['id']}", headers=as_reseller)
    ).status_code == 204

    await db.execute("UPDATE accounts SET monthly_surcharge_percent = 5 WHERE id = $1", customer["id"])
    monthly = (await _price(client, as_customer, billing_plan="monthly")).json()
    assert monthly["per"] == "month"
    term_erp = await db.fetchval(
        "SELECT erp_price FROM catalog_prices WHERE offer_id = $1 AND market = 'US' AND term = 'P1Y' "
        "AND billing_plan = 'monthly' AND effective_start <= now() AND effective_end >= now()",
        BASIC,
    )
    assert monthly["unit_price"] == str((term_erp * Decimal("1.05") / 12).quantize(Decimal("0.01"), "ROUND_HALF_UP"))

    swiss = await factories.customer(reseller["id"], country="DE", currency="CHF")
    no_rate = await _price(client, csp, customer_id=str(swiss["id"]))
    assert (no_rate.status_code, no_rate.json()["error"]["message"]) == (
        409,
        "No exchange rate from EUR to CHF is in force. Add one under Catalog → FX rates.",
    )
    rates = [{"from": "EUR", "to": "CHF", "rate": "0.95", "effective_from": "2026-01-01"}]
    assert (await client.put("/api/v1/catalog/fx-rates", json=rates, headers=as_reseller)).status_code == 403
    stored = await client.put("/api/v1/catalog/fx-rates", json=rates, headers=csp)
    assert stored.json()["items"] == rates
    chf = (await _price(client, csp, customer_id=str(swiss["id"]))).json()
    assert (chf["currency"], chf["fx_rate"], chf["market"]) == ("CHF", "0.95", "DE")
    bad = await client.put("/api/v1/catalog/fx-rates", json=[{**rates[0], "rate": "-1"}], headers=csp)
    assert bad.status_code == 422
    assert (await client.get("/api/v1/catalog/fx-rates", headers=csp)).json()["items"] == rates  # unchanged


async def test_sync_api_answers_an_operation_to_follow(pc_sandbox: Sandbox, admin, client: httpx.AsyncClient):
    csp = await factories.api_token(admin)
    customer_token = await factories.api_token(await factories.user(await factories.customer()))
    assert (await client.post("/api/v1/catalog/sync", headers=customer_token)).status_code == 403
    answer = await client.post("/api/v1/catalog/sync", headers=csp)
    assert answer.status_code == 202
    operation = answer.json()["operation"]
    assert operation["status"] == "queued"
    followed = await client.get(f"/api/v1/operations/{operation['id']}", headers=csp)
    assert followed.json()["id"] == operation["id"]
    assert (await client.get(f"/api/v1/operations/{operation['id']}", headers=customer_token)).status_code == 404


async def test_a_sync_falls_due_each_month_once_partner_center_is_connected(committed, settings, admin):
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert await sync.due(now) is None  # not connected yet: nothing to sync from
    await connect_sandbox(settings, admin)
    first = await sync.due(now)
    assert first is not None
    assert first["status"] == "queued"
    assert await sync.due(now) is None  # one queued already
    await db.execute("UPDATE catalog_sync_runs SET status = 'completed', created_at = $1", now)
    assert await sync.due(now.replace(day=30)) is None  # done this month
    second = await sync.due(datetime(2026, 12, 1, 0, 5, tzinfo=UTC))  # prices change on the 1st
    assert second is not None
    assert second["id"] != first["id"]
    assert await db.fetchval("SELECT count(*) FROM pgqueuer WHERE entrypoint = 'catalog_sync'") == 2
