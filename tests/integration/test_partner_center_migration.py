"""Legacy subscriptions and their migration to new commerce: the real client against the sandbox (facts 7.7)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from app import clock, db
from app.partner_center.errors import BusinessRuleError, NotFoundError
from app.partner_center.sandbox import catalog, newcommerce, service
from tests.integration.sandbox_fixtures import Sandbox, buy, line, new_customer

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEGACY_START = date(2026, 5, 10)  # a legacy year running to 2027-05-09
LEGACY_END = "2027-05-09"
O365_E3 = catalog.offer_by_key("CFQ7TTC0LF8R", "0001")
EXO_P1 = catalog.offer_by_key("CFQ7TTC0LH16", "0001")
ARCHIVING = catalog.offer_by_key("CFQ7TTC0LH0Z", "0001")
BASIC = catalog.offer_by_key("CFQ7TTC0LH18", "0001")
TEAMS_PREMIUM = catalog.offer_by_key("CFQ7TTC0RM8K", "0002")


async def legacy(
    customer_id: str,
    offer_id: str = catalog.LEGACY_O365_E3,
    quantity: int = 10,
    cycle: str = "monthly",
    *,
    start: date = LEGACY_START,
    end: date | None = None,
    status: str = "active",
    parent: str | None = None,
) -> str:
    subscription_id = await newcommerce.create_legacy_subscription(
        customer_id,
        offer_id,
        quantity=quantity,
        start=start,
        end=end,
        billing_cycle=cycle,
        status=status,
        parent_id=parent,
    )
    return str(subscription_id)


def day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value else None


async def refused(call) -> BusinessRuleError:
    with pytest.raises(BusinessRuleError) as error:
        await call
    return error.value


async def test_the_seeded_legacy_estate_exists_after_prepare(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    fourth_coffee = str(newcommerce.fourth_coffee_id())
    customer = await client.get_customer(fourth_coffee)
    assert (customer.company_profile.company_name, customer.company_profile.domain) == (
        "Fourth Coffee",
        "fourthcoffee.onmicrosoft.com",
    )
    assert fourth_coffee in [c.id async for c in client.list_customers()]
    assert len(await client.list_agreements(fourth_coffee)) == 1  # it can buy new commerce: MCA accepted
    subs = {s.offer_id: s for s in await client.list_subscriptions(fourth_coffee)}
    assert set(subs) == {
        catalog.LEGACY_EXO_P1,
        catalog.LEGACY_EXCHANGE_ARCHIVING,
        catalog.LEGACY_O365_E3,
        catalog.LEGACY_SHAREPOINT_P2,
    }
    assert all(not s.is_nce and s.product_type.id == "OnlineServices" for s in subs.values())
    assert all((s.status, s.term_duration, s.auto_renew_enabled) == ("active", "P1Y", True) for s in subs.values())
    exchange = subs[catalog.LEGACY_EXO_P1]
    assert subs[catalog.LEGACY_EXCHANGE_ARCHIVING].parent_subscription_id == exchange.id

    await newcommerce.seed_legacy_estate()  # idempotent: start-up runs it every time
    assert len(await client.list_subscriptions(fourth_coffee)) == 4

    bundle = await client.validate_migration(fourth_coffee, exchange.id)
    assert (bundle.is_eligible, bundle.catalog_item_id) == (True, catalog.catalog_item_id(EXO_P1))
    assert [(a.current_subscription_id, a.is_eligible) for a in bundle.add_on_migrations] == [
        (subs[catalog.LEGACY_EXCHANGE_ARCHIVING].id, True)
    ]
    sharepoint = await client.validate_migration(fourth_coffee, subs[catalog.LEGACY_SHAREPOINT_P2].id)
    assert [e.code for e in sharepoint.errors] == [5]


async def test_validation_gives_each_reason_and_creation_refuses_with_its_code(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(START):
        eligible = await legacy(customer.id)
        suspended = await legacy(customer.id, status="suspended")
        ends_today = await legacy(customer.id, end=START.date())  # its term ends at midnight: 15 hours left
        ends_tomorrow = await legacy(customer.id, end=START.date() + timedelta(days=1))  # 39 hours left
        sharepoint = await legacy(customer.id, catalog.LEGACY_SHAREPOINT_P2)
        [nce] = await buy(client, customer.id, line(BASIC, 1))

        ok = await client.validate_migration(customer.id, eligible)
        assert (ok.current_subscription_id, ok.is_eligible, ok.errors) == (eligible, True, [])
        assert (ok.catalog_item_id, ok.term_duration, ok.billing_cycle) == (
            catalog.catalog_item_id(O365_E3),
            "P1Y",
            "Monthly",
        )
        assert day(ok.custom_term_end_date) == LEGACY_END  # what a migration keeping the term would end on
        assert (await client.validate_migration(customer.id, ends_tomorrow)).is_eligible is True

        for subscription_id, code in (
            (suspended, 900215),
            (ends_today, 900217),
            (sharepoint, 5),
            (nce.id, 900216),  # already new commerce
        ):
            result = await client.validate_migration(customer.id, subscription_id)
            assert (result.is_eligible, [e.code for e in result.errors]) == (False, [code])
            error = await refused(client.create_migration(customer.id, {"currentSubscriptionId": subscription_id}))
            assert (error.status, error.code) == (400, code)
        assert (await client.validate_migration(customer.id, sharepoint)).catalog_item_id is None
        with pytest.raises(NotFoundError):
            await client.validate_migration(customer.id, str(uuid.uuid4()))
        # migrating buys new commerce, which needs the Microsoft Customer Agreement (facts 3.4)
        no_mca = await new_customer(client, mca=False)
        unattested = await refused(
            client.create_migration(no_mca.id, {"currentSubscriptionId": await legacy(no_mca.id)})
        )
        assert (unattested.status, unattested.code) == (403, 13605)
    assert await db.fetchval("SELECT count(*) FROM pcs_migrations") == 0


async def test_migration_inherits_the_legacy_values_keeps_its_term_end_and_bills_pro_rata(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(START):
        current = await legacy(customer.id, quantity=12, cycle="annual")
        migration = await client.create_migration(customer.id, {"currentSubscriptionId": current})
        assert (migration.status, migration.current_subscription_id, migration.customer_tenant_id) == (
            "Completed",
            current,
            customer.id,
        )
        assert (migration.catalog_item_id, migration.quantity, migration.term_duration, migration.billing_cycle) == (
            catalog.catalog_item_id(O365_E3),
            12,
            "P1Y",
            "Annual",
        )
        assert migration.purchase_full_term is False
        assert day(migration.custom_term_end_date) == day(migration.subscription_end_date) == LEGACY_END
        assert migration.started_time == migration.completed_time == START
        new = await client.get_subscription(customer.id, migration.new_commerce_subscription_id)
        old = await client.get_subscription(customer.id, current)
        order = await client.get_order(customer.id, migration.new_commerce_order_id)
    assert (new.is_nce, new.offer_id, new.quantity, new.billing_cycle, new.status) == (
        True,
        catalog.catalog_item_id(O365_E3),
        12,
        "annual",
        "active",
    )
    assert (new.migrated_from_subscription_id, new.commitment_end.date().isoformat()) == (current, LEGACY_END)
    assert [li.subscription_id for li in order.line_items] == [new.id]
    assert (old.status, old.auto_renew_enabled, old.migrated_from_subscription_id) == ("deleted", False, None)
    # a normal purchase of a first term shortened to 2027-05-09: 168 of 365 days, per seat, then times 12
    price = await db.fetchval("SELECT unit_price FROM pcs_subscriptions WHERE id = $1", uuid.UUID(new.id))
    per_seat = (price * 168 / 365).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    charges = [(li.charge_type, li.quantity, li.subtotal) async for li in client.unbilled_line_items("USD")]
    assert charges == [("new", 12, per_seat * 12)]
    again = await refused(client.create_migration(customer.id, {"currentSubscriptionId": current}))
    assert again.code == 900215  # the legacy subscription is gone


async def test_given_fields_override_the_legacy_ones_and_purchase_full_term_starts_a_new_term(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(START):
        overridden = await client.create_migration(
            customer.id,
            {"currentSubscriptionId": await legacy(customer.id), "billingCycle": "Annual", "quantity": 15},
        )
        full_term = await client.create_migration(
            customer.id, {"currentSubscriptionId": await legacy(customer.id), "purchaseFullTerm": True}
        )
        monthly = await client.create_migration(
            customer.id,
            {"currentSubscriptionId": await legacy(customer.id), "termDuration": "P1M", "billingCycle": "Monthly"},
        )
        aligned = await client.create_migration(
            customer.id, {"currentSubscriptionId": await legacy(customer.id), "customTermEndDate": "2027-10-31"}
        )
        exchange = await legacy(customer.id, catalog.LEGACY_EXO_P1)
        no_p1m = await refused(
            client.create_migration(customer.id, {"currentSubscriptionId": exchange, "termDuration": "P1M"})
        )
        no_seats = await refused(
            client.create_migration(customer.id, {"currentSubscriptionId": exchange, "quantity": 0})
        )
        not_allowed = await refused(
            client.create_migration(customer.id, {"currentSubscriptionId": exchange, "customTermEndDate": "2027-04-30"})
        )
    summary = {
        name: (m.term_duration, m.billing_cycle, m.quantity, m.purchase_full_term, day(m.subscription_end_date))
        for name, m in (
            ("overridden", overridden),
            ("full_term", full_term),
            ("monthly", monthly),
            ("aligned", aligned),
        )
    }
    assert summary == {
        "overridden": ("P1Y", "Annual", 15, False, LEGACY_END),  # the term is inherited, and so is its end
        "full_term": ("P1Y", "Monthly", 10, True, "2027-11-22"),  # a whole new year from today
        "monthly": ("P1M", "Monthly", 10, False, "2026-12-22"),  # one month cannot stretch to the legacy end
        "aligned": ("P1Y", "Monthly", 10, False, "2027-10-31"),  # the calendar month end before the natural end
    }
    assert day(full_term.custom_term_end_date) is None
    subs = {s.id: s for s in await client.list_subscriptions(customer.id)}
    new = subs[overridden.new_commerce_subscription_id]
    assert (new.billing_cycle, new.quantity, new.commitment_end.date().isoformat()) == ("annual", 15, LEGACY_END)
    assert subs[full_term.new_commerce_subscription_id].commitment_end.date().isoformat() == "2027-11-22"
    assert subs[monthly.new_commerce_subscription_id].term_duration == "P1M"
    assert [e.code for e in (no_p1m, no_seats, not_allowed)] == [10013, 2002, 10017]
    assert subs[exchange].status == "active"  # refused migrations change nothing


async def test_a_base_migrates_with_all_its_active_add_ons_in_one_order(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(START):
        base = await legacy(customer.id, catalog.LEGACY_EXO_P1, 20)
        add_on = await legacy(customer.id, catalog.LEGACY_EXCHANGE_ARCHIVING, 20, parent=base)
        await legacy(customer.id, catalog.LEGACY_EXCHANGE_ARCHIVING, 5, parent=base, status="deleted")  # long gone
        checked = await client.validate_migration(customer.id, base)
        assert [(a.current_subscription_id, a.catalog_item_id) for a in checked.add_on_migrations] == [
            (add_on, catalog.catalog_item_id(ARCHIVING))
        ]
        alone = await refused(client.create_migration(customer.id, {"currentSubscriptionId": base}))
        assert (alone.status, alone.code) == (400, 900219)
        stranger = await legacy(customer.id, catalog.LEGACY_EXCHANGE_ARCHIVING, 1)
        wrong = await refused(
            client.create_migration(
                customer.id,
                {"currentSubscriptionId": base, "addOnMigrations": [{"currentSubscriptionId": stranger}]},
            )
        )
        assert wrong.code == 900219
        extra = await refused(
            client.create_migration(
                customer.id,
                {
                    "currentSubscriptionId": base,
                    "addOnMigrations": [{"currentSubscriptionId": add_on}, {"currentSubscriptionId": stranger}],
                },
            )
        )
        assert extra.code == 900219  # not an add-on of this base
        migration = await client.create_migration(
            customer.id,
            {
                "currentSubscriptionId": base,
                "addOnMigrations": [{"currentSubscriptionId": add_on, "quantity": 5, "billingCycle": "Annual"}],
            },
        )
        [migrated_add_on] = migration.add_on_migrations
        assert (migrated_add_on.current_subscription_id, migrated_add_on.catalog_item_id) == (
            add_on,
            catalog.catalog_item_id(ARCHIVING),
        )
        assert (migrated_add_on.quantity, migrated_add_on.billing_cycle, migration.quantity) == (5, "Annual", 20)
        order = await client.get_order(customer.id, migration.new_commerce_order_id)
        subs = {s.id: s for s in await client.list_subscriptions(customer.id)}
    assert [li.subscription_id for li in order.line_items] == [
        migration.new_commerce_subscription_id,
        migrated_add_on.new_commerce_subscription_id,
    ]
    assert subs[migrated_add_on.new_commerce_subscription_id].migrated_from_subscription_id == add_on
    assert subs[migrated_add_on.new_commerce_subscription_id].offer_id == catalog.catalog_item_id(ARCHIVING)
    assert (subs[base].status, subs[add_on].status, subs[stranger].status) == ("deleted", "deleted", "active")


async def test_a_migration_is_processing_until_its_order_is_provisioned(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    await pc_sandbox.set_faults(provisioning_ms=5000)
    with clock.use_fixed_clock(START) as fixed:
        current = await legacy(customer.id)
        started = await client.create_migration(customer.id, {"currentSubscriptionId": current})
        assert (started.status, started.completed_time, started.new_commerce_subscription_id) == (
            "Processing",
            None,
            None,
        )
        assert started.new_commerce_order_id
        polled = await client.get_migration(customer.id, started.id)
        assert (polled.status, polled.new_commerce_subscription_id) == ("Processing", None)
        [pending] = await client.list_subscriptions(customer.id, order_id=started.new_commerce_order_id)
        assert (pending.status, pending.migrated_from_subscription_id) == ("pending", current)
        fixed.advance(seconds=5)
        done = await client.get_migration(customer.id, started.id)
        [listed] = await client.list_migrations(customer.id)
    assert (done.status, done.completed_time, done.new_commerce_subscription_id) == (
        "Completed",
        START + timedelta(seconds=5),
        pending.id,
    )
    assert (listed.id, listed.status) == (started.id, "Completed")
    assert (await client.get_subscription(customer.id, pending.id)).status == "active"
    with pytest.raises(NotFoundError):
        await client.get_migration(customer.id, str(uuid.uuid4()))


async def test_retrying_with_the_same_request_id_migrates_once(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    current = await legacy(customer.id, start=clock.now().date() - timedelta(days=30))
    request_id = str(uuid.uuid4())
    first = await client.create_migration(customer.id, {"currentSubscriptionId": current}, request_id=request_id)
    retried = await client.create_migration(customer.id, {"currentSubscriptionId": current}, request_id=request_id)
    assert retried == first
    assert await db.fetchval("SELECT count(*) FROM pcs_migrations") == 1
    new = [s for s in await client.list_subscriptions(customer.id) if s.is_nce]
    assert [s.id for s in new] == [first.new_commerce_subscription_id]


async def test_migrations_are_listed_by_customer_subscription_and_batch(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    first, second = await new_customer(client), await new_customer(client)
    start = clock.now().date() - timedelta(days=30)
    batch = {"externalReferenceId": "batch-2026-11"}
    a = await client.create_migration(first.id, {"currentSubscriptionId": await legacy(first.id, start=start), **batch})
    b = await client.create_migration(first.id, {"currentSubscriptionId": await legacy(first.id, start=start)})
    c = await client.create_migration(
        second.id, {"currentSubscriptionId": await legacy(second.id, start=start), **batch}
    )
    assert a.external_reference_id == "batch-2026-11"
    assert [m.id for m in await client.list_migrations(first.id)] == [a.id, b.id]
    assert [m.id for m in await client.list_migrations(external_reference_id="batch-2026-11")] == [a.id, c.id]
    assert [m.id for m in await client.list_migrations(current_subscription_id=b.current_subscription_id)] == [b.id]
    assert [m.id for m in await client.list_migrations()] == [a.id, b.id, c.id]
    assert await client.list_migrations(str(uuid.uuid4())) == []
    assert (await client.get_migration(first.id, a.id)).id == a.id
    with pytest.raises(NotFoundError):
        await client.get_migration(second.id, a.id)  # another customer's migration


async def test_legacy_subscriptions_stay_out_of_new_commerce(pc_sandbox: Sandbox):
    client = pc_sandbox.app_only_client()
    customer = await new_customer(client)
    with clock.use_fixed_clock(START) as fixed:
        essentials = await legacy(customer.id, catalog.LEGACY_BUSINESS_ESSENTIALS, 250)  # Business Basic's legacy
        e3 = await legacy(customer.id, catalog.LEGACY_O365_E3, 5)
        # a legacy suite is no prerequisite for a new commerce add-on
        cart = await client.create_cart(customer.id, {"lineItems": [line(TEAMS_PREMIUM, 1)]})
        assert cart.line_items[0].error.error_code == 10006
        # Business Basic's 300-seat tenant cap counts new commerce seats only
        await buy(client, customer.id, line(BASIC, 300))
        # nor a coterm end date (the legacy E3 ends 2027-05-09)
        dates = await client.custom_term_end_dates(customer.id, "P1Y")
        assert LEGACY_END not in [day(d.allowed_custom_term_end_date) for d in dates]
        # nor billed, renewed or expired by the scheduler
        fixed.advance(days=200)  # past the legacy term end
        await service.run_scheduler(fixed.current)
        charged = {li.subscription_id async for li in client.unbilled_line_items("USD")}
        assert {essentials, e3}.isdisjoint(charged)
        assert (await client.get_subscription(customer.id, e3)).status == "active"
        # and the NCE rules of PATCH do not apply to it
        refused_change = await refused(
            client.update_subscription(customer.id, await client.get_subscription(customer.id, e3), quantity=6)
        )
        assert refused_change.status == 400
        # migrating adds new commerce seats, so the cap now refuses it (10015)
        over_cap = await refused(client.create_migration(customer.id, {"currentSubscriptionId": essentials}))
        assert over_cap.code == 10015
        # the legacy term renewed at its anniversary, so the E3 can still migrate
        renewed = await client.validate_migration(customer.id, e3)
    assert (renewed.is_eligible, day(renewed.custom_term_end_date)) == (True, "2028-05-09")


def test_eligibility_rules():
    now = START
    base = {"is_legacy": True, "status": "active", "end_date": date(2027, 5, 9), "has_equivalent": True, "now": now}
    assert newcommerce.eligibility_errors(**base) == []
    assert [c for c, _ in newcommerce.eligibility_errors(**{**base, "end_date": date(2026, 11, 23)})] == [900217]
    assert newcommerce.eligibility_errors(**{**base, "end_date": date(2026, 11, 24)}) == []
    assert [
        c for c, _ in newcommerce.eligibility_errors(**{**base, "status": "suspended", "has_equivalent": False})
    ] == [
        900215,
        5,
    ]
    assert [c for c, _ in newcommerce.eligibility_errors(**{**base, "is_legacy": False})] == [900216]
    assert newcommerce.kept_term_end(date(2026, 11, 23), "P1Y", date(2027, 5, 9)) == date(2027, 5, 9)
    assert newcommerce.kept_term_end(date(2026, 11, 23), "P1M", date(2027, 5, 9)) is None
    assert newcommerce.current_legacy_term(date(2025, 5, 10), date(2026, 5, 9), "P1Y", date(2026, 11, 23)) == (
        date(2026, 5, 10),
        date(2027, 5, 9),
    )
