"""The real client against the sandbox over real HTTP: Microsoft's shapes, rules and error codes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import httpx
import pytest

from app import clock, db
from app.partner_center.auth import TokenError
from app.partner_center.errors import AuthenticationError, BusinessRuleError, NotFoundError
from app.partner_center.sandbox import catalog, identity, service
from tests.integration.sandbox_fixtures import MCA, TENANT, Sandbox, buy, customer_body, line, new_customer

pytestmark = pytest.mark.integration

BASIC = catalog.offer_by_key("CFQ7TTC0LH18", "0001")  # Microsoft 365 Business Basic
EXCHANGE_P1 = catalog.offer_by_key("CFQ7TTC0LH16", "0001")  # costs the partner $4/month, P1Y billed monthly


async def test_msal_gets_tokens_from_the_sandbox_and_mfa_is_required(pc_sandbox: Sandbox):
    app_only = await pc_sandbox.app_only_client().tokens.access_token()
    assert app_only.count(".") == 2  # a JWT from the sandbox's token endpoint, through msal
    tokens = await pc_sandbox.user_tokens(mfa=True)
    assert (await tokens.access_token()).count(".") == 2
    no_mfa = await pc_sandbox.user_tokens(mfa=False)
    client = pc_sandbox.client(no_mfa)
    with pytest.raises(AuthenticationError) as refused:
        await client.get_json("/v1/customers")
    assert refused.value.code == 900421
    from app.partner_center.auth import AppOnlyTokens

    wrong = AppOnlyTokens(pc_sandbox.msal_app(secret="wrong-secret"))
    with pytest.raises(TokenError) as failed:
        await wrong.access_token()
    assert failed.value.error == "invalid_client"


async def test_each_host_wants_a_token_for_its_own_audience(pc_sandbox: Sandbox):
    from app.partner_center.auth import GRAPH_SCOPE, PARTNER_CENTER_SCOPE, PRICING_SCOPE

    tokens = await pc_sandbox.user_tokens(mfa=True)
    sheet = f"{pc_sandbox.url}/v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value"
    graph = f"{pc_sandbox.url}/v1.0/tenantRelationships/delegatedAdminRelationships"
    async with httpx.AsyncClient(verify=pc_sandbox.tls) as http:

        async def status(url: str, scope: str) -> int:
            headers = {"Authorization": f"Bearer {await tokens.access_token(scope)}"}
            return (await http.get(url, headers=headers)).status_code

        assert await status(sheet, PARTNER_CENTER_SCOPE) == 401  # Partner Center's token is refused by pricing
        assert await status(graph, PARTNER_CENTER_SCOPE) == 401
        assert await status(f"{pc_sandbox.url}/v1/customers", PRICING_SCOPE) == 401
        assert await status(sheet, PRICING_SCOPE) == 200
        assert await status(graph, GRAPH_SCOPE) == 200
        assert await status(f"{pc_sandbox.url}/v1/customers", PARTNER_CENTER_SCOPE) == 200
    # the client asks for the right one on its own, one refresh token serving all three
    client = pc_sandbox.client(tokens)
    lines = [line async for line in client.price_sheet_lines("US")]
    assert len(lines) > 1
    assert isinstance(await client.list_gdap_relationships(), list)


async def test_no_token_is_401_in_microsofts_error_shape(pc_sandbox: Sandbox):
    async with httpx.AsyncClient(verify=pc_sandbox.tls) as http:
        response = await http.get(f"{pc_sandbox.url}/v1/customers")
    assert response.status_code == 401
    assert set(response.json()) == {"code", "description", "data", "source"}


async def test_customer_agreement_and_mca_rules(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await client.create_customer(customer_body())
    assert customer.user_credentials.user_name.startswith("admin@")
    fetched = await client.get_customer(customer.id)
    assert fetched.company_profile.domain == customer.company_profile.domain
    with pytest.raises(BusinessRuleError) as taken:
        await client.create_customer(customer_body(customer.company_profile.domain))
    assert taken.value.code == 1019
    cart = await client.create_cart(customer.id, {"lineItems": [line(BASIC)]})
    with pytest.raises(BusinessRuleError) as no_mca:
        await client.checkout(customer.id, cart.id)
    assert (no_mca.value.status, no_mca.value.code) == (403, 13605)
    metadata = await client.agreement_metadata()
    assert metadata.template_id == MCA["templateId"]
    await client.attest_agreement(customer.id, MCA)
    with pytest.raises(BusinessRuleError) as again:
        await client.attest_agreement(customer.id, MCA)
    assert again.value.code == 600061
    assert len(await client.list_agreements(customer.id)) == 1
    result = await client.checkout(customer.id, cart.id)
    assert result.orders[0].line_items[0].subscription_id
    assert await client.checkout(customer.id, cart.id) == result  # checking out again returns the first result
    with pytest.raises(NotFoundError):
        await client.get_customer(str(uuid.uuid4()))


async def test_worked_proration_examples_bill_4_00_then_minus_3_87_and_7_74(pc_sandbox: Sandbox):
    """facts 10A: $4/month; bought June 11 (period June 11 - July 10, 30 days), one seat added June 12."""
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(datetime(2026, 6, 11, 9, 0, tzinfo=UTC)) as fixed:
        [sub] = await buy(client, customer.id, line(EXCHANGE_P1, 1, "P1Y", "monthly"))
        fixed.advance(days=1)
        await client.update_subscription(customer.id, sub, quantity=2)
    lines = [
        (
            li.charge_type,
            li.quantity,
            li.subtotal,
            li.charge_start_date.date().isoformat(),
            li.charge_end_date.date().isoformat(),
        )
        async for li in client.unbilled_line_items("USD")
    ]
    assert lines == [
        ("new", 1, Decimal("4.00"), "2026-06-11", "2026-07-10"),
        ("addQuantity", 1, Decimal("-3.87"), "2026-06-11", "2026-07-10"),
        ("addQuantity", 2, Decimal("7.74"), "2026-06-11", "2026-07-10"),
    ]


async def test_removing_a_seat_the_next_day_reverses_and_rebills(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(datetime(2026, 6, 11, 9, 0, tzinfo=UTC)) as fixed:
        [sub] = await buy(client, customer.id, line(EXCHANGE_P1, 2, "P1Y", "monthly"))
        fixed.advance(days=1)
        await client.update_subscription(customer.id, sub, quantity=1)
    amounts = [(li.charge_type, li.quantity, li.subtotal) async for li in client.unbilled_line_items("USD")]
    assert amounts == [
        ("new", 2, Decimal("8.00")),
        ("removeQuantity", 2, Decimal("-7.74")),
        ("removeQuantity", 1, Decimal("3.87")),
    ]


async def test_seat_reduction_only_inside_the_window(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        [sub] = await buy(client, customer.id, line(BASIC, 5, "P1Y", "annual"))
        assert sub.refundable_quantity.total_quantity == 5
        fixed.advance(hours=100)
        sub = await client.update_subscription(customer.id, sub, quantity=8)
        assert [d.quantity for d in sub.refundable_quantity.details] == [5, 3]
        fixed.advance(hours=69)  # the first 5 seats' window (168 h) has closed; the 3 added seats' has not
        sub = await client.get_subscription(customer.id, sub.id)
        assert sub.refundable_quantity.total_quantity == 3
        with pytest.raises(BusinessRuleError) as refused:
            await client.update_subscription(customer.id, sub, quantity=4)
        assert (refused.value.status, refused.value.code) == (400, 800090)
        assert refused.value.description == "Subscription quantity cannot be decreased."
        sub = await client.update_subscription(customer.id, sub, quantity=5)
        assert sub.quantity == 5
        assert sub.refundable_quantity.total_quantity == 0
        with pytest.raises(BusinessRuleError) as closed:
            await client.update_subscription(customer.id, sub, status="deleted")
        assert closed.value.code == 800094


async def test_stale_etag_is_refused(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    [sub] = await buy(client, customer.id, line(BASIC, 1))
    await client.update_subscription(customer.id, sub, autoRenewEnabled=False)
    with pytest.raises(BusinessRuleError) as stale:
        await client.update_subscription(customer.id, sub, quantity=3)
    assert stale.value.code == 2055


async def test_with_faults_200_writes_each_happen_exactly_once(pc_sandbox: Sandbox):
    # 30% of attempts fail (20% 5xx, 10% 429): with 20 attempts the chance that any of the 200 writes runs out
    # of retries is 200 x 0.3^20, about 7e-9, so the test never fails by bad luck
    client = pc_sandbox.app_only_client(base_delay=0.01, max_delay=0.05, max_attempts=20)
    await pc_sandbox.set_faults(error_rate=0.2, throttle_rate=0.1)
    customers = await asyncio.gather(*[client.create_customer(customer_body()) for _ in range(200)])
    await pc_sandbox.set_faults()
    assert len({c.id for c in customers}) == 200
    # the sandbox seeds a few tenants of its own; count the ones this test made
    assert await db.fetchval("SELECT count(*) FROM pcs_customers WHERE domain LIKE 'contoso%'") == 200
    assert await db.fetchval("SELECT count(*) FROM pcs_requests") == 200
    # checkouts too: each answer may be lost after the order was made, yet every cart orders once
    carts = []
    for customer in customers[:30]:
        await client.attest_agreement(customer.id, MCA)
        carts.append(await client.create_cart(customer.id, {"lineItems": [line(BASIC, 2)]}))
    await pc_sandbox.set_faults(error_rate=0.2, throttle_rate=0.1)
    await asyncio.gather(*[client.checkout(c.id, cart.id) for c, cart in zip(customers, carts, strict=False)])
    await pc_sandbox.set_faults()
    per_customer = await db.fetch(
        "SELECT customer_id, count(*) AS n, sum(quantity) AS seats FROM pcs_subscriptions "
        "WHERE customer_id = ANY($1::uuid[]) GROUP BY customer_id",
        [c.id for c in customers],
    )
    assert sorted((r["n"], r["seats"]) for r in per_customer) == [(1, 2)] * 30


async def test_term_end_renews_at_the_new_price_or_expires_then_disables_and_deletes(pc_sandbox: Sandbox):

    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    change = (await db.fetch("SELECT price_change_date FROM pcs_state"))[0]["price_change_date"]
    start = datetime.combine(change, datetime.min.time(), tzinfo=UTC) - timedelta(days=40)
    with clock.use_fixed_clock(start) as fixed:
        renewing, expiring = await buy(
            client, customer.id, line(BASIC, 3, "P1M", "monthly"), line(BASIC, 2, "P1M", "monthly")
        )
        expiring = await client.update_subscription(customer.id, expiring, autoRenewEnabled=False)
        old_price = await db.fetchval("SELECT unit_price FROM pcs_subscriptions WHERE id = $1", uuid.UUID(renewing.id))
        # a month later: the first renewal (still before the price change) and the expiry
        fixed.advance(days=35)
        async with db.transaction():
            ran = await service.run_scheduler(fixed.current)
        assert (ran["renewed"], ran["expired"]) == (1, 1)
        assert (
            await db.fetchval("SELECT unit_price FROM pcs_subscriptions WHERE id = $1", uuid.UUID(renewing.id))
            == old_price
        )
        assert (await client.get_subscription(customer.id, expiring.id)).status == "expired"
        async with db.transaction():
            assert (await service.run_scheduler(fixed.current))["renewed"] == 0  # idempotent
        # another month: the second renewal falls after the price change, at the new price
        fixed.advance(days=31)
        async with db.transaction():
            ran = await service.run_scheduler(fixed.current)
        assert ran["renewed"] == 1
        renewed = await client.get_subscription(customer.id, renewing.id)
        assert renewed.status == "active"
        assert renewed.effective_start > renewing.commitment_end
        new_price = await db.fetchval("SELECT unit_price FROM pcs_subscriptions WHERE id = $1", uuid.UUID(renewing.id))
        assert new_price == (old_price * Decimal("1.05")).quantize(Decimal("0.01"))  # Basic +5% (PRICE_CHANGES)
        assert renewed.refundable_quantity.total_quantity == 3  # a renewal opens a new window
        # the first renewal is already on last month's invoice; the second is still unbilled
        invoices = await client.list_invoices()
        assert invoices
        billed = [li.charge_type for inv in invoices async for li in client.invoice_line_items(inv.id)]
        unbilled = [li.charge_type async for li in client.unbilled_line_items("USD")]
        assert (billed + unbilled).count("renew") == 2
        assert "renew" in unbilled
        assert (await client.get_subscription(customer.id, expiring.id)).status == "disabled"  # 30 days on
        fixed.advance(days=91)
        async with db.transaction():
            await service.run_scheduler(fixed.current)
        assert (await client.get_subscription(customer.id, expiring.id)).status == "deleted"


async def test_pc_check_reports_the_connection(pc_sandbox: Sandbox):
    from app.partner_center.connection import check

    client = pc_sandbox.app_only_client()
    # the sandbox starts with Fourth Coffee and its legacy subscriptions; a new customer adds one of each
    before = [c async for c in client.list_customers()]
    seeded = sum([len(await client.list_subscriptions(c.id)) for c in before])
    customer = await new_customer(client)
    await buy(client, customer.id, line(BASIC, 1))
    lines = await check(pc_sandbox.settings)
    assert lines[0].startswith(f"Partner Center: {pc_sandbox.url} (sandbox mode)")
    assert "(app-only)" in lines[1]
    assert lines[3:] == [f"Customers:      {len(before) + 1}", f"Subscriptions:  {seeded + 1}"]


async def test_sandbox_clock_api_moves_time_and_runs_partner_center(pc_sandbox: Sandbox, client):
    from tests import factories

    headers = await factories.api_token(await factories.user(None))
    before = (await client.get("/api/v1/sandbox/clock", headers=headers)).json()
    try:
        moved = await client.post("/api/v1/sandbox/clock", headers=headers, json={"advance": "P8D"})
        assert moved.status_code == 200, moved.text
        assert moved.json()["now"] > before["now"]
        assert (await client.post("/api/v1/sandbox/clock", headers=headers, json={"to": before["now"]})).json()[
            "error"
        ]["message"] == "The sandbox clock only moves forward."
        assert (
            await client.post("/api/v1/sandbox/clock", headers=headers, json={"advance": "8 days"})
        ).status_code == 422
        faults = await client.put(
            "/api/v1/sandbox/faults", headers=headers, json={"error_rate": 0.7, "throttle_rate": 0.5}
        )
        assert faults.status_code == 422
    finally:
        await db.execute("UPDATE clock_offset SET offset_seconds = 0")
        clock.set_offset(timedelta(0))


async def test_catalog_products_skus_availabilities(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    products = await client.products("US", segment="commercial")
    assert len(products) >= 30
    assert all(p.product_type and p.title and p.id for p in products)
    education = {p.id for p in await client.products("US", segment="education")}
    assert education
    assert BASIC.product_id not in education
    skus = await client.skus(BASIC.product_id, "US")
    assert BASIC.sku_id in [s.id for s in skus]
    skus = [s for s in skus if s.id == BASIC.sku_id]
    assert skus[0].upgrade_target_offers == list(BASIC.upgrade_targets)
    [availability] = await client.availabilities(BASIC.product_id, BASIC.sku_id, "DE")
    assert availability.catalog_item_id == catalog.catalog_item_id(BASIC)
    assert availability.default_currency.code == "EUR"
    addon = next(o for o in catalog.OFFERS if o.is_addon)
    [addon_sku] = [s for s in await client.skus(addon.product_id, "US") if s.id == addon.sku_id]
    assert addon_sku.is_addon is True
    assert addon_sku.prerequisite_skus == list(addon.prerequisite_skus)
    with pytest.raises(NotFoundError):
        await client.skus("NOSUCHPRODUCT", "US")


async def test_price_sheet_streams_as_csv_for_app_user_tokens_only(pc_sandbox: Sandbox):
    import csv

    user = pc_sandbox.client(await pc_sandbox.user_tokens())
    lines = [line async for line in user.price_sheet_lines("JP")]
    rows = list(csv.DictReader(lines))
    assert list(rows[0])[:18] == list(catalog.COLUMNS)[:18]
    assert {r["Currency"] for r in rows} == {"JPY"}
    assert all("." not in r["UnitPrice"] for r in rows)  # yen have no decimals
    assert len(rows) > 100
    with pytest.raises(AuthenticationError) as app_only:
        [line async for line in pc_sandbox.app_only_client().price_sheet_lines("US")]
    assert app_only.value.code == 900329


async def _sign_in_csp(pc_sandbox: Sandbox, http: httpx.AsyncClient) -> str:
    from tests import factories

    admin = await factories.user(None)
    page = await http.get("/login")
    token = factories.csrf_from(page.text)
    assert (
        await http.post("/login", data={"email": admin.email, "password": factories.PASSWORD, "_csrf_token": token})
    ).status_code == 303
    return factories.csrf_from((await http.get("/profile")).text)  # the signed-in session's token


async def _connect(pc_sandbox: Sandbox, http: httpx.AsyncClient, csrf: str, mfa: bool) -> httpx.Response:
    start = await http.post("/admin/partner-center/connect", data={"_csrf_token": csrf})
    assert start.status_code == 303
    auth_uri = start.headers["location"]
    assert auth_uri.startswith(f"{pc_sandbox.url}/login/")  # Microsoft's sign-in, on the sandbox's origin
    query = dict(httpx.URL(auth_uri).params)
    assert query["code_challenge_method"] == "S256"  # PKCE
    async with httpx.AsyncClient(verify=pc_sandbox.tls) as identity_platform:
        signed_in = await identity_platform.post(
            auth_uri.split("?")[0],
            data={**query, "user_name": "agent@sandboxpartner.onmicrosoft.com", **({"mfa": "yes"} if mfa else {})},
        )
    assert signed_in.status_code == 303
    callback = signed_in.headers["location"]
    assert callback.startswith(f"{pc_sandbox.settings.base_url}/admin/partner-center/callback?")
    return await http.get(callback.removeprefix(pc_sandbox.settings.base_url))


async def test_connect_partner_center_keeps_only_an_encrypted_refresh_token(pc_sandbox: Sandbox):
    from app.main import create_app
    from app.partner_center.connection import check

    app = create_app(pc_sandbox.settings, manage_pool=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=pc_sandbox.settings.base_url) as http:
        csrf = await _sign_in_csp(pc_sandbox, http)
        refused = await _connect(pc_sandbox, http, csrf, mfa=False)
        assert refused.status_code == 409
        assert "did not use multi-factor authentication" in refused.text
        assert await db.fetchval("SELECT count(*) FROM partner_center_connection") == 0
        done = await _connect(pc_sandbox, http, csrf, mfa=True)
        assert done.status_code == 303
        page = await http.get(done.headers["location"])
        assert "Partner Center is connected." in page.text
        assert "agent@sandboxpartner.onmicrosoft.com" in page.text
        first = await db.fetchval("SELECT refresh_token_enc FROM partner_center_connection")
        again = await _connect(pc_sandbox, http, csrf, mfa=True)  # signing in again replaces the connection
        assert again.status_code == 303
    assert await db.fetchval("SELECT count(*) FROM partner_center_connection") == 1
    stored = await db.fetchval("SELECT refresh_token_enc FROM partner_center_connection")
    assert stored != first
    assert stored.startswith("gAAAA")  # Fernet, not the token itself
    assert (
        await db.fetchval(
            "SELECT count(*) FROM pcs_refresh_tokens WHERE token_hash = encode(sha256($1::bytea), 'hex')",
            stored.encode(),
        )
        == 0
    )
    lines = await check(pc_sandbox.settings)
    assert lines[1].startswith("Connected as:   agent@sandboxpartner.onmicrosoft.com")
    await db.execute("TRUNCATE partner_center_connection, partner_center_auth_flows")


ATTACK = '"><script>alert(document.domain)</script>'


def _authorize(pc_sandbox: Sandbox) -> str:
    return f"{pc_sandbox.url}/login/{TENANT}/oauth2/v2.0/authorize"


def _registered_redirect(pc_sandbox: Sandbox) -> str:
    from app.partner_center.connect import redirect_uri

    return redirect_uri(pc_sandbox.settings)  # the reply URL Cloudseat's sign-in sends


async def test_the_sign_in_page_shows_its_query_as_text_never_as_markup(pc_sandbox: Sandbox):
    sign_in = {"client_id": identity.SANDBOX_CLIENT_ID, "redirect_uri": _registered_redirect(pc_sandbox)}
    async with httpx.AsyncClient(verify=pc_sandbox.tls) as browser:
        # a parameter's name and a parameter's value, both carried into the page's hidden fields
        page = await browser.get(f"{_authorize(pc_sandbox)}?{ATTACK}=1&{urlencode({**sign_in, 'state': ATTACK})}")
        mismatch = await browser.get(_authorize(pc_sandbox), params={**sign_in, "redirect_uri": ATTACK})
    for answer in (page, mismatch):
        assert "<script>" not in answer.text
        assert "&lt;script&gt;alert(document.domain)&lt;/script&gt;" in answer.text  # shown, inert
    assert page.status_code == 200
    assert "Sign in to the sandbox Partner Center" in page.text
    assert mismatch.status_code == 400  # an unregistered redirect_uri: Microsoft's error page, echoing it safely


async def test_the_sign_in_issues_codes_only_to_a_registered_redirect_uri(pc_sandbox: Sandbox):
    registered = _registered_redirect(pc_sandbox)
    form = {"client_id": identity.SANDBOX_CLIENT_ID, "user_name": identity.SANDBOX_AGENT, "mfa": "yes"}
    async with httpx.AsyncClient(verify=pc_sandbox.tls) as browser:
        for elsewhere in ("https://attacker.example/steal", registered + "/../../steal", registered.upper()):
            shown = await browser.get(_authorize(pc_sandbox), params={**form, "redirect_uri": elsewhere})
            submitted = await browser.post(_authorize(pc_sandbox), data={**form, "redirect_uri": elsewhere})
            for answer in (shown, submitted):
                assert answer.status_code == 400, answer.text
                assert "location" not in answer.headers
                assert "AADSTS50011" in answer.text
                assert "does not match the redirect URIs configured for the application" in answer.text
        stranger = await browser.post(
            _authorize(pc_sandbox), data={**form, "client_id": str(uuid.uuid4()), "redirect_uri": registered}
        )
        assert stranger.status_code == 400
        assert "AADSTS700016" in stranger.text
        assert await db.fetchval("SELECT count(*) FROM pcs_auth_codes") == 0  # no code was issued

        signed_in = await browser.post(_authorize(pc_sandbox), data={**form, "redirect_uri": registered})
    assert signed_in.status_code == 303
    assert signed_in.headers["location"].startswith(f"{registered}?code=")


async def test_address_validation_and_qualifications(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    ok = await client.validate_address(
        {"addressLine1": "1 Microsoft Way", "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US"}
    )
    assert ok.status == "VerifiedShippable"
    assert ok.suggested_addresses[0].postal_code == "98052"
    gb = await client.validate_address(
        {"addressLine1": "10 Downing St", "city": "London", "postalCode": "sw1a2aa", "country": "GB"}
    )
    assert gb.suggested_addresses[0].postal_code == "SW1A 2AA"
    bad = await client.validate_address(
        {"addressLine1": "Hauptstr. 1", "city": "Berlin", "postalCode": "1234", "country": "DE"}
    )
    assert (bad.status, bad.validation_message) == ("None", "Enter a valid postal code for Germany, like 10115.")

    customer = await new_customer(client)
    with clock.use_fixed_clock(clock.real_now()) as fixed:
        added = await client.add_qualification(
            customer.id, {"qualification": "Education", "educationSegment": "HigherEducation"}
        )
        assert (added.qualification, added.vetting_status) == ("Education", "InReview")
        with pytest.raises(BusinessRuleError) as nonprofit:
            await client.add_qualification(customer.id, {"qualification": "Nonprofit"})
        assert nonprofit.value.code == 600050
        with pytest.raises(BusinessRuleError) as gcc:
            await client.add_qualification(
                customer.id, {"qualification": "GovernmentCommunityCloud"}, validation_code="wrong"
            )
        assert gcc.value.code == 600052
        fixed.advance(days=1)
        [education] = await client.qualifications(customer.id)
        assert education.vetting_status == "Approved"


async def test_promotions_and_their_eligibility(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    promotions = await client.promotions("US")
    first_purchase = next(p for p in promotions if p.id == "39NFJQT1RZ4D:0001:39NFJQT1Q7MW")  # Business Standard
    assert first_purchase.required_products
    standard = catalog.offer_by_key("CFQ7TTC0LDPB", "0001")
    customer = await new_customer(client)
    item = {
        "id": 0,
        "catalogItemId": catalog.catalog_item_id(standard),
        "quantity": 5,
        "termDuration": "P1Y",
        "billingCycle": "Annual",
        "promotionId": first_purchase.id,
    }
    [eligible] = await client.promotion_eligibilities(customer.id, [item])
    assert eligible.eligibilities[0].is_eligible is True
    [wrong_term] = await client.promotion_eligibilities(
        customer.id, [{**item, "termDuration": "P1M", "billingCycle": "Monthly"}]
    )
    assert [e.type for e in wrong_term.eligibilities[0].errors] == ["Term"]
    await buy(client, customer.id, line(standard, 1, "P1Y", "annual"))
    [again] = await client.promotion_eligibilities(customer.id, [item])
    assert [e.type for e in again.eligibilities[0].errors] == ["OfferPurchasedPreviously"]
    assert await client.promotions("US", segment="education") == []


async def test_coterm_end_dates_and_a_shortened_first_term_billed_pro_rata(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) as fixed:
        [first] = await buy(client, customer.id, line(BASIC, 2, "P1Y", "annual"))
        assert first.commitment_end.date().isoformat() == "2027-11-22"
        fixed.advance(days=17)  # 2026-12-10
        dates = await client.custom_term_end_dates(customer.id, "P1Y")
        assert [
            (
                d.allowed_custom_term_end_date_type,
                d.allowed_custom_term_end_date.date().isoformat(),
                d.coterm_subscription_ids,
            )
            for d in dates
        ] == [
            ("calendarMonthAligned", "2027-11-30", []),
            ("subscriptionAligned", "2027-11-22", [first.id]),
        ]
        standard = catalog.offer_by_key("CFQ7TTC0LDPB", "0001")
        cart = await client.create_cart(
            customer.id, {"lineItems": [{**line(standard, 1, "P1Y", "annual"), "customTermEndDate": "2027-11-21"}]}
        )
        assert cart.line_items[0].error.error_code == 10017
        [coterm] = await buy(
            client, customer.id, {**line(standard, 1, "P1Y", "annual"), "customTermEndDate": "2027-11-22"}
        )
    assert coterm.commitment_end.date().isoformat() == "2027-11-22"
    price = await db.fetchval("SELECT unit_price FROM pcs_subscriptions WHERE id = $1", uuid.UUID(coterm.id))
    [charge] = [li async for li in client.unbilled_line_items("USD") if li.subscription_id == coterm.id]
    # 348 of 365 days: 2026-12-10 to 2027-11-22, the first term shortened to end with the other subscription
    assert charge.subtotal == (price * 348 / 365).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


async def test_promotions_discount_the_purchase_and_are_re_evaluated_at_renewal(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    standard = catalog.offer_by_key("CFQ7TTC0LDPB", "0001")
    visio = catalog.offer_by_key("CFQ7TTC0HD33", "0003")
    first_purchase = "39NFJQT1RZ4D:0001:39NFJQT1Q7MW"  # 10% off, named on the line, first purchase only
    with clock.use_fixed_clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) as fixed:
        refused = await client.create_cart(
            customer.id, {"lineItems": [{**line(standard, 5, "P1M", "monthly"), "promotionId": first_purchase}]}
        )
        assert refused.line_items[0].error.error_code == 10014  # the promotion has no one-month term
        cart = await client.create_cart(
            customer.id,
            {
                "lineItems": [
                    {**line(standard, 5, "P1Y", "annual"), "promotionId": first_purchase},
                    line(visio, 2, "P1Y", "annual"),  # Visio Plan 1's 5% applies by itself
                ]
            },
        )
        assert [li.promotion_id for li in cart.line_items] == [first_purchase, "39NFJQT1PJQB:0001:39NFJQT1Q5KN"]
        result = await client.checkout(customer.id, cart.id)
        order_lines = result.orders[0].line_items
        for order_line, percent in zip(order_lines, ("0.10", "0.05"), strict=True):
            expected = (order_line.pricing.list_price * (1 - Decimal(percent))).quantize(Decimal("0.0001"))
            assert order_line.pricing.price == expected < order_line.pricing.list_price
        subs = {s.id: s for s in await client.list_subscriptions(customer.id)}
        charges = {li.subscription_id: li async for li in client.unbilled_line_items("USD")}
        for order_line in order_lines:
            assert subs[order_line.subscription_id].promotion_id == order_line.promotion_id
            charge = charges[order_line.subscription_id]
            assert charge.promotion_id == order_line.promotion_id
            assert charge.subtotal == order_line.pricing.price * order_line.quantity
        # at renewal the first-purchase promotion no longer applies; the automatic one still does
        standard_id = next(li.subscription_id for li in order_lines if li.promotion_id == first_purchase)
        fixed.advance(days=366)
        await service.run_scheduler(fixed.current)
        renewed = {s.id: s for s in await client.list_subscriptions(customer.id)}
    assert renewed[standard_id].promotion_id is None
    visio_id = next(li.subscription_id for li in order_lines if li.promotion_id != first_purchase)
    assert renewed[visio_id].promotion_id == "39NFJQT1PJQB:0001:39NFJQT1Q5KN"
    renew = [li async for li in client.unbilled_line_items("USD") if li.charge_type == "renew"]
    full = next(li for li in renew if li.subscription_id == standard_id)
    assert full.unit_price == full.effective_unit_price
    assert full.promotion_id in (None, "")


async def test_orders_provision_asynchronously_and_subscriptions_wait_for_it(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    await pc_sandbox.set_faults(provisioning_ms=5000)
    with clock.use_fixed_clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) as fixed:
        cart = await client.create_cart(customer.id, {"lineItems": [line(BASIC, 3)]})
        [order] = (await client.checkout(customer.id, cart.id)).orders
        assert order.status == "pending"
        assert order.line_items[0].subscription_id is None
        [status] = await client.order_provisioning_status(customer.id, order.id)
        assert status.status == "pending"
        [pending] = await client.list_subscriptions(customer.id, order_id=order.id)
        assert pending.status == "pending"
        with pytest.raises(BusinessRuleError) as busy:
            await client.update_subscription(customer.id, pending, quantity=4)
        assert (busy.value.status, busy.value.code) == (409, 900278)
        fixed.advance(seconds=5)
        done = await client.get_order(customer.id, order.id)
        [status] = await client.order_provisioning_status(customer.id, order.id)
    assert done.status == "completed"
    assert status.status == "fulfilled"
    sub = await client.get_subscription(customer.id, done.line_items[0].subscription_id)
    assert (sub.id, sub.status, sub.quantity) == (pending.id, "active", 3)
