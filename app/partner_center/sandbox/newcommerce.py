"""Legacy (pre-NCE) subscriptions and their migration to new commerce (facts 7.7).

A legacy subscription is a pcs_subscriptions row with `is_legacy`: its legacy offer's GUID in `legacy_offer_id` and,
in product_id/sku_id/availability_id, the NCE offer it migrates to (catalog.LEGACY_OFFERS). Nothing NCE does counts
it: seat caps, add-on prerequisites, coterm dates, billing and renewals all skip legacy rows (service.py).

Migrating buys the NCE equivalent through an ordinary order (service._create_order: provisioned asynchronously and
billed like any purchase, pro rata when the first term keeps the legacy term end), cancels the legacy subscription and
records the migration. The migration's status follows its order: Processing while it provisions, then Completed.

Not simulated: legacy billing (and the credit for the rest of the legacy term), migration schedules and events,
promotions on migrated subscriptions.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from app import clock, db
from app.partner_center.sandbox import catalog, pricing, rules, shapes
from app.partner_center.sandbox.errors import (
    MCA_REQUIRED,
    QUANTITY_OUT_OF_RANGE,
    PartnerCenterFault,
    bad_request,
    not_found,
)
from app.partner_center.sandbox.service import (
    MCA_TEMPLATE_ID,
    _create_order,
    _customer,
    _first,
    _subscription_row,
    _uuid,
    allowed_term_end_dates,
    check_tenant_cap,
    settle_orders,
)

# Why a subscription cannot migrate (facts 7.7, 11). Code 5's text is Microsoft's, from the validate sample.
NOT_ACTIVE = (900215, "The subscription is not active and cannot be migrated to new commerce.")
ENDS_WITHIN_A_DAY = (900217, "The subscription's term ends in less than 24 hours; it cannot be migrated now.")
ADD_ONS_MUST_MIGRATE = (900219, "The subscription has active add-ons: list every one of them in addOnMigrations.")
NO_EQUIVALENT = (
    5,
    "Subscription cannot be migrated to New Commerce because the equivalent offer is not yet available in New Commerce",
)
# Microsoft publishes no code for asking to migrate a subscription that already is new commerce: the sandbox's own,
# next to the other migration refusals.
NOT_LEGACY = (900216, "Only legacy subscriptions can be migrated to new commerce.")

LAST_DAY = timedelta(hours=24)
LEGACY_TERM = "P1Y"


# --- Rules (pure) -------------------------------------------------------------------------------------------


def term_ends_at(end_date: date) -> datetime:
    """A term runs to the end of its last day, UTC (facts 1, 7.2)."""
    return datetime.combine(end_date + timedelta(days=1), time(), tzinfo=UTC)


def eligibility_errors(
    *, is_legacy: bool, status: str, end_date: date | None, has_equivalent: bool, now: datetime
) -> list[tuple[int, str]]:
    """Every reason the subscription cannot migrate now; none means it can."""
    if not is_legacy:
        return [NOT_LEGACY]
    errors = []
    if status != "active":
        errors.append(NOT_ACTIVE)
    if end_date is None or term_ends_at(end_date) - now < LAST_DAY:
        errors.append(ENDS_WITHIN_A_DAY)
    if not has_equivalent:
        errors.append(NO_EQUIVALENT)
    return errors


def kept_term_end(today: date, term: str, legacy_end: date) -> date | None:
    """purchaseFullTerm false: the new subscription ends when the legacy term does, if one term of the new plan
    reaches that far. A one-month term cannot stretch to a legacy year's end, so it gets a whole term of its own;
    None also when the legacy end is the new term's natural end anyway."""
    return legacy_end if today <= legacy_end < rules.term_end(today, term) else None


def current_legacy_term(start: date, end: date, term: str, today: date) -> tuple[date, date]:
    """Legacy subscriptions with auto-renew renew at their anniversary: the term that contains `today`."""
    while end < today:
        start = end + timedelta(days=1)
        end = rules.term_end(start, term)
    return start, end


def cycle_label(billing_cycle: str) -> str:
    """Migration resources spell billing cycles as Microsoft's samples do ("Monthly", "Annual")."""
    return billing_cycle.capitalize()


# --- The legacy estate ----------------------------------------------------------------------------------------


async def create_legacy_subscription(
    customer_id: uuid.UUID | str,
    offer_id: str,
    *,
    quantity: int,
    start: date,
    end: date | None = None,
    billing_cycle: str = "monthly",
    status: str = "active",
    parent_id: uuid.UUID | str | None = None,
    subscription_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """A subscription bought before new commerce: a one-year term (ending the day before its anniversary unless
    `end` says otherwise), auto-renewing, not billed by the sandbox. Idempotent by `subscription_id`."""
    legacy = catalog.legacy_offer(offer_id)
    if legacy is None:
        raise ValueError(f"{offer_id} is not one of the sandbox's legacy offers")
    nce = legacy.nce_offer
    # without an NCE equivalent the NCE columns name the legacy offer itself: they must hold something
    product_id, sku_id, availability_id = (
        (nce.product_id, nce.sku_id, nce.availability_id) if nce else (legacy.offer_id, "0000", "LEGACY")
    )
    customer_key = uuid.UUID(str(customer_id))
    currency = await db.fetchval("SELECT currency FROM pcs_customers WHERE id = $1", customer_key)
    subscription_id = subscription_id or uuid.uuid4()
    created = datetime.combine(start, time(), tzinfo=UTC)
    await db.execute(
        "INSERT INTO pcs_subscriptions (id, customer_id, product_id, sku_id, availability_id, segment, friendly_name, "
        "quantity, status, term_duration, billing_cycle, unit_price, currency, start_date, end_date, auto_renew, "
        "is_legacy, legacy_offer_id, parent_id, status_changed_at, created_at) VALUES "
        "($1, $2, $3, $4, $5, 'commercial', $6, $7, $8, $9, $10, 0, $11, $12, $13, true, true, $14, $15, $16, $16) "
        "ON CONFLICT (id) DO NOTHING",
        subscription_id,
        customer_key,
        product_id,
        sku_id,
        availability_id,
        legacy.name,
        quantity,
        status,
        LEGACY_TERM,
        billing_cycle.lower(),
        currency,
        start,
        end or rules.term_end(start, LEGACY_TERM),
        legacy.offer_id,
        uuid.UUID(str(parent_id)) if parent_id else None,
        created,
    )
    return subscription_id


FOURTH_COFFEE = "fourthcoffee.onmicrosoft.com"


@dataclass(frozen=True)
class SeededLegacy:
    key: str  # names the row's stable id
    offer_id: str
    quantity: int
    billing_cycle: str
    months_ago: int  # the term started this many months before the sandbox was set up
    parent_key: str | None = None


# One base with an add-on, one that migrates on its own, one that cannot migrate (no NCE equivalent, error 5).
FOURTH_COFFEE_ESTATE = (
    SeededLegacy("exchange", catalog.LEGACY_EXO_P1, 20, "monthly", 3),
    SeededLegacy("archiving", catalog.LEGACY_EXCHANGE_ARCHIVING, 20, "monthly", 3, parent_key="exchange"),
    SeededLegacy("e3", catalog.LEGACY_O365_E3, 25, "annual", 7),
    SeededLegacy("sharepoint", catalog.LEGACY_SHAREPOINT_P2, 10, "monthly", 5),
)


def fourth_coffee_id() -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_DNS, FOURTH_COFFEE)


async def seed_legacy_estate() -> None:
    """A customer of ours from before new commerce, so CSP staff can practise migrations in the demo. Idempotent:
    what exists is left alone (a migrated subscription stays migrated), and nothing is seeded when someone else
    already uses the domain."""
    customer_id = fourth_coffee_id()
    now = clock.now()
    billing = {
        "email": "it@fourthcoffee.test",
        "culture": "en-US",
        "language": "en",
        "companyName": "Fourth Coffee",
        "defaultAddress": {
            "firstName": "Dana",
            "lastName": "Birkby",
            "addressLine1": "1 Microsoft Way",
            "city": "Redmond",
            "state": "WA",
            "postalCode": "98052",
            "country": "US",
        },
        "id": str(uuid.uuid5(customer_id, "billing")),
        "attributes": {"objectType": "CustomerBillingProfile"},
    }
    await db.execute(
        "INSERT INTO pcs_customers (id, domain, company_name, country, currency, relationship, gdap, data, created_at) "
        "VALUES ($1, $2, 'Fourth Coffee', 'US', $3, 'reseller', true, $4, $5) ON CONFLICT DO NOTHING",
        customer_id,
        FOURTH_COFFEE,
        pricing.currency_of(pricing.market_for("US")),
        json.dumps({"billingProfile": billing}),
        now,
    )
    if not await db.fetchval("SELECT 1 FROM pcs_customers WHERE id = $1", customer_id):
        return  # the domain belongs to a customer created through the API
    agreement = {
        "primaryContact": {
            "firstName": "Dana",
            "lastName": "Birkby",
            "email": "dana@fourthcoffee.test",
            "phoneNumber": None,
        },
        "templateId": MCA_TEMPLATE_ID,
        "dateAgreed": shapes.iso(now),
        "type": "MicrosoftCustomerAgreement",
        "agreementLink": "https://aka.ms/customeragreement",
        "userId": str(uuid.uuid5(customer_id, "agreement")),
    }
    await db.execute(
        "INSERT INTO pcs_agreements (customer_id, data, created_at) SELECT $1, $2, $3 "
        "WHERE NOT EXISTS (SELECT 1 FROM pcs_agreements WHERE customer_id = $1)",
        customer_id,
        json.dumps(agreement),
        now,
    )
    for seeded in FOURTH_COFFEE_ESTATE:
        await create_legacy_subscription(
            customer_id,
            seeded.offer_id,
            quantity=seeded.quantity,
            start=rules.add_months(now.date(), -seeded.months_ago),
            billing_cycle=seeded.billing_cycle,
            parent_id=uuid.uuid5(customer_id, f"legacy:{seeded.parent_key}") if seeded.parent_key else None,
            subscription_id=uuid.uuid5(customer_id, f"legacy:{seeded.key}"),
        )
    await _renew_legacy_terms(customer_id, now.date())


async def _renew_legacy_terms(customer_id: uuid.UUID, today: date) -> None:
    """Legacy renewals are not billed or scheduled by the sandbox; their terms roll forward when next looked at."""
    rows = await db.fetch(
        "SELECT id, start_date, end_date, term_duration FROM pcs_subscriptions WHERE customer_id = $1 AND is_legacy "
        "AND status = 'active' AND auto_renew AND end_date < $2",
        customer_id,
        today,
    )
    for row in rows:
        start, end = current_legacy_term(row["start_date"], row["end_date"], row["term_duration"], today)
        await db.execute(
            "UPDATE pcs_subscriptions SET start_date = $2, end_date = $3, etag = etag + 1 WHERE id = $1",
            row["id"],
            start,
            end,
        )


# --- Validation -------------------------------------------------------------------------------------------------


def _nce_offer(sub: dict) -> catalog.Offer | None:
    legacy = catalog.legacy_offer(sub["legacy_offer_id"] or "") if sub["is_legacy"] else None
    return legacy.nce_offer if legacy else None


def _errors(sub: dict, now: datetime) -> list[tuple[int, str]]:
    return eligibility_errors(
        is_legacy=sub["is_legacy"],
        status=sub["status"],
        end_date=sub["end_date"],
        has_equivalent=_nce_offer(sub) is not None,
        now=now,
    )


def _eligibility(sub: dict, now: datetime) -> dict:
    errors = _errors(sub, now)
    offer = _nce_offer(sub)
    kept = kept_term_end(now.date(), sub["term_duration"], sub["end_date"]) if not errors else None
    return {
        "currentSubscriptionId": str(sub["id"]),
        "isEligible": not errors,
        "catalogItemId": catalog.catalog_item_id(offer) if offer else None,
        "termDuration": sub["term_duration"],
        "billingCycle": cycle_label(sub["billing_cycle"]),
        "customTermEndDate": shapes.iso(kept),
        "errors": [{"code": code, "description": description} for code, description in errors],
        "addOnMigrations": [],
        "attributes": {"objectType": "NewCommerceEligibility"},
    }


async def _active_add_ons(base: dict, lock: bool = False) -> list[dict]:
    """The legacy add-ons that migrate with `base` as one bundle (facts 7.7)."""
    if not base["is_legacy"]:
        return []
    return await db.fetch(
        "SELECT * FROM pcs_subscriptions WHERE parent_id = $1 AND is_legacy AND status = 'active' "
        "ORDER BY created_at, id" + (" FOR UPDATE" if lock else ""),
        base["id"],
    )


async def validate(customer_id: str, body: dict) -> dict:
    """POST .../migrations/newcommerce/validate: can this subscription (and each of its add-ons) migrate now?"""
    async with db.transaction():
        customer = await _customer(customer_id)
        now = clock.now()
        await _renew_legacy_terms(customer["id"], now.date())
        sub = await _subscription_row(customer["id"], _first(body, "currentSubscriptionId"))
        eligibility = _eligibility(sub, now)
        eligibility["addOnMigrations"] = [_eligibility(add_on, now) for add_on in await _active_add_ons(sub)]
        return eligibility


# --- Migration --------------------------------------------------------------------------------------------------


def _refuse(errors: list[tuple[int, str]]) -> PartnerCenterFault:
    code, description = errors[0]
    return bad_request(description, code)


def _requested(value: object, default: Any) -> Any:
    """An omitted (or null) field inherits the legacy subscription's value."""
    return default if value is None else value


@dataclass(frozen=True)
class Replacement:
    """What replaces one legacy subscription: the NCE offer, its order line, and the migration's account of it."""

    offer: catalog.Offer
    line: dict
    described: dict


async def _plan(customer: dict, sub: dict, request: dict, now: datetime) -> Replacement:
    """The new commerce purchase that replaces `sub`: the legacy values unless `request` overrides them."""
    if errors := _errors(sub, now):
        raise _refuse(errors)
    offer = _nce_offer(sub)
    assert offer is not None  # eligible subscriptions have an NCE equivalent
    today = now.date()
    term = str(_requested(_first(request, "termDuration"), sub["term_duration"])).upper()
    cycle = str(_requested(_first(request, "billingCycle"), sub["billing_cycle"])).lower()
    quantity = int(_requested(_first(request, "quantity"), sub["quantity"]))
    full_term = bool(_first(request, "purchaseFullTerm", default=False))
    if (term, cycle) not in offer.plans:
        raise bad_request(f"{offer.sku_title} cannot be bought for {term} billed {cycle}.", 10013)
    if not offer.min_quantity <= quantity <= offer.max_quantity:
        raise bad_request(QUANTITY_OUT_OF_RANGE[1], QUANTITY_OUT_OF_RANGE[0])
    kept = kept_term_end(today, term, sub["end_date"])
    requested_end = _first(request, "customTermEndDate")
    if requested_end:
        try:
            custom: date | None = date.fromisoformat(str(requested_end)[:10])
        except ValueError:
            raise bad_request(f"The custom term end date {requested_end} is not a date.", 10017) from None
        # the same end dates a purchase may take (facts 6.3), and the legacy term's own end
        allowed = {
            d["allowedCustomTermEndDate"][:10] for d in await allowed_term_end_dates(customer["id"], term, today)
        }
        if custom != kept and str(custom) not in allowed:
            raise bad_request("The custom term end date is not allowed for this migration.", 10017)
    else:
        custom = None if full_term else kept
    line = {
        "catalogItemId": catalog.catalog_item_id(offer),
        "quantity": quantity,
        "billingCycle": cycle,
        "termDuration": term,
        "promotionId": None,
        "customTermEndDate": shapes.iso(custom),
        "attestationAccepted": True,
        "participants": [],
        "provisioningContext": {},
        "currencyCode": customer["currency"],
        "orderGroup": "0",
    }
    described = {
        "currentSubscriptionId": str(sub["id"]),
        "customerTenantId": str(customer["id"]),
        "catalogItemId": line["catalogItemId"],
        "subscriptionEndDate": shapes.iso(custom or rules.term_end(today, term)),
        "quantity": quantity,
        "termDuration": term,
        "billingCycle": cycle_label(cycle),
        "purchaseFullTerm": full_term,
        "customTermEndDate": shapes.iso(custom),
    }
    return Replacement(offer, line, described)


async def _check_seat_caps(customer_id: uuid.UUID, replacements: list[Replacement]) -> None:
    """The new subscriptions count against pooled per-tenant caps like any purchase (facts 4.3); legacy seats do not."""
    wanted: dict[catalog.Offer, int] = {}
    for r in replacements:
        wanted[r.offer] = wanted.get(r.offer, 0) + r.line["quantity"]
    for offer, quantity in wanted.items():
        await check_tenant_cap(customer_id, offer, quantity)


async def create(customer_id: str, body: dict) -> dict:
    """POST .../migrations/newcommerce: buy the NCE equivalents of the subscription and its add-ons in one order,
    cancel the legacy subscriptions and record the migration."""
    customer = await _customer(customer_id)
    now = clock.now()
    await settle_orders(now, customer["id"])
    await _renew_legacy_terms(customer["id"], now.date())
    if not await db.fetchval("SELECT 1 FROM pcs_agreements WHERE customer_id = $1", customer["id"]):
        raise PartnerCenterFault(403, *MCA_REQUIRED)  # migrating is a new commerce purchase (facts 3.4)
    base = await _subscription_row(customer["id"], _first(body, "currentSubscriptionId"), lock=True)
    if errors := _errors(base, now):
        raise _refuse(errors)
    add_ons = await _active_add_ons(base, lock=True)
    requests = {
        str(_uuid(_first(item, "currentSubscriptionId", default=""))): item
        for item in _first(body, "addOnMigrations", default=[]) or []
    }
    if set(requests) != {str(a["id"]) for a in add_ons}:
        raise bad_request(ADD_ONS_MUST_MIGRATE[1], ADD_ONS_MUST_MIGRATE[0])
    plans = [await _plan(customer, base, body, now)]
    plans += [await _plan(customer, add_on, requests[str(add_on["id"])], now) for add_on in add_ons]
    await _check_seat_caps(customer["id"], plans)

    order = await _create_order(customer, [p.line for p in plans], now)
    stored = await db.fetchval("SELECT data FROM pcs_orders WHERE id = $1", order["id"])
    new_ids = [uuid.UUID(li["subscriptionId"]) for li in _json(stored)["lineItems"]]
    old_ids = [base["id"], *(a["id"] for a in add_ons)]
    await db.execute(
        "UPDATE pcs_subscriptions s SET migrated_from_id = m.old FROM unnest($1::uuid[], $2::uuid[]) AS m(new, old) "
        "WHERE s.id = m.new",
        new_ids,
        old_ids,
    )
    # Microsoft cancels the legacy subscriptions it migrated
    await db.execute(
        "UPDATE pcs_subscriptions SET status = 'deleted', auto_renew = false, status_changed_at = $2, etag = etag + 1 "
        "WHERE id = ANY($1::uuid[])",
        old_ids,
        now,
    )
    described = [
        {**p.described, "newCommerceSubscriptionId": str(new_id)} for p, new_id in zip(plans, new_ids, strict=True)
    ]
    external_reference = _first(body, "externalReferenceId")
    status = "Completed" if order["status"] == "completed" else "Processing"
    migration = {
        "id": str(uuid.uuid4()),
        "startedTime": shapes.iso(now),
        **described[0],
        "newCommerceOrderId": order["id"],
        "externalReferenceId": external_reference,
        "addOnMigrations": described[1:],
        "attributes": {"objectType": "NewCommerceMigration"},
    }
    await db.execute(
        "INSERT INTO pcs_migrations (id, customer_id, current_subscription_id, new_subscription_id, "
        "external_reference_id, status, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        uuid.UUID(migration["id"]),
        customer["id"],
        base["id"],
        new_ids[0],
        external_reference,
        status,
        json.dumps(migration),
        now,
    )
    return migration_json(migration, status, now)


def _json(value: Any) -> dict:
    """jsonb comes back as text."""
    return json.loads(value) if isinstance(value, str) else dict(value)


def migration_json(data: dict, status: str, completed_at: datetime | None) -> dict:
    """While the order provisions there are no new subscriptions to name yet (the Processing sample)."""
    if status == "Completed":
        return {**data, "status": status, "completedTime": shapes.iso(completed_at)}

    def pending(entry: dict) -> dict:
        return {k: v for k, v in entry.items() if k != "newCommerceSubscriptionId"}

    return {**pending(data), "status": status, "addOnMigrations": [pending(a) for a in data["addOnMigrations"]]}


# --- Status ------------------------------------------------------------------------------------------------------

_MIGRATIONS_SQL = (
    "SELECT m.data, m.status, o.ready_at FROM pcs_migrations m "
    "JOIN pcs_orders o ON o.id = m.data->>'newCommerceOrderId' "
)


async def _settle(now: datetime, customer_id: uuid.UUID | None) -> None:
    """Orders provisioned by now complete their migrations."""
    await settle_orders(now, customer_id)
    await db.execute(
        "UPDATE pcs_migrations m SET status = 'Completed' FROM pcs_orders o "
        "WHERE o.id = m.data->>'newCommerceOrderId' AND o.status = 'completed' AND m.status = 'Processing' "
        "AND ($1::uuid IS NULL OR m.customer_id = $1)",
        customer_id,
    )


def _row_json(row: dict) -> dict:
    return migration_json(_json(row["data"]), row["status"], row["ready_at"] if row["status"] == "Completed" else None)


async def get(customer_id: str, migration_id: str) -> dict:
    """GET .../migrations/newcommerce/{id}: the status poll."""
    customer = await _customer(customer_id)
    await _settle(clock.now(), customer["id"])
    rows = await db.fetch(
        _MIGRATIONS_SQL + "WHERE m.id = $1 AND m.customer_id = $2", _uuid(migration_id), customer["id"]
    )
    if not rows:
        raise not_found("Migration")
    return _row_json(rows[0])


async def list_migrations(
    customer_tenant_id: str | None, current_subscription_id: str | None, external_reference_id: str | None
) -> list[dict]:
    """GET /migrations/newcommerce: the partner's migrations, filtered by customer, subscription or batch."""
    customer_key = _uuid(customer_tenant_id) if customer_tenant_id else None
    subscription_key = _uuid(current_subscription_id) if current_subscription_id else None
    if (customer_tenant_id and customer_key is None) or (current_subscription_id and subscription_key is None):
        return []
    await _settle(clock.now(), customer_key)
    rows = await db.fetch(
        _MIGRATIONS_SQL + "WHERE ($1::uuid IS NULL OR m.customer_id = $1) "
        "AND ($2::uuid IS NULL OR m.current_subscription_id = $2) "
        "AND ($3::text IS NULL OR m.external_reference_id = $3) ORDER BY m.created_at, m.id",
        customer_key,
        subscription_key,
        external_reference_id,
    )
    return [_row_json(r) for r in rows]
