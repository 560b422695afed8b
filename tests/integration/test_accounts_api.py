import pytest

from app.audit.tables import Event
from tests import factories

pytestmark = pytest.mark.integration

ADDRESS = {"line1": "Friedrichstraße 100", "city": "Berlin", "postal_code": "10117"}


@pytest.fixture
async def csp(tx):
    return await factories.api_token(await factories.user(None))


async def test_create_reseller_then_customer_under_it(csp, client):
    response = await client.post(
        "/api/v1/resellers",
        headers=csp,
        json={
            "name": "Northwind Partners",
            "email": "Billing@Northwind.test",
            "country": "US",
            "currency": "USD",
            "mpn_id": "6123401",
            "address": {"line1": "1 Microsoft Way", "city": "Redmond", "postal_code": "98052"},
        },
    )
    assert response.status_code == 201, response.text
    reseller = response.json()
    assert reseller["kind"] == "reseller"
    assert reseller["email"] == "billing@northwind.test"
    assert reseller["mpn_id"] == "6123401"

    response = await client.post(
        "/api/v1/customers",
        headers=csp,
        json={
            "name": "Tailspin Toys AG",
            "email": "it@tailspin.test",
            "country": "DE",
            "currency": "EUR",
            "address": ADDRESS,
            "reseller_id": reseller["id"],
            "domain": "tailspintoys",
            "qualification": "education",
        },
    )
    assert response.status_code == 201, response.text
    customer = response.json()
    assert customer["reseller_id"] == reseller["id"]
    assert customer["domain"] == "tailspintoys.onmicrosoft.com"
    assert customer["qualification"] == "education"
    assert customer["address"] == {
        "line1": "Friedrichstraße 100",
        "line2": None,
        "city": "Berlin",
        "state": None,
        "postal_code": "10117",
    }
    assert customer["tenant_id"] is None

    events = await Event.select(Event.action).where(Event.subject_id == customer["id"]).run()
    assert events == [{"action": "created"}]


async def test_reseller_creates_customers_only_under_itself(tx, client):
    reseller = await factories.reseller()
    other = await factories.reseller()
    headers = await factories.api_token(await factories.user(reseller))
    body = {
        "name": "Contoso",
        "email": "it@contoso.test",
        "country": "DE",
        "currency": "EUR",
        "address": ADDRESS,
    }
    own = await client.post("/api/v1/customers", headers=headers, json=body)
    assert own.status_code == 201
    assert own.json()["reseller_id"] == str(reseller["id"])
    foreign = await client.post("/api/v1/customers", headers=headers, json={**body, "reseller_id": str(other["id"])})
    assert foreign.status_code == 403
    assert foreign.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"address": {**ADDRESS, "postal_code": "1234"}},
            "postal_code",
            "Enter a valid postal code for Germany, like 10115.",
        ),
        ({"country": "XX"}, "country", "Choose a country by its two-letter ISO code, like DE."),
        ({"currency": "ZZZ"}, "currency", "Choose a currency by its ISO 4217 code, like EUR."),
        ({"currency": "EURO"}, "currency", None),  # not three letters: refused at the typed edge
        ({"email": "nope@nowhere"}, "email", "Enter an email address like name@example.com."),
        ({"email": "nope"}, "email", None),  # no @: refused at the typed edge
        ({"colour": "blue"}, "colour", None),
        ({"address": "Berlin"}, "address", None),
    ],
)
async def test_invalid_customer_is_422_with_field_and_changes_nothing(csp, client, change, field, message):
    body = {
        "name": "Bad Input GmbH",
        "email": "it@bad.test",
        "country": "DE",
        "currency": "EUR",
        "address": ADDRESS,
        **change,
    }
    before = (await client.get("/api/v1/accounts", headers=csp)).json()["items"]
    response = await client.post("/api/v1/customers", headers=csp, json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] == field
    if message:
        assert error["message"] == message
    assert (await client.get("/api/v1/accounts", headers=csp)).json()["items"] == before


async def test_malformed_json_is_400_not_500(csp, client):
    response = await client.post(
        "/api/v1/customers", headers={**csp, "content-type": "application/json"}, content=b"{not json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


async def test_bad_token_is_401_with_error_body(tx, client):
    response = await client.get("/api/v1/accounts", headers={"Authorization": "Bearer cs_nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"error": {"code": "unauthorized", "message": "Sign in to continue."}}


async def test_unknown_account_is_404(csp, client):
    response = await client.get("/api/v1/accounts/00000000-0000-0000-0000-000000000001", headers=csp)
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "No such account."}


async def test_domain_taken_is_refused(csp, client):
    await factories.customer(None, tenant_domain="taken")
    body = {
        "name": "Second",
        "email": "it@second.test",
        "country": "DE",
        "currency": "EUR",
        "address": ADDRESS,
        "domain": "taken",
    }
    response = await client.post("/api/v1/customers", headers=csp, json=body)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "The domain taken.onmicrosoft.com is already taken. Choose another."


async def test_search_and_cursor_paging(csp, client):
    for i in range(5):
        await factories.customer(None, name=f"Paging Test {i}")
    await factories.customer(None, name="Something Else")
    first = (await client.get("/api/v1/accounts?q=paging%20test&limit=2", headers=csp)).json()
    assert [a["name"] for a in first["items"]] == ["Paging Test 0", "Paging Test 1"]
    second = (await client.get(f"/api/v1/accounts?q=paging%20test&limit=2&cursor={first['next']}", headers=csp)).json()
    assert [a["name"] for a in second["items"]] == ["Paging Test 2", "Paging Test 3"]
    third = (await client.get(f"/api/v1/accounts?q=paging%20test&limit=2&cursor={second['next']}", headers=csp)).json()
    assert [a["name"] for a in third["items"]] == ["Paging Test 4"]
    assert third["next"] is None
    assert (await client.get("/api/v1/accounts?cursor=%%%", headers=csp)).status_code == 422
    assert (await client.get("/api/v1/accounts?limit=0", headers=csp)).status_code == 422
    assert (await client.get("/api/v1/accounts?q=100%25", headers=csp)).json()["items"] == []


async def test_patch_updates_and_logs_only_what_changed(csp, client):
    customer = await factories.customer(None, name="Old Name")
    response = await client.patch(
        f"/api/v1/accounts/{customer['id']}",
        headers=csp,
        json={
            "name": "New Name",
            "address": {"city": "Berlin", "postal_code": "10115"},
            "contacts": {"phone": "+49 30 1234"},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["address"]["postal_code"], body["phone"]) == (
        "New Name",
        "10115",
        "+49 30 1234",
    )
    event = (
        await Event.select()
        .where((Event.subject_id == str(customer["id"])) & (Event.action == "updated"))
        .first()
        .output(load_json=True)
        .run()
    )
    assert event["before"] == {"name": "Old Name", "postal_code": "10117", "phone": ""}
    assert event["after"] == {"name": "New Name", "postal_code": "10115", "phone": "+49 30 1234"}
    refused = await client.patch(f"/api/v1/accounts/{customer['id']}", headers=csp, json={"currency": "USD"})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "currency"


async def test_users_invite_and_roles(csp, client):
    customer = await factories.customer(None)
    url = f"/api/v1/accounts/{customer['id']}/users"
    response = await client.post(url, headers=csp, json={"email": "New@Customer.test", "name": "New Person"})
    assert response.status_code == 201, response.text
    user = response.json()
    assert (user["email"], user["role"], user["account_id"]) == (
        "new@customer.test",
        "customer_admin",
        str(customer["id"]),
    )
    again = await client.post(url, headers=csp, json={"email": "new@customer.test", "name": "Twice"})
    assert again.status_code == 422
    assert again.json()["error"]["field"] == "email"
    assert again.json()["error"]["message"] == "A user with the email new@customer.test already exists."
    wrong_role = await client.post(
        url, headers=csp, json={"email": "x@customer.test", "name": "X", "role": "csp_admin"}
    )
    assert wrong_role.status_code == 422
    listed = (await client.get(url, headers=csp)).json()["items"]
    assert [u["email"] for u in listed] == ["new@customer.test"]


async def test_mca_acceptance_is_logged_with_method(tx, client):
    reseller = await factories.reseller()
    customer = await factories.customer(reseller["id"])
    headers = await factories.api_token(await factories.user(reseller))
    response = await client.post(
        f"/api/v1/customers/{customer['id']}/mca-acceptance",
        headers=headers,
        json={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@c.test",
            "accepted_at": "2026-11-20T10:00:00Z",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["method"] == "reseller_attested"
    assert body["accepted_at"] == "2026-11-20T10:00:00Z"
    future = await client.post(
        f"/api/v1/customers/{customer['id']}/mca-acceptance",
        headers=headers,
        json={
            "first_name": "A",
            "last_name": "B",
            "email": "a@c.test",
            "accepted_at": "2099-01-01T00:00:00Z",
        },
    )
    assert future.status_code == 422
    assert future.json()["error"]["field"] == "accepted_at"
    not_customer = await client.post(
        f"/api/v1/customers/{reseller['id']}/mca-acceptance",
        headers=headers,
        json={"first_name": "A", "last_name": "B", "email": "a@c.test"},
    )
    assert not_customer.status_code == 409


async def test_openapi_document_lists_the_api(tx, client):
    schema = (await client.get("/schema/openapi.json")).json()
    assert {
        "/api/v1/resellers",
        "/api/v1/customers",
        "/api/v1/accounts",
        "/api/v1/accounts/{account_id}",
        "/api/v1/customers/{account_id}/mca-acceptance",
    } <= set(schema["paths"])
    assert not any(path.startswith("/accounts") for path in schema["paths"])  # pages are not API
