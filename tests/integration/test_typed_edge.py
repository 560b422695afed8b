"""The API's typed edge (issue 17): bodies decode strictly into their structs before a service sees them, and
whatever does not fit answers 400/422 in our error format, never a 500, changing nothing."""

from __future__ import annotations

import pytest

from app import db
from tests import factories
from tests.integration.test_orders import BASIC, line, us_customer

pytestmark = pytest.mark.integration


async def _order(client, headers, body, content_type: str = "application/json"):
    import json

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post("/api/v1/orders", content=raw, headers={**headers, "Content-Type": content_type})


async def test_an_order_body_that_does_not_fit_is_refused_at_the_edge(catalog, admin, client):
    headers = await factories.api_token(admin)
    customer = await us_customer()
    good = {"customer_id": str(customer["id"]), "lines": [line(BASIC, 1)]}
    for change, field in (
        ({"lines": [{**line(BASIC, 1), "price": "0.01"}]}, "lines[0].price"),
        ({"discount": "100"}, "discount"),
        ({"lines": [line(BASIC, "2")]}, "lines[0].quantity"),  # a string is not a number of seats
        ({"lines": [line(BASIC, True)]}, "lines[0].quantity"),
        ({"lines": [line(BASIC, 2**31)]}, "lines[0].quantity"),  # past PostgreSQL's integer
        ({"lines": [line(BASIC, 10**40)]}, "lines[0].quantity"),
        ({"lines": [line("CFQ7TTC0LH18:\x000001", 1)]}, "lines[0].offer_id"),  # a NUL byte
        ({"lines": [line(BASIC, 1, plan="weekly")]}, "lines[0].billing_plan"),
        ({"lines": []}, "lines"),
        ({"lines": [line(BASIC, 1)] * 51}, "lines"),
        ({"customer_id": "x" * 100_000}, "customer_id"),
    ):
        refused = await _order(client, headers, {**good, **change})
        assert refused.status_code == 422, (change, refused.text[:300])
        assert refused.json()["error"]["code"] == "invalid"
        assert refused.json()["error"]["field"] == field, change
    for raw in (
        b'"x"',
        b"[]",
        b"null",
        b"{",
        b"[" * 100_000 + b"]" * 100_000,
    ):
        refused = await _order(client, headers, raw)
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "malformed_request"), raw[:20]
    nested = await _order(client, headers, b'{"lines":' * 50_000 + b"1" + b"}" * 50_000)  # 50,000 deep
    assert (nested.status_code, nested.json()["error"]["field"]) == (422, "lines")
    as_text = await _order(client, headers, good, content_type="text/plain")
    assert (as_text.status_code, as_text.json()["error"]["code"]) == (400, "malformed_request")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0  # nothing got through
    assert (await _order(client, headers, good)).status_code == 201  # the same order, well formed


async def test_a_subscription_change_takes_only_its_own_typed_fields(catalog, admin, client):
    headers = await factories.api_token(admin)
    any_id = "00000000-0000-0000-0000-000000000001"
    for body, field in (
        ({"quantity": "5"}, "quantity"),
        ({"quantity": -1}, "quantity"),
        ({"auto_renew": 1}, "auto_renew"),
        ({"quantity": 5, "unit_price": "0"}, "unit_price"),
    ):
        refused = await client.patch(f"/api/v1/subscriptions/{any_id}", json=body, headers=headers)
        assert (refused.status_code, refused.json()["error"].get("field")) == (422, field), (body, refused.text)
    upgrade = await client.post(f"/api/v1/subscriptions/{any_id}/upgrade", json={"quantity": 2}, headers=headers)
    assert (upgrade.status_code, upgrade.json()["error"]["field"]) == (422, "offer_id")


async def test_the_openapi_document_describes_the_bodies(client):
    document = (await client.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for name in ("OrderBody", "OrderLineBody", "ChangeBody", "CancelBody", "ScheduleBody", "UpgradeBody"):
        assert name in schemas, name
    order = document["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert order == {"$ref": "#/components/schemas/OrderBody"}
    assert schemas["OrderLineBody"]["properties"]["quantity"]["maximum"] == 2_147_483_647
