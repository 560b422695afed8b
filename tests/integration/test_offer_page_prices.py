"""The offer page's "Prices for <customer>": every role that reaches it sees the customer's price, as a full page
and as the htmx fragment the customer picker asks for (NCE_RULES 2, who sees what)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from app.money import Money
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox
from tests.integration.test_orders import BASIC, us_customer

pytestmark = pytest.mark.integration


def price_cell(html: str, plan_label: str) -> str:
    """The Price cell of the row "1 year, <plan_label>" as a person reads it (tags and spacing removed)."""
    row = re.search(rf"<td>1 year</td>\s*<td>{plan_label}</td>\s*<td class=\"num nowrap\">(.*?)</td>", html, re.S)
    assert row, html
    return " ".join(re.sub(r"<[^>]+>", " ", row.group(1)).split())


async def test_prices_for_a_customer_render_for_every_role_that_reaches_them(catalog: Sandbox, admin, client):
    reseller = await factories.reseller(country="US", currency="USD")
    customer = await us_customer(reseller["id"], name="Contoso Prices Inc")
    as_reseller = await factories.user(reseller)
    as_customer = await factories.user(customer)
    rule = await client.post(
        "/api/v1/catalog/margin-rules",
        json={"scope": "customer", "account_id": str(customer["id"]), "kind": "markup_on_cost", "percent": "10"},
        headers=await factories.api_token(as_reseller),
    )
    assert rule.status_code == 201, rule.text

    async def api_price(viewer, **params) -> str:
        """The viewer's price as the API gives it: the offer page must show the same (API.md, catalog)."""
        answer = await client.get(
            f"/api/v1/catalog/offers/{BASIC}/price",
            params={"term": "P1Y", "billing_plan": "annual", **params},
            headers=await factories.api_token(viewer),
        )
        assert answer.status_code == 200, answer.text
        return f"{Money(Decimal(answer.json()['unit_price']), 'USD').display()} /year"

    # the CSP sees what it bills for Contoso (to its reseller); the reseller sees its resale price, with its markup
    prices = {viewer.role: await api_price(viewer, customer_id=str(customer["id"])) for viewer in (admin, as_reseller)}
    assert prices["csp_admin"] != prices["reseller_admin"]

    for viewer in (admin, as_reseller):
        client.cookies.clear()
        await factories.sign_in(client, viewer)
        url = f"/marketplace/offers/{BASIC}?customer_id={customer['id']}"
        full = await client.get(url)
        assert full.status_code == 200, (viewer.role, full.text)
        assert "Prices for" in full.text
        assert re.search(rf'<option value="{customer["id"]}" selected>Contoso Prices Inc', full.text)
        assert price_cell(full.text, "Paid yearly") == prices[viewer.role]
        # what the customer picker asks for when a customer is chosen
        fragment = await client.get(url, headers={"HX-Request": "true"})
        assert fragment.status_code == 200, (viewer.role, fragment.text)
        assert "<html" not in fragment.text
        assert fragment.text.strip().startswith('<div id="price-table">')
        assert price_cell(fragment.text, "Paid yearly") == prices[viewer.role]

    client.cookies.clear()
    await factories.sign_in(client, as_customer)
    mine = await client.get(f"/marketplace/offers/{BASIC}", headers={"HX-Request": "true"})
    assert mine.status_code == 200, mine.text
    assert price_cell(mine.text, "Paid yearly") == prices["reseller_admin"] == await api_price(as_customer)
