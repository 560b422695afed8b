"""Partner Center's JSON shapes, built from the sandbox's rows (facts sections 1, 3, 6, 7, 9)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from app.partner_center.sandbox import rules


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return datetime.combine(value, time()).isoformat() + "Z"


def link(uri: str, method: str = "GET") -> dict:
    return {"uri": uri, "method": method, "headers": []}


def collection(items: list[dict], *, continuation: str | None = None, next_uri: str | None = None) -> dict:
    body: dict[str, Any] = {
        "totalCount": len(items),
        "items": items,
        "links": {},
        "attributes": {"objectType": "Collection"},
    }
    if continuation:
        body["continuationToken"] = continuation
        body["links"]["next"] = {
            "uri": next_uri or "",
            "method": "GET",
            "headers": [{"key": "MS-ContinuationToken", "value": continuation}],
        }
    return body


def money(value: Decimal) -> float | int:
    """Partner Center sends amounts as JSON numbers."""
    normalized = value.normalize()
    return int(normalized) if normalized == normalized.to_integral() else float(normalized)


def subscription(row: dict, batches: list[tuple[int, datetime]], now: datetime) -> dict:
    offer_id = f"{row['product_id']}:{row['sku_id']}:{row['availability_id']}"
    if row.get("is_legacy") and row.get("legacy_offer_id"):
        offer_id = row["legacy_offer_id"]  # a legacy subscription shows its legacy offer's GUID (facts 7.7)
    refundable = [(q, until) for q, until in batches if until > now]
    return {
        "id": str(row["id"]),
        "entitlementId": str(row["id"]),
        "offerId": offer_id,
        "offerName": row["friendly_name"],
        "friendlyName": row["friendly_name"],
        "productType": {
            "id": "OnlineServicesNCE" if not row["is_legacy"] else "OnlineServices",
            "displayName": "OnlineServicesNCE" if not row["is_legacy"] else "OnlineServices",
        },
        "quantity": row["quantity"],
        "unitType": "Licenses",
        "parentSubscriptionId": str(row["parent_id"]) if row["parent_id"] else None,
        "creationDate": iso(row["created_at"]),
        "effectiveStartDate": iso(row["start_date"]),
        "commitmentEndDate": iso(row["end_date"]),
        "cancellationAllowedUntilDate": iso(row["window_ends_at"]),
        "status": row["status"],
        "autoRenewEnabled": row["auto_renew"],
        "isTrial": row["is_trial"],
        "billingType": "license",
        "billingCycle": row["billing_cycle"],
        "termDuration": row["term_duration"],
        "renewalTermDuration": row["term_duration"] if row["auto_renew"] else "",
        "refundOptions": [{"type": "Full", "expiresAt": iso(row["window_ends_at"])}]
        if row["window_ends_at"] and row["window_ends_at"] > now
        else [],
        "refundableQuantity": {
            "totalQuantity": rules.refundable_quantity(refundable, now),
            "details": [
                {"quantity": q, "allowedUntilDateTime": iso(until)}
                for q, until in sorted(refundable, key=lambda b: b[1])
            ],
        },
        "scheduledNextTermInstructions": row["scheduled"],
        "isMicrosoftProduct": True,
        "publisherName": "Microsoft Corporation",
        "partnerId": row["partner_id"],
        "orderId": row["order_id"],
        "promotionId": row["promotion_id"],
        "migratedFromSubscriptionId": str(row["migrated_from_id"]) if row.get("migrated_from_id") else None,
        "contractType": "subscription",
        "actions": ["edit", "cancel"] if row["status"] == "active" else [],
        "suspensionReasons": ["CustomerReason"] if row["status"] == "suspended" else [],
        "links": {
            "product": link(f"/products/{row['product_id']}?country=US"),
            "sku": link(f"/products/{row['product_id']}/skus/{row['sku_id']}?country=US"),
            "availability": link(
                f"/products/{row['product_id']}/skus/{row['sku_id']}/availabilities/{row['availability_id']}?country=US"
            ),
            "self": link(f"/customers/{row['customer_id']}/subscriptions/{row['id']}"),
        },
        "attributes": {"etag": str(row["etag"]), "objectType": "Subscription"},
    }


def line_item(row: dict, partner_id: str) -> dict:
    return {
        "partnerId": partner_id,
        "customerId": str(row["customer_id"]),
        "customerName": row.get("company_name", ""),
        "customerDomainName": row.get("domain", ""),
        "invoiceNumber": row["invoice_id"] or "",
        "mpnId": "",
        "resellerMpnId": row.get("partner_mpn", "") or "",
        "orderId": row["order_id"] or "",
        "orderDate": iso(row["created_at"]),
        "productId": row["product_id"],
        "skuId": row["sku_id"],
        "availabilityId": row["availability_id"],
        "productName": row["friendly_name"],
        "skuName": row["friendly_name"],
        "productQualifiers": [],
        "chargeType": row["charge_type"],
        "unitPrice": money(row["unit_price"]),
        "effectiveUnitPrice": money(row["effective_unit_price"]),
        "unitType": "Licenses",
        "quantity": row["quantity"],
        "billableQuantity": row["quantity"],
        "subtotal": money(row["subtotal"]),
        "taxTotal": 0,
        "totalForCustomer": money(row["subtotal"]),
        "currency": row["currency"],
        "pricingCurrency": row["currency"],
        "pcToBCExchangeRate": 1,
        "publisherName": "Microsoft Corporation",
        "subscriptionId": str(row["subscription_id"]),
        "subscriptionDescription": row["friendly_name"],
        "subscriptionStartDate": iso(row["start_date"]),
        "subscriptionEndDate": iso(row["end_date"]),
        "chargeStartDate": iso(row["charge_start"]),
        "chargeEndDate": iso(row["charge_end"]),
        "termAndBillingCycle": f"{row['term_duration']} {row['billing_cycle']}",
        "billingFrequency": "Monthly" if row["billing_cycle"] == "monthly" else "OneTime",
        "referenceId": row["reference_id"] or "",
        "promotionId": row["promotion_id"] or "",
        "invoiceLineItemType": "billing_line_items",
        "billingProvider": "one_time",
        "attributes": {"objectType": "OneTimeInvoiceLineItem"},
    }


# --- Catalog (facts 4.2) ---------------------------------------------------------------------------------

SEGMENT_NAMES = {
    "commercial": "Commercial",
    "education": "Education",
    "government": "Government",
    "nonprofit": "NonProfit",
}
TERM_DESCRIPTIONS = {
    "P1M": "One-Month commitment for monthly billing",
    "P1Y": "One-Year commitment for monthly/yearly billing",
    "P3Y": "Three-Year commitment for monthly/yearly/triennial billing",
}


def product(offer: Any, country: str) -> dict:
    view = "Software" if offer.kind in ("software_subscription", "perpetual") else "OnlineServicesNCE"
    return {
        "id": offer.product_id,
        "title": offer.product_title,
        "description": offer.description,
        "productType": {"id": view, "displayName": view},
        "isMicrosoftProduct": True,
        "publisherName": offer.publisher,
        "links": {
            "skus": link(f"/products/{offer.product_id}/skus?country={country}"),
            "self": link(f"/products/{offer.product_id}?country={country}"),
        },
        "attributes": {"objectType": "Product"},
    }


def sku(offer: Any, country: str) -> dict:
    cycles = sorted({cycle for _, cycle in offer.plans})
    return {
        "id": offer.sku_id,
        "productId": offer.product_id,
        "title": offer.sku_title,
        "description": offer.description,
        "minimumQuantity": offer.min_quantity,
        "maximumQuantity": offer.max_quantity,
        "isTrial": offer.is_trial,
        "supportedBillingCycles": cycles,
        "purchasePrerequisites": ["MicrosoftCustomerAgreement"],
        "inventoryVariables": [],
        "provisioningVariables": [],
        "actions": ["Refund"] if offer.kind != "perpetual" else [],
        "attestationProperties": {
            "attestationType": "WindowsHybridBenefit" if offer.requires_attestation else None,
            "enforceAttestation": offer.requires_attestation,
        },
        "dynamicAttributes": {
            "isAddon": offer.is_addon,
            "prerequisiteSkus": list(offer.prerequisite_skus),
            "upgradeTargetOffers": list(offer.upgrade_targets),
            "provisioningId": offer.provisioning_id,
            "hasConstraints": offer.tenant_max is not None,
            "isMicrosoftProduct": True,
        },
        "links": {
            "availabilities": link(
                f"/products/{offer.product_id}/skus/{offer.sku_id}/availabilities?country={country}"
            ),
            "self": link(f"/products/{offer.product_id}/skus/{offer.sku_id}?country={country}"),
        },
        "attributes": {"objectType": "Sku"},
    }


def availability(offer: Any, country: str, currency: str) -> dict:
    terms = [
        {
            "duration": term,
            "description": TERM_DESCRIPTIONS.get(term, "One-time purchase"),
            "billingCycle": cycle,
            "cancellationPolicies": [{"refundOptions": [{"sequenceId": 0, "type": "Full", "expiresAfter": "P7D"}]}]
            if term
            else [],
        }
        for term, cycle in offer.plans
    ]
    return {
        "id": offer.availability_id,
        "productId": offer.product_id,
        "skuId": offer.sku_id,
        "catalogItemId": f"{offer.product_id}:{offer.sku_id}:{offer.availability_id}",
        "defaultCurrency": {"code": currency, "symbol": currency},
        "segment": SEGMENT_NAMES[offer.segment],
        "country": country,
        "isPurchasable": True,
        "isRenewable": offer.kind not in ("perpetual", "trial"),
        "terms": terms,
        "product": product(offer, country),
        "sku": sku(offer, country),
        "links": {
            "self": link(
                f"/products/{offer.product_id}/skus/{offer.sku_id}/availabilities/"
                f"{offer.availability_id}?country={country}"
            )
        },
        "attributes": {"objectType": "Availability"},
    }
