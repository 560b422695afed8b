"""The Partner Center models against every request/response body Microsoft publishes (/work/shared/pc_samples).

`SAMPLE_MODELS` maps each valid sample file to the model it must parse as, with a few values it must yield.
A valid sample missing from the table fails the run, so a new sample cannot be skipped silently.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.partner_center.models import (
    Address,
    AddressValidationResponse,
    Agreement,
    AgreementMetaData,
    ApiFault,
    Availability,
    Cart,
    CartCheckoutResult,
    CartLineItem,
    Customer,
    CustomerQualification,
    CustomTermEndDate,
    DailyUsageLineItem,
    Invoice,
    LicenseBasedLineItem,
    LicenseUpdate,
    NewCommerceEligibility,
    NewCommerceMigration,
    OneTimeInvoiceLineItem,
    Order,
    OrderLineItemProvisioningStatus,
    Product,
    ProductPromotion,
    PromotionEligibilitiesRequest,
    PromotionEligibilityItem,
    ResourceCollection,
    Sku,
    SubscribedSku,
    Subscription,
    SubscriptionProvisioningStatus,
    Transition,
    TransitionEligibility,
    TransitionList,
    UsageBasedLineItem,
    billing_cycle_key,
    camel_key,
    charge_type_key,
    decode,
    encode,
    enum_key,
    parse_pc_datetime,
    split_catalog_item_id,
    term_duration_key,
)

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "pc_samples"
MISSING = f"Partner Center samples not found at {SAMPLES} (the shared folder next to the repo)"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# file (relative to SAMPLES) -> (model, {attribute path: expected value}). Paths are dotted attribute names with
# [i] for list items; on a dict a name is a key. Expected values must match in type too (Decimal is not int).
SAMPLE_MODELS: dict[str, tuple[Any, dict[str, Any]]] = {
    # --- customers, agreements, qualifications, addresses
    "create-a-customer.response.json": (
        Customer,
        {
            "id": "dfd8cc0a-c592-468c-8461-869a38d24738",
            "company_profile.tenant_id": "dfd8cc0a-c592-468c-8461-869a38d24738",
            "company_profile.domain": "xyz.ccsctp.net",
            "billing_profile.default_address.address_line1": "One Microsoft Way",
            "billing_profile.attributes.etag": "5920358838484612121",
            "relationship_to_partner": "none",
            "user_credentials.user_name": "admin",
        },
    ),
    "2023-10/create-a-customer.response.json": (
        Customer,
        {
            "commerce_id": "0a4ce58a-6f96-4273-8035-d9c7d31b9ba4",
            "enable_gdap_by_default": False,
            "billing_profile.culture": "en-US",
        },
    ),
    "get-a-customer-by-id.response.json": (
        Customer,
        {
            "id": "eebd1b55-5360-4438-a11d-5c06918c3014",
            "company_profile.address.region": "wa",
            "billing_profile.default_address.state": "WA",
            "allow_delegated_access": True,
            "custom_domains": ["abcdefgh1234.ccsctp.net"],
            "relationship_to_partner": "reseller",
            "links.self_.uri": "/customers/eebd1b55-5360-4438-a11d-5c06918c3014",
        },
    ),
    "validate-an-address.request.json": (
        Address,
        {
            "address_line1": "1 Microsoft Way",
            "city": "Redmond",
            "postal_code": "98052",
            "country": "US",
        },
    ),
    "validate-an-address.request-2.json": (Address, {"address_line1": "Microsoft Way", "state": "WA"}),
    "validate-an-address.response.json": (
        AddressValidationResponse,
        {
            "status": "VerifiedShippable",
            "original_address.postal_code": "98052",
            "suggested_addresses[0].postal_code": "98052-8300",
            "validation_message": None,
        },
    ),
    "validate-an-address.response-2.json": (
        AddressValidationResponse,
        {
            "status": "StreetPartial",
            "suggested_addresses[0].address_line1": "1 Microsoft Way",
            "suggested_addresses[0].postal_code": "98052-6399",
            "validation_message": "Address field invalid for property: 'Region', 'PostalCode', 'City'",
        },
    ),
    "update-customer-qualification-asynchronous.request.json": (
        CustomerQualification,
        {
            "qualification": "Education",
        },
    ),
    "2023-10/update-customer-qualification-asynchronous.request.json": (
        CustomerQualification,
        {
            "qualification": "StateOwnedEntity",
        },
    ),
    "2023-10/update-customer-qualification-asynchronous.request-3.json": (
        CustomerQualification,
        {
            "qualification": "GovernmentCommunityCloud",
            "validation_code": "123456",
        },
    ),
    "confirm-customer-consent-customer-agreement.request.json": (
        Agreement,
        {
            "primary_contact.first_name": "Tania",
            "primary_contact.phone_number": "1234567890",
            "template_id": "117a77b0-9360-443b-8795-c6dedc750cf9",
            "date_agreed": _utc(2018, 6, 14),
            "type": "MicrosoftCustomerAgreement",
        },
    ),
    "confirm-customer-consent-customer-agreement.response.json": (
        Agreement,
        {
            "user_id": "3d6f2c09-eb40-48ca-a4b3-d24c9c007531",
            "primary_contact.email": "someone@example.com",
            "date_agreed": _utc(2018, 6, 14),
        },
    ),
    "confirm-customer-consent-customer-agreement.response-2.json": (
        ApiFault,
        {
            "code": 600061,
            "error_name": "PartnerConfirmedAgreementAlreadyExists",
            "is_retryable": False,
            "parameters": {},
            "error_message_extended": "InternalErrorCode=600061",
            "text": "A partner confirmed agreement already exists for the customer.",
        },
    ),
    "get-customer-agreement-metadata.response.json": (
        ResourceCollection[AgreementMetaData],
        {
            "total_count": 1,
            "items[0].template_id": "117a77b0-9360-443b-8795-c6dedc750cf9",
            "items[0].agreement_type": "MicrosoftCustomerAgreement",
            "items[0].agreement_link": "https://aka.ms/customeragreement",
            "items[0].version_rank": 0,
        },
    ),
    # --- catalog (the customer-scoped catalog docs show other resources than their titles say)
    "get-a-product-by-id.response.json": (
        Product,
        {
            "id": "DZH318Z0BQ3Q",
            "product_type.id": "Azure",
            "product_type.sub_type.id": "VirtualMachines",
            "is_microsoft_product": True,
            "links.skus.uri": "/products/DZH318Z0BQ3Q/skus?country=US",
        },
    ),
    "get-a-product-by-id.response-2.json": (
        Product,
        {
            "id": "CFQ7TTC0LH18",
            "title": "Microsoft 365 Business Basic",
            "product_type.id": "OnlineServicesNCE",
            "publisher_name": "Microsoft Corporation",
        },
    ),
    "2023-10/get-a-product-by-id.response.json": (
        Product,
        {
            "id": "DZH318Z0BQ3Q",
            "product_type.sub_type.display_name": "VirtualMachines",
        },
    ),
    "get-a-list-of-skus-for-a-product-by-customer.response.json": (
        Product,
        {
            "id": "DZH318Z0BPS6",
            "product_type.sub_type.id": "Azure",
            "localized_attributes[2].key": "DevTest",
            "localized_attributes[2].value": "Dev/Test",
        },
    ),
    "get-a-list-of-products-by-customer.response.json": (
        ResourceCollection[Sku],
        {
            "total_count": 2,
            "items[0].id": "MS-AZR-0145P",
            "items[0].is_addon": False,
            "items[0].upgrade_target_offers": [],  # null in the sample
            "items[0].prerequisite_skus": [],
            "items[0].dynamic_attributes.rank": 1413,
            "items[1].product_id": "DZH318Z0BPS6",
            "items[1].supported_billing_cycles": ["one_time"],
        },
    ),
    "get-a-list-of-availabilities-for-a-sku-by-customer.response.json": (
        Sku,
        {
            "id": "0001",
            "product_id": "DZH318Z0BPS6",
            "minimum_quantity": 1,
            "maximum_quantity": 1,
            "purchase_prerequisites": ["MicrosoftCustomerAgreement"],
            "actions": ["Refund"],
            "dynamic_attributes.pilotProgram": "modernazurepilot",
        },
    ),
    "get-a-sku-by-id.response.json": (
        Sku,
        {
            "id": "00G1",
            "product_id": "DZH318Z0BQ3V",
            "maximum_quantity": 999999999,
            "purchase_prerequisites": ["AzureSubscriptionRegistration", "InventoryCheck"],
            "provisioning_variables": ["Scope", "SubscriptionId"],
            "dynamic_attributes.cores": "32",
        },
    ),
    # --- promotions
    "get-promotions.response.json": (
        ResourceCollection[ProductPromotion],
        {
            "total_count": 2,
            "items[0].id": "39NFJQT1PJQB:0001:39NFJQT1Q5KN",
            "items[1].required_products[0].term.billing_cycle": "Monthly",
            "items[1].required_products[0].pricing_policies[0].value": "0.167",
            "items[1].required_products[0].pricing_policies[0].decimal_value": Decimal("0.167"),
        },
    ),
    "get-promotion-by-id.response.json": (
        ProductPromotion,
        {
            "id": "39NFJQT1PJQB:0001:39NFJQT1Q5KN",
            "start_date": _utc(2021, 9, 23),
            "end_date": _utc(2021, 10, 14, 23, 59, 59),
            "properties.is_auto_applicable": True,
            "required_products[0].product_id": "CFQ7TTC0HD33",
            "required_products[0].sku_id": "0003",
            "required_products[0].term.duration": "P1Y",
            "required_products[0].pricing_policies[0].policy_type": "PercentDiscount",
            "required_products[0].pricing_policies[0].decimal_value": Decimal("0.05"),
        },
    ),
    "2023-10/verify-promotion-eligibility.request-2.json": (
        PromotionEligibilitiesRequest,
        {
            "items[0].id": 0,  # sent as the string "0"
            "items[0].catalog_item_id": "CFQ7TTC0HBSJ:0001:CFQ7TTC0JQH3",
            "items[0].quantity": 300,
            "items[0].term_duration": "P1M",
        },
    ),
    "2023-10/verify-promotion-eligibility.response.json": (
        ResourceCollection[PromotionEligibilityItem],
        {
            "items[0].id": 0,
            "items[0].quantity": 2400,
            "items[0].eligibilities[0].promotion_id": "39NFJQT1PM6C:0005:39NFJQT1Q5L7",
            "items[0].eligibilities[0].is_eligible": False,
            "items[0].eligibilities[0].errors[0].type": "SeatCount",
            "items[0].eligibilities[0].errors[0].min_seats": 1,
            "items[0].eligibilities[0].errors[0].max_seats": 2400,
            "items[0].eligibilities[0].errors[0].available_seats": 500,
        },
    ),
    "2023-10/verify-promotion-eligibility.response-2.json": (
        ResourceCollection[PromotionEligibilityItem],
        {
            "items[0].catalog_item_id": "CFQ7TTC0HBSJ:0001:CFQ7TTC0JQH3",
            "items[0].eligibilities[1].promotion_id": "39NFJQT1XG89:0002:39NFJQT1Q5L2",
            "items[0].eligibilities[1].is_eligible": True,
            "items[0].eligibilities[1].errors": [],
        },
    ),
    # --- carts (requests use PascalCase names)
    "create-a-cart.request-2.json": (
        Cart,
        {
            "line_items[0].catalog_item_id": "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS",
            "line_items[0].quantity": 1,
            "line_items[0].term_duration": "P1M",
            "line_items[0].billing_cycle": "Monthly",
        },
    ),
    "create-a-cart.response.json": (
        Cart,
        {
            "id": "3655b1a0-b1c9-4268-9824-577fdbc4d0be",
            "status": "Active",
            "line_items[1].catalog_item_id": "DZH318Z0BQ36:004G:DZH318Z08C0S",
            "line_items[1].provisioning_context": {
                "subscriptionId": "1C461A25-F729-4FA5-AADB-280947DD05E8",
                "scope": "shared",
            },
            "line_items[3].term_duration": None,
            "line_items[5].quantity": 10,
            "line_items[5].billing_cycle": "none",
            "line_items[5].renews_to.term_duration": "P1Y",
            "line_items[5].order_group": "2",
        },
    ),
    "create-a-cart.response-2.json": (
        Cart,
        {
            "id": "6b6ba6ea-d1ea-4c2c-9e1c-bec4f61e2049",
            "creation_timestamp": _utc(2021, 2, 24, 19, 26, 6, 947164),
            "expiration_timestamp": _utc(2021, 3, 3, 19, 26, 9, 3513),
            "last_modified_user": "004ec05e-8999-4d02-9315-2b1b667c0deb",
            "line_items[0].id": 0,
            "line_items[0].catalog_item_id": "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS",
            "line_items[0].currency_code": "USD",
            "line_items[0].provisioning_context": {},
        },
    ),
    "2023-10/create-a-cart.response-2.json": (
        Cart,
        {
            "expiration_timestamp": _utc(2023, 7, 18, 21, 16, 17, 248048),
            "line_items[0].catalog_item_id": "CFQ7TTC0LF8S:0001:CFQ7TTC0VZW5",
            "line_items[0].term_duration": "P1Y",
            "line_items[0].pricing.list_price": Decimal("30.4"),
            "line_items[0].pricing.extended_price": Decimal("364.8"),
        },
    ),
    "create-a-cart-with-add-ons.request.json": (
        Cart,
        {
            "line_items[0].catalog_item_id": "91FD106F-4B2C-4938-95AC-F54F74E9A239",
            "line_items[0].friendly_name": "Myofferpurchase",
            "line_items[0].quantity": 3,
            "line_items[0].addon_items[1].id": 2,
            "line_items[0].addon_items[1].catalog_item_id": "43FCE491-76D1-4BCC-B709-8A288786DBAE",
            "line_items[0].addon_items[1].quantity": 3,
        },
    ),
    "create-a-cart-with-add-ons.request-2.json": (
        Cart,
        {
            "line_items[0].catalog_item_id": "C94271D8-B431-4A25-A3C5-A57737A1C909",
            "line_items[0].billing_cycle": "annual",
            "line_items[0].provisioning_context": {"parentSubscriptionId": "97555B61-7461-477A-A98C-9C76148783E4"},
        },
    ),
    "create-a-cart-with-add-ons.response.json": (
        Cart,
        {
            "id": "dbe2f8d4-f21d-43e2-9356-cff6387c4ba1",
            "line_items[0].order_group": "OMS-0",
            "line_items[0].addon_items[0].catalog_item_id": "C94271D8-B431-4A25-A3C5-A57737A1C909",
            "line_items[0].addon_items[0].quantity": 2,
            "line_items[0].addon_items[0].currency_code": "USD",
        },
    ),
    "create-a-cart-with-add-ons.response-2.json": (
        Cart,
        {
            "id": "4d927e27-93d1-448b-abe5-819b66ecca22",
            "line_items[0].provisioning_context": {"parentSubscriptionId": "97555B61-7461-477A-A98C-9C76148783E4"},
            "attributes.object_type": "Cart",
        },
    ),
    # --- orders
    "create-an-order.request.json": (
        Order,
        {
            "billing_cycle": "one_time",
            "currency_code": "USD",
            "line_items[0].line_item_number": 0,
            "line_items[0].offer_id": "DZH318Z0BQ4B:0047:DZH318Z0DSM8",
            "line_items[0].provisioning_context.duration": "1Year",
        },
    ),
    "create-an-order.response.json": (
        Order,
        {
            "id": "Cs_jyTxubLpvdJXdo8xcQZN6I2RsLrgZ1",
            "status": "pending",
            "creation_date": _utc(2018, 3, 15, 22, 30, 2, 85152),
            "line_items[0].friendly_name": "A_sample_Azure_RI",
            "line_items[0].links.sku.uri": "/products/DZH318Z0BQ4B/skus/0047?country=US",
            "links.provisioning_status.method": "GET",
        },
    ),
    "get-an-order-by-id.response.json": (
        Order,
        {
            "id": "YxH1q4KScfvfkJQjgRI8QY1DznnUWZTH1",
            "status": "completed",
            "currency_symbol": "$",
            "line_items[0].offer_id": "DZH318Z0BQ4Z:002L:DZH318Z0CMNP",
            "line_items[0].quantity": 1,
        },
    ),
    "purchase-an-add-on-to-a-subscription.request.json": (
        Order,
        {
            "id": None,
            "reference_customer_id": "4d3cf487-70f4-4e1e-9ff1-b2bfce8d9f04",
            "line_items[0].parent_subscription_id": "1C2B75C1-74A5-472A-A729-7F8CEFC477F9",
            "line_items[0].offer_id": "2828BE95-46BA-4F91-B2FD-0BEF192ECF60",
            "line_items[0].quantity": 2,
            "line_items[0].attributes.object_type": "OrderLineItem",
        },
    ),
    "purchase-an-add-on-to-a-subscription.response.json": (
        Order,
        {
            "creation_date": datetime(2017, 1, 25, 14, 53, 12, 93000, tzinfo=timezone(timedelta(hours=-8))),
            "line_items[1].subscription_id": "968BA1CF-C146-4ADF-A300-308DCF718EEE",
            "line_items[1].links.subscription.uri": (
                "/customers/4d3cf487-70f4-4e1e-9ff1-b2bfce8d9f04/subscriptions/968BA1CF-C146-4ADF-A300-308DCF718EEE"
            ),
            "attributes.etag": "eyJpZCI6ImNmM2IwZTM3LWJlMGItNGNkZC1iNTg0LWQxYTk3ZDk4YTkyMiIsInZlcnNpb24iOjJ9",
        },
    ),
    "get-order-provisioning-status.response.json": (
        ResourceCollection[OrderLineItemProvisioningStatus],
        {
            "items[0].line_item_number": 0,
            "items[0].status": "fulfilled",
            "items[0].quantity_provisioning_information[0].quantity": 1,
        },
    ),
    # --- subscriptions (PATCH requests carry the whole resource, in PascalCase)
    "get-a-subscription-by-id.response.json": (
        Subscription,
        {
            "offer_id": "MS-AZR-0145P",
            "billing_type": "usage",
            "unit_type": "Usage-based",
            "commitment_end": _utc(9999, 12, 10),
            "is_nce": False,
        },
    ),
    "get-a-subscription-by-id.response-2.json": (
        Subscription,
        {
            "id": "968BA1CF-C146-4ADF-A300-308DCF718EEE",
            "parent_subscription_id": "1C2B75C1-74A5-472A-A729-7F8CEFC477F9",
            "quantity": 2,
            "auto_renew_enabled": True,
            "created": _utc(2017, 1, 25, 23, 1, 8, 693000),
            "commitment_end": _utc(2018, 2, 10),
            "links.parent_subscription.uri": (
                "/customers/4d3cf487-70f4-4e1e-9ff1-b2bfce8d9f04/subscriptions/1C2B75C1-74A5-472A-A729-7F8CEFC477F9"
            ),
        },
    ),
    "2023-10/get-a-subscription-by-id.response-2.json": (
        Subscription,
        {
            "commitment_end_date": "2018-02-10T00:00:00Z",
            "commitment_end_date_time": _utc(2018, 2, 10),
        },
    ),
    "get-a-subscription-by-id.response-3.json": (
        Subscription,
        {
            "offer_id": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
            "is_nce": True,
            "quantity": 1,
            "status": "expired",
            "billing_cycle": "monthly",
            "term_duration": "P1Y",
            "renewal_term_duration": "",
            "effective_start": _utc(2021, 1, 14, 16, 57, 14, 498252),
            "commitment_end": _utc(2022, 1, 13),
            "refund_options[0].type": "Full",
            "refund_options[0].expires_at": _utc(2021, 1, 15),
            "refundable_quantity": None,
            "reducible_quantity": 0,
            "attention_needed": False,
        },
    ),
    "get-all-of-a-customer-s-subscriptions.response.json": (
        ResourceCollection[Subscription],
        {
            "total_count": 37,
            "items[0].commitment_end_date": "2016-12-12T08: 00: 00Z",  # as published: not ISO-8601
            "items[0].commitment_end": _utc(2016, 12, 12, 8),
            "items[0].created": _utc(2015, 11, 25, 6, 41, 12),
            "items[0].entitlement_id": "a356ac8c-e310-44f4-bf85-C7f29044af99",
        },
    ),
    "get-all-of-a-customer-s-subscriptions.response-2.json": (
        ResourceCollection[Subscription],
        {
            "items[0].offer_id": "DG7GMGF0FKZV:0003:DG7GMGF0DQLM",
            "items[0].product_type.id": "Software",
            "items[0].billing_cycle": "triennial",
            "items[0].term_duration": "P3Y",
            "items[0].commitment_end": _utc(2024, 10, 14),
            "items[0].cancellation_allowed_until_date": _utc(2021, 11, 14, 23, 59),
        },
    ),
    "get-a-list-of-add-ons-for-a-subscription.response.json": (
        ResourceCollection[Subscription],
        {
            "total_count": 37,
            "items[0].creation_date": "2015-11-25T06: 41: 12Z",
            "items[0].effective_start": _utc(2015, 11, 24, 8),
            "items[0].links.offer.uri": "/v1/offers/0CCA44D6-68E9-4762-94EE-31ECE98783B9",
        },
    ),
    "change-the-quantity-of-a-subscription.request.json": (
        Subscription,
        {
            "id": "83ef9d05-4169-4ef9-9657-0e86b1eab1de",
            "friendly_name": "nickname",
            "quantity": 2,
            "status": "active",
            "parent_subscription_id": None,
            "commitment_end": _utc(2016, 12, 12, 8),
            "attributes.etag": "<etag>",
            "attributes.object_type": "Subscription",
        },
    ),
    "change-the-quantity-of-a-subscription.response.json": (
        Subscription,
        {
            "quantity": 2,
            "links.offer.uri": "/v1/offers/0CCA44D6-68E9-4762-94EE-31ECE98783B9",
            "links.entitlement.uri": "/entitlements?key=<key>",
            "links.self_.uri": "/subscriptions?key=<key>",
        },
    ),
    "change-the-quantity-of-a-subscription.response-2.json": (
        ApiFault,
        {
            "code": 800090,
            "code_number": 800090,
            "description": "Subscription quantity cannot be decreased.",
            "data": [],
            "source": "PartnerFD",
        },
    ),
    "suspend-a-subscription.request.json": (Subscription, {"status": "suspended", "quantity": 2}),
    "suspend-a-subscription.response.json": (
        Subscription,
        {
            "status": "suspended",
            "order_id": "6183db3d-6318-4e52-877e-25806e4971be",
        },
    ),
    "reactivate-a-suspended-a-subscription.request.json": (Subscription, {"status": "active", "status_key": "active"}),
    "reactivate-a-suspended-a-subscription.response.json": (
        Subscription,
        {
            "status": "active",
            "links.self_.uri": "/subscriptions?key=<key>",
        },
    ),
    "cancel-an-azure-marketplace-subscription.response.json": (
        Subscription,
        {
            "id": "6e7aa601-629e-461b-8933-0898c3cc3c7c",
            "offer_id": "DZH318Z0BXWC:0001:DZH318Z0BMJX",
            "status": "deleted",
            "term_duration": "P1M",
            "refund_options[0].expires_at": _utc(2019, 1, 10, 0, 21, 45, 926373),
            "commitment_end": _utc(2019, 2, 8, 0, 21, 45, 926373),
            "links.availability.uri": "/products/DZH318Z0BXWC/skus/0001/availabilities/DZH318Z0BMJX?country=US",
        },
    ),
    "update-autorenew-for-an-azure-marketplace-subscription.response.json": (
        Subscription,
        {
            "status": "active",
            "auto_renew_enabled": False,
            "publisher_name": "publishe rName",
        },
    ),
    "get-subscription-provisioning-status.response.json": (
        SubscriptionProvisioningStatus,
        {
            "sku_id": "6FD2C87F-B296-42F0-B197-1E91E994B900",
            "status": "success",
            "quantity": 5,
            "end_date": _utc(2018, 5, 10),
        },
    ),
    # --- transitions and migrations
    "transition-a-new-commerce-subscription.request.json": (
        Transition,
        {
            "from_subscription_id": "e487e8dc-421e-4275-cb42-3c1c8daccf70",
            "to_catalog_item_id": "CFQ7TTC0LF8R:0001:CFQ7TTC0KCSV",
            "to_subscription_id": "0af52192-4a2a-4364-d25b-c8ecab3a5697",
            "quantity": 2,
            "billing_cycle": "Monthly",
            "transition_type": "transition_only",
        },
    ),
    "transition-a-new-commerce-subscription.response.json": (
        ResourceCollection[TransitionEligibility],
        {
            "total_count": 2,
            "items[0].catalog_item_id": "CFQ7TTC0KZCR:0001:CFQ7TTC0K71H",
            "items[0].eligibilities[0].is_eligible": True,
            "items[0].eligibilities[1].transition_type": "transition_with_license_transfer",
            "items[0].eligibilities[1].errors[0].code": 3,
        },
    ),
    "2023-10/transition-a-new-commerce-subscription.response.json": (
        ResourceCollection[TransitionEligibility],
        {
            "items[0].operation_id": "1caf8ec7-62cc-4ab5-b35d-572d2a62974c",
            "items[0].subscription_eligibilities[0].is_eligible": False,
            "items[0].subscription_eligibilities[1].subscription_id": "151467a1-4246-4a00-da7b-3405463d9b78",
            "items[0].subscription_eligibilities[1].subscription_term_duration": "P1Y",
        },
    ),
    "get-transitions.response.json": (
        TransitionList,
        {
            "transitions[0].from_catalog_item_id": "CFQ7TTC0LDPB:0001:CFQ7TTC0LGNT",  # sent as "FromCatalogItemId"
            "transitions[0].to_catalog_item_id": "CFQ7TTC0LF8S:0001:CFQ7TTC0K9G9",
            "transitions[0].quantity": 1,
            "transitions[0].events[0].status": "Started ",
            "transitions[0].events[0].status_key": "started",
            "transitions[0].events[1].timestamp": _utc(2021, 1, 8, 18, 37, 41, 591855),
        },
    ),
    "2023-10/get-transitions.response.json": (
        TransitionList,
        {
            "transitions[0].operation_id": "1caf8ec7-62cc-4ab5-b35d-572d2a62974c",
            "transitions[0].events[1].name": "Conversion",
        },
    ),
    "create-migration.request.json": (
        NewCommerceMigration,
        {
            "current_subscription_id": "9beb6319-6889-4d28-a155-68ca9c783842",
        },
    ),
    "2023-10/create-migration.request-3.json": (
        NewCommerceMigration,
        {
            "current_subscription_id": "5C77DC7F-BE2C-4306-A3B5-0EBB4365D7FC",
            "purchase_full_term": True,
        },
    ),
    "2023-10/create-migration.request-4.json": (
        NewCommerceMigration,
        {
            "billing_cycle": "Annual",
            "add_on_migrations[0].current_subscription_id": "359011DC-B5B0-4660-850B-A8FA9B2E3309",
            "add_on_migrations[1].term_duration": "P1Y",
        },
    ),
    "create-migration.response.json": (
        NewCommerceMigration,
        {
            "id": "f46fbd87-b204-40e5-b891-d0879ca3bf62",
            "status": "Completed",
            "started_time": _utc(2021, 10, 13, 16, 30, 32, 144622),
            "subscription_end_date": _utc(2022, 10, 13),
            "new_commerce_subscription_id": "8adde5ce-52e3-47b5-c49c-df9c210bd5df",
            "purchase_full_term": False,
            "billing_cycle": "Monthly",
        },
    ),
    "2023-10/create-migration.response.json": (
        NewCommerceMigration,
        {
            "status": "Processing",
            "completed_time": None,
            "add_on_migrations[2].catalog_item_id": "CFQ7TTC0LHXJ:0001:CFQ7TTC0KHTR",
            "add_on_migrations[2].subscription_end_date": _utc(2023, 2, 22),
        },
    ),
    "get-new-commerce-migration.response.json": (
        NewCommerceMigration,
        {
            "completed_time": _utc(2021, 10, 13, 16, 35, 40, 384471),
            "catalog_item_id": "CFQ7TTC0LF8Q:0001:CFQ7TTC0KJ4N",
            "quantity": 1,
        },
    ),
    "validate-subscription-for-migration.response-2.json": (
        NewCommerceEligibility,
        {
            "is_eligible": True,
            "catalog_item_id": "CFQ7TTC0LF8S:0002:CFQ7TTC0KSVV",
            "errors": [],
        },
    ),
    # --- users and licenses
    "assign-licenses-to-a-user.request.json": (
        LicenseUpdate,
        {
            "licenses_to_assign[0].sku_id": "f8a1db68-be16-40ed-86d5-cb42ce701560",
            "licenses_to_assign[0].excluded_plans": [],  # null in the sample
            "licenses_to_remove": [],
            "attributes.object_type": "LicenseUpdate",
        },
    ),
    "assign-licenses-to-a-user.response.json": (
        LicenseUpdate,
        {
            "licenses_to_assign[0].sku_id": "f8a1db68-be16-40ed-86d5-cb42ce701560",
            "license_warnings": [],
        },
    ),
    "assign-licenses-to-a-user.response-2.json": (ApiFault, {"code": 60012, "source": "PartnerFD"}),
    "2023-10/assign-licenses-to-a-user.response-2.json": (ApiFault, {"code_number": 60012}),
    "2023-10/assign-licenses-to-a-user.response-3.json": (ApiFault, {"code": 900316, "data": []}),
    "2023-10/assign-licenses-to-a-user.response-4.json": (ApiFault, {"code": 900309}),
    "get-a-list-of-available-licenses.response.json": (
        ResourceCollection[SubscribedSku],
        {
            "items[0].active_units": 5,
            "items[0].consumed_units": 1,
            "items[0].available_units": 4,
            "items[0].product_sku.sku_part_number": "EMS",
            "items[0].service_plans[0].service_name": "RMS_S_PREMIUM",
            "items[1].product_sku.id": "f8a1db68-be16-40ed-86d5-cb42ce701560",
        },
    ),
    # --- invoices and line items
    "get-a-collection-of-invoices.response.json": (
        ResourceCollection[Invoice],
        {
            "total_count": 2,
            "items[0].id": "D02005YFHI",
            "items[0].total_charges": Decimal("24606.35"),
            "items[0].paid_amount": Decimal("1000"),
            "items[0].currency_symbol": "£",
            "items[0].invoice_date": _utc(2017, 1, 21),
            "items[1].document_type": "void_note",
            "items[1].amendments[0].total_charges": Decimal("107661.12"),
            "items[1].amendments[0].amends_of": "G000024130",
            "links.next.uri": "/invoices?size=2&offset=2",
        },
    ),
    "get-invoice-by-id.response.json": (
        Invoice,
        {
            "id": "G000024135",
            "total_charges": Decimal("2076.63"),
            "paid_amount": Decimal("0"),
            "billing_period_start_date": _utc(2018, 2, 1, 22, 40, 37, 589777),
            "invoice_details[0].billing_provider": "one_time",
            "tax_receipts[0].id": "123456",
            "invoice_type": "OneTime",
        },
    ),
    "get-invoiceline-items.response.json": (
        ResourceCollection[LicenseBasedLineItem],
        {
            "items[0].mpn_id": 4391507,
            "items[0].tier2_mpn_id": -1,
            "items[0].quantity": 3,
            "items[0].unit_price": Decimal("0.0"),
            "items[0].charge_type": "New",
            "items[0].subscription_start_date": _utc(2017, 5, 12),  # sent without an offset
            "items[1].offer_name": "SHAREPOINT ONLINE (PLAN 2)",
        },
    ),
    "get-invoiceline-items.response-2.json": (
        ResourceCollection[UsageBasedLineItem],
        {
            "items[0].pretax_charges": Decimal("63.33"),
            "items[0].post_tax_total": Decimal("69.67"),
            "items[0].pretax_effective_rate": Decimal("0.08500671"),
            "items[0].overage_quantity": Decimal("745"),
            "items[1].overage_quantity": Decimal("0.000882"),
            "items[1].list_price": Decimal("0.0383"),
        },
    ),
    "get-invoiceline-items.response-3.json": (
        ResourceCollection[DailyUsageLineItem],
        {
            "items[0].consumed_quantity": Decimal("2.9616"),
            "items[0].usage_date": _utc(2019, 8, 5),
            "items[1].region": "US WEST",
            "items[1].consumed_quantity": Decimal("24"),
        },
    ),
}

# Published as invalid JSON only because Unicode spaces (U+00A0, U+202F, U+200B) stand in for blanks. With those
# replaced they are real Microsoft bodies and the only published OneTime (NCE) reconciliation rows, so they are
# checked too.
WHITESPACE_REPAIRED: dict[str, tuple[Any, dict[str, Any]]] = {
    "get-invoiceline-items.response-5.invalid.json": (
        ResourceCollection[OneTimeInvoiceLineItem],
        {
            "items[0].product_qualifiers": ["AddOn", "Trial"],
            "items[0].quantity": 25,
            "items[0].subtotal": Decimal("0"),
            "items[1].product_name": "Power BI Premium Per User",
            "items[1].unit_price": Decimal("16"),
            "items[1].effective_unit_price": Decimal("14.4"),
            "items[1].quantity": 50,
            "items[1].subtotal": Decimal("720"),
            "items[1].tax_total": Decimal("73"),
            "items[1].total_for_customer": Decimal("793"),
            "items[1].pc_to_bc_exchange_rate": Decimal("1"),
            "items[1].billable_quantity": Decimal("50"),
            "items[1].charge_type_key": "new",
            "items[1].subscription_end_date": _utc(2022, 5, 19),
            "items[1].charge_end_date": _utc(2021, 6, 19),
            "items[1].term_and_billing_cycle": "One-Year commitment for monthly/yearly billing",
            "items[1].price_adjustments[0]": "Price for given billing period",
            "items[1].billing_provider": "one_time",
        },
    ),
    "2023-10/get-invoiceline-items.response-5.invalid.json": (
        ResourceCollection[OneTimeInvoiceLineItem],
        {
            "items[1].subtotal": Decimal("720"),
            "items[1].total_for_customer": Decimal("793"),
        },
    ),
    "get-invoice-unbilled-recon-lineitems.response-2.invalid.json": (
        ResourceCollection[OneTimeInvoiceLineItem],
        {
            "items[1].subtotal": Decimal("720"),
            "items[1].invoice_number": "",
        },
    ),
    "get-invoice-unbilled-recon-lineitems.response-3.invalid.json": (
        ResourceCollection[OneTimeInvoiceLineItem],
        {
            "items[0].reseller_mpn_id": "4649221",
            "items[0].mpn_id": "5357564",
        },
    ),
    "2023-10/get-invoice-unbilled-recon-lineitems.response-2.invalid.json": (
        ResourceCollection[OneTimeInvoiceLineItem],
        {"items[1].effective_unit_price": Decimal("14.4")},
    ),
    "2023-10/get-invoice-unbilled-recon-lineitems.response-3.invalid.json": (
        ResourceCollection[OneTimeInvoiceLineItem],
        {"items[1].quantity": 50},
    ),
    "custom-term-end-dates.response.invalid.json": (
        ResourceCollection[CustomTermEndDate],
        {
            "items[0].allowed_custom_term_end_date_type": "calendarMonthAligned",
            "items[0].allowed_custom_term_end_date": _utc(2023, 7, 31),
            "items[1].allowed_custom_term_end_date": _utc(2023, 8, 1),
            "items[1].coterm_subscription_ids[1]": "d30a9ff9-713e-4546-c97e-f06b9dcf6ef6",
        },
    ),
    "verify-promotion-eligibility.request.invalid.json": (
        PromotionEligibilitiesRequest,
        {
            "items[0].catalog_item_id": "CFQ7TTC0KZ59:0001:CFQ7TTC0KZ59",
            "items[0].billing_cycle": "Monthly",
        },
    ),
    "verify-promotion-eligibility.response.invalid.json": (
        ResourceCollection[PromotionEligibilityItem],
        {
            "items[0].eligibilities[0].errors[0].type": "SeatCount",
            "items[0].eligibilities[0].errors[0].min_seats": 25,  # 2021 names: minRequiredSeats/maxRequiredSeats
            "items[0].eligibilities[0].errors[0].max_seats": 500,
            "items[0].eligibilities[0].errors[1].eligible_terms[0].duration": "P3Y",
            "items[0].eligibilities[0].errors[2].type": "FirstPurchase",
        },
    ),
    "2023-10/verify-promotion-eligibility.request.invalid.json": (
        PromotionEligibilitiesRequest,
        {
            "items[0].quantity": 2400,
        },
    ),
    "2023-10/get-promotion-by-id.response.invalid.json": (
        ProductPromotion,
        {
            "end_date": _utc(9999, 1, 1),
            "promotion_constraints.seat_constraints[0].min_seats": 10,
            "promotion_constraints.asset_ownership_limits[0].max_assets": 3,
            "promotion_constraints.eligibility_constraints[0].type": "FirstPurchase",
            "promotion_constraints.product_ownership_constraints[0][0].big_id": "CFQ7TTC0MBMD/0002",
        },
    ),
    "create-migration.request-3.invalid.json": (NewCommerceMigration, {"purchase_full_term": True}),
}

# keys Microsoft sends that the models deliberately drop
IGNORED_KEYS = {"attributes/objectType"}  # a doc typo on a OneTime row, duplicating attributes.objectType


def _sample_files(*, valid: bool) -> list[str]:
    if not SAMPLES.is_dir():
        return []
    files = [*SAMPLES.glob("*.json"), *SAMPLES.glob("2023-10/*.json")]
    names = [p.relative_to(SAMPLES).as_posix() for p in files if p.name != "manifest.json"]
    return sorted(n for n in names if n.endswith(".invalid.json") != valid)


def _params(names: list[str]) -> list[Any]:
    return names or [pytest.param(None, marks=pytest.mark.skip(reason=MISSING))]


def _read(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _repair_whitespace(raw: bytes) -> bytes:
    text = raw.decode("utf-8")
    return text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u200b", "").encode()


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _pick(obj: Any, path: str) -> Any:
    for name, index in _STEP.findall(path):
        if index:
            obj = obj[int(index)]
        elif isinstance(obj, dict):
            obj = obj[name]
        else:
            obj = getattr(obj, name)
    return obj


def _check(model: Any, raw: bytes, expected: dict[str, Any]) -> Any:
    parsed = decode(model, raw)
    for path, want in expected.items():
        got = _pick(parsed, path)
        assert got == want, f"{path}: {got!r} != {want!r}"
        assert type(got) is type(want), f"{path}: {type(got).__name__} is not {type(want).__name__}"
    return parsed


@pytest.fixture(scope="module")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(MISSING)
    return SAMPLES


def test_every_valid_sample_is_in_the_table(samples):
    on_disk = set(_sample_files(valid=True))
    assert on_disk, f"no valid samples in {samples}"
    assert sorted(on_disk - SAMPLE_MODELS.keys()) == [], "valid samples with no model in SAMPLE_MODELS"
    assert sorted(SAMPLE_MODELS.keys() - on_disk) == [], "SAMPLE_MODELS names files that are not there"


@pytest.mark.parametrize("name", _params(_sample_files(valid=True)))
def test_valid_sample_parses(samples, name):
    if name not in SAMPLE_MODELS:
        pytest.fail(f"{name} is a valid sample with no entry in SAMPLE_MODELS: add the model it must parse as")
    model, expected = SAMPLE_MODELS[name]
    _check(model, _read(name), expected)


@pytest.mark.parametrize("name", _params(_sample_files(valid=True)))
def test_valid_sample_fields_are_all_modelled(samples, name):
    """Every key in the sample maps to a field of the model, so nothing Microsoft documents is dropped silently."""
    model, _ = SAMPLE_MODELS.get(name, (None, None))
    if model is None:
        pytest.fail(f"{name} has no entry in SAMPLE_MODELS")
    body = msgspec.json.decode(_read(name))
    unknown = sorted(set(_unmodelled(body, msgspec.inspect.type_info(model), "$")))
    assert unknown == []


@pytest.mark.parametrize("name", _params(sorted(WHITESPACE_REPAIRED)))
def test_whitespace_repaired_sample_parses(samples, name):
    raw = _read(name)
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    model, expected = WHITESPACE_REPAIRED[name]
    _check(model, _repair_whitespace(raw), expected)


@pytest.mark.parametrize("name", _params(_sample_files(valid=False)))
def test_invalid_sample_is_rejected_by_json(samples, name):
    """`.invalid.json` bodies are published broken (comments, elisions, missing commas, trailing commas, Unicode
    spaces); no JSON parser accepts them, so they are not parsing fixtures (except WHITESPACE_REPAIRED)."""
    with pytest.raises(json.JSONDecodeError):
        json.loads(_read(name))


def test_manifest_agrees_with_the_file_names(samples):
    entries = json.loads((samples / "manifest.json").read_text(encoding="utf-8"))["files"]
    json_entries = {e["file"]: e["valid_json"] for e in entries if e["file"].endswith(".json")}
    on_disk = dict.fromkeys(_sample_files(valid=True), True) | dict.fromkeys(_sample_files(valid=False), False)
    assert json_entries == on_disk


def _unmodelled(value: Any, info: Any, where: str) -> list[str]:
    if isinstance(info, msgspec.inspect.UnionType):
        for option in info.types:
            if isinstance(value, dict) and isinstance(option, msgspec.inspect.StructType):
                return _unmodelled(value, option, where)
            if isinstance(value, list) and isinstance(option, msgspec.inspect.ListType):
                return _unmodelled(value, option, where)
        return []
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        found = []
        for key, item in value.items():
            name = camel_key(key)
            if name in IGNORED_KEYS:
                continue
            if name not in fields:
                found.append(f"{where}.{key}")
            else:
                found += _unmodelled(item, fields[name], f"{where}.{key}")
        return found
    if isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        return [miss for i, item in enumerate(value) for miss in _unmodelled(item, info.item_type, f"{where}[{i}]")]
    return []


# --- decoding behaviour


def test_money_decodes_exactly_as_decimal_from_numbers_and_strings():
    line = decode(OneTimeInvoiceLineItem, b'{"unitPrice": 0.1, "subtotal": "720", "taxTotal": 73, "quantity": "50"}')
    assert line.unit_price == Decimal("0.1")
    assert isinstance(line.unit_price, Decimal)
    assert line.subtotal == Decimal(720)
    assert line.tax_total == Decimal(73)
    assert line.quantity == 50


def test_decode_accepts_str_bytes_and_dicts():
    body = '{"id": "c1", "lineItems": [{"catalogItemId": "P:S:A", "quantity": 2}]}'
    for data in (body, body.encode(), json.loads(body)):
        cart = decode(Cart, data)
        assert cart.line_items[0].catalog_item_id == "P:S:A"
        assert cart.line_items[0].quantity == 2


def test_dict_floats_become_exact_decimals():
    invoice = decode(Invoice, {"totalCharges": 24606.35, "PaidAmount": 0})
    assert invoice.total_charges == Decimal("24606.35")
    assert invoice.paid_amount == Decimal(0)


def test_pascal_case_keys_are_read_like_camel_case():
    sub = decode(Subscription, b'{"Id": "s1", "Quantity": 3, "RefundableQuantity": {"TotalQuantity": 2}}')
    assert (sub.id, sub.quantity, sub.reducible_quantity) == ("s1", 3, 2)


def test_null_lists_become_empty_lists():
    sub = decode(Subscription, b'{"id": "s1", "refundOptions": null, "actions": null}')
    assert sub.refund_options == []
    assert sub.actions == []


def test_naive_date_times_are_utc():
    line = decode(LicenseBasedLineItem, b'{"chargeStartDate": "2017-05-12T00:00:00"}')
    assert line.charge_start_date == _utc(2017, 5, 12)
    assert line.charge_start_date.tzinfo is UTC


def test_subscription_nce_fields():
    # shape of the 2023 docs' NCE subscription (published with a missing comma, so not a sample file)
    sub = decode(
        Subscription,
        {
            "id": "a4c1340d-6911-4758-bba3-0c4c6007d161",
            "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
            "quantity": 15,
            "commitmentEndDate": "2022-01-13T00:00:00Z",
            "commitmentEndDateTime": "2022-01-13T23:59:59Z",
            "customTermEndDate": "2019-01-09T00:21:45.9263727",
            "refundableQuantity": {
                "totalQuantity": 10,
                "details": [{"quantity": 10, "allowedUntilDateTime": "2021-01-24T20:39:17.182697Z"}],
            },
            "scheduledNextTermInstructions": {
                "product": {
                    "productId": "DG7GMGF0DVSV",
                    "skuId": "000P",
                    "availabilityId": "DG7GMGF0F3Q9",
                    "billingCycle": "Annual",
                    "termDuration": "P3Y",
                    "promotionId": "39NFJQT1PFPJ:000H:39NFJQT1Q5DK",
                },
                "quantity": 1,
                "customTermEndDate": "2019-01-09T00:21:45.9263727",
            },
        },
    )
    assert sub.is_nce
    assert sub.commitment_end == _utc(2022, 1, 13)
    assert sub.commitment_end_date_time == _utc(2022, 1, 13, 23, 59, 59)
    assert sub.refundable_quantity is not None
    assert sub.refundable_quantity.total_quantity == 10
    assert sub.refundable_quantity.details[0].allowed_until_date_time == _utc(2021, 1, 24, 20, 39, 17, 182697)
    assert sub.reducible_quantity == 10
    instructions = sub.scheduled_next_term_instructions
    assert instructions is not None
    assert instructions.product is not None
    assert (instructions.product.sku_id, instructions.product.term_duration) == ("000P", "P3Y")
    assert instructions.quantity == 1
    assert instructions.custom_term_end_date == _utc(2019, 1, 9, 0, 21, 45, 926373)


def test_sku_dynamic_attribute_accessors():
    # values of the NCE Business Basic SKU in get-a-sku-by-id.md (published with an elision)
    sku = decode(
        Sku,
        {
            "id": "0001",
            "productId": "CFQ7TTC0LH18",
            "minimumQuantity": 1,
            "maximumQuantity": 300,
            "supportedBillingCycles": ["annual", "monthly"],
            "dynamicAttributes": {
                "isAddon": False,
                "hasConstraints": True,
                "prerequisiteSkus": [],
                "upgradeTargetOffers": ["CFQ7TTC0LDPB:0001", "CFQ7TTC0LF8Q:0001"],
                "provisioningId": "3b555118-da6a-4418-894f-7df1e2096870",
            },
        },
    )
    assert not sku.is_addon
    assert sku.has_constraints
    assert sku.upgrade_target_offers == ["CFQ7TTC0LDPB:0001", "CFQ7TTC0LF8Q:0001"]
    assert sku.prerequisite_skus == []
    assert sku.provisioning_id == "3b555118-da6a-4418-894f-7df1e2096870"
    addon = decode(Sku, {"dynamicAttributes": {"isAddon": "True", "prerequisiteSkus": ["CFQ7TTC0LH18:0001"]}})
    assert addon.is_addon
    assert addon.prerequisite_skus == ["CFQ7TTC0LH18:0001"]


def test_availability_terms_and_refund_window():
    availability = decode(
        Availability,
        {
            "id": "CFQ7TTC0K971",
            "catalogItemId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
            "defaultCurrency": {"code": "USD", "symbol": "$"},
            "renewalInstructions": [
                {
                    "applicableTermIds": ["5aeco6mffyxo"],
                    "renewalOptions": [{"renewToId": "CFQ7TTC0LH18:0001", "isAutoRenewable": True}],
                },
            ],
            "terms": [
                {
                    "id": "5aeco6mffyxo",
                    "duration": "P1Y",
                    "billingCycle": "Annual",
                    "cancellationPolicies": [
                        {"refundOptions": [{"sequenceId": 0, "type": "Full", "expiresAfter": "P1D"}]}
                    ],
                }
            ],
        },
    )
    assert availability.default_currency is not None
    assert availability.default_currency.code == "USD"
    assert availability.renewal_instructions[0].renewal_options[0].renew_to_id == "CFQ7TTC0LH18:0001"
    assert availability.terms[0].cancellation_policies[0].refund_options[0].expires_after == "P1D"


def test_checkout_result_orders_and_errors():
    result = decode(
        CartCheckoutResult,
        b'{"orders": [{"id": "a68736758d9c", "lineItems": [{"lineItemNumber": 0, "offerId": "P:S:A",'
        b' "pricing": {"price": 36.48}}], "totalPrice": 36.48}],'
        b' "orderErrors": [{"orderGroupId": "1", "code": 10015, "description": "seats"}]}',
    )
    assert result.orders[0].total_price == Decimal("36.48")
    assert result.orders[0].line_items[0].pricing is not None
    assert result.orders[0].line_items[0].pricing.price == Decimal("36.48")
    assert result.order_errors[0].code == 10015


def test_api_fault_codes():
    assert decode(ApiFault, b'{"code": "800090", "description": "x"}').code_number == 800090
    assert decode(ApiFault, b'{"code": "InvalidInput"}').code_number is None
    throttled = decode(ApiFault, b'{"statusCode": 429, "message": "Rate limit is exceeded."}')
    assert (throttled.status_code, throttled.text) == (429, "Rate limit is exceeded.")


def test_wrong_types_raise_validation_error():
    with pytest.raises(msgspec.ValidationError):
        decode(Subscription, b'{"quantity": "many"}')
    with pytest.raises(msgspec.DecodeError):
        decode(Subscription, b'{"quantity": 1,}')


def test_encode_writes_camel_case_and_omits_defaults():
    cart = Cart(
        line_items=[
            CartLineItem(
                catalog_item_id="CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS",
                quantity=1,
                term_duration="P1M",
                billing_cycle="Monthly",
            )
        ]
    )
    assert json.loads(encode(cart)) == {
        "lineItems": [
            {
                "catalogItemId": "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS",
                "quantity": 1,
                "termDuration": "P1M",
                "billingCycle": "Monthly",
            }
        ]
    }
    assert encode(OneTimeInvoiceLineItem(pc_to_bc_exchange_rate=Decimal("1.10"))) == b'{"pcToBCExchangeRate":1.10}'


# --- value helpers


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Monthly", "monthly"),
        ("MONTHLY", "monthly"),
        ("monthly", "monthly"),
        ("Annual", "annual"),
        ("OneTime", "one_time"),
        ("one_time", "one_time"),
        ("onetime", "one_time"),
        ("Triennial", "triennial"),
        ("none", "none"),
        ("", None),
        (None, None),
    ],
)
def test_billing_cycle_key(raw, key):
    assert billing_cycle_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("new", "new"),
        ("New", "new"),
        ("addQuantity", "add_quantity"),
        ("removeQuantity", "remove_quantity"),
        ("cancelImmediate", "cancel_immediate"),
        ("Assess usage fee for current cycle", "assess_usage_fee_for_current_cycle"),
    ],
)
def test_charge_type_key(raw, key):
    assert charge_type_key(raw) == key


def test_enum_and_term_keys():
    assert enum_key("Started ") == "started"
    assert enum_key("InReview") == "in_review"
    assert enum_key("transition_with_license_transfer") == "transition_with_license_transfer"
    assert term_duration_key(" p1y ") == "P1Y"
    assert term_duration_key("") is None


def test_camel_key_follows_the_dotnet_sdk():
    assert [camel_key(k) for k in ("LineItems", "ID", "Etag", "PCToBCExchangeRate", "lineItems", "URLValue")] == [
        "lineItems",
        "id",
        "etag",
        "pcToBCExchangeRate",
        "lineItems",
        "urlValue",
    ]


def test_parse_pc_datetime():
    assert parse_pc_datetime("2015-11-25T06: 41: 12Z") == _utc(2015, 11, 25, 6, 41, 12)
    assert parse_pc_datetime("2019-01-09T00:21:45.9263727+00:00") == _utc(2019, 1, 9, 0, 21, 45, 926373)
    assert parse_pc_datetime("2017-05-12T00:00:00") == _utc(2017, 5, 12)
    assert parse_pc_datetime("2022-01-13") == _utc(2022, 1, 13)
    assert parse_pc_datetime("") is None
    with pytest.raises(ValueError, match="Invalid isoformat"):
        parse_pc_datetime("next Tuesday")


def test_split_catalog_item_id():
    assert split_catalog_item_id("CFQ7TTC0LH18:0001:CFQ7TTC0K971") == ("CFQ7TTC0LH18", "0001", "CFQ7TTC0K971")
    assert split_catalog_item_id("CFQ7TTC0LDPB:0001") == ("CFQ7TTC0LDPB", "0001", None)
    with pytest.raises(ValueError, match="not a catalog item id"):
        split_catalog_item_id("MS-AZR-0145P")
