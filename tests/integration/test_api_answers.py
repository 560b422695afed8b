"""The answers of the orders and subscriptions API are typed (issue 17): the OpenAPI document names a component
schema for each operation's success answer, and real answers, made through the API, decode into those structs.

The structs refuse unknown keys and require every key they list, so decoding an answer checks its exact key set,
each value's type, the null where a value may be missing, the money patterns and the enums."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest

from app import db
from app.billing.schemas import ChargeList, DeferredRevenueList, DocumentList, DocumentWithLines
from app.mail.schemas import MailList
from app.operations.schemas import Operation, OperationAnswer
from app.orders.schemas import Order, OrderPage
from app.partner_center.sandbox.schemas import ClockAnswer, ClockMoved, FaultsAnswer, SettleAnswer
from app.subscriptions.schemas import (
    Subscription,
    SubscriptionEventPage,
    SubscriptionPage,
    UpgradeOptionPage,
)
from app.web.answers import Answer
from tests import factories
from tests.integration.sandbox_fixtures import Sandbox
from tests.integration.test_catalog import synced
from tests.integration.test_money_integrity import _german_customer_of, _rate
from tests.integration.test_orders import BASIC, line, order, provision, us_customer

pytestmark = pytest.mark.integration

STANDARD = "CFQ7TTC0LDPB:0001"  # Microsoft 365 Business Standard, an upgrade target of Business Basic
SUBSCRIPTION = "/api/v1/subscriptions/{subscription_id}"

# every operation whose answer this module covers: method, path as the document writes it, status, struct
ANSWERS: list[tuple[str, str, int, type[Answer]]] = [
    ("post", "/api/v1/orders", 201, Order),
    ("get", "/api/v1/orders", 200, OrderPage),
    ("get", "/api/v1/orders/{order_id}", 200, Order),
    ("get", "/api/v1/subscriptions", 200, SubscriptionPage),
    ("get", SUBSCRIPTION, 200, Subscription),
    ("patch", SUBSCRIPTION, 202, OperationAnswer),
    ("post", SUBSCRIPTION + "/cancel", 202, OperationAnswer),
    ("post", SUBSCRIPTION + "/suspend", 202, OperationAnswer),
    ("post", SUBSCRIPTION + "/reactivate", 202, OperationAnswer),
    ("put", SUBSCRIPTION + "/scheduled-change", 202, OperationAnswer),
    ("delete", SUBSCRIPTION + "/scheduled-change", 202, OperationAnswer),
    ("get", SUBSCRIPTION + "/upgrades", 200, UpgradeOptionPage),
    ("post", SUBSCRIPTION + "/upgrade", 202, OperationAnswer),
    ("get", SUBSCRIPTION + "/events", 200, SubscriptionEventPage),
    ("get", "/api/v1/invoices", 200, DocumentList),
    ("get", "/api/v1/invoices/{invoice_id}", 200, DocumentWithLines),
    ("get", "/api/v1/credit-notes", 200, DocumentList),
    ("get", "/api/v1/credit-notes/{credit_note_id}", 200, DocumentWithLines),
    ("get", "/api/v1/accounts/{account_id}/charges", 200, ChargeList),
    ("get", "/api/v1/billing/deferred-revenue", 200, DeferredRevenueList),
    ("get", "/api/v1/sandbox/mail", 200, MailList),
    ("get", "/api/v1/sandbox/clock", 200, ClockAnswer),
    ("post", "/api/v1/sandbox/clock", 200, ClockMoved),
    ("put", "/api/v1/sandbox/faults", 200, FaultsAnswer),
    ("post", "/api/v1/sandbox/settle", 200, SettleAnswer),
]


@pytest.fixture
async def markets(pc_sandbox: Sandbox, admin) -> Sandbox:
    """The US and German markets: a US reseller's German customer is priced in EUR and billed in USD."""
    await synced(pc_sandbox, admin, ["US", "DE"])
    return pc_sandbox


def _keys(struct: type[msgspec.Struct]) -> set[str]:
    return {field.encode_name for field in msgspec.structs.fields(struct)}


async def test_each_answer_is_a_component_of_the_openapi_document(client: httpx.AsyncClient):
    document = (await client.get("/schema/openapi.json")).json()
    components = document["components"]["schemas"]
    for method, path, status, struct in ANSWERS:
        answer = document["paths"][path][method]["responses"][str(status)]
        assert answer["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{struct.__name__}"}, (
            method,
            path,
        )
        # the component is the struct: the same keys, all of them required (null where a value may be missing)
        component = components[struct.__name__]
        assert set(component["properties"]) == _keys(struct), struct.__name__
        assert set(component["required"]) == _keys(struct), struct.__name__
    # the nested objects are components too, not inlined anonymous objects
    nested_components = ("OrderLine", "OrderOperation", "Fx", "SubscriptionListItem", "ScheduledChange", "Operation")
    for nested in (*nested_components, "Document", "DocumentLine", "ChargeAnswer", "MailAnswer", "SchedulerRun"):
        assert nested in components
    assert components["OrderLine"]["properties"]["fx"]["oneOf"] == [
        {"$ref": "#/components/schemas/Fx"},
        {"type": "null"},
    ]
    assert set(components["Fx"]["required"]) == {"rate", "from", "to", "source_amount"}


def conforms(response: httpx.Response, status: int, struct: type[Answer]) -> Any:
    """The answer decoded as its struct: any key missing or extra, or a value of the wrong type, fails here."""
    assert response.status_code == status, response.text
    return msgspec.json.decode(response.content, type=struct)


async def test_order_answers_conform_for_the_bill_to_with_fx_and_for_the_customer(markets: Sandbox, admin, client):
    csp = await factories.api_token(admin)
    reseller = await factories.reseller(country="US", currency="USD")
    as_reseller = await factories.api_token(await factories.user(reseller))
    customer = await _german_customer_of(reseller)
    as_customer = await factories.api_token(await factories.user(customer))
    await _rate(client, csp)

    placed = conforms(await order(client, as_reseller, customer, line(BASIC, 2, "P1Y", "annual")), 201, Order)
    assert (placed.status, placed.currency, placed.operation.status) == ("accepted", "USD", "queued")
    (bought,) = placed.lines
    assert bought.fx is not None
    assert (bought.fx.from_, bought.fx.to) == ("EUR", "USD")
    assert bought.subscription_id is None

    seen = conforms(await client.get(f"/api/v1/orders/{placed.id}", headers=as_customer), 200, Order)
    assert (seen.currency, seen.lines[0].currency, seen.lines[0].fx) == ("EUR", "EUR", None)  # its own price

    await provision(markets)
    done = conforms(await client.get(f"/api/v1/orders/{placed.id}", headers=as_reseller), 200, Order)
    assert (done.status, done.lines[0].status, done.operation.status) == ("completed", "provisioned", "succeeded")
    assert done.lines[0].subscription_id is not None

    page = conforms(await client.get("/api/v1/orders", params={"limit": 1}, headers=csp), 200, OrderPage)
    assert [o.id for o in page.items] == [placed.id]
    assert page.next is None


async def _accepted(client: httpx.AsyncClient, headers: dict, catalog: Sandbox, response: httpx.Response) -> None:
    answer = conforms(response, 202, OperationAnswer)
    assert answer.operation.status == "queued"
    await provision(catalog)
    followed = conforms(await client.get(f"/api/v1/operations/{answer.operation.id}", headers=headers), 200, Operation)
    assert followed.status == "succeeded", followed


async def test_subscription_answers_conform(catalog: Sandbox, admin, client):
    csp = await factories.api_token(admin)
    customer = await us_customer()
    as_customer = await factories.api_token(await factories.user(customer))
    assert (await order(client, csp, customer, line(BASIC, 3, "P1Y", "annual"))).status_code == 201
    await provision(catalog)
    sub_id = await db.fetchval("SELECT id FROM subscriptions WHERE customer_id = $1", customer["id"])
    url = f"/api/v1/subscriptions/{sub_id}"

    listed = conforms(await client.get("/api/v1/subscriptions", headers=csp), 200, SubscriptionPage)
    assert [(s.id, s.customer_name) for s in listed.items] == [(sub_id, customer["name"])]
    # a single subscription has no customer_name: Subscription refuses the key
    one = conforms(await client.get(url, headers=as_customer), 200, Subscription)
    assert (one.status, one.quantity, one.scheduled_change) == ("active", 3, None)

    await _accepted(client, csp, catalog, await client.patch(url, json={"quantity": 4}, headers=csp))
    await _accepted(
        client, csp, catalog, await client.put(f"{url}/scheduled-change", json={"quantity": 2}, headers=csp)
    )
    scheduled = conforms(await client.get(url, headers=csp), 200, Subscription).scheduled_change
    assert scheduled is not None
    assert (scheduled.quantity, scheduled.offer_id) == (2, BASIC)
    await _accepted(client, csp, catalog, await client.delete(f"{url}/scheduled-change", headers=csp))
    await _accepted(client, csp, catalog, await client.post(f"{url}/suspend", headers=csp))
    await _accepted(client, csp, catalog, await client.post(f"{url}/reactivate", headers=csp))

    options = conforms(await client.get(f"{url}/upgrades", headers=csp), 200, UpgradeOptionPage)
    standard = next(o for o in options.items if o.offer_id == STANDARD)
    assert standard.eligible
    assert standard.reason is None
    assert standard.unit_price is not None
    await _accepted(
        client,
        csp,
        catalog,
        await client.post(f"{url}/upgrade", json={"offer_id": STANDARD, "quantity": 1}, headers=csp),
    )
    await _accepted(client, csp, catalog, await client.post(f"{url}/cancel", json={"quantity": 1}, headers=csp))

    log = conforms(await client.get(f"{url}/events", headers=csp), 200, SubscriptionEventPage)
    assert {"changed", "upgraded"} <= {event.action for event in log.items}
    assert log.next is None


async def test_sandbox_control_answers_conform(admin, client):
    headers = await factories.api_token(admin)
    now = conforms(await client.get("/api/v1/sandbox/clock", headers=headers), 200, ClockAnswer)
    assert now.now.endswith("Z")
    faults = {"error_rate": 0, "throttle_rate": 0, "latency_ms": 0, "provisioning_ms": 0}
    put = await client.put("/api/v1/sandbox/faults", headers=headers, json=faults)
    assert conforms(put, 200, FaultsAnswer).latency_ms == 0
    # a tiny share is still a decimal string, not "1E-7"
    tiny = await client.put("/api/v1/sandbox/faults", headers=headers, json={**faults, "error_rate": 1e-07})
    assert conforms(tiny, 200, FaultsAnswer).error_rate == "0.0000001"
    put = await client.put("/api/v1/sandbox/faults", headers=headers, json=faults)
    assert Decimal(conforms(put, 200, FaultsAnswer).error_rate) == 0
    settled = conforms(await client.post("/api/v1/sandbox/settle?timeout=0", headers=headers), 200, SettleAnswer)
    assert settled.idle == (settled.pending == 0)
    conforms(await client.get("/api/v1/sandbox/mail?limit=5", headers=headers), 200, MailList)
