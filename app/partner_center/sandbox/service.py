"""What the sandbox Partner Center does with each call: state in pcs_ tables, Microsoft's rules and errors.

Every write runs in one transaction. Time is the app clock (app.clock.now), so moving the sandbox clock
moves Partner Center too.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from app import clock, db
from app.accounts.address_rules import normalize_postal_code, postal_code_error
from app.billing.rules import charge_from
from app.partner_center.sandbox import catalog, pricing, rules, shapes
from app.partner_center.sandbox.errors import (
    AGREEMENT_EXISTS,
    AUTO_RENEW_NOT_ALLOWED,
    CANCEL_WINDOW_CLOSED,
    MCA_REQUIRED,
    PENDING_OPERATION,
    QUANTITY_CANNOT_DECREASE,
    QUANTITY_OUT_OF_RANGE,
    QUANTITY_WHILE_SUSPENDING,
    STALE_ETAG,
    SUSPENDED_UPDATE,
    PartnerCenterFault,
    bad_request,
    not_found,
)

MCA_TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"


def _first(body: dict, *names: str, default: Any = None) -> Any:
    """Partner Center accepts camelCase and PascalCase property names in requests (facts 1)."""
    lowered = {k.lower(): v for k, v in body.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return default


# --- State ---------------------------------------------------------------------------------------


async def ensure_state() -> dict:
    """The sandbox's one partner tenant; its price list changes on the first of the month after it was set up."""
    rows = await db.fetch("SELECT * FROM pcs_state WHERE id = 1")
    if rows:
        return rows[0]
    now = clock.now()
    change = rules.add_months(now.date().replace(day=1), 1)
    await db.execute(
        "INSERT INTO pcs_state (id, partner_tenant_id, price_change_date, created_at) VALUES (1, $1, $2, $3) "
        "ON CONFLICT (id) DO NOTHING",
        uuid.uuid4(),
        change,
        now,
    )
    return (await db.fetch("SELECT * FROM pcs_state WHERE id = 1"))[0]


async def price_change_date() -> date:
    return (await ensure_state())["price_change_date"]


# --- Customers -----------------------------------------------------------------------------------


def _customer_json(row: dict, with_credentials: bool = False) -> dict:
    data = dict(row["data"])
    body = {
        "id": str(row["id"]),
        "commerceId": str(uuid.uuid5(row["id"], "commerce")),
        "companyProfile": {
            "tenantId": str(row["id"]),
            "domain": row["domain"],
            "companyName": row["company_name"],
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "billingProfile": data.get("billingProfile", {}),
        "relationshipToPartner": row["relationship"],
        "allowDelegatedAccess": row["gdap"],
        "links": {"self": shapes.link(f"/customers/{row['id']}")},
        "attributes": {"objectType": "Customer"},
    }
    if with_credentials:
        body["userCredentials"] = {
            "userName": f"admin@{row['domain']}",
            "password": data.get("initialPassword"),
        }
    return body


async def create_customer(body: dict) -> dict:
    company = _first(body, "companyProfile", default={}) or {}
    billing = _first(body, "billingProfile", default={}) or {}
    address = _first(billing, "defaultAddress", default={}) or {}
    domain = str(_first(company, "domain", default="") or "").strip().lower()
    missing = [
        name
        for name, value in (
            ("companyProfile.domain", domain),
            ("billingProfile.email", _first(billing, "email")),
            ("billingProfile.companyName", _first(billing, "companyName")),
            ("billingProfile.defaultAddress.country", _first(address, "country")),
        )
        if not value
    ]
    if missing:
        raise bad_request(f"The field {missing[0]} is required.", 400)
    if not domain.endswith(".onmicrosoft.com"):
        domain = f"{domain}.onmicrosoft.com"
    if await db.fetchval("SELECT 1 FROM pcs_customers WHERE lower(domain) = $1", domain):
        raise bad_request(f"The domain {domain} is already in use.", 1019)
    country = str(_first(address, "country")).upper()
    market = pricing.market_for(country)
    customer_id = uuid.uuid4()
    data = {
        "billingProfile": {
            **billing,
            "id": str(uuid.uuid5(customer_id, "billing")),
            "attributes": {"objectType": "CustomerBillingProfile"},
        },
        "initialPassword": "Sandbox-" + uuid.uuid4().hex[:12],
    }
    await db.execute(
        "INSERT INTO pcs_customers (id, domain, company_name, country, currency, reseller_mpn_id, data, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        customer_id,
        domain,
        str(_first(billing, "companyName")),
        country,
        pricing.currency_of(market),
        _first(body, "associatedPartnerId"),
        json.dumps(data),
        clock.now(),
    )
    return _customer_json(await _customer(customer_id), with_credentials=True)


async def _customer(customer_id: uuid.UUID | str) -> dict:
    try:
        key = uuid.UUID(str(customer_id))
    except ValueError:
        raise not_found("Customer", 600039) from None
    # tenants that exist at Microsoft but are not our customers (relationship 'none') stay out of reach until
    # their admin approves a GDAP relationship (sandbox/directory.py)
    rows = await db.fetch("SELECT * FROM pcs_customers WHERE id = $1 AND relationship <> 'none'", key)
    if not rows:
        raise not_found("Customer", 600039)
    row = rows[0]
    row["data"] = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
    return row


async def get_customer(customer_id: str) -> dict:
    return _customer_json(await _customer(customer_id))


async def list_customers(size: int, after: str | None) -> tuple[list[dict], str | None]:
    rows = await db.fetch(
        "SELECT * FROM pcs_customers WHERE relationship <> 'none' AND ($1::uuid IS NULL OR id > $1) "
        "ORDER BY id LIMIT $2",
        uuid.UUID(after) if after else None,
        size + 1,
    )
    for row in rows:
        row["data"] = json.loads(row["data"]) if isinstance(row["data"], str) else row["data"]
    more = len(rows) > size
    rows = rows[:size]
    return [_customer_json(r) for r in rows], str(rows[-1]["id"]) if more and rows else None


# --- Agreements ----------------------------------------------------------------------------------


def agreement_metadata() -> dict:
    return {
        "templateId": MCA_TEMPLATE_ID,
        "agreementType": "MicrosoftCustomerAgreement",
        "agreementLink": "https://aka.ms/customeragreement",
        "versionRank": 0,
    }


async def create_agreement(customer_id: str, body: dict) -> dict:
    customer = await _customer(customer_id)
    contact = _first(body, "primaryContact", default={}) or {}
    for field in ("firstName", "lastName", "email"):
        if not _first(contact, field):
            raise bad_request(f"The field primaryContact.{field} is required.", 600033)
    if _first(body, "templateId") != MCA_TEMPLATE_ID:
        raise bad_request("The templateId is not a valid agreement template.", 600035)
    if str(_first(body, "type", default="")).lower() != "microsoftcustomeragreement":
        raise bad_request("Only MicrosoftCustomerAgreement can be attested here.", 600034)
    record = {
        "primaryContact": {k: _first(contact, k) for k in ("firstName", "lastName", "email", "phoneNumber")},
        "templateId": MCA_TEMPLATE_ID,
        "dateAgreed": _first(body, "dateAgreed") or shapes.iso(clock.now()),
        "type": "MicrosoftCustomerAgreement",
        "agreementLink": "https://aka.ms/customeragreement",
        "userId": str(uuid.uuid4()),
    }
    existing = await db.fetch("SELECT data FROM pcs_agreements WHERE customer_id = $1", customer["id"])
    for row in existing:
        if json.loads(row["data"])["primaryContact"] == record["primaryContact"]:
            raise bad_request(AGREEMENT_EXISTS[1], AGREEMENT_EXISTS[0])
    await db.execute(
        "INSERT INTO pcs_agreements (customer_id, data, created_at) VALUES ($1, $2, $3)",
        customer["id"],
        json.dumps(record),
        clock.now(),
    )
    return {**record, "attributes": {"objectType": "Agreement"}}


async def list_agreements(customer_id: str) -> list[dict]:
    customer = await _customer(customer_id)
    rows = await db.fetch("SELECT data FROM pcs_agreements WHERE customer_id = $1 ORDER BY id", customer["id"])
    return [{**json.loads(r["data"]), "attributes": {"objectType": "Agreement"}} for r in rows]


# --- Carts and orders ----------------------------------------------------------------------------


def _parse_catalog_item(value: str) -> tuple[catalog.Offer, str] | None:
    parts = str(value or "").split(":")
    if len(parts) != 3:
        return None
    offer = catalog.offer_by_key(parts[0], parts[1])
    if offer is None or offer.availability_id != parts[2]:
        return None
    return offer, parts[2]


async def _tenant_seats(customer_id: uuid.UUID, product_id: str, sku_id: str) -> int:
    return cast(
        int,
        await db.fetchval(
            "SELECT coalesce(sum(quantity), 0) FROM pcs_subscriptions WHERE customer_id = $1 AND product_id = $2 "
            "AND sku_id = $3 AND status IN ('active', 'suspended', 'pending') AND NOT is_legacy",
            customer_id,
            product_id,
            sku_id,
        )
        or 0,
    )


async def check_tenant_cap(customer_id: uuid.UUID, offer: catalog.Offer, adding: int) -> None:
    """Microsoft's pooled per-tenant maximum (facts 4.3): 10015 when `adding` seats would pass it."""
    if offer.tenant_max is None:
        return
    owned = await _tenant_seats(customer_id, offer.product_id, offer.sku_id)
    if owned + adding > offer.tenant_max:
        raise bad_request(
            f"The requested number of {adding} seats exceeds the remaining limit of "
            f"{max(offer.tenant_max - owned, 0)} seats.",
            10015,
        )


async def _owns_prerequisite(customer_id: uuid.UUID, prerequisites: tuple[str, ...]) -> bool:
    keys = [p.split(":")[0] + ":" + p.split(":")[1] for p in prerequisites]
    return bool(
        await db.fetchval(
            "SELECT 1 FROM pcs_subscriptions WHERE customer_id = $1 AND status = 'active' AND NOT is_legacy "
            "AND product_id || ':' || sku_id = ANY($2::text[]) LIMIT 1",
            customer_id,
            keys,
        )
    )


def _as_datetime_text(value: object) -> str | None:
    """Microsoft answers dates as date-times: "2027-11-22" comes back as "2027-11-22T00:00:00Z"."""
    if not value:
        return None
    text = str(value)
    return text if "T" in text else f"{text[:10]}T00:00:00Z"


def _line_error(code: int, description: str, **extra: Any) -> dict:
    return {"errorCode": code, "errorDescription": description, "additionalInformation": extra or None}


async def _check_line(customer: dict, line: dict, pending: dict[str, int]) -> dict:
    """Fill a cart line (currency, friendly name) and attach Microsoft's line error if it cannot be bought."""
    parsed = _parse_catalog_item(_first(line, "catalogItemId"))
    out = {
        "id": line.get("id", 0),
        "catalogItemId": _first(line, "catalogItemId"),
        "quantity": int(_first(line, "quantity", default=0) or 0),
        "billingCycle": str(_first(line, "billingCycle", default="") or "").lower(),
        "termDuration": _first(line, "termDuration"),
        "promotionId": _first(line, "promotionId"),
        "customTermEndDate": _as_datetime_text(_first(line, "customTermEndDate")),
        "attestationAccepted": bool(_first(line, "attestationAccepted", default=False)),
        "participants": _first(line, "participants", default=[]) or [],
        "provisioningContext": _first(line, "provisioningContext", default={}) or {},
        "currencyCode": customer["currency"],
        "orderGroup": "0",
    }
    if parsed is None:
        return {**out, "error": _line_error(10001, "The catalog item ID is not valid.")}
    offer, _ = parsed
    out["friendlyName"] = offer.sku_title
    if (out["termDuration"], out["billingCycle"]) not in offer.plans:
        return {**out, "error": _line_error(10013, "The billing plan is not supported for this item.")}
    if not offer.min_quantity <= out["quantity"] <= offer.max_quantity:
        return {
            **out,
            "error": _line_error(
                QUANTITY_OUT_OF_RANGE[0],
                f"Item '{offer.sku_title}' supports quantity range between "
                f"{offer.min_quantity} and {offer.max_quantity}.",
            ),
        }
    if offer.is_trial and await db.fetchval(
        "SELECT 1 FROM pcs_subscriptions WHERE customer_id = $1 AND product_id = $2 AND sku_id = $3 LIMIT 1",
        customer["id"],
        offer.product_id,
        offer.sku_id,
    ):
        return {**out, "error": _line_error(10002, "The customer has already had a trial of this offer.")}
    if offer.tenant_max is not None:
        key = f"{offer.product_id}:{offer.sku_id}"
        owned = await _tenant_seats(customer["id"], offer.product_id, offer.sku_id) + pending.get(key, 0)
        remaining = max(offer.tenant_max - owned, 0)
        if out["quantity"] > remaining:
            return {
                **out,
                "error": _line_error(
                    10015,
                    f"The requested number of {out['quantity']} seats exceeds the remaining limit of "
                    f"{remaining} seats for CatalogItemId - {out['catalogItemId']}.",
                    availableQuantity=remaining,
                ),
            }
        pending[key] = pending.get(key, 0) + out["quantity"]
    if offer.is_addon and not await _owns_prerequisite(customer["id"], offer.prerequisite_skus):
        return {
            **out,
            "error": _line_error(10006, "The addon is not purchasable without a compatible base subscription"),
        }
    if out["customTermEndDate"]:
        if offer.is_trial or out["termDuration"] not in rules.TERM_MONTHS:
            return {**out, "error": _line_error(10016, "This product does not support a custom term end date.")}
        allowed = {
            d["allowedCustomTermEndDate"][:10]
            for d in await allowed_term_end_dates(customer["id"], str(out["termDuration"]), clock.now().date())
        }
        if str(out["customTermEndDate"])[:10] not in allowed:
            return {**out, "error": _line_error(10017, "The custom term end date is not allowed for this purchase.")}
    if offer.requires_attestation and not out["attestationAccepted"]:
        return {**out, "error": _line_error(10012, "The attestation must be accepted for this item.")}
    try:
        out["promotionId"] = await _promotion_for_line(customer["id"], offer, out, clock.now().date())
    except LineRefused as refused:
        return {**out, "error": _line_error(refused.code, refused.description)}
    return out


async def create_cart(customer_id: str, body: dict) -> dict:
    customer = await _customer(customer_id)
    lines = _first(body, "lineItems", default=[]) or []
    if not lines:
        raise bad_request("The cart needs at least one line item.", 10010)
    pending: dict[str, int] = {}
    checked = [await _check_line(customer, {**line, "id": i}, pending) for i, line in enumerate(lines)]
    now = clock.now()
    cart_id = uuid.uuid4()
    cart = {
        "id": str(cart_id),
        "creationTimestamp": shapes.iso(now),
        "lastModifiedTimestamp": shapes.iso(now),
        "expirationTimestamp": shapes.iso(now + rules.CART_LIFETIME),
        "lastModifiedUser": "sandbox",
        "status": "Active",
        "lineItems": checked,
        "attributes": {"objectType": "Cart"},
    }
    await db.execute(
        "INSERT INTO pcs_carts (id, customer_id, data, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)",
        cart_id,
        customer["id"],
        json.dumps(cart),
        now,
        now + rules.CART_LIFETIME,
    )
    return cart


async def get_cart(customer_id: str, cart_id: str) -> dict:
    customer = await _customer(customer_id)
    rows = await db.fetch(
        "SELECT data FROM pcs_carts WHERE id = $1 AND customer_id = $2", _uuid(cart_id), customer["id"]
    )
    if not rows:
        raise not_found("Cart", 800002)
    return json.loads(rows[0]["data"])


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def checkout(customer_id: str, cart_id: str) -> dict:
    """Check out a cart: one order per billing cycle; lines that fail become orderErrors (facts 6.1)."""
    customer = await _customer(customer_id)
    rows = await db.fetch(
        "SELECT * FROM pcs_carts WHERE id = $1 AND customer_id = $2 FOR UPDATE",
        _uuid(cart_id),
        customer["id"],
    )
    if not rows:
        raise not_found("Cart", 800002)
    cart = rows[0]
    if cart["checkout_result"]:  # checking out again returns the first result (facts 6.1)
        return json.loads(cart["checkout_result"])
    now = clock.now()
    if cart["expires_at"] <= now:
        raise bad_request("The cart has expired.", 800003)
    if not await db.fetchval("SELECT 1 FROM pcs_agreements WHERE customer_id = $1", customer["id"]):
        raise PartnerCenterFault(403, *MCA_REQUIRED)
    data = json.loads(cart["data"])
    pending: dict[str, int] = {}
    checked = [await _check_line(customer, line, pending) for line in data["lineItems"]]
    errors = [
        {
            "orderGroupId": line["orderGroup"],
            "code": line["error"]["errorCode"],
            "description": line["error"]["errorDescription"],
        }
        for line in checked
        if line.get("error")
    ]
    groups: dict[str, list[dict]] = {}
    for line in checked:
        if not line.get("error"):
            groups.setdefault(line["billingCycle"], []).append(line)
    orders = [await _create_order(customer, lines, now) for lines in groups.values()]
    result = {"orders": orders, "orderErrors": errors, "attributes": {"objectType": "CartCheckoutResult"}}
    await db.execute("UPDATE pcs_carts SET checkout_result = $2 WHERE id = $1", cart["id"], json.dumps(result))
    return result


async def _create_order(customer: dict, lines: list[dict], now: datetime) -> dict:
    """An order and its subscriptions. Microsoft provisions asynchronously: the order stays `pending`, its
    subscriptions too, for the configured provisioning time, and is billed at purchase (facts 6.1)."""
    order_id = uuid.uuid4().hex[:12].upper()
    change = await price_change_date()
    provisioning = timedelta(milliseconds=(await faults())["provisioning_ms"])
    status = "pending" if provisioning else "completed"
    market = pricing.market_for(customer["country"])
    order_lines = []
    for number, line in enumerate(lines):
        offer, availability = _parse_catalog_item(line["catalogItemId"])  # type: ignore[misc]
        price = pricing.unit_price(
            offer.product_id, offer.sku_id, line["termDuration"], line["billingCycle"], market, change, now
        )
        if price is None:
            raise bad_request(f"No price for {line['catalogItemId']} in {market}.", 10013)
        list_price = price
        promotion = catalog.promotion_by_id(line["promotionId"]) if line["promotionId"] else None
        if promotion:
            percent = promotion.discount_for(offer.product_id, offer.sku_id, line["termDuration"], line["billingCycle"])
            price = rules.promoted_price(price, percent)
        partner = next((p.get("value") for p in line["participants"] if p.get("key") == "transaction_reseller"), "")
        subscription_id = await _create_subscription(
            customer,
            offer,
            availability,
            line,
            order_id,
            price,
            partner or "",
            now,
            "active" if not provisioning else "pending",
        )
        order_lines.append(
            {
                "lineItemNumber": number,
                "offerId": line["catalogItemId"],
                "subscriptionId": str(subscription_id),
                "termDuration": line["termDuration"],
                "transactionType": "New",
                "friendlyName": offer.sku_title,
                "quantity": line["quantity"],
                "partnerIdOnRecord": partner or None,
                "promotionId": line["promotionId"],
                "customTermEndDate": line["customTermEndDate"],
                "pricing": {
                    "listPrice": shapes.money(list_price),
                    "discountedPrice": shapes.money(price),
                    "price": shapes.money(price),
                },
                "links": {"subscription": shapes.link(f"/customers/{customer['id']}/subscriptions/{subscription_id}")},
            }
        )
    order = {
        "id": order_id,
        "alternateId": order_id.lower(),
        "referenceCustomerId": str(customer["id"]),
        "billingCycle": lines[0]["billingCycle"],
        "currencyCode": customer["currency"],
        "lineItems": order_lines,
        "creationDate": shapes.iso(now),
        "status": "completed",
        "transactionType": "UserPurchase",
        "links": {
            "provisioningStatus": shapes.link(f"/customers/{customer['id']}/orders/{order_id}/provisioningstatus"),
            "self": shapes.link(f"/customers/{customer['id']}/orders/{order_id}"),
        },
        "attributes": {"objectType": "Order"},
    }
    await db.execute(
        "INSERT INTO pcs_orders (id, customer_id, data, created_at, status, ready_at) VALUES ($1,$2,$3,$4,$5,$6)",
        order_id,
        customer["id"],
        json.dumps(order),
        now,
        status,
        now + provisioning,
    )
    return _order_json(order, status)


def _order_json(order: dict, status: str) -> dict:
    """While an order is provisioning its line items carry no subscription ids yet (facts 6.1)."""
    if status == "completed":
        return order
    lines = [{k: v for k, v in li.items() if k not in ("subscriptionId", "links")} for li in order["lineItems"]]
    return {**order, "status": status, "lineItems": lines}


async def settle_orders(now: datetime, customer_id: uuid.UUID | None = None) -> int:
    """Finish provisioning what is due: pending orders complete and their subscriptions become active."""
    done = await db.fetch(
        "UPDATE pcs_orders SET status = 'completed' WHERE status = 'pending' AND ready_at <= $1 "
        "AND ($2::uuid IS NULL OR customer_id = $2) RETURNING id",
        now,
        customer_id,
    )
    if done:
        await db.execute(
            "UPDATE pcs_subscriptions SET status = 'active', status_changed_at = $2, etag = etag + 1 "
            "WHERE order_id = ANY($1::text[]) AND status = 'pending'",
            [r["id"] for r in done],
            now,
        )
    return len(done)


async def order_provisioning_status(customer_id: str, order_id: str) -> list[dict]:
    """GET .../orders/{id}/provisioningstatus: per line item, pending or fulfilled (sample shape)."""
    order = await get_order(customer_id, order_id)
    state = "fulfilled" if order["status"] == "completed" else "pending"
    return [
        {
            "orderLineItemId": li["lineItemNumber"],
            "lineItemNumber": li["lineItemNumber"],
            "status": state,
            "quantityProvisioningInformation": [{"quantity": li["quantity"], "status": state}],
        }
        for li in order["lineItems"]
    ]


async def _create_subscription(
    customer: dict,
    offer: catalog.Offer,
    availability: str,
    line: dict,
    order_id: str,
    price: Decimal,
    partner: str,
    now: datetime,
    status: str = "active",
    *,
    charge_type: str = "new",
    batches: list[tuple[int, datetime]] | None = None,
) -> uuid.UUID:
    """A subscription bought now, billed `charge_type`; its seats get one new 168-hour window unless `batches`
    says otherwise (seats moved by a partial upgrade keep the windows they had)."""
    subscription_id = uuid.uuid4()
    start = now.date()
    term = line["termDuration"]
    end = rules.term_end(start, term) if term else None
    if line.get("customTermEndDate") and term:
        end = date.fromisoformat(str(line["customTermEndDate"])[:10])
    batches = batches or [(line["quantity"], now + rules.CANCELLATION_WINDOW)]
    window_ends = max(until for _, until in batches)
    await db.execute(
        "INSERT INTO pcs_subscriptions (id, customer_id, order_id, product_id, sku_id, availability_id, segment, "
        "friendly_name, quantity, status, term_duration, billing_cycle, unit_price, currency, start_date, end_date, "
        "auto_renew, is_trial, promotion_id, partner_id, window_ends_at, status_changed_at, created_at) VALUES "
        "($1,$2,$3,$4,$5,$6,$7,$8,$9,$22,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$21)",
        subscription_id,
        customer["id"],
        order_id,
        offer.product_id,
        offer.sku_id,
        availability,
        offer.segment,
        offer.sku_title,
        line["quantity"],
        term,
        line["billingCycle"],
        price,
        customer["currency"],
        start,
        end,
        bool(term) and offer.kind != "trial",
        offer.kind == "trial",
        line["promotionId"],
        partner,
        window_ends,
        now,
        status,
    )
    await _set_batches(subscription_id, batches)
    sub = await _subscription_row(customer["id"], subscription_id)
    if term and end:
        period, per_seat = _charge_for(sub, start)
        await _post_charges(sub, [rules.Charge(charge_type, line["quantity"], per_seat)], period, order_id, now)
    elif offer.kind == "perpetual":
        await _post_charges(
            sub, [rules.Charge(charge_type, line["quantity"], price)], rules.Period(start, start), order_id, now
        )
    return subscription_id


async def _set_batches(subscription_id: uuid.UUID, batches: list[tuple[int, datetime]]) -> None:
    """Replace a subscription's seat batches (each with the end of its own cancellation window)."""
    await db.execute("DELETE FROM pcs_seat_batches WHERE subscription_id = $1", subscription_id)
    await db.execute(
        "INSERT INTO pcs_seat_batches (subscription_id, quantity, allowed_until) "
        "SELECT $1, q, u FROM unnest($2::int[], $3::timestamptz[]) AS b(q, u) WHERE q > 0",
        subscription_id,
        [q for q, _ in batches],
        [u for _, u in batches],
    )


def _charge_for(sub: dict, on: date) -> tuple[rules.Period, Decimal]:
    """The billing period containing `on` and what one seat costs from `on` to its end (NCE_RULES 5)."""
    return charge_from(
        sub["start_date"], sub["end_date"], sub["term_duration"], sub["billing_cycle"], sub["unit_price"],
        sub["currency"], on,
    )  # fmt: skip


def _line_row(sub: dict, period: rules.Period, per_seat: Decimal) -> tuple:
    """One line item's values for _insert_lines (the subscription's current quantity)."""
    return (
        sub["customer_id"],
        sub["id"],
        sub["order_id"],
        sub["quantity"],
        sub["unit_price"],
        per_seat,
        sub["currency"],
        period.start,
        period.end,
        sub["promotion_id"],
    )


async def _post_charges(
    sub: dict,
    charges: list[rules.Charge],
    period: rules.Period,
    order_id: str | None,
    now: datetime,
    reference: str | None = None,
) -> None:
    if not charges:
        return
    await db.execute(
        "INSERT INTO pcs_line_items (customer_id, subscription_id, order_id, charge_type, quantity, unit_price, "
        "effective_unit_price, subtotal, currency, charge_start, charge_end, reference_id, promotion_id, created_at) "
        "SELECT $1, $2, $3, c.charge_type, c.quantity, $4, c.per_seat, c.per_seat * c.quantity, "
        "$5, $6, $7, $8, $9, $10 "
        "FROM unnest($11::text[], $12::int[], $13::numeric[]) AS c(charge_type, quantity, per_seat)",
        sub["customer_id"],
        sub["id"],
        order_id,
        sub["unit_price"],
        sub["currency"],
        period.start,
        period.end,
        reference,
        sub["promotion_id"],
        now,
        [c.charge_type for c in charges],
        [c.quantity for c in charges],
        [c.per_seat for c in charges],
    )


async def list_orders(customer_id: str) -> list[dict]:
    customer = await _customer(customer_id)
    await settle_orders(clock.now(), customer["id"])
    rows = await db.fetch(
        "SELECT data, status FROM pcs_orders WHERE customer_id = $1 ORDER BY created_at", customer["id"]
    )
    return [_order_json(json.loads(r["data"]), r["status"]) for r in rows]


async def get_order(customer_id: str, order_id: str) -> dict:
    customer = await _customer(customer_id)
    await settle_orders(clock.now(), customer["id"])
    rows = await db.fetch(
        "SELECT data, status FROM pcs_orders WHERE id = $1 AND customer_id = $2", order_id, customer["id"]
    )
    if not rows:
        raise not_found("Order", 20000)
    return _order_json(json.loads(rows[0]["data"]), rows[0]["status"])


# --- Subscriptions -------------------------------------------------------------------------------


async def _subscription_row(
    customer_id: uuid.UUID, subscription_id: uuid.UUID | str | None, lock: bool = False
) -> dict:
    key = _uuid(str(subscription_id)) if subscription_id else None
    rows = (
        await db.fetch(
            "SELECT * FROM pcs_subscriptions WHERE id = $1 AND customer_id = $2" + (" FOR UPDATE" if lock else ""),
            key,
            customer_id,
        )
        if key
        else []
    )
    if not rows:
        raise not_found("Subscription", 800002)
    row = rows[0]
    if isinstance(row["scheduled"], str):
        row["scheduled"] = json.loads(row["scheduled"])
    return row


async def _batches(subscription_id: uuid.UUID) -> list[tuple[int, datetime]]:
    rows = await db.fetch(
        "SELECT quantity, allowed_until FROM pcs_seat_batches WHERE subscription_id = $1", subscription_id
    )
    return [(r["quantity"], r["allowed_until"]) for r in rows]


async def subscription_json(row: dict) -> dict:
    return shapes.subscription(row, await _batches(row["id"]), clock.now())


async def get_subscription(customer_id: str, subscription_id: str) -> dict:
    customer = await _customer(customer_id)
    await settle_orders(clock.now(), customer["id"])
    return await subscription_json(await _subscription_row(customer["id"], subscription_id))


async def list_subscriptions(customer_id: str, order_id: str | None = None) -> list[dict]:
    customer = await _customer(customer_id)
    await settle_orders(clock.now(), customer["id"])
    rows = await db.fetch(
        "SELECT * FROM pcs_subscriptions WHERE customer_id = $1 AND ($2::text IS NULL OR order_id = $2) "
        "ORDER BY created_at, id",
        customer["id"],
        order_id,
    )
    batches = await db.fetch(
        "SELECT subscription_id, quantity, allowed_until FROM pcs_seat_batches WHERE subscription_id = ANY($1)",
        [r["id"] for r in rows],
    )
    by_sub: dict[uuid.UUID, list[tuple[int, datetime]]] = {}
    for b in batches:
        by_sub.setdefault(b["subscription_id"], []).append((b["quantity"], b["allowed_until"]))
    now = clock.now()
    out = []
    for row in rows:
        if isinstance(row["scheduled"], str):
            row["scheduled"] = json.loads(row["scheduled"])
        out.append(shapes.subscription(row, by_sub.get(row["id"], []), now))
    return out


async def update_subscription(customer_id: str, subscription_id: str, body: dict, if_match: str | None) -> dict:
    """PATCH a subscription: quantity, autoRenewEnabled, status, scheduledNextTermInstructions (facts 7.3, 7.4)."""
    customer = await _customer(customer_id)
    await settle_orders(clock.now(), customer["id"])
    sub = await _subscription_row(customer["id"], subscription_id, lock=True)
    if sub["is_legacy"]:  # NCE rules do not apply to legacy subscriptions; the sandbox only migrates them
        raise bad_request("Legacy subscriptions cannot be changed in the sandbox; migrate them to new commerce.")
    if sub["status"] == "pending":
        raise PartnerCenterFault(409, *PENDING_OPERATION)
    if if_match and if_match.strip('"') != str(sub["etag"]):
        raise bad_request(STALE_ETAG[1], STALE_ETAG[0])
    now = clock.now()
    today = now.date()
    status = str(_first(body, "status", default=sub["status"]) or sub["status"]).lower()
    quantity = _first(body, "quantity", default=sub["quantity"])
    quantity = sub["quantity"] if quantity is None else int(quantity)
    auto_renew = _first(body, "autoRenewEnabled", default=sub["auto_renew"])
    has_scheduled = any(k.lower() == "schedulednexttermInstructions".lower() for k in body)
    scheduled = _first(body, "scheduledNextTermInstructions") if has_scheduled else sub["scheduled"]
    offer = catalog.offer_by_key(sub["product_id"], sub["sku_id"])
    assert offer is not None  # a subscription only exists for an offer of the shipped catalog

    if sub["status"] in ("expired", "disabled", "deleted"):
        raise bad_request("The subscription is not active and cannot be changed.", 800092)
    if sub["status"] == "suspended" and status != "active":
        raise bad_request(SUSPENDED_UPDATE[1], SUSPENDED_UPDATE[0])

    updates: dict[str, Any] = {}
    immediate_change = False
    if status == "deleted":
        if sub["window_ends_at"] is None or now > sub["window_ends_at"]:
            raise bad_request(CANCEL_WINDOW_CLOSED[1], CANCEL_WINDOW_CLOSED[0])
        await _cancel(sub, now)
        updates.update(status="deleted", auto_renew=False, scheduled=None)
    elif status == "suspended" and sub["status"] == "active":
        if quantity != sub["quantity"]:
            raise bad_request(QUANTITY_WHILE_SUSPENDING[1], QUANTITY_WHILE_SUSPENDING[0])
        updates.update(status="suspended", scheduled=None)  # suspension deletes scheduled changes (facts 7.4)
    elif status == "active" and sub["status"] == "suspended":
        updates.update(status="active")
    elif status not in ("active", sub["status"]):
        raise bad_request(f"The status {status} is not a valid target.", 800095)

    if quantity != sub["quantity"] and "status" not in updates:
        await _change_quantity(sub, offer, customer, quantity, now, today)
        updates["quantity"] = quantity
        immediate_change = True

    if bool(auto_renew) != sub["auto_renew"] and updates.get("status") != "deleted":
        if sub["is_trial"] or not sub["term_duration"]:
            raise bad_request(AUTO_RENEW_NOT_ALLOWED[1], AUTO_RENEW_NOT_ALLOWED[0])
        updates["auto_renew"] = bool(auto_renew)
        if not auto_renew:
            updates["scheduled"] = None

    # sending back the instructions it already has is fine (PATCH takes the whole resource); new ones need auto-renew
    if has_scheduled and scheduled and not bool(auto_renew) and _check_scheduled(scheduled, sub) != sub["scheduled"]:
        raise bad_request("Scheduled changes need auto-renew to be on.", 800096)
    if has_scheduled and "scheduled" not in updates:
        checked = _check_scheduled(scheduled, sub) if scheduled else None
        # a mid-term change deletes them (facts 7.4), even when the full resource sent them back unchanged
        updates["scheduled"] = None if immediate_change and checked == sub["scheduled"] else checked
    elif immediate_change and sub["scheduled"]:
        updates["scheduled"] = None  # Microsoft deletes scheduled changes on any immediate change

    if updates:
        await _apply(sub["id"], updates, now)
    return await subscription_json(await _subscription_row(customer["id"], sub["id"]))


def _check_scheduled(scheduled: dict, sub: dict) -> dict:
    product = _first(scheduled, "product", default={}) or {}
    product_id = _first(product, "productId", default=sub["product_id"])
    sku_id = _first(product, "skuId", default=sub["sku_id"])
    offer = catalog.offer_by_key(product_id, sku_id)
    if offer is None:
        raise bad_request("The scheduled product is not in the catalog.", 10001)
    current = catalog.offer_by_key(sub["product_id"], sub["sku_id"])
    if offer is not current and (current is None or offer.key not in current.upgrade_targets):
        raise bad_request(rules.TRANSITION_ERRORS[7], 7)  # a scheduled SKU change is a scheduled upgrade
    quantity = int(_first(scheduled, "quantity", default=sub["quantity"]))
    if not offer.min_quantity <= quantity <= offer.max_quantity:
        raise bad_request(QUANTITY_OUT_OF_RANGE[1], QUANTITY_OUT_OF_RANGE[0])
    term = _first(product, "termDuration", default=sub["term_duration"])
    cycle = str(_first(product, "billingCycle", default=sub["billing_cycle"])).lower()
    if (term, cycle) not in offer.plans:
        raise bad_request("The billing plan is not supported for this item.", 10013)
    return {
        "product": {
            "productId": product_id,
            "skuId": sku_id,
            "availabilityId": offer.availability_id,
            "billingCycle": cycle,
            "termDuration": term,
            "promotionId": _first(product, "promotionId"),
        },
        "quantity": quantity,
        "customTermEndDate": _as_datetime_text(_first(scheduled, "customTermEndDate")),
    }


async def _apply(subscription_id: uuid.UUID, updates: dict[str, Any], now: datetime) -> None:
    columns = {
        "status": "status",
        "quantity": "quantity",
        "auto_renew": "auto_renew",
        "scheduled": "scheduled",
    }
    sets: list[str] = ["etag = etag + 1"]
    args: list[object] = [subscription_id]
    for key, value in updates.items():
        args.append(json.dumps(value) if key == "scheduled" and value is not None else value)
        sets.append(f"{columns[key]} = ${len(args)}")
    if "status" in updates:
        args.append(now)
        sets.append(f"status_changed_at = ${len(args)}")
    await db.execute(f"UPDATE pcs_subscriptions SET {', '.join(sets)} WHERE id = $1", *args)


async def _change_quantity(
    sub: dict, offer: catalog.Offer, customer: dict, quantity: int, now: datetime, today: date
) -> None:
    if sub["status"] != "active":
        raise bad_request(SUSPENDED_UPDATE[1], SUSPENDED_UPDATE[0])
    if not offer.min_quantity <= quantity <= offer.max_quantity:
        raise bad_request(QUANTITY_OUT_OF_RANGE[1], QUANTITY_OUT_OF_RANGE[0])
    batches = await _batches(sub["id"])
    if quantity > sub["quantity"]:
        added = quantity - sub["quantity"]
        await check_tenant_cap(customer["id"], offer, added)
        await db.execute(
            "INSERT INTO pcs_seat_batches (subscription_id, quantity, allowed_until) VALUES ($1,$2,$3)",
            sub["id"],
            added,
            now + rules.CANCELLATION_WINDOW,
        )
        charge_type = "addQuantity"
    else:
        removed = sub["quantity"] - quantity
        if removed > rules.refundable_quantity(batches, now):
            raise bad_request(QUANTITY_CANNOT_DECREASE[1], QUANTITY_CANNOT_DECREASE[0])
        await _set_batches(sub["id"], rules.take_from_batches(batches, removed, now))
        charge_type = "removeQuantity"
    if sub["term_duration"] and sub["end_date"]:
        period, per_seat = _charge_for(sub, today)
        await _post_charges(
            sub,
            rules.quantity_change_charges(charge_type, sub["quantity"], quantity, per_seat),
            period,
            sub["order_id"],
            now,
        )


async def _cancel(sub: dict, now: datetime) -> None:
    """Cancel inside the window: refund the rest of the current period (facts 9.4)."""
    if sub["term_duration"] and sub["end_date"]:
        today = now.date()
        period, per_seat = _charge_for(sub, today)
        await _post_charges(
            sub, [rules.Charge("cancelImmediate", sub["quantity"], -per_seat)], period, sub["order_id"], now
        )
    await db.execute("DELETE FROM pcs_seat_batches WHERE subscription_id = $1", sub["id"])


# --- Billing line items --------------------------------------------------------------------------

_LINE_SQL = (
    "SELECT l.*, s.product_id, s.sku_id, s.availability_id, s.friendly_name, s.start_date, s.end_date, "
    "s.term_duration, s.billing_cycle, s.partner_id AS partner_mpn, c.company_name, c.domain "
    "FROM pcs_line_items l JOIN pcs_subscriptions s ON s.id = l.subscription_id "
    "JOIN pcs_customers c ON c.id = l.customer_id "
)


async def _line_page(where: str, args: tuple, size: int, after: int | None) -> tuple[list[dict], int | None]:
    """One page of line items in id order, and the id to continue after when there are more."""
    state = await ensure_state()
    n = len(args)
    rows = await db.fetch(
        _LINE_SQL + f"WHERE {where} AND l.id > ${n + 1} ORDER BY l.id LIMIT ${n + 2}", *args, after or 0, size + 1
    )
    more = len(rows) > size
    rows = rows[:size]
    items = [shapes.line_item(r, str(state["partner_tenant_id"])) for r in rows]
    return items, rows[-1]["id"] if more and rows else None


async def unbilled_line_items(currency: str | None, size: int, after: int | None) -> tuple[list[dict], int | None]:
    return await _line_page(
        "l.invoice_id IS NULL AND ($1::text IS NULL OR l.currency = upper($1))", (currency,), size, after
    )


async def invoice_line_items(invoice_id: str, size: int, after: int | None) -> tuple[list[dict], int | None]:
    if not await db.fetchval("SELECT 1 FROM pcs_invoices WHERE id = $1", invoice_id):
        raise not_found("Invoice", 20000)
    return await _line_page("l.invoice_id = $1", (invoice_id,), size, after)


def invoice_json(row: dict) -> dict:
    return {
        "id": row["id"],
        "invoiceDate": shapes.iso(row["invoice_date"]),
        "billingPeriodStartDate": shapes.iso(row["period_start"]),
        "billingPeriodEndDate": shapes.iso(row["period_end"]),
        "totalCharges": shapes.money(row["total"]),
        "paidAmount": 0,
        "currencyCode": row["currency"],
        "documentType": "invoice",
        "invoiceType": "OneTime",
        "invoiceDetails": [
            {
                "invoiceLineItemType": "billing_line_items",
                "billingProvider": "one_time",
                "links": {"self": shapes.link(f"/invoices/{row['id']}/lineitems/OneTime/BillingLineItems")},
            }
        ],
        "attributes": {"objectType": "Invoice"},
    }


async def list_invoices() -> list[dict]:
    return [invoice_json(r) for r in await db.fetch("SELECT * FROM pcs_invoices ORDER BY invoice_date, id")]


async def get_invoice(invoice_id: str) -> dict:
    rows = await db.fetch("SELECT * FROM pcs_invoices WHERE id = $1", invoice_id)
    if not rows:
        raise not_found("Invoice", 20000)
    return invoice_json(rows[0])


# --- Time passing --------------------------------------------------------------------------------


async def run_scheduler(now: datetime) -> dict[str, int]:
    """Everything due by `now`: monthly cycle charges, renewals and expiries at term end, expired ->
    disabled (30 days) -> deleted (90 days), monthly invoices. Idempotent: running it twice does nothing more."""
    counts = {"provisioned": await settle_orders(now), "cycle_charges": await _cycle_charges(now)}
    counts.update(await _term_ends(now))
    counts["disabled"] = int(
        (
            await db.execute(
                "UPDATE pcs_subscriptions SET status = 'disabled', etag = etag + 1, "
                "status_changed_at = (end_date + $2::int + 1)::timestamp AT TIME ZONE 'UTC' "
                "WHERE status = 'expired' AND end_date + $2::int < $1::date",
                now,
                rules.EXPIRED_DAYS,
            )
        ).split()[-1]
    )
    counts["deleted"] = int(
        (
            await db.execute(
                "UPDATE pcs_subscriptions SET status = 'deleted', etag = etag + 1, "
                "status_changed_at = status_changed_at + make_interval(days => $2) "
                "WHERE status = 'disabled' AND status_changed_at + make_interval(days => $2) <= $1",
                now,
                rules.DISABLED_DAYS,
            )
        ).split()[-1]
    )
    counts["invoices"] = await _close_invoices(now)
    return counts


async def _cycle_charges(now: datetime) -> int:
    """Monthly plans charge each month on the subscription's start day (NCE_RULES 5)."""
    today = now.date()
    subs = await db.fetch(
        "SELECT s.*, (SELECT max(charge_start) FROM pcs_line_items l WHERE l.subscription_id = s.id "
        "AND l.charge_type IN ('new', 'cycleCharge', 'renew')) AS last_charged "
        "FROM pcs_subscriptions s WHERE s.billing_cycle = 'monthly' AND s.status IN ('active', 'suspended') "
        "AND s.term_duration IS NOT NULL AND NOT s.is_legacy"
    )
    rows: list[tuple] = []
    for sub in subs:
        # the k-th month starts k months after the term's start (Jan 31 -> Feb 28 -> Mar 31), never a month
        # after the last charge (Feb 28 -> Mar 28)
        last, k = sub["last_charged"] or sub["start_date"], 1
        while rules.add_months(sub["start_date"], k) <= last:
            k += 1
        while (on := rules.add_months(sub["start_date"], k)) <= min(today, sub["end_date"]):
            rows.append(_line_row(sub, *_charge_for(sub, on)))
            k += 1
    await _insert_lines("cycleCharge", rows, now)
    return len(rows)


async def _insert_lines(charge_type: str, rows: list[tuple], now: datetime) -> None:
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    await db.execute(
        "INSERT INTO pcs_line_items (customer_id, subscription_id, order_id, charge_type, quantity, unit_price, "
        "effective_unit_price, subtotal, currency, charge_start, charge_end, promotion_id, created_at) "
        "SELECT c, s, o, $1, q, u, p, p * q, cur, cs, ce, promo, $2 FROM unnest($3::uuid[], $4::uuid[], $5::text[], "
        "$6::int[], $7::numeric[], $8::numeric[], $9::text[], $10::date[], $11::date[], $12::text[]) "
        "AS r(c, s, o, q, u, p, cur, cs, ce, promo)",
        charge_type,
        now,
        *[list(col) for col in columns],
    )


async def _term_ends(now: datetime) -> dict[str, int]:
    """At term end: renew at the price then in force (scheduled change applied) or expire (facts 7.5)."""
    today = now.date()
    due = await db.fetch(
        "SELECT s.*, c.country FROM pcs_subscriptions s JOIN pcs_customers c ON c.id = s.customer_id "
        "WHERE s.status IN ('active', 'suspended') AND s.end_date < $1 AND NOT s.is_legacy ORDER BY s.end_date",
        today,
    )
    change = await price_change_date()
    renewed, expired = [], []
    for sub in due:
        if isinstance(sub["scheduled"], str):
            sub["scheduled"] = json.loads(sub["scheduled"])
        if rules.next_status_after_term(sub["auto_renew"], sub["status"], sub["is_trial"]) != "renew":
            expired.append(sub["id"])
            continue
        # a subscription several terms behind (the clock moved far) renews term after term
        start = sub["end_date"] + timedelta(days=1)
        while True:
            scheduled = sub["scheduled"] or {}
            product = scheduled.get("product") or {}
            product_id = product.get("productId", sub["product_id"])
            sku_id = product.get("skuId", sub["sku_id"])
            term = product.get("termDuration", sub["term_duration"])
            cycle = product.get("billingCycle", sub["billing_cycle"])
            quantity = scheduled.get("quantity", sub["quantity"])
            at = datetime.combine(start, datetime.min.time(), tzinfo=now.tzinfo)
            price = pricing.unit_price(product_id, sku_id, term, cycle, pricing.market_for(sub["country"]), change, at)
            offer = catalog.offer_by_key(product_id, sku_id)
            if price is None or offer is None:
                expired.append(sub["id"])
                break
            end = rules.term_end(start, term)
            if scheduled.get("customTermEndDate"):  # the next term co-terms (facts 7.4)
                end = min(end, date.fromisoformat(str(scheduled["customTermEndDate"])[:10]))
            promotion_id = await _renewal_promotion(sub["customer_id"], offer, term, cycle, quantity, product, start)
            if promotion_id:
                promotion = catalog.promotion_by_id(promotion_id)
                assert promotion is not None  # _renewal_promotion only returns known promotions
                price = rules.promoted_price(price, promotion.discount_for(product_id, sku_id, term, cycle))
            sub.update(
                promotion_id=promotion_id,
                product_id=product_id,
                sku_id=sku_id,
                term_duration=term,
                billing_cycle=cycle,
                quantity=quantity,
                unit_price=price,
                start_date=start,
                end_date=end,
                scheduled=None,
                availability_id=offer.availability_id,
                friendly_name=offer.sku_title,
            )
            renewed.append(dict(sub, renewed_at=at))
            if end >= today:
                break
            start = end + timedelta(days=1)
    if expired:
        await db.execute(
            "UPDATE pcs_subscriptions SET status = 'expired', auto_renew = false, "
            "status_changed_at = (end_date + 1)::timestamp AT TIME ZONE 'UTC', etag = etag + 1 WHERE id = ANY($1)",
            expired,
        )
    latest = {r["id"]: r for r in renewed}
    if latest:
        subs = list(latest.values())
        await db.execute(
            "UPDATE pcs_subscriptions s SET product_id = r.p, sku_id = r.k, availability_id = r.a, "
            "friendly_name = r.f, "
            "term_duration = r.t, billing_cycle = r.b, quantity = r.q, unit_price = r.u, start_date = r.sd, "
            "end_date = r.ed, scheduled = NULL, window_ends_at = r.w, promotion_id = r.promo, etag = s.etag + 1 "
            "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
            "$8::int[], $9::numeric[], $10::date[], $11::date[], $12::timestamptz[], $13::text[]) "
            "AS r(id, p, k, a, f, t, b, q, u, sd, ed, w, promo) WHERE s.id = r.id",
            [s["id"] for s in subs],
            [s["product_id"] for s in subs],
            [s["sku_id"] for s in subs],
            [s["availability_id"] for s in subs],
            [s["friendly_name"] for s in subs],
            [s["term_duration"] for s in subs],
            [s["billing_cycle"] for s in subs],
            [s["quantity"] for s in subs],
            [s["unit_price"] for s in subs],
            [s["start_date"] for s in subs],
            [s["end_date"] for s in subs],
            [s["renewed_at"] + rules.CANCELLATION_WINDOW for s in subs],
            [s["promotion_id"] for s in subs],
        )
        # a renewal starts one new window for all the seats; the old batches are history
        await db.execute(
            "DELETE FROM pcs_seat_batches WHERE subscription_id = ANY($1::uuid[])", [s["id"] for s in subs]
        )
        await db.execute(
            "INSERT INTO pcs_seat_batches (subscription_id, quantity, allowed_until) "
            "SELECT * FROM unnest($1::uuid[], $2::int[], $3::timestamptz[])",
            [s["id"] for s in subs],
            [s["quantity"] for s in subs],
            [s["renewed_at"] + rules.CANCELLATION_WINDOW for s in subs],
        )
    lines = []
    for sub in renewed:
        lines.append(_line_row(sub, *_charge_for(sub, sub["start_date"])))
    await _insert_lines("renew", lines, now)
    return {"renewed": len(renewed), "expired": len(expired)}


async def _renewal_promotion(
    customer_id: uuid.UUID, offer: catalog.Offer, term: str, cycle: str, quantity: int, product: dict, on: date
) -> str | None:
    """Promotions are re-evaluated at renewal (NCE_RULES 4): the one the scheduled change names if it still
    applies, else an auto-applicable one; a first-purchase promotion never applies again."""
    line = {
        "termDuration": term,
        "billingCycle": cycle,
        "quantity": quantity,
        "promotionId": product.get("promotionId"),
    }
    try:
        return await _promotion_for_line(customer_id, offer, line, on)
    except LineRefused:
        return await _promotion_for_line(customer_id, offer, {**line, "promotionId": None}, on)


async def _close_invoices(now: datetime) -> int:
    """Microsoft invoices the partner monthly: on the 1st, last month's line items go on one invoice per currency."""
    month_start = now.date().replace(day=1)
    rows = await db.fetch(
        "SELECT currency, date_trunc('month', created_at)::date AS month, sum(subtotal) AS total "
        "FROM pcs_line_items WHERE invoice_id IS NULL AND created_at < $1 GROUP BY 1, 2 ORDER BY 2, 1",
        datetime.combine(month_start, datetime.min.time(), tzinfo=now.tzinfo),
    )
    for row in rows:
        invoice_id = f"G{row['month']:%Y%m}{row['currency']}"
        period_end = rules.add_months(row["month"], 1) - timedelta(days=1)
        await db.execute(
            "INSERT INTO pcs_invoices (id, invoice_date, period_start, period_end, currency, total, created_at) "
            "VALUES ($1, $2, $3, $4, $5, round($6, 2), $7) ON CONFLICT (id) DO NOTHING",
            invoice_id,
            period_end + timedelta(days=1),
            row["month"],
            period_end,
            row["currency"],
            row["total"],
            now,
        )
        await db.execute(
            "UPDATE pcs_line_items SET invoice_id = $1 WHERE invoice_id IS NULL AND currency = $2 "
            "AND date_trunc('month', created_at)::date = $3",
            invoice_id,
            row["currency"],
            row["month"],
        )
    return len(rows)


# --- Faults --------------------------------------------------------------------------------------


async def set_faults(
    error_rate: Decimal, throttle_rate: Decimal, latency_ms: int, provisioning_ms: int | None = None
) -> dict:
    """Injected failures, and how long orders take to provision (None keeps the current time)."""
    await db.execute(
        "UPDATE pcs_faults SET error_rate = $1, throttle_rate = $2, latency_ms = $3, "
        "provisioning_ms = coalesce($4, provisioning_ms) WHERE id = 1",
        error_rate,
        throttle_rate,
        latency_ms,
        provisioning_ms,
    )
    return await faults()


async def faults() -> dict:
    row = (
        await db.fetch("SELECT error_rate, throttle_rate, latency_ms, provisioning_ms FROM pcs_faults WHERE id = 1")
    )[0]
    # "f": a tiny share stays a decimal string ("0.0000001", not str()'s "1E-7")
    return {
        "error_rate": format(row["error_rate"], "f"),
        "throttle_rate": format(row["throttle_rate"], "f"),
        "latency_ms": row["latency_ms"],
        "provisioning_ms": row["provisioning_ms"],
    }


# --- Catalog and price sheets ------------------------------------------------------------------------------

VIEWS = {"onlineservices": ("license", "trial"), "software": ("software_subscription", "perpetual")}


def _segment_matches(offer: catalog.Offer, segment: str | None) -> bool:
    return segment is None or offer.segment == segment.lower().replace("charity", "nonprofit")


def products(country: str, target_view: str, segment: str | None) -> list[dict]:
    kinds = VIEWS.get(target_view.lower())
    if kinds is None:
        raise bad_request(f"The target view {target_view} is not supported.", 400)
    seen: dict[str, dict] = {}
    for offer in catalog.OFFERS:
        if offer.kind in kinds and _segment_matches(offer, segment) and offer.product_id not in seen:
            seen[offer.product_id] = shapes.product(offer, country)
    return list(seen.values())


def _offers_of(product_id: str, segment: str | None = None) -> list[catalog.Offer]:
    offers = [o for o in catalog.OFFERS if o.product_id == product_id]
    if not offers:
        raise not_found("Product", 400013)
    return [o for o in offers if _segment_matches(o, segment)]


def product_by_id(product_id: str, country: str) -> dict:
    return shapes.product(_offers_of(product_id)[0], country)


def skus(product_id: str, country: str, segment: str | None) -> list[dict]:
    return [shapes.sku(o, country) for o in _offers_of(product_id, segment)]


def _offer(product_id: str, sku_id: str) -> catalog.Offer:
    offer = catalog.offer_by_key(product_id, sku_id)
    if offer is None:
        raise not_found("Sku", 400013)
    return offer


def sku_by_id(product_id: str, sku_id: str, country: str) -> dict:
    return shapes.sku(_offer(product_id, sku_id), country)


def availabilities(product_id: str, sku_id: str, country: str, segment: str | None) -> list[dict]:
    offer = _offer(product_id, sku_id)
    if not _segment_matches(offer, segment):
        return []
    market = pricing.market_for(country.upper())
    return [shapes.availability(offer, country, pricing.currency_of(market))]


async def price_sheet(market: str, view: str, timeline: str = "current") -> str:
    """The sheet of a month: `current` (this month) or `future` (next month's preview, facts 5.1)."""
    if view.lower() != "updatedlicensebased":
        raise bad_request(f"The price sheet view {view} is not available in the sandbox.", 400)
    if market.upper() not in catalog.MARKETS:
        raise bad_request(f"The market {market} is not supported.", 400)
    if timeline.lower() not in ("current", "future"):
        raise bad_request(f"The timeline {timeline} is not available in the sandbox.", 400)
    month = clock.now().date().replace(day=1)
    if timeline.lower() == "future":
        month = rules.add_months(month, 1)
    start = datetime.combine(month, datetime.min.time())
    window = (start, datetime.combine(rules.add_months(month, 1), datetime.min.time()) - timedelta(seconds=1))
    return catalog.price_sheet_csv(market.upper(), await price_change_date(), window=window)


# --- Address validation and qualifications (facts 3.2, 3.3) ---------------------------------------------

SETTABLE_QUALIFICATIONS = {
    "education": "Education",
    "governmentcommunitycloud": "GovernmentCommunityCloud",
    "stateownedentity": "StateOwnedEntity",
}
GCC_VALIDATION_CODE = "sandbox-gcc"  # the sandbox's one validation code (GET /customers/all/validations)
VETTING_TIME = timedelta(days=1)  # Microsoft reviews qualifications; the sandbox approves after a day


def validate_address(body: dict) -> dict:
    """Verified when the street, city and postal code fit the country; otherwise what is missing."""
    address = {k: _first(body, k) for k in ("addressLine1", "addressLine2", "city", "state", "postalCode", "country")}
    original = {k: v for k, v in address.items() if v}
    country = str(address["country"] or "").upper()
    if not country or not address["addressLine1"] or not address["city"]:
        return {
            "originalAddress": original,
            "suggestedAddresses": [],
            "status": "StreetPartial",
            "validationMessage": "The street address, city and country are required.",
        }
    if message := postal_code_error(country, str(address["postalCode"] or "")):
        return {"originalAddress": original, "suggestedAddresses": [], "status": "None", "validationMessage": message}
    suggested = {
        **original,
        "country": country,
        "postalCode": normalize_postal_code(country, str(address["postalCode"] or "")),
    }
    return {"originalAddress": original, "suggestedAddresses": [suggested], "status": "VerifiedShippable"}


def _qualification_json(row: dict, now: datetime) -> dict:
    status = row["vetting_status"]
    if status == "InReview" and row["created_at"] + VETTING_TIME <= now:
        status = "Approved"
    return {
        "qualification": row["qualification"],
        "vettingStatus": status,
        "vettingCreateDate": shapes.iso(row["created_at"]),
        **json.loads(row["data"]),
    }


async def list_qualifications(customer_id: str) -> list[dict]:
    customer = await _customer(customer_id)
    rows = await db.fetch("SELECT * FROM pcs_qualifications WHERE customer_id = $1 ORDER BY created_at", customer["id"])
    return [_qualification_json(r, clock.now()) for r in rows]


async def add_qualification(customer_id: str, body: dict, code: str | None) -> dict:
    customer = await _customer(customer_id)
    requested = str(_first(body, "qualification", default="") or "")
    name = SETTABLE_QUALIFICATIONS.get(requested.lower())
    if name is None:
        raise bad_request(f"The qualification {requested or '(empty)'} cannot be set by a partner.", 600050)
    extra: dict[str, Any] = {}
    if name == "Education":
        segment = _first(body, "educationSegment")
        if segment not in ("K12", "HigherEducation"):
            raise bad_request("Education needs educationSegment K12 or HigherEducation.", 600051)
        extra = {"educationSegment": segment, "website": _first(body, "website")}
    if name == "GovernmentCommunityCloud" and (code or _first(body, "validationCode")) != GCC_VALIDATION_CODE:
        raise bad_request("The validation code is not valid for GovernmentCommunityCloud.", 600052)
    now = clock.now()
    await db.execute(
        "INSERT INTO pcs_qualifications (customer_id, qualification, vetting_status, data, created_at) "
        "VALUES ($1, $2, 'InReview', $3, $4) ON CONFLICT (customer_id, qualification) DO NOTHING",
        customer["id"],
        name,
        json.dumps(extra),
        now,
    )
    rows = await db.fetch(
        "SELECT * FROM pcs_qualifications WHERE customer_id = $1 AND qualification = $2", customer["id"], name
    )
    return _qualification_json(rows[0], now)


# --- Promotions (facts 6.4) -------------------------------------------------------------------------------


def list_promotions(country: str, segment: str) -> list[dict]:
    if segment.lower() != "commercial":  # Microsoft lists commercial promotions only
        return []
    today = clock.now().date()
    return [catalog.promotion_resource(p, today) for p in catalog.active_promotions(today)]


def get_promotion(promotion_id: str) -> dict:
    promotion = catalog.promotion_by_id(promotion_id)
    if promotion is None:
        raise not_found("Promotion", 20000)
    return catalog.promotion_resource(promotion, clock.now().date())


async def promotion_eligibilities(customer_id: str, body: dict) -> dict:
    """For each item: is the promotion eligible for this customer, term, billing cycle and seat count?"""
    customer = await _customer(customer_id)
    today = clock.now().date()
    results = []
    for item in _first(body, "items", default=[]) or []:
        errors: list[dict] = []
        promotion = catalog.promotion_by_id(str(_first(item, "promotionId", default="")))
        parsed = _parse_catalog_item(str(_first(item, "catalogItemId", default="")))
        quantity = int(_first(item, "quantity", default=0) or 0)
        if parsed is None:
            errors.append({"description": "The catalog item ID is not valid.", "type": "InvalidCatalogItemId"})
        elif promotion is None or not promotion.is_active(today):
            errors.append({"description": "The promotion is not valid.", "type": "InvalidPromotion"})
        else:
            offer, _ = parsed
            term = _first(item, "termDuration")
            cycle = str(_first(item, "billingCycle", default="")).lower()
            errors = await _promotion_errors(customer["id"], promotion, offer, term, cycle, quantity)
        results.append(
            {
                "id": _first(item, "id", default=0),
                "catalogItemId": _first(item, "catalogItemId"),
                "eligibilities": [
                    {"promotionId": _first(item, "promotionId"), "isEligible": not errors, "errors": errors}
                ],
            }
        )
    return {"totalCount": len(results), "items": results, "attributes": {"objectType": "Collection"}}


async def _promotion_errors(
    customer_id: uuid.UUID,
    promotion: catalog.Promotion,
    offer: catalog.Offer,
    term: str | None,
    cycle: str,
    quantity: int,
) -> list[dict]:
    """Why a promotion cannot apply to this purchase, in Microsoft's eligibility error shapes (facts 6.4)."""
    errors: list[dict] = []
    if promotion.discount_for(offer.product_id, offer.sku_id, term, cycle) is None:
        eligible_terms = [
            {"duration": p.term, "billingCycle": p.billing_cycle}
            for p in promotion.products
            if (p.product_id, p.sku_id) == (offer.product_id, offer.sku_id)
        ]
        errors.append(
            {
                "description": "The promotion does not apply to this term or billing cycle.",
                "type": "Term",
                "eligibleTerms": eligible_terms,
            }
        )
    if (promotion.min_seats and quantity < promotion.min_seats) or (
        promotion.max_seats and quantity > promotion.max_seats
    ):
        errors.append(
            {
                "description": "The seat count is outside the promotion's range.",
                "type": "SeatCount",
                "minimumRequiredSeats": promotion.min_seats,
                "maximumRequiredSeats": promotion.max_seats,
            }
        )
    if promotion.first_purchase_only and await db.fetchval(
        "SELECT 1 FROM pcs_subscriptions WHERE customer_id = $1 AND product_id = $2 AND sku_id = $3 "
        "AND NOT is_legacy LIMIT 1",
        customer_id,
        offer.product_id,
        offer.sku_id,
    ):
        errors.append({"description": "The customer has bought this offer before.", "type": "OfferPurchasedPreviously"})
    return errors


async def _promotion_for_line(customer_id: uuid.UUID, offer: catalog.Offer, line: dict, today: date) -> str | None:
    """The promotion a cart line gets: the one it names, else an auto-applicable one it is eligible for
    (facts 6.4). A named promotion that cannot apply is a line error (10014), raised as LineRefused."""
    term, cycle, quantity = line["termDuration"], line["billingCycle"], line["quantity"]
    named = line.get("promotionId")
    if named:
        promotion = catalog.promotion_by_id(str(named))
        if promotion is None or not promotion.is_active(today):
            raise LineRefused(10014, f"The promotion {named} is not valid.")
        errors = await _promotion_errors(customer_id, promotion, offer, term, cycle, quantity)
        if errors:
            raise LineRefused(10014, f"The promotion {named} cannot be applied: {errors[0]['description']}")
        return promotion.id
    for promotion, _ in catalog.promotions_for(offer.product_id, offer.sku_id, term, cycle, today):
        if promotion.is_auto_applicable and not await _promotion_errors(
            customer_id, promotion, offer, term, cycle, quantity
        ):
            return promotion.id
    return None


class LineRefused(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


# --- Coterminosity: custom term end dates (facts 6.3) -----------------------------------------------------


async def allowed_term_end_dates(customer_id: uuid.UUID, term: str, today: date) -> list[dict]:
    """The end dates a new purchase may take instead of its natural one: the last calendar month end before
    the natural end, and the end dates of the customer's active subscriptions that fall before it."""
    if term not in rules.TERM_MONTHS:
        raise bad_request(f"The term duration {term} is not valid.", 400)
    natural_end = rules.term_end(today, term)
    month_end = (
        natural_end
        if natural_end == rules.add_months(natural_end.replace(day=1), 1) - timedelta(days=1)
        else natural_end.replace(day=1) - timedelta(days=1)
    )
    dates: list[dict] = []
    if month_end > today:
        dates.append(
            {
                "allowedCustomTermEndDateType": "calendarMonthAligned",
                "allowedCustomTermEndDate": shapes.iso(month_end),
                "cotermSubscriptionIds": [],
            }
        )
    rows = await db.fetch(
        "SELECT end_date, array_agg(id::text ORDER BY id) AS ids FROM pcs_subscriptions WHERE customer_id = $1 "
        "AND status = 'active' AND NOT is_legacy AND end_date > $2 AND end_date <= $3 "
        "GROUP BY end_date ORDER BY end_date",
        customer_id,
        today,
        natural_end,
    )
    dates += [
        {
            "allowedCustomTermEndDateType": "subscriptionAligned",
            "allowedCustomTermEndDate": shapes.iso(r["end_date"]),
            "cotermSubscriptionIds": list(r["ids"]),
        }
        for r in rows
    ]
    return dates


async def custom_term_end_dates(customer_id: str, term: str) -> list[dict]:
    customer = await _customer(customer_id)
    return await allowed_term_end_dates(customer["id"], term, clock.now().date())
