"""Margin rules belong to whoever made them (NCE_RULES 2, API.md Catalog): a reseller sees and changes only its
own, never the CSP's rules about it; its default for all its customers sits under its per-customer rules."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from app import db
from migrations import m0017_margin_rule_owner
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox
from tests.integration.test_catalog import BASIC

pytestmark = pytest.mark.integration

RULES = "/api/v1/catalog/margin-rules"
CSP_PERCENT = "13.37"  # what the CSP's rule about the reseller says: the reseller must never read it


async def _rule(client: httpx.AsyncClient, headers: dict, **body) -> dict:
    answer = await client.post(RULES, json={"kind": "markup_on_cost", **body}, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _price(client: httpx.AsyncClient, headers: dict, customer: dict) -> dict:
    params = {"term": "P1Y", "billing_plan": "annual", "customer_id": str(customer["id"])}
    answer = await client.get(f"/api/v1/catalog/offers/{BASIC}/price", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_reseller_sees_and_changes_only_its_own_rules(catalog: Sandbox, admin, app, client: httpx.AsyncClient):
    reseller = await factories.reseller(country="US", currency="USD")
    first = await factories.customer(reseller["id"], country="US", currency="USD")
    second = await factories.customer(reseller["id"], country="US", currency="USD")
    csp = await factories.api_token(admin)
    me = await factories.user(reseller)
    as_reseller = await factories.api_token(me)
    about_it = await _rule(
        client, csp, scope="reseller", account_id=str(reseller["id"]), kind="discount_off_erp", percent=CSP_PERCENT
    )
    about_its_customer = await _rule(client, csp, scope="customer", account_id=str(second["id"]), percent="7.77")

    listed = (await client.get(RULES, headers=as_reseller)).json()["items"]
    assert listed == []  # the CSP's rules about the reseller and its customer are not the reseller's
    for rule in (about_it, about_its_customer):
        assert (await client.delete(f"{RULES}/{rule['id']}", headers=as_reseller)).status_code == 404
    assert len((await client.get(RULES, headers=csp)).json()["items"]) == 2  # still there

    billed = {c["id"]: Decimal((await _price(client, csp, c))["unit_price"]) for c in (first, second)}
    everyone = await _rule(client, as_reseller, scope="reseller_customers", percent="10")
    one = await _rule(client, as_reseller, scope="customer", account_id=str(second["id"]), percent="20")
    assert (everyone["owner"], everyone["account_id"], one["owner"]) == (str(reseller["id"]),) * 3
    listed = (await client.get(RULES, headers=as_reseller)).json()["items"]
    assert sorted(r["id"] for r in listed) == sorted([everyone["id"], one["id"]])

    # the default prices every customer of the reseller; the customer's own rule beats it
    for customer, markup in ((first, "1.10"), (second, "1.20")):
        resold = await _price(client, as_reseller, customer)
        assert Decimal(resold["cost"]) == billed[customer["id"]]  # what the CSP bills the reseller
        assert Decimal(resold["unit_price"]) == (billed[customer["id"]] * Decimal(markup)).quantize(Decimal("0.01"))
        # a reseller's rules never change what the CSP bills it
        assert Decimal((await _price(client, csp, customer))["unit_price"]) == billed[customer["id"]]
        assert CSP_PERCENT not in str(resold)
        assert "7.77" not in str(resold)
    assert CSP_PERCENT not in (await client.get(RULES, headers=as_reseller)).text

    # the CSP sees every rule, and whose it is, by name
    every = (await client.get(RULES, headers=csp)).json()["items"]
    assert {r["id"]: (r["owner"], r["owner_name"], r["account_name"]) for r in every} == {
        about_it["id"]: ("csp", None, reseller["name"]),
        about_its_customer["id"]: ("csp", None, second["name"]),
        everyone["id"]: (str(reseller["id"]), reseller["name"], reseller["name"]),
        one["id"]: (str(reseller["id"]), reseller["name"], second["name"]),
    }

    # the page: only the reseller's own rules, and its Delete works
    page_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    token = await factories.sign_in(page_client, me)
    page = await page_client.get("/catalog/margins")
    assert page.status_code == 200
    assert "All your customers" in page.text
    assert second["name"] in page.text
    assert about_it["id"] not in page.text
    assert about_its_customer["id"] not in page.text
    assert CSP_PERCENT not in page.text
    assert "7.77" not in page.text
    refused = await page_client.post(f"/catalog/margins/{about_it['id']}/delete", data={"_csrf_token": token})
    assert refused.status_code == 404
    deleted = await page_client.post(f"/catalog/margins/{one['id']}/delete", data={"_csrf_token": token})
    assert deleted.status_code == 303
    assert [r["id"] for r in (await client.get(RULES, headers=as_reseller)).json()["items"]] == [everyone["id"]]
    resold = await _price(client, as_reseller, second)  # back to the default
    assert Decimal(resold["unit_price"]) == (billed[second["id"]] * Decimal("1.10")).quantize(Decimal("0.01"))
    # the form without a customer is the reseller's default for all its customers, which it has already
    again = {"_csrf_token": token, "customer_id": "", "kind": "markup_on_cost", "percent": "12"}
    refused = await page_client.post("/catalog/margins", data=again)
    assert refused.status_code == 422
    assert "A margin rule for this scope already exists" in refused.text


async def test_what_a_reseller_and_the_csp_may_create(catalog: Sandbox, admin, client: httpx.AsyncClient):
    reseller = await factories.reseller(country="US", currency="USD")
    customer = await factories.customer(reseller["id"], country="US", currency="USD")
    elsewhere = await factories.customer(country="US", currency="USD")
    csp = await factories.api_token(admin)
    as_reseller = await factories.api_token(await factories.user(reseller))

    async def create(headers: dict, **body) -> tuple[int, str | None]:
        answer = await client.post(RULES, json={"kind": "markup_on_cost", "percent": "5", **body}, headers=headers)
        error = answer.json().get("error") if answer.status_code >= 400 else None
        return answer.status_code, error and error.get("field")

    assert await create(as_reseller, scope="customer", account_id=str(elsewhere["id"])) == (404, None)
    assert await create(as_reseller, scope="customer", account_id=str(reseller["id"])) == (422, "account_id")
    assert await create(as_reseller, scope="reseller", account_id=str(reseller["id"])) == (403, None)
    assert await create(as_reseller, scope="product", offer_id=BASIC) == (403, None)
    assert await create(as_reseller, scope="reseller_customers", account_id=str(customer["id"])) == (
        422,
        "account_id",
    )
    assert await create(as_reseller, scope="reseller_customers", offer_id=BASIC) == (422, "offer_id")
    assert await create(as_reseller, scope="reseller_customers", account_id=str(reseller["id"])) == (201, None)
    assert (await create(as_reseller, scope="reseller_customers"))[0] == 409  # one default per reseller
    assert await create(as_reseller, scope="customer", account_id=str(customer["id"]), offer_id=BASIC) == (201, None)
    # the reseller's default is its own: the CSP's rule about a reseller is scope reseller
    assert await create(csp, scope="reseller_customers", account_id=str(reseller["id"])) == (422, "scope")


async def test_the_migration_gives_a_resellers_customer_rules_to_the_reseller(tx):
    reseller = await factories.reseller()
    resold, direct = await factories.customer(reseller["id"]), await factories.customer()
    for account in (resold, direct, reseller):
        scope = "reseller" if account is reseller else "customer"
        await db.execute(
            "INSERT INTO margin_rules (id, scope, account_id, kind, percent, created_at) "
            "VALUES (gen_random_uuid(), $1, $2, 'markup_on_cost', 5, now())",
            scope,
            account["id"],
        )
    await db.execute(m0017_margin_rule_owner.BACKFILL)
    owners = {r["account_id"]: r["owner"] for r in await db.fetch("SELECT account_id, owner FROM margin_rules")}
    # until now a customer rule on a reseller's customer was the reseller's layer: it stays the reseller's
    assert owners == {resold["id"]: reseller["id"], direct["id"]: None, reseller["id"]: None}
