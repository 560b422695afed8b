"""The API's typed edge (issue 17): bodies decode strictly into their structs before a service sees them, and
whatever does not fit answers 400/422 in our error format, never a 500, changing nothing."""

from __future__ import annotations

import uuid

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


# --- Accounts, catalog and billing (issue 17): every body and query typed; what does not fit changes nothing ------

ADDRESS = {"line1": "Friedrichstraße 100", "city": "Berlin", "postal_code": "10117"}
CUSTOMER = {"name": "Edge GmbH", "email": "it@edge.test", "country": "DE", "currency": "EUR", "address": ADDRESS}
TABLES = (
    "accounts",
    "users",
    "mca_acceptances",
    "tax_rates",
    "fx_rates",
    "margin_rules",
    "payments",
    "operations",
    "billing_settings",
    "events",
)
NUMBERS = ("NaN", "Infinity", "-Infinity", "1e30", "9" * 40, 1e30, "12,50", "\x0012")


async def _snapshot() -> dict:
    """Every row an API body could change, as text: equal before and after means nothing changed."""
    return {
        t: await db.fetchval(f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {t} t")
        for t in TABLES
    }


async def _refused(client, method: str, url: str, headers: dict, body, field: str | None, status: int = 422) -> None:
    import json

    raw = json.dumps(body).encode()
    answer = await client.request(method, url, content=raw, headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code == status, (method, url, str(body)[:200], answer.text[:300])
    error = answer.json()["error"]
    assert error["code"] == ("invalid" if status == 422 else "malformed_request"), (url, error)
    assert error.get("field") == field, (url, str(body)[:200], error)


@pytest.fixture
async def csp(tx):
    return await factories.api_token(await factories.user(None))


async def test_an_account_body_takes_only_text_of_sane_length(csp, client):
    customer = await factories.customer(None, name="Kept Name")
    before = await _snapshot()
    for body, field in (
        ({**CUSTOMER, "name": 5}, "name"),
        ({**CUSTOMER, "name": ["Edge"]}, "name"),
        ({**CUSTOMER, "name": "x" * 201}, "name"),
        ({**CUSTOMER, "phone": "1" * 100_000}, "phone"),
        ({**CUSTOMER, "email": "it@edge.test" + "x" * 300}, "email"),
        ({**CUSTOMER, "address": {**ADDRESS, "postal_code": "1" * 100_000}}, "address.postal_code"),
        ({**CUSTOMER, "qualification": "royalty"}, "qualification"),
        ({**CUSTOMER, "reseller_id": "x" * 100}, "reseller_id"),
        ({key: value for key, value in CUSTOMER.items() if key != "address"}, "address"),
    ):
        await _refused(client, "POST", "/api/v1/customers", csp, body, field)
    reseller = {
        "name": "Edge Partners",
        "email": "b@edge.test",
        "country": "US",
        "currency": "USD",
        "mpn_id": "6123401",
    }
    await _refused(client, "POST", "/api/v1/resellers", csp, {**reseller, "name": 5}, "name")
    await _refused(client, "POST", "/api/v1/resellers", csp, {**reseller, "phone": "1" * 100_000}, "phone")
    url = f"/api/v1/accounts/{customer['id']}"
    for body, field in (
        ({"name": 5}, "name"),
        ({"contacts": {"phone": "1" * 100_000}}, "contacts.phone"),
        ({"contacts": {"fax": "1"}}, "contacts.fax"),
        ({"contacts": "+49 30 1234"}, "contacts"),
        ({"address": {"city": 10115}}, "address.city"),
        ({"currency": "USD"}, "currency"),
    ):
        await _refused(client, "PATCH", url, csp, body, field)
    assert await _snapshot() == before
    assert (await client.patch(url, json={"contacts": {"phone": "+49 30 1234"}}, headers=csp)).status_code == 200


async def test_a_nul_byte_in_any_text_field_is_refused(csp, client):
    reseller = await factories.reseller()
    customer = await factories.customer(reseller["id"])
    invoice_id = "00000000-0000-0000-0000-000000000001"  # the edge answers before anything is looked up
    mca = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@edge.test"}
    new_reseller = {"name": "E", "email": "b@edge.test", "country": "US", "currency": "USD", "mpn_id": "6123401"}
    cases = [
        *[("POST", "/api/v1/customers", {**CUSTOMER, key: "a\x00b"}, key) for key in ("name", "email", "domain")],
        *[
            ("POST", "/api/v1/customers", {**CUSTOMER, "address": {**ADDRESS, key: "a\x00b"}}, f"address.{key}")
            for key in ("line1", "line2", "city", "state", "postal_code")
        ],
        *[("POST", "/api/v1/resellers", {**new_reseller, key: "a\x00b"}, key) for key in ("name", "mpn_id", "phone")],
        ("PATCH", f"/api/v1/accounts/{customer['id']}", {"name": "a\x00b"}, "name"),
        ("PATCH", f"/api/v1/accounts/{customer['id']}", {"address": {"line1": "a\x00b"}}, "address.line1"),
        ("PATCH", f"/api/v1/accounts/{customer['id']}", {"contacts": {"phone": "a\x1bb"}}, "contacts.phone"),
        ("POST", f"/api/v1/accounts/{customer['id']}/users", {"email": "p@edge.test", "name": "a\x00b"}, "name"),
        ("POST", f"/api/v1/accounts/{customer['id']}/users", {"email": "p\x00@edge.test", "name": "P"}, "email"),
        *[
            ("POST", f"/api/v1/customers/{customer['id']}/mca-acceptance", {**mca, key: "a\x00b"}, key)
            for key in ("first_name", "last_name", "phone")
        ],
        ("PUT", "/api/v1/billing/tax-rates", {"country": "FR", "label": "TVA\x00", "rate": "20"}, "label"),
        ("PUT", f"/api/v1/accounts/{reseller['id']}/billing-options", {"tax_id": "DE\x00123"}, "tax_id"),
        (
            "POST",
            f"/api/v1/invoices/{invoice_id}/payments",
            {"amount": "1.00", "method": "manual", "reference": "SEPA\x00"},
            "reference",
        ),
        (
            "POST",
            "/api/v1/catalog/margin-rules",
            {"scope": "product", "offer_id": "CFQ7TTC0LH18:\x000001", "kind": "markup_on_cost", "percent": "5"},
            "offer_id",
        ),
        (
            "PUT",
            "/api/v1/catalog/fx-rates",
            [{"from": "EU\x00", "to": "USD", "rate": "1.1", "effective_from": "2026-01-01"}],
            "[0].from",
        ),
        ("POST", "/api/v1/billing/runs", {"as_of": "2026-01-0\x00"}, "as_of"),
    ]
    before = await _snapshot()
    for method, url, body, field in cases:
        await _refused(client, method, url, csp, body, field)
    assert await _snapshot() == before


async def test_a_tax_rate_is_for_a_country_addresses_are_written_in(csp, client):
    before = await _snapshot()
    for country in ("ZZ", "XX", "zz"):
        await _refused(
            client,
            "PUT",
            "/api/v1/billing/tax-rates",
            csp,
            {"country": country, "label": "VAT", "rate": "20"},
            "country",
        )
    await _refused(
        client, "PUT", "/api/v1/billing/tax-rates", csp, {"country": "FRA", "label": "VAT", "rate": "20"}, "country"
    )
    assert await _snapshot() == before
    saved = await client.put(
        "/api/v1/billing/tax-rates", json={"country": "fr", "label": "TVA", "rate": "20"}, headers=csp
    )
    assert (saved.status_code, saved.json()["country"]) == (200, "FR")


async def test_an_mca_acceptance_time_is_plausible(csp, client):
    customer = await factories.customer(None)
    url = f"/api/v1/customers/{customer['id']}/mca-acceptance"
    mca = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@edge.test"}
    before = await _snapshot()
    for accepted_at in (
        "0001-01-01T00:00:00Z",
        "1999-12-31T23:59:59Z",
        "0001-01-01",
        "2026-11-20T10:00:00",
        "2099-01-01T00:00:00Z",
        "yesterday",
        0,
        "2026-13-45T10:00:00Z",
    ):
        await _refused(client, "POST", url, csp, {**mca, "accepted_at": accepted_at}, "accepted_at")
    assert await _snapshot() == before
    accepted = await client.post(url, json={**mca, "accepted_at": "2000-01-01T00:00:00Z"}, headers=csp)
    assert accepted.status_code == 201, accepted.text


async def test_amounts_and_rates_are_finite_decimals_within_their_columns(csp, client):
    reseller = await factories.reseller()
    invoice_id = "00000000-0000-0000-0000-000000000001"
    rate = {"from": "EUR", "to": "USD", "rate": "1.1", "effective_from": "2026-01-01"}
    before = await _snapshot()
    for number in NUMBERS:
        await _refused(
            client, "PUT", f"/api/v1/accounts/{reseller['id']}/credit", csp, {"credit_limit": number}, "credit_limit"
        )
        await _refused(
            client,
            "POST",
            f"/api/v1/invoices/{invoice_id}/payments",
            csp,
            {"amount": number, "method": "manual"},
            "amount",
        )
        await _refused(client, "PUT", "/api/v1/catalog/fx-rates", csp, [{**rate, "rate": number}], "[0].rate")
        await _refused(
            client, "PUT", "/api/v1/billing/tax-rates", csp, {"country": "FR", "label": "TVA", "rate": number}, "rate"
        )
        await _refused(
            client,
            "PUT",
            f"/api/v1/accounts/{reseller['id']}/billing-options",
            csp,
            {"monthly_surcharge_percent": number},
            "monthly_surcharge_percent",
        )
        await _refused(
            client,
            "POST",
            "/api/v1/catalog/margin-rules",
            csp,
            {"scope": "reseller", "account_id": str(reseller["id"]), "kind": "markup_on_cost", "percent": number},
            "percent",
        )
    assert await _snapshot() == before
    limited = await client.put(
        f"/api/v1/accounts/{reseller['id']}/credit", json={"credit_limit": "99999999999999.99"}, headers=csp
    )
    assert (limited.status_code, limited.json()["credit_limit"]) == (200, "99999999999999.99")  # the column's most


async def test_the_services_convert_amounts_and_rates_safely(tx):
    """The pages reach the same services with form text: a NaN or 1e30 is the field's 422 there too, not a 500."""
    from app.billing import options
    from app.catalog import service as catalog
    from app.errors import Invalid

    csp = await factories.user(None)
    reseller = await factories.reseller()
    for number in ("NaN", "sNaN", "Infinity", "1e30", "9" * 40, "1e-30", "", "five"):
        with pytest.raises(Invalid) as refused:
            await options.set_credit_limit(csp, reseller["id"], {"credit_limit": number})
        assert "credit_limit" in refused.value.errors, number
        with pytest.raises(Invalid) as refused:
            await catalog.add_fx_rate(csp, {"from": "EUR", "to": "USD", "rate": number, "effective_from": "2026-01-01"})
        assert "[0].rate" in refused.value.errors, number
        with pytest.raises(Invalid) as refused:
            await options.set_tax_rate(csp, {"country": "FR", "label": "TVA", "rate": number})
        assert "rate" in refused.value.errors, number
    assert await db.fetchval("SELECT credit_limit FROM accounts WHERE id = $1", reseller["id"]) is None
    assert await db.fetchval("SELECT count(*) FROM fx_rates") == 0


async def test_unknown_fields_are_refused_by_every_body(csp, client):
    reseller = await factories.reseller()
    customer = await factories.customer(reseller["id"])
    some = "00000000-0000-0000-0000-000000000001"
    bodies = [
        ("POST", "/api/v1/resellers"),
        ("POST", "/api/v1/customers"),
        ("PATCH", f"/api/v1/accounts/{customer['id']}"),
        ("POST", f"/api/v1/accounts/{customer['id']}/users"),
        ("POST", f"/api/v1/customers/{customer['id']}/mca-acceptance"),
        ("PUT", f"/api/v1/accounts/{reseller['id']}/credit"),
        ("PUT", f"/api/v1/accounts/{reseller['id']}/billing-options"),
        ("PUT", f"/api/v1/accounts/{reseller['id']}/dunning-policy"),
        ("PUT", "/api/v1/billing/dunning-policy"),
        ("PUT", "/api/v1/billing/tax-rates"),
        ("POST", "/api/v1/billing/runs"),
        ("POST", f"/api/v1/invoices/{some}/payments"),
        ("POST", "/api/v1/catalog/margin-rules"),
        ("POST", "/api/v1/orders"),
        ("PATCH", f"/api/v1/subscriptions/{some}"),
        ("POST", f"/api/v1/subscriptions/{some}/cancel"),
        ("PUT", f"/api/v1/subscriptions/{some}/scheduled-change"),
        ("POST", f"/api/v1/subscriptions/{some}/upgrade"),
    ]
    before = await _snapshot()
    for method, url in bodies:
        await _refused(client, method, url, csp, {"is_admin": True}, "is_admin")
    await _refused(client, "PUT", "/api/v1/catalog/fx-rates", csp, [{"is_admin": True}], "[0].is_admin")
    await _refused(
        client, "PATCH", f"/api/v1/accounts/{customer['id']}", csp, {"address": {"country": "US"}}, "address.country"
    )
    assert await _snapshot() == before


async def test_queries_and_paths_are_typed(csp, client):
    import base64

    def cursor(offset: int) -> str:
        return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()

    customer = await factories.customer(None)
    before = await _snapshot()
    for url, field in (
        ("/api/v1/accounts?q=%00", "q"),
        ("/api/v1/accounts?q=" + "x" * 201, "q"),
        ("/api/v1/accounts?kind=partner", "kind"),
        ("/api/v1/catalog/offers?q=%00", "q"),
        ("/api/v1/catalog/offers?kind=%00", "kind"),
        ("/api/v1/catalog/offers/CFQ7TTC0LH18:%0001", "offer_id"),
        ("/api/v1/catalog/offers/%00", "offer_id"),
        ("/api/v1/catalog/offers/%00/price?term=P1Y&billing_plan=annual", "offer_id"),
        ("/api/v1/catalog/offers/CFQ7TTC0LH18:0001/price?term=%00&billing_plan=annual", "term"),
        ("/api/v1/subscriptions?status=%00", "status"),
        ("/api/v1/invoices?status=%00", "status"),
        ("/api/v1/billing/deferred-revenue?currency=%00", "currency"),
        (f"/api/v1/operations/{customer['id']}?wait=nan", "wait"),
        (f"/api/v1/operations/{customer['id']}?wait=1e308", "wait"),
        ("/api/v1/sandbox/mail?limit=0", "limit"),
        *[
            (f"{path}?limit={limit}", "limit")
            for path in (
                "/api/v1/accounts",
                "/api/v1/catalog/offers",
                "/api/v1/orders",
                "/api/v1/subscriptions",
                "/api/v1/invoices",
                "/api/v1/credit-notes",
                f"/api/v1/accounts/{customer['id']}/charges",
            )
            for limit in ("0", "201", "-1", "9" * 30)
        ],
        *[
            (f"{path}?cursor={value}", "cursor")
            for path in ("/api/v1/accounts", "/api/v1/orders", "/api/v1/invoices")
            for value in (cursor(2**63), cursor(10**9), cursor(-1), "%00", "x" * 100)
        ],
    ):
        answer = await client.get(url, headers=csp)
        assert answer.status_code == 422, (url, answer.text[:300])
        assert (answer.json()["error"]["code"], answer.json()["error"].get("field")) == ("invalid", field), url
    for url in ("/api/v1/orders?customer_id=%00", "/api/v1/invoices?account_id=%00", "/api/v1/accounts/%00"):
        answer = await client.get(url, headers=csp)
        assert 400 <= answer.status_code < 500, (url, answer.text[:300])
    assert await _snapshot() == before
    assert (await client.get(f"/api/v1/accounts?limit=200&cursor={cursor(10**9 - 1)}", headers=csp)).json() == {
        "items": [],
        "next": None,
    }


async def test_the_openapi_document_describes_every_body_and_error(app, client):
    import re

    from litestar.routes import HTTPRoute

    document = (await client.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert schemas["ErrorBody"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) > 50
    takes_a_body = set()
    pdfs = set()
    for path, method, operation in operations:
        # every success answer is typed (issue 17): a component, the PDF file, or 204 without a body
        successes = {status: answer for status, answer in operation["responses"].items() if status.startswith("2")}
        assert successes, (path, method)
        for status, answer in successes.items():
            content = answer.get("content")
            if status == "204":
                assert not content, (path, method)
            elif "application/pdf" in content:
                assert content == {
                    "application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}}
                }, (path, method)
                pdfs.add((path, method))
            else:
                assert list(content) == ["application/json"], (path, method, status)
                ref = content["application/json"]["schema"].get("$ref", "")
                assert ref.startswith("#/components/schemas/"), (path, method, status, content)
                assert ref.removeprefix("#/components/schemas/") in schemas, (path, method, ref)
        for status in ("400", "401", "403", "404", "409", "422"):
            answer = operation["responses"].get(status)
            assert answer is not None, (path, method, status)
            assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (
                path,
                method,
                status,
            )
        if "requestBody" in operation:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            refs = [schema, schema.get("items", {}), *schema.get("oneOf", []), *schema.get("anyOf", [])]
            assert any(r.get("$ref", "").startswith("#/components/schemas/") for r in refs), (path, method, schema)
            takes_a_body.add((path, method))
    # every handler that takes a body (its `data`) declares it, so none is left out of the document
    declared = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method.lower())
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/v1/")
        for handler in route.route_handlers
        if "data" in handler.parsed_fn_signature.parameters
        for method in handler.http_methods
    }
    assert declared == takes_a_body
    # only the documents' PDFs answer with a file
    assert pdfs == {
        ("/api/v1/invoices/{invoice_id}/pdf", "get"),
        ("/api/v1/credit-notes/{credit_note_id}/pdf", "get"),
    }
    assert len(schemas) >= 80
    assert {
        ("/api/v1/sandbox/faults", "put"),
        ("/api/v1/sandbox/clock", "post"),
        ("/api/v1/resellers", "post"),
        ("/api/v1/customers", "post"),
        ("/api/v1/accounts/{account_id}", "patch"),
        ("/api/v1/accounts/{account_id}/users", "post"),
        ("/api/v1/customers/{account_id}/mca-acceptance", "post"),
        ("/api/v1/catalog/fx-rates", "put"),
        ("/api/v1/catalog/margin-rules", "post"),
        ("/api/v1/invoices/{invoice_id}/payments", "post"),
        ("/api/v1/accounts/{account_id}/credit", "put"),
        ("/api/v1/accounts/{account_id}/billing-options", "put"),
        ("/api/v1/accounts/{account_id}/dunning-policy", "put"),
        ("/api/v1/billing/dunning-policy", "put"),
        ("/api/v1/billing/tax-rates", "put"),
        ("/api/v1/billing/runs", "post"),
        ("/api/v1/orders", "post"),
    } <= takes_a_body
    # the answers typed so far (accounts, catalog, billing settings, payments, runs) are documented by their structs
    for path, method, status, name in (
        ("/api/v1/accounts", "get", "200", "AccountList"),
        ("/api/v1/accounts/{account_id}", "get", "200", "AccountAnswer"),
        ("/api/v1/accounts/{account_id}", "patch", "200", "AccountAnswer"),
        ("/api/v1/customers", "post", "201", "AccountAnswer"),
        ("/api/v1/resellers", "post", "201", "AccountAnswer"),
        ("/api/v1/accounts/{account_id}/users", "get", "200", "UserList"),
        ("/api/v1/accounts/{account_id}/users", "post", "201", "UserAnswer"),
        ("/api/v1/customers/{account_id}/mca-acceptance", "post", "201", "McaAnswer"),
        ("/api/v1/me", "get", "200", "MeAnswer"),
        ("/api/v1/catalog/offers", "get", "200", "OfferList"),
        ("/api/v1/catalog/offers/{offer_id}", "get", "200", "OfferAnswer"),
        ("/api/v1/catalog/offers/{offer_id}/price", "get", "200", "PriceAnswer"),
        ("/api/v1/catalog/sync", "post", "202", "OperationAnswer"),
        ("/api/v1/catalog/fx-rates", "get", "200", "FxRateList"),
        ("/api/v1/catalog/fx-rates", "put", "200", "FxRateList"),
        ("/api/v1/catalog/margin-rules", "get", "200", "MarginRuleList"),
        ("/api/v1/catalog/margin-rules", "post", "201", "MarginRuleAnswer"),
        ("/api/v1/operations/{operation_id}", "get", "200", "Operation"),
        ("/api/v1/invoices/{invoice_id}/payments", "post", "201", "PaymentAnswer"),
        ("/api/v1/invoices/{invoice_id}/payments", "get", "200", "PaymentList"),
        ("/api/v1/accounts/{account_id}/credit", "get", "200", "CreditAnswer"),
        ("/api/v1/accounts/{account_id}/credit", "put", "200", "CreditAnswer"),
        ("/api/v1/accounts/{account_id}/billing-options", "get", "200", "BillingOptionsAnswer"),
        ("/api/v1/accounts/{account_id}/billing-options", "put", "200", "BillingOptionsAnswer"),
        ("/api/v1/accounts/{account_id}/dunning-policy", "get", "200", "AccountDunningAnswer"),
        ("/api/v1/accounts/{account_id}/dunning-policy", "put", "200", "AccountDunningAnswer"),
        ("/api/v1/billing/dunning-policy", "get", "200", "DunningAnswer"),
        ("/api/v1/billing/dunning-policy", "put", "200", "DunningAnswer"),
        ("/api/v1/billing/tax-rates", "get", "200", "TaxRateList"),
        ("/api/v1/billing/tax-rates", "put", "200", "TaxRateAnswer"),
        ("/api/v1/billing/runs", "post", "202", "RunStarted"),
        ("/api/v1/billing/runs/{run_id}", "get", "200", "RunAnswer"),
    ):
        documented = document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        assert documented == {"$ref": f"#/components/schemas/{name}"}, (path, method, documented)
    assert "from" in schemas["FxRateAnswer"]["properties"]  # the JSON name, not the Python one
    # nothing is documented as a free-form object any more
    assert schemas["CustomerBody"]["properties"]["name"]["maxLength"] == 200
    assert schemas["CreditBody"]["required"] == ["credit_limit"]


async def test_the_sandbox_controls_take_only_their_typed_fields(csp, client):
    faults = "/api/v1/sandbox/faults"
    stored = "SELECT error_rate::text || latency_ms || provisioning_ms FROM pcs_faults"
    before, kept = await _snapshot(), await db.fetchval(stored)
    for share in (*NUMBERS, 2, -0.1, "1.5", "0.2.1", True, None):
        await _refused(client, "PUT", faults, csp, {"error_rate": share}, "error_rate")
        await _refused(client, "PUT", faults, csp, {"throttle_rate": share}, "throttle_rate")
    for body, field in (
        ({"error_rate": 0.1, "chaos": True}, "chaos"),  # unknown fields in the faults body
        ({"latency_ms": 2**31}, "latency_ms"),
        ({"latency_ms": 60_001}, "latency_ms"),
        ({"latency_ms": "200"}, "latency_ms"),
        ({"provisioning_ms": 10**40}, "provisioning_ms"),
        ({"error_rate": 0.7, "throttle_rate": 0.5}, "error_rate"),  # together more than every call
    ):
        await _refused(client, "PUT", faults, csp, body, field)
    for body, field in (
        ({"advance": 8}, "advance"),
        ({"advance": "P8D\x00"}, "advance"),
        ({"to": "2027-01-01T00:00:00Z" + " " * 100}, "to"),
        ({"when": "tomorrow"}, "when"),
    ):
        await _refused(client, "POST", "/api/v1/sandbox/clock", csp, body, field)
    for timeout in ("nan", "inf", "1e308", "-1", "31"):
        answer = await client.post(f"/api/v1/sandbox/settle?timeout={timeout}", headers=csp)
        assert (answer.status_code, answer.json()["error"].get("field")) == (422, "timeout"), timeout
    assert (await _snapshot(), await db.fetchval(stored)) == (before, kept)
    saved = await client.put(faults, json={"error_rate": "0.2", "throttle_rate": 0.1, "latency_ms": 200}, headers=csp)
    assert saved.status_code == 200, saved.text
    answer = saved.json()
    assert (answer["error_rate"], answer["throttle_rate"], answer["latency_ms"]) == ("0.2", "0.1", 200)


async def test_the_account_forms_inline_check_refuses_an_account_id_that_is_not_one(tx, client):
    me = await factories.user(None)
    csrf = await factories.sign_in(client, me)
    htmx = {"X-CSRFToken": csrf, "HX-Request": "true"}
    form = {"kind": "customer", "country": "DE", "postal_code": "10115"}
    for account_id in ("zz", "\x00", "1" * 100_000):
        answer = await client.post(
            "/accounts/validate?field=postal_code", data={**form, "account_id": account_id}, headers=htmx
        )
        # htmx swaps only 2xx answers: the inline check answers its refusal as the field's message (app/web/forms.py)
        assert answer.status_code == 200, (account_id[:10], answer.text[:300])
        assert "Account id: " in answer.text
    customer = await factories.customer(None)
    checked = await client.post(
        "/accounts/validate?field=postal_code", data={**form, "account_id": str(customer["id"])}, headers=htmx
    )
    assert checked.status_code == 200
    assert "Account id" not in checked.text


async def test_typed_answers_are_the_serializers_bytes(tx, client):
    """The answer structs (OpenAPI's answer schemas) add a contract, not a format: what is sent is byte for byte
    the serializer's JSON (API.md's fields, in its order), so no client notices the change."""
    import msgspec

    from app.accounts.serializers import account_json, mca_json
    from app.billing import options
    from app.catalog import service as catalog

    me = await factories.user(None)
    csp = await factories.api_token(me)
    customer = await factories.customer(None)

    async def same(answer, expected) -> None:
        assert answer.status_code in (200, 201), answer.text[:300]
        assert answer.content == msgspec.json.encode(expected), (answer.text[:300], expected)

    account = await db.fetchrow("SELECT * FROM accounts WHERE id = $1", customer["id"])
    await same(await client.get(f"/api/v1/accounts/{customer['id']}", headers=csp), account_json(account))
    listed = await client.get("/api/v1/accounts?kind=customer&limit=1", headers=csp)
    await same(listed, {"items": [account_json(account)], "next": None})
    who = {"id": str(me.user_id), "email": me.email, "name": me.name, "role": "csp_admin", "account_id": None}
    await same(await client.get("/api/v1/me", headers=csp), who)
    mca = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@edge.test",
        "accepted_at": "2026-01-02T03:04:05Z",
    }
    recorded = await client.post(f"/api/v1/customers/{customer['id']}/mca-acceptance", json=mca, headers=csp)
    await same(
        recorded,
        mca_json(await db.fetchrow("SELECT * FROM mca_acceptances WHERE id = $1", uuid.UUID(recorded.json()["id"]))),
    )
    rates = [{"from": "EUR", "to": "USD", "rate": "1.0850", "effective_from": "2026-01-01"}]
    saved = await client.put("/api/v1/catalog/fx-rates", json=rates, headers=csp)
    expected = {"items": [catalog.fx_json(r) for r in await catalog.list_fx_rates()], "next": None}
    await same(saved, expected)
    await same(await client.get("/api/v1/catalog/fx-rates", headers=csp), expected)
    rule = {"scope": "customer", "account_id": str(customer["id"]), "kind": "markup_on_cost", "percent": "7.5"}
    created = await client.post("/api/v1/catalog/margin-rules", json=rule, headers=csp)
    [row] = await catalog.list_margin_rules(me, uuid.UUID(created.json()["id"]))
    await same(created, catalog.margin_json(row))
    url = f"/api/v1/accounts/{customer['id']}"
    limited = await client.put(f"{url}/credit", json={"credit_limit": "5000.00"}, headers=csp)
    await same(limited, await options.credit_json(me, customer["id"]))
    await same(await client.get(f"{url}/credit", headers=csp), await options.credit_json(me, customer["id"]))
    changed = await client.put(f"{url}/billing-options", json={"payment_terms_days": 30}, headers=csp)
    account = await db.fetchrow("SELECT * FROM accounts WHERE id = $1", customer["id"])
    await same(changed, options.billing_options_json(account, await options.settings()))
    policy = {"reminder_days": [1, 7], "suspend_after_days": 14}
    await same(await client.put(f"{url}/dunning-policy", json=policy, headers=csp), {**policy, "default": False})
    await same(await client.put("/api/v1/billing/dunning-policy", json=policy, headers=csp), policy)
    tax = await client.put(
        "/api/v1/billing/tax-rates", json={"country": "FR", "label": "TVA", "rate": "20.0"}, headers=csp
    )
    await same(tax, {"country": "FR", "label": "TVA", "rate": "20", "reverse_charge": False})
    await same(
        await client.get("/api/v1/billing/tax-rates", headers=csp),
        {"items": [options.tax_rate_json(r) for r in await options.tax_rates()], "next": None},
    )
