import pytest

from app.accounts import service
from app.accounts.rules import can_see
from tests import factories

pytestmark = pytest.mark.integration


async def test_scope_sql_agrees_with_the_scope_rule(tx):
    r1, r2 = await factories.reseller(), await factories.reseller()
    customers = [
        await factories.customer(r1["id"]),
        await factories.customer(r2["id"]),
        await factories.customer(None),
    ]
    viewers = [await factories.user(None), await factories.user(r1), await factories.user(r2)] + [
        await factories.user(c) for c in customers
    ]
    everything, _ = await service.list_accounts(viewers[0], limit=200)
    for viewer in viewers:
        listed, total = await service.list_accounts(viewer, limit=200)
        expected = {a["id"] for a in everything if can_see(viewer, service.ref(a))}
        assert {a["id"] for a in listed} == expected
        assert total == len(expected)


async def test_search_as_you_type_returns_only_the_table_fragment(tx, client):
    me = await factories.user(None)
    await factories.customer(None, name="Fragment Findme GmbH")
    await factories.sign_in(client, me)
    full = await client.get("/accounts?kind=customer")
    assert "<html" in full.text
    assert 'id="accounts-table"' in full.text
    fragment = await client.get("/accounts?kind=customer&q=findme", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert fragment.headers["vary"] == "HX-Request"
    assert "<html" not in fragment.text
    assert fragment.text.strip().startswith('<div id="accounts-table">')
    assert "Fragment Findme GmbH" in fragment.text
    empty = await client.get("/accounts?kind=customer&q=zzzz-nothing", headers={"HX-Request": "true"})
    assert "Nothing matches" in empty.text
    boosted = await client.get("/accounts?kind=customer", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.text


async def test_accounts_page_paginates(tx, client):
    me = await factories.user(None)
    for i in range(23):
        await factories.customer(None, name=f"Pager {i:02d}")
    await factories.sign_in(client, me)
    first = await client.get("/accounts?kind=customer&q=Pager")
    assert "1–20 of 23" in first.text
    assert "Pager 19" in first.text
    assert "Pager 20" not in first.text
    second = await client.get("/accounts?kind=customer&q=Pager&page=2")
    assert "21–23 of 23" in second.text
    assert "Pager 22" in second.text


async def test_create_form_shows_inline_errors_and_creates_on_success(tx, client):
    reseller = await factories.reseller()
    me = await factories.user(reseller)
    csrf = await factories.sign_in(client, me)
    htmx = {"X-CSRFToken": csrf, "HX-Request": "true"}
    form = {
        "kind": "customer",
        "name": "Form GmbH",
        "email": "it@form.test",
        "country": "DE",
        "currency": "EUR",
        "address_line1": "Hauptstraße 1",
        "city": "Berlin",
        "postal_code": "1234",
    }
    inline = await client.post("/accounts/validate?field=postal_code", data=form, headers=htmx)
    assert inline.text.strip() == (
        '<p class="field-error" id="error-postal_code" role="alert">'
        "Enter a valid postal code for Germany, like 10115.</p>"
    )
    refused = await client.post("/accounts", data=form, headers=htmx)
    assert refused.status_code == 422
    assert refused.text.strip().startswith('<form id="account-form"')
    assert "Enter a valid postal code for Germany, like 10115." in refused.text
    assert 'value="Form GmbH"' in refused.text  # what the person typed is kept
    created = await client.post("/accounts", data={**form, "postal_code": "10115"}, headers=htmx)
    assert created.status_code == 200
    location = created.headers["hx-redirect"]
    page = await client.get(location)
    assert "Form GmbH" in page.text
    assert reseller["name"] in page.text  # shown as the customer's reseller


async def test_home_figures_follow_the_role(tx, client):
    reseller = await factories.reseller()
    await factories.customer(reseller["id"])
    await factories.customer(reseller["id"])
    await factories.customer(None)
    me = await factories.user(reseller)
    figures = await service.figures(me)
    assert (figures["resellers"], figures["customers"], figures["customers_without_mca"]) == (1, 2, 2)
    await factories.sign_in(client, me)
    home = await client.get("/")
    assert reseller["name"] in home.text
    assert 'href="/admin/outbox"' not in home.text
    assert "customers without MCA" in home.text


async def test_page_404_for_other_resellers_customer(tx, client):
    mine, theirs = await factories.reseller(), await factories.reseller()
    their_customer = await factories.customer(theirs["id"])
    await factories.sign_in(client, await factories.user(mine))
    response = await client.get(f"/accounts/{their_customer['id']}")
    assert response.status_code == 404
    assert "Not found" in response.text
    assert their_customer["name"] not in response.text
