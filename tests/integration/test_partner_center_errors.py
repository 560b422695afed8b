"""Every business error the sandbox answers, through the real client: Microsoft's code, nothing changed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app import clock
from app.partner_center.errors import BusinessRuleError, NotFoundError
from app.partner_center.sandbox import catalog
from tests.integration.sandbox_fixtures import Sandbox, buy, line, new_customer

pytestmark = pytest.mark.integration

BASIC = catalog.offer_by_key("CFQ7TTC0LH18", "0001")
COPILOT = catalog.offer_by_key("CFQ7TTC0MM8R", "0002")  # add-on: needs a base suite
ACCOUNTANT = catalog.offer_by_key("CFQ7TTC0LH33", "0001")  # at most 3 per subscription and per tenant
W365_HYBRID = catalog.offer_by_key("CFQ7TTC0J203", "0002")  # Windows Hybrid Benefit: needs the attestation
OFFICE_LTSC = catalog.offer_by_key("DG7GMGF0PN5D", "0002")  # perpetual
PREMIUM_TRIAL = catalog.offer_by_key("CFQ7TTC0LCHC", "0007")


async def test_cart_line_errors_carry_microsofts_codes(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    lines = [
        ({**line(BASIC), "catalogItemId": "CFQ7TTC0LH18:0001:NOTREAL"}, 10001),
        (line(BASIC, 1, "P3Y", "triennial"), 10013),  # Business Basic has no three-year term
        (line(BASIC, 301), 2002),  # outside the SKU's 1-300
        (line(COPILOT, 1), 10006),  # no base subscription yet
        (line(W365_HYBRID, 1), 10012),  # the hybrid benefit attestation not accepted
        ({**line(OFFICE_LTSC, 1, None, "one_time"), "customTermEndDate": "2027-11-30"}, 10016),
        ({**line(PREMIUM_TRIAL, 1, "P1M", "none"), "customTermEndDate": "2026-12-31"}, 10016),
        ({**line(BASIC), "promotionId": "NOTAPROMO"}, 10014),
    ]
    cart = await client.create_cart(customer.id, {"lineItems": [body for body, _ in lines]})
    assert [li.error.error_code if li.error else None for li in cart.line_items] == [code for _, code in lines]
    # the pooled per-tenant maximum counts every line of the cart: 2 + 2 seats of a SKU capped at 3
    pooled = await client.create_cart(customer.id, {"lineItems": [line(ACCOUNTANT, 2), line(ACCOUNTANT, 2)]})
    assert [li.error.error_code if li.error else None for li in pooled.line_items] == [None, 10015]
    assert pooled.line_items[1].error.additional_information == {"availableQuantity": 1}
    # checkout orders the lines that pass and lists the others as orderErrors
    result = await client.checkout(customer.id, pooled.id)
    assert [e.code for e in result.order_errors] == [10015]
    assert [li.quantity for o in result.orders for li in o.line_items] == [2]
    attested = await client.create_cart(
        customer.id, {"lineItems": [{**line(W365_HYBRID), "attestationAccepted": True}]}
    )
    assert attested.line_items[0].error is None


async def test_cart_request_errors(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with pytest.raises(BusinessRuleError) as empty:
        await client.create_cart(customer.id, {"lineItems": []})
    assert (empty.value.status, empty.value.code) == (400, 10010)
    with pytest.raises(NotFoundError) as missing:
        await client.checkout(customer.id, str(uuid.uuid4()))
    assert missing.value.code == 800002
    with clock.use_fixed_clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) as fixed:
        cart = await client.create_cart(customer.id, {"lineItems": [line(BASIC)]})
        fixed.advance(days=7, seconds=1)  # carts expire after 7 days (facts 6.1)
        with pytest.raises(BusinessRuleError) as expired:
            await client.checkout(customer.id, cart.id)
    assert expired.value.code == 800003
    with pytest.raises(NotFoundError) as no_order:
        await client.get_order(customer.id, "NOSUCHORDER")
    assert no_order.value.code == 20000
    with pytest.raises(NotFoundError) as no_subscription:
        await client.get_subscription(customer.id, str(uuid.uuid4()))
    assert no_subscription.value.code == 800002


async def test_subscription_update_errors(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    [sub] = await buy(client, customer.id, line(BASIC, 2))
    [accountant] = await buy(client, customer.id, line(ACCOUNTANT, 3))
    [trial] = await buy(client, customer.id, line(PREMIUM_TRIAL, 5, "P1M", "none"))

    async def refused(subscription, **changes) -> int:
        with pytest.raises(BusinessRuleError) as error:
            await client.update_subscription(customer.id, subscription, **changes)
        return error.value.code

    assert await refused(sub, quantity=301) == 2002
    assert await refused(accountant, quantity=4) == 2002  # over the SKU's maximum of 3
    assert await refused(trial, autoRenewEnabled=True) == 800093  # trials never auto-renew
    assert await refused(sub, status="expired") == 800095
    assert await refused(sub, autoRenewEnabled=False, scheduledNextTermInstructions={"quantity": 1}) == 800096
    assert await refused(sub, status="suspended", quantity=3) == 2001
    suspended = await client.update_subscription(customer.id, sub, status="suspended")
    assert await refused(suspended, quantity=3) == 800091
    assert await refused(suspended, autoRenewEnabled=False) == 800091
    reactivated = await client.update_subscription(customer.id, suspended, status="active")
    assert (reactivated.status, reactivated.quantity, reactivated.auto_renew_enabled) == ("active", 2, True)

    with clock.use_fixed_clock(clock.now() + timedelta(days=40)) as later:
        from app.partner_center.sandbox import service

        await service.run_scheduler(later.current)
        [expired] = [s for s in await client.list_subscriptions(customer.id) if s.id == trial.id]
        assert expired.status == "expired"
        assert await refused(expired, quantity=6) == 800092
