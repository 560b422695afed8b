"""Upgrades and trial conversions: the real client against the sandbox's transitions API (facts 6.5, 7.6)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app import clock, db
from app.partner_center.errors import BusinessRuleError
from app.partner_center.sandbox import catalog, rules
from tests.integration.sandbox_fixtures import Sandbox, buy, line, new_customer

pytestmark = pytest.mark.integration

BASIC = catalog.offer_by_key("CFQ7TTC0LH18", "0001")
STANDARD = catalog.offer_by_key("CFQ7TTC0LDPB", "0001")
PREMIUM = catalog.offer_by_key("CFQ7TTC0LCHC", "0002")
PREMIUM_TRIAL = catalog.offer_by_key("CFQ7TTC0LCHC", "0007")
E5 = catalog.offer_by_key("CFQ7TTC0LFLZ", "0002")
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def charges(client, subscription_id: str) -> list[tuple[str, int, Decimal]]:
    return [
        (li.charge_type, li.quantity, li.subtotal)
        async for li in client.unbilled_line_items("USD")
        if li.subscription_id == subscription_id
    ]


async def test_eligibilities_list_the_upgrade_targets_and_why_not(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    [source] = await buy(client, customer.id, line(BASIC, 10, "P1Y", "monthly"))
    [monthly_std] = await buy(client, customer.id, line(STANDARD, 1, "P1M", "monthly"))
    [yearly_std] = await buy(client, customer.id, line(STANDARD, 1, "P1Y", "monthly"))
    items = await client.transition_eligibilities(customer.id, source.id)
    assert [i.catalog_item_id for i in items] == [
        catalog.catalog_item_id(catalog.offer_by_key(*key.split(":"))) for key in BASIC.upgrade_targets
    ]
    standard = next(i for i in items if i.catalog_item_id == catalog.catalog_item_id(STANDARD))
    assert standard.quantity == 10
    assert {(e.transition_type, e.is_eligible) for e in standard.eligibilities} == {
        ("transition_only", True),
        ("transition_with_license_transfer", True),
    }
    receiving = {
        s.subscription_id: (s.is_eligible, [e.code for e in s.errors]) for s in standard.subscription_eligibilities
    }
    assert receiving == {monthly_std.id: (False, [3]), yearly_std.id: (True, [])}

    await db.execute("UPDATE pcs_customers SET gdap = false WHERE id = $1", uuid.UUID(customer.id))
    standard = next(
        i
        for i in await client.transition_eligibilities(customer.id, source.id)
        if i.catalog_item_id == catalog.catalog_item_id(STANDARD)
    )
    transfer = next(e for e in standard.eligibilities if e.transition_type == "transition_with_license_transfer")
    assert (transfer.is_eligible, [e.code for e in transfer.errors]) == (False, [13])

    await client.update_subscription(customer.id, source, status="suspended")
    suspended = await client.transition_eligibilities(customer.id, source.id, "scheduled")
    assert all(not e.is_eligible and e.errors[0].code == 2 for i in suspended for e in i.eligibilities)
    with pytest.raises(BusinessRuleError) as refused:
        await client.create_transition(
            customer.id, source.id, {"toCatalogItemId": catalog.catalog_item_id(STANDARD), "quantity": 1}
        )
    assert refused.value.code == 2


async def test_partial_then_full_upgrade_moves_seats_keeps_windows_and_bills_convert(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(START) as fixed:
        [source] = await buy(client, customer.id, line(BASIC, 10, "P1Y", "annual"))
        source = await client.update_subscription(
            customer.id,
            source,
            scheduledNextTermInstructions={
                "product": {
                    "productId": BASIC.product_id,
                    "skuId": BASIC.sku_id,
                    "termDuration": "P1Y",
                    "billingCycle": "annual",
                },
                "quantity": 12,
            },
        )
        fixed.advance(days=2)
        moved = await client.create_transition(
            customer.id,
            source.id,
            {
                "fromCatalogItemId": catalog.catalog_item_id(BASIC),
                "toCatalogItemId": catalog.catalog_item_id(STANDARD),
                "quantity": 4,
                "transitionType": "transition_only",
            },
        )
        assert [(e.name, e.status_key) for e in moved.events] == [
            ("Conversion", "started"),
            ("Conversion", "completed"),
        ]
        after = await client.get_subscription(customer.id, source.id)
        target = await client.get_subscription(customer.id, moved.to_subscription_id)
    assert (after.quantity, after.status, after.scheduled_next_term_instructions) == (6, "active", None)
    assert (target.quantity, target.commitment_end_date, target.status) == (4, after.commitment_end_date, "active")
    # the moved seats keep the source's window (bought 2 days ago): cancellable until the source's window closes
    assert target.cancellation_allowed_until_date == after.cancellation_allowed_until_date
    assert target.refundable_quantity.total_quantity == 4
    assert target.promotion_id is None

    basic_year = await db.fetchval("SELECT unit_price FROM pcs_subscriptions WHERE id = $1", uuid.UUID(source.id))
    std_year = await db.fetchval("SELECT unit_price FROM pcs_subscriptions WHERE id = $1", uuid.UUID(target.id))
    # 2026-11-25 to 2027-11-22: 363 of 365 days left, the change day included
    credit = rules.per_seat_charge(basic_year, 363, 365, "USD")
    assert await charges(client, source.id) == [
        ("new", 10, basic_year * 10),
        ("convert", 10, -credit * 10),
        ("convert", 6, credit * 6),
    ]
    assert await charges(client, target.id) == [("convert", 4, rules.per_seat_charge(std_year, 363, 365, "USD") * 4)]

    with clock.use_fixed_clock(START + timedelta(days=3)):
        full = await client.create_transition(
            customer.id,
            source.id,
            {"toCatalogItemId": catalog.catalog_item_id(STANDARD), "toSubscriptionId": target.id, "quantity": 6},
        )
    assert full.to_subscription_id == target.id
    gone = await client.get_subscription(customer.id, source.id)
    grown = await client.get_subscription(customer.id, target.id)
    assert (gone.status, grown.quantity) == ("deleted", 10)
    history = await client.list_transitions(customer.id, source.id)
    assert [(t.quantity, t.to_subscription_id) for t in history] == [(4, target.id), (6, target.id)]
    assert [t.operation_id for t in await client.list_transitions(customer.id, source.id, full.operation_id)] == [
        full.operation_id
    ]


async def test_transitions_are_refused_with_microsofts_codes(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    [source] = await buy(client, customer.id, line(BASIC, 3, "P1Y", "monthly"))
    [other] = await buy(client, customer.id, line(PREMIUM, 1, "P1Y", "monthly"))
    cases = [
        ({"toCatalogItemId": catalog.catalog_item_id(E5), "quantity": 1}, 7),  # not an upgrade path of Basic
        ({"toCatalogItemId": "NOTREAL00000:0001:NOTREAL00000", "quantity": 1}, 8),
        ({"toCatalogItemId": catalog.catalog_item_id(STANDARD), "quantity": 4}, 0),  # more seats than it has
        ({"toCatalogItemId": catalog.catalog_item_id(STANDARD), "toSubscriptionId": other.id, "quantity": 1}, 8),
    ]
    for body, code in cases:
        with pytest.raises(BusinessRuleError) as refused:
            await client.create_transition(customer.id, source.id, body)
        assert refused.value.code == code, body
    assert (await client.get_subscription(customer.id, source.id)).quantity == 3  # nothing changed
    with pytest.raises(BusinessRuleError) as scheduled:
        await client.update_subscription(
            customer.id,
            source,
            scheduledNextTermInstructions={
                "product": {
                    "productId": E5.product_id,
                    "skuId": E5.sku_id,
                    "termDuration": "P1Y",
                    "billingCycle": "monthly",
                },
                "quantity": 3,
            },
        )
    assert scheduled.value.code == 7


async def test_a_trial_is_free_once_per_tenant_and_converts_to_a_paid_term(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(START):
        [trial] = await buy(client, customer.id, line(PREMIUM_TRIAL, 25, "P1M", "none"))
        assert (trial.is_trial, trial.auto_renew_enabled) == (True, False)
        assert await charges(client, trial.id) in ([], [("new", 25, Decimal(0))])
        with pytest.raises(BusinessRuleError) as no_plan:
            await client.create_transition(
                customer.id, trial.id, {"toCatalogItemId": catalog.catalog_item_id(PREMIUM), "quantity": 5}
            )
        assert no_plan.value.code == 10  # a trial's "P1M none" is not a paid plan: the conversion names one
        paid = await client.create_transition(
            customer.id,
            trial.id,
            {
                "toCatalogItemId": catalog.catalog_item_id(PREMIUM),
                "quantity": 5,
                "termDuration": "P1Y",
                "billingCycle": "annual",
            },
        )
        converted = await client.get_subscription(customer.id, paid.to_subscription_id)
        again = await client.create_cart(customer.id, {"lineItems": [line(PREMIUM_TRIAL, 1, "P1M", "none")]})
    assert (await client.get_subscription(customer.id, trial.id)).status == "deleted"
    assert (converted.quantity, converted.is_trial, converted.term_duration) == (5, False, "P1Y")
    assert converted.commitment_end.date().isoformat() == "2027-11-22"  # a full year from the conversion
    assert converted.refundable_quantity.total_quantity == 5  # a purchase: its own new window
    year = await db.fetchval("SELECT unit_price FROM pcs_subscriptions WHERE id = $1", uuid.UUID(converted.id))
    assert await charges(client, converted.id) == [("convert", 5, year * 5)]
    assert again.line_items[0].error.error_code == 10002  # one trial per offer per tenant


async def test_license_transfer_moves_the_users_assignments(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    [source] = await buy(client, customer.id, line(BASIC, 3, "P1Y", "monthly"))
    users = [uuid.uuid4() for _ in range(3)]
    now = clock.now()
    for n, user in enumerate(users):
        await db.execute(
            "INSERT INTO pcs_users (id, customer_id, user_principal_name, data, created_at) VALUES ($1,$2,$3,'{}',$4)",
            user,
            uuid.UUID(customer.id),
            f"user{n}@{uuid.uuid4().hex[:6]}.test",
            now,
        )
        await db.execute(
            "INSERT INTO pcs_user_licenses (user_id, customer_id, sku_id, assigned_at) VALUES ($1, $2, $3, $4)",
            user,
            uuid.UUID(customer.id),
            uuid.UUID(BASIC.provisioning_id),
            now + timedelta(seconds=n),
        )
    moved = await client.create_transition(
        customer.id,
        source.id,
        {
            "toCatalogItemId": catalog.catalog_item_id(STANDARD),
            "quantity": 2,
            "transitionType": "transition_with_license_transfer",
        },
    )
    assert [e.name for e in moved.events][-1] == "LicenseReassignment"
    held = await db.fetch("SELECT user_id, sku_id FROM pcs_user_licenses ORDER BY assigned_at")
    assert {(r["user_id"], str(r["sku_id"])) for r in held} == {
        (users[0], STANDARD.provisioning_id),
        (users[1], STANDARD.provisioning_id),
        (users[2], BASIC.provisioning_id),
    }
