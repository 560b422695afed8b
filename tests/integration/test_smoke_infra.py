import pytest

from tests import factories

pytestmark = pytest.mark.integration


async def test_api_lists_only_callers_scope(tx, client):
    r1 = await factories.reseller()
    c1 = await factories.customer(r1["id"])
    r2 = await factories.reseller()
    c2 = await factories.customer(r2["id"])
    me = await factories.user(r1)
    headers = await factories.api_token(me)
    response = await client.get("/api/v1/accounts", headers=headers)
    assert response.status_code == 200, response.text
    ids = {a["id"] for a in response.json()["items"]}
    assert ids == {str(r1["id"]), str(c1["id"])}
    assert (await client.get(f"/api/v1/accounts/{c2['id']}", headers=headers)).status_code == 404


async def test_page_login_and_csrf(tx, client):
    r1 = await factories.reseller()
    me = await factories.user(r1)
    token = await factories.sign_in(client, me)
    page = await client.get("/")
    assert page.status_code == 200
    assert r1["name"] in page.text
    refused = await client.post("/profile/tokens", data={"name": "x"})
    assert refused.status_code == 403
    ok = await client.post("/profile/tokens", data={"name": "x"}, headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert ok.status_code == 200, ok.text
    assert "cs_" in ok.text
