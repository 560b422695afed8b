"""The real client against the sandbox: customer users, licences, subscribed SKUs, the domain check and GDAP
(Microsoft Graph's delegatedAdminRelationships) with the customer's approval page."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import httpx
import pytest

from app import clock, db
from app.partner_center.client import PartnerCenterClient, gdap_approval_link
from app.partner_center.errors import AuthenticationError, BusinessRuleError, NotFoundError, PartnerCenterError
from app.partner_center.sandbox import catalog, directory
from tests.integration.sandbox_fixtures import Sandbox, buy, customer_body, line, new_customer

pytestmark = pytest.mark.integration

BASIC = catalog.offer_by_key("CFQ7TTC0LH18", "0001")  # Microsoft 365 Business Basic
POWER_BI = catalog.offer_by_key("CFQ7TTC0L3PB", "0001")  # Power BI Pro
POWER_BI_TRIAL = catalog.offer_by_key("CFQ7TTC0L3PB", "0007")  # shares Power BI Pro's Entra SKU
EXCHANGE_P1 = catalog.offer_by_key("CFQ7TTC0LH16", "0001")
O365_E1 = catalog.offer_by_key("CFQ7TTC0LF8Q", "0001")
VISIO_P1 = catalog.offer_by_key("CFQ7TTC0HD33", "0003")
M365_E5 = catalog.offer_by_key("CFQ7TTC0LFLZ", "0002")
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
LICENSE_ADMINISTRATOR = "4d6ac14f-3453-41d0-bef9-a3e0c569773a"
TAILSPIN, WINGTIP = directory.EXISTING_TENANTS[0], directory.EXISTING_TENANTS[1]


@pytest.fixture
async def client(pc_sandbox: Sandbox) -> PartnerCenterClient:
    """Users and licences take app+user tokens only (facts 8)."""
    return pc_sandbox.client(await pc_sandbox.user_tokens())


def user_body(domain: str, name: str = "ada", usage_location: str | None = "US") -> dict:
    body = {
        "userPrincipalName": f"{name}@{domain}",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "displayName": f"Ada {name}",
        "passwordProfile": {"password": "Sandbox-Pa55word!", "forceChangePassword": True},
    }
    return {**body, "usageLocation": usage_location} if usage_location else body


async def refused(call) -> PartnerCenterError:
    with pytest.raises(PartnerCenterError) as caught:
        await call
    return caught.value


async def skus_by_id(client: PartnerCenterClient, customer_id: str) -> dict:
    return {s.product_sku.id: s for s in await client.subscribed_skus(customer_id)}


async def licence_update(client: PartnerCenterClient, customer_id: str, user_id: str, body: dict) -> httpx.Response:
    return await client.request("POST", f"/v1/customers/{customer_id}/users/{user_id}/licenseupdates", json=body)


# --- Access: app+user tokens, GDAP --------------------------------------------------------------------------


async def test_directory_calls_need_app_user_tokens(pc_sandbox: Sandbox):
    app_only = pc_sandbox.app_only_client()
    customer = await new_customer(app_only)
    error = await refused(app_only.subscribed_skus(customer.id))
    assert isinstance(error, AuthenticationError)
    assert (error.status, error.code) == (403, 900329)


async def test_every_directory_call_without_gdap_is_403_900308(client: PartnerCenterClient):
    customer = await new_customer(client)
    user = await client.create_user(customer.id, user_body(customer.company_profile.domain))
    await db.execute("UPDATE pcs_customers SET gdap = false WHERE id = $1", uuid.UUID(customer.id))
    base = f"/v1/customers/{customer.id}"
    calls = [
        ("POST", f"{base}/users", user_body(customer.company_profile.domain, "grace")),
        ("GET", f"{base}/users", None),
        ("GET", f"{base}/users/{user.id}", None),
        ("PATCH", f"{base}/users/{user.id}", {"displayName": "Ada"}),
        ("DELETE", f"{base}/users/{user.id}", None),
        ("GET", f"{base}/subscribedskus", None),
        ("POST", f"{base}/users/{user.id}/licenseupdates", {"licensesToAssign": [], "licensesToRemove": []}),
        ("GET", f"{base}/users/{user.id}/licenses", None),
    ]
    for method, path, body in calls:
        error = await refused(client.request(method, path, json=body))
        assert (error.status, error.code) == (403, 900308), (method, path)
    assert (await client.get_customer(customer.id)).id == customer.id  # the customer itself stays reachable


# --- Users (facts 8.1) -----------------------------------------------------------------------------------------


async def test_create_get_update_a_user_and_the_upn_rules(client: PartnerCenterClient):
    customer = await new_customer(client)
    domain = customer.company_profile.domain
    created = await client.request("POST", f"/v1/customers/{customer.id}/users", json=user_body(domain))
    assert created.status_code == 200  # Microsoft's published answer
    body = created.json()
    assert body["attributes"] == {"objectType": "CustomerUser"}
    assert body["passwordProfile"]["password"] == "Sandbox-Pa55word!"  # echoed once, at creation
    user = await client.get_user(customer.id, body["id"])
    assert (user.user_principal_name, user.display_name, user.usage_location, user.state) == (
        f"ada@{domain}",
        "Ada ada",
        "US",
        "active",
    )
    assert user.password_profile is None

    updated = await client.update_user(customer.id, user.id, {"displayName": "Ada Lovelace", "usageLocation": "gb"})
    assert (updated.display_name, updated.usage_location, updated.first_name) == ("Ada Lovelace", "GB", "Ada")
    assert (await client.get_user(customer.id, user.id)).display_name == "Ada Lovelace"

    elsewhere = await refused(client.create_user(customer.id, user_body("fabrikam.onmicrosoft.com", "bob")))
    assert (elsewhere.status, elsewhere.code) == (400, 3000)
    assert domain in elsewhere.description
    taken = await refused(client.create_user(customer.id, {**user_body(domain), "userPrincipalName": f"ADA@{domain}"}))
    assert (taken.status, taken.code) == (400, 60014)
    assert "userPrincipalName already exists" in taken.description
    nameless = await refused(client.create_user(customer.id, {**user_body(domain, "cy"), "displayName": ""}))
    assert (nameless.code, nameless.description) == (3000, "The field displayName is required.")
    bad_country = await refused(client.update_user(customer.id, user.id, {"usageLocation": "USA"}))
    assert bad_country.code == 3000
    missing = await refused(client.get_user(customer.id, str(uuid.uuid4())))
    assert isinstance(missing, NotFoundError)
    assert missing.code == 60002
    other = await new_customer(client)
    assert (await refused(client.get_user(other.id, user.id))).code == 60002  # another tenant's user


async def test_users_page_with_a_continuation_token(client: PartnerCenterClient):
    customer = await new_customer(client)
    created = [
        await client.create_user(customer.id, user_body(customer.company_profile.domain, f"user{n}")) for n in range(5)
    ]
    listed = [u async for u in client.list_users(customer.id, size=2)]
    assert sorted(u.id for u in listed) == sorted(u.id for u in created)
    assert [u.id for u in listed] == sorted(u.id for u in listed)  # pages continue where the last one ended

    first = (await client.request("GET", f"/v1/customers/{customer.id}/users", params={"size": 2})).json()
    assert (first["totalCount"], first["attributes"]) == (2, {"objectType": "Collection"})
    token = first["continuationToken"]
    assert first["links"]["next"]["headers"] == [{"key": "MS-ContinuationToken", "value": token}]
    pages = [first]
    while token:
        page = (
            await client.request(
                "GET",
                f"/v1/customers/{customer.id}/users",
                params={"size": 2, "seekOperation": "Next"},
                headers={"MS-ContinuationToken": token},
            )
        ).json()
        pages.append(page)
        token = page.get("continuationToken")
    assert [p["totalCount"] for p in pages] == [2, 2, 1]


async def test_deleting_a_user_is_a_soft_delete_that_frees_its_licences(client: PartnerCenterClient):
    customer = await new_customer(client)
    domain = customer.company_profile.domain
    await buy(client, customer.id, line(BASIC, 1))
    user = await client.create_user(customer.id, user_body(domain))
    await client.update_licenses(customer.id, user.id, assign=[BASIC.provisioning_id])
    assert (await skus_by_id(client, customer.id))[BASIC.provisioning_id].consumed_units == 1

    deleted = await client.request("DELETE", f"/v1/customers/{customer.id}/users/{user.id}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await refused(client.get_user(customer.id, user.id))).code == 60002
    assert [u async for u in client.list_users(customer.id)] == []
    [gone] = [u async for u in client.list_users(customer.id, deleted=True)]
    assert (gone.id, gone.state) == (user.id, "inactive")
    assert gone.soft_deletion_time is not None
    basic = (await skus_by_id(client, customer.id))[BASIC.provisioning_id]
    assert (basic.consumed_units, basic.available_units) == (0, 1)
    assert (await refused(client.delete_user(customer.id, user.id))).code == 60002
    # Entra keeps a deleted user's name: it cannot be taken again
    assert (await refused(client.create_user(customer.id, user_body(domain)))).code == 60014


# --- Subscribed SKUs (facts 8.2) -----------------------------------------------------------------------------------


async def test_subscribed_skus_count_units_by_subscription_status(client: PartnerCenterClient):
    customer = await new_customer(client)
    await buy(client, customer.id, line(POWER_BI, 3))
    await buy(client, customer.id, line(POWER_BI_TRIAL, 2, "P1M", "none"))
    basic, exchange, legacy, cancelled = await buy(
        client, customer.id, line(BASIC, 2), line(EXCHANGE_P1, 4), line(O365_E1, 6), line(VISIO_P1, 1)
    )
    await client.update_subscription(customer.id, basic, status="suspended")
    await client.update_subscription(customer.id, cancelled, status="deleted")
    await db.execute("UPDATE pcs_subscriptions SET status = 'expired' WHERE id = $1", uuid.UUID(exchange.id))
    await db.execute("UPDATE pcs_subscriptions SET is_legacy = true WHERE id = $1", uuid.UUID(legacy.id))

    raw = (await client.request("GET", f"/v1/customers/{customer.id}/subscribedskus")).json()
    assert raw["attributes"] == {"objectType": "Collection"}
    assert {i["attributes"]["objectType"] for i in raw["items"]} == {"SubscribedSku"}
    skus = await skus_by_id(client, customer.id)
    assert set(skus) == {POWER_BI.provisioning_id, BASIC.provisioning_id, EXCHANGE_P1.provisioning_id}
    power_bi = skus[POWER_BI.provisioning_id]  # the paid SKU and its trial are one Entra SKU
    assert (power_bi.active_units, power_bi.total_units, power_bi.available_units) == (5, 5, 5)
    assert (power_bi.capability_status, power_bi.product_sku.sku_part_number) == ("Enabled", "POWER_BI_PRO")
    assert (power_bi.product_sku.name, power_bi.product_sku.target_type) == ("Power BI Pro", "User")
    suspended = skus[BASIC.provisioning_id]
    assert (suspended.active_units, suspended.suspended_units, suspended.total_units) == (0, 2, 2)
    assert (suspended.available_units, suspended.capability_status) == (0, "Suspended")
    grace = skus[EXCHANGE_P1.provisioning_id]  # expired: users keep access in the grace period
    assert (grace.warning_units, grace.total_units, grace.available_units, grace.capability_status) == (
        4,
        4,
        0,
        "Warning",
    )


# --- Licences (facts 8.2) --------------------------------------------------------------------------------------------


async def test_assign_and_remove_licences(client: PartnerCenterClient):
    customer = await new_customer(client)
    domain = customer.company_profile.domain
    await buy(client, customer.id, line(POWER_BI, 2))
    ada = await client.create_user(customer.id, user_body(domain))
    body = {"licensesToAssign": [{"skuId": POWER_BI.provisioning_id, "excludedPlans": None}], "licensesToRemove": []}
    assigned = await licence_update(client, customer.id, ada.id, body)
    assert assigned.status_code == 201
    assert assigned.json()["licenseWarnings"] == []
    assert assigned.json()["licensesToAssign"][0]["skuId"] == POWER_BI.provisioning_id
    assert assigned.json()["attributes"] == {"objectType": "LicenseUpdate"}
    [licence] = await client.user_licenses(customer.id, ada.id)
    assert (licence.product_sku.id, licence.attributes.object_type) == (POWER_BI.provisioning_id, "License")
    power_bi = (await skus_by_id(client, customer.id))[POWER_BI.provisioning_id]
    assert (power_bi.consumed_units, power_bi.available_units) == (1, 1)

    # assigning it again changes nothing (a retry after a lost answer must not take a second seat)
    await client.update_licenses(customer.id, ada.id, assign=[POWER_BI.provisioning_id])
    assert (await skus_by_id(client, customer.id))[POWER_BI.provisioning_id].consumed_units == 1
    assert len(await client.user_licenses(customer.id, ada.id)) == 1

    not_owned = await refused(client.update_licenses(customer.id, ada.id, assign=[M365_E5.provisioning_id]))
    assert (not_owned.status, not_owned.code) == (400, 60013)
    assert (await refused(client.update_licenses(customer.id, ada.id, assign=["not-a-sku"]))).code == 60013

    nowhere = await client.create_user(customer.id, user_body(domain, "grace", usage_location=None))
    no_location = await refused(client.update_licenses(customer.id, nowhere.id, assign=[POWER_BI.provisioning_id]))
    assert (no_location.status, no_location.code) == (400, 60015)
    await client.update_user(customer.id, nowhere.id, {"usageLocation": "US"})
    await client.update_licenses(customer.id, nowhere.id, assign=[POWER_BI.provisioning_id])

    await client.update_licenses(customer.id, ada.id, remove=[POWER_BI.provisioning_id])
    assert await client.user_licenses(customer.id, ada.id) == []
    power_bi = (await skus_by_id(client, customer.id))[POWER_BI.provisioning_id]
    assert (power_bi.consumed_units, power_bi.available_units) == (1, 1)
    missing = await refused(client.user_licenses(customer.id, str(uuid.uuid4())))
    assert missing.code == 60002


async def test_no_seat_left_is_60012_and_changes_nothing(client: PartnerCenterClient):
    customer = await new_customer(client)
    domain = customer.company_profile.domain
    await buy(client, customer.id, line(BASIC, 1), line(POWER_BI, 1))
    ada = await client.create_user(customer.id, user_body(domain))
    grace = await client.create_user(customer.id, user_body(domain, "grace"))
    await client.update_licenses(customer.id, ada.id, assign=[BASIC.provisioning_id])
    await client.update_licenses(customer.id, grace.id, assign=[POWER_BI.provisioning_id])

    # the Power BI licence would be removed, but the whole update is refused, so Grace keeps it
    error = await refused(
        client.update_licenses(customer.id, grace.id, assign=[BASIC.provisioning_id], remove=[POWER_BI.provisioning_id])
    )
    assert (error.status, error.code) == (400, 60012)
    assert "run out of licenses" in error.description
    assert error.data[0].startswith("LicenseQuotaExceededException")
    assert BASIC.provisioning_id in error.data[0]
    assert [lic.product_sku.id for lic in await client.user_licenses(customer.id, grace.id)] == [
        POWER_BI.provisioning_id
    ]


async def test_two_parallel_assignments_for_the_last_seat_only_one_wins(client: PartnerCenterClient):
    customer = await new_customer(client)
    domain = customer.company_profile.domain
    await buy(client, customer.id, line(BASIC, 1))
    users = [await client.create_user(customer.id, user_body(domain, f"user{n}")) for n in range(2)]
    # Hold both users' rows, so each assignment, having counted the seats in use, waits to write its licence
    # (the row's foreign key check): both are in flight together. Without the tenant lock both count 0 and both
    # assign; with it the second waits for the first to commit and counts 1.
    async with db.transaction():
        await db.execute("SELECT 1 FROM pcs_users WHERE id = ANY($1::uuid[]) FOR UPDATE", [u.id for u in users])
        calls = [
            asyncio.ensure_future(client.update_licenses(customer.id, u.id, assign=[BASIC.provisioning_id]))
            for u in users
        ]
        for _ in range(500):
            await db.execute("SELECT pg_stat_clear_snapshot()")  # a transaction sees pg_stat_activity frozen
            waiting = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if waiting == 2:
                break
            await asyncio.sleep(0.01)
        assert waiting == 2
    results = await asyncio.gather(*calls, return_exceptions=True)
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1, results
    assert isinstance(errors[0], BusinessRuleError)
    assert errors[0].code == 60012
    basic = (await skus_by_id(client, customer.id))[BASIC.provisioning_id]
    assert (basic.consumed_units, basic.available_units) == (1, 0)


# --- Existing tenants, the domain check and GDAP (facts 3.1, 3.5) ----------------------------------------------------


async def test_existing_tenants_are_hidden_until_linked_and_their_domains_are_taken(client: PartnerCenterClient):
    ours = await new_customer(client)
    listed = [c.id async for c in client.list_customers()]
    assert ours.id in listed
    assert not {str(t.id) for t in directory.EXISTING_TENANTS} & set(listed)
    assert isinstance(await refused(client.get_customer(str(TAILSPIN.id))), NotFoundError)
    assert isinstance(await refused(client.create_cart(str(TAILSPIN.id), {"lineItems": [line(BASIC)]})), NotFoundError)
    taken = await refused(client.create_customer(customer_body(TAILSPIN.domain)))
    assert (taken.status, taken.code) == (400, 1019)

    assert await client.domain_exists(TAILSPIN.domain)
    assert await client.domain_exists("tailspintoys")  # read like create-customer reads it
    assert await client.domain_exists(ours.company_profile.domain)
    assert not await client.domain_exists(f"free{uuid.uuid4().hex[:8]}.onmicrosoft.com")
    for method in ("GET", "HEAD"):
        response = await client.http.request(
            method,
            f"{client.base_url}/v1/domains/{TAILSPIN.domain}",
            headers={"Authorization": f"Bearer {await client.tokens.access_token()}"},
        )
        assert (response.status_code, response.content) == (200, b"")


def relationship_body(tenant_id: str, duration: str = "P730D") -> dict:
    return {
        "displayName": f"Cloudseat {uuid.uuid4().hex[:8]}",
        "duration": duration,
        "customer": {"tenantId": tenant_id},
        "accessDetails": {
            "unifiedRoles": [{"roleDefinitionId": USER_ADMINISTRATOR}, {"roleDefinitionId": LICENSE_ADMINISTRATOR}]
        },
    }


async def approve(pc_sandbox: Sandbox, relationship_id: str, admin: str) -> httpx.Response:
    async with httpx.AsyncClient(verify=pc_sandbox.tls) as browser:
        return await browser.post(gdap_approval_link(relationship_id, pc_sandbox.url), data={"user_name": admin})


async def test_gdap_links_an_existing_tenant_through_its_admins_approval(
    pc_sandbox: Sandbox, client: PartnerCenterClient
):
    relationship = await client.create_gdap_relationship(relationship_body(str(TAILSPIN.id)))
    assert (relationship.status, relationship.duration) == ("created", "P730D")
    assert (relationship.customer.tenant_id, relationship.customer.display_name) == (str(TAILSPIN.id), "Tailspin Toys")
    assert [r.role_definition_id for r in relationship.access_details.unified_roles] == [
        USER_ADMINISTRATOR,
        LICENSE_ADMINISTRATOR,
    ]
    assert relationship.activated_date_time is None
    request = await client.request_gdap_approval(relationship.id)
    assert (request.action, request.status) == ("lockForApproval", "succeeded")
    assert (await client.get_gdap_relationship(relationship.id)).status == "approvalPending"

    link = gdap_approval_link(relationship.id, pc_sandbox.url)
    async with httpx.AsyncClient(verify=pc_sandbox.tls) as browser:
        page = await browser.get(link)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert relationship.display_name in page.text
    assert 'name="user_name"' in page.text
    assert "admin@tailspintoys.onmicrosoft.com" in page.text

    stranger = await approve(pc_sandbox, relationship.id, "admin@contoso.onmicrosoft.com")
    assert stranger.status_code == 403  # only the tenant's own admin can approve
    assert (await client.get_gdap_relationship(relationship.id)).status == "approvalPending"
    assert isinstance(await refused(client.get_customer(str(TAILSPIN.id))), NotFoundError)

    approved = await approve(pc_sandbox, relationship.id, "admin@tailspintoys.onmicrosoft.com")
    assert approved.status_code == 303
    assert urljoin(link, approved.headers["location"]) == link  # back to the page
    active = await client.get_gdap_relationship(relationship.id)
    assert active.status == "active"
    assert active.end_date_time - active.activated_date_time == timedelta(days=730)
    async with httpx.AsyncClient(verify=pc_sandbox.tls) as browser:
        page = await browser.get(link)
    assert ">active<" in page.text
    assert 'name="user_name"' not in page.text

    # now our customer: listed, reachable, and its directory is open
    customer = await client.get_customer(str(TAILSPIN.id))
    assert (customer.relationship_to_partner, customer.allow_delegated_access) == ("reseller", True)
    assert str(TAILSPIN.id) in [c.id async for c in client.list_customers()]
    user = await client.create_user(customer.id, user_body(TAILSPIN.domain))
    assert [u.id async for u in client.list_users(customer.id)] == [user.id]
    assert [r.id for r in await client.list_gdap_relationships()] == [relationship.id]

    ended = await client.terminate_gdap_relationship(relationship.id)
    assert (ended.action, ended.status) == ("terminate", "succeeded")
    assert (await client.get_gdap_relationship(relationship.id)).status == "terminated"
    assert (await refused(client.get_user(customer.id, user.id))).code == 900308
    assert (await client.get_customer(customer.id)).allow_delegated_access is False
    again = await refused(client.request_gdap_approval(relationship.id))
    assert (again.status, again.code) == (400, "badRequest")  # Graph's error shape, read by the client


async def test_gdap_relationship_validation(pc_sandbox: Sandbox, client: PartnerCenterClient):
    too_long = await refused(client.create_gdap_relationship(relationship_body(str(WINGTIP.id), "P731D")))
    assert (too_long.status, too_long.code) == (400, "badRequest")
    assert "P730D" in too_long.description
    unknown = await refused(client.create_gdap_relationship(relationship_body(str(uuid.uuid4()))))
    assert (unknown.status, unknown.code) == (400, "badRequest")
    no_roles = {**relationship_body(str(WINGTIP.id)), "accessDetails": {"unifiedRoles": []}}
    assert (await refused(client.create_gdap_relationship(no_roles))).code == "badRequest"
    missing = await refused(client.get_gdap_relationship("no-such-relationship"))
    assert isinstance(missing, NotFoundError)
    assert missing.code == "notFound"

    relationship = await client.create_gdap_relationship(relationship_body(str(WINGTIP.id)))
    not_locked = await approve(pc_sandbox, relationship.id, f"admin@{WINGTIP.domain}")
    assert not_locked.status_code == 400  # the customer approves only what the partner locked for approval
    assert (await client.get_gdap_relationship(relationship.id)).status == "created"
    approve_itself = await refused(
        client.send_json(
            "POST",
            f"/v1.0/tenantRelationships/delegatedAdminRelationships/{relationship.id}/requests",
            {"action": "approve"},
        )
    )
    assert approve_itself.code == "badRequest"  # approving is the customer's, not the partner's


async def test_gdap_expires_at_its_end_and_closes_the_directory(pc_sandbox: Sandbox, client: PartnerCenterClient):
    with clock.use_fixed_clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) as fixed:
        relationship = await client.create_gdap_relationship(relationship_body(str(WINGTIP.id), "P30D"))
        await client.request_gdap_approval(relationship.id)
        assert (await approve(pc_sandbox, relationship.id, f"admin@{WINGTIP.domain}")).status_code == 303
        user = await client.create_user(str(WINGTIP.id), user_body(WINGTIP.domain))
        fixed.advance(days=29, hours=23)
        assert (await client.get_user(str(WINGTIP.id), user.id)).id == user.id
        fixed.advance(hours=1)
        assert (await refused(client.get_user(str(WINGTIP.id), user.id))).code == 900308
        assert (await client.get_gdap_relationship(relationship.id)).status == "expired"
        customer = await client.get_customer(str(WINGTIP.id))  # still our customer, without delegated access
        assert (customer.relationship_to_partner, customer.allow_delegated_access) == ("reseller", False)
