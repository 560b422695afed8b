"""Typed models of the Partner Center REST resources our client returns (facts sections 3-9).

Every model is a `msgspec.Struct` that reads Microsoft's camelCase JSON (`rename="camel"`), ignores fields it does
not know and gives every field a default, because Microsoft adds fields over time and leaves many out.
Decode with `decode(Model, body)`; `decode(ResourceCollection[Subscription], body)` for lists.

Conventions (checked against every published sample in /work/shared/pc_samples, see tests/unit/test_pc_models.py):
- Money and other fractional numbers are `Decimal`, read exactly from the JSON text. Microsoft sends them as JSON
  numbers on most resources but as strings ("720") on OneTime invoice line items; both decode.
- Date-times are `datetime`, always timezone-aware: Partner Center times are UTC, and Microsoft sometimes leaves the
  offset out ("2017-05-12T00:00:00"), so naive values get UTC attached after decoding.
  Exception: Subscription `creationDate`/`effectiveStartDate`/`commitmentEndDate` stay `str`, because published
  samples carry non-ISO values ("2015-11-25T06: 41: 12Z"); read them through `Subscription.created` / `.effective_start`
  / `.commitment_end`, which parse leniently.
- Enum-like values (status, billingCycle, termDuration, chargeType, ...) stay `str`: Microsoft varies their case
  ("Monthly"/"monthly"/"MONTHLY", "New"/"new"). Compare them through `enum_key`, `billing_cycle_key`, ... below.
- Requests shown in Microsoft's docs use PascalCase property names ("LineItems", "CatalogItemId"), which the service
  accepts; `decode` reads those too, by camel-casing keys the way Microsoft's .NET SDK does.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")

NCE_PRODUCT_TYPE = "OnlineServicesNCE"


class PcModel(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Base of every Partner Center model: camelCase on the wire, unknown fields ignored, UTC date-times."""

    def __post_init__(self) -> None:
        for name in _datetime_fields(type(self)):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                setattr(self, name, value.replace(tzinfo=UTC))


_DATETIME_FIELDS: dict[type, tuple[str, ...]] = {}


def _datetime_fields(cls: type) -> tuple[str, ...]:
    """Names of the fields typed `datetime` (or `datetime | None`) on `cls`, computed once per class."""
    names = _DATETIME_FIELDS.get(cls)
    if names is None:
        names = tuple(
            f.name
            for f in msgspec.structs.fields(cls)
            if f.type is datetime or (getattr(f.type, "__args__", None) and datetime in f.type.__args__)
        )
        _DATETIME_FIELDS[cls] = names
    return names


# ---------------------------------------------------------------------------------------------------------------
# Common building blocks (facts section 1)


class Link(PcModel):
    uri: str = ""
    method: str = "GET"
    headers: list[Any] = []


class Links(PcModel):
    """The `links` object. Microsoft uses different keys per resource; the ones seen in docs and samples are here."""

    self_: Link | None = msgspec.field(default=None, name="self")
    next: Link | None = None
    previous: Link | None = None
    first: Link | None = None
    last: Link | None = None
    product: Link | None = None
    products: Link | None = None
    sku: Link | None = None
    skus: Link | None = None
    availability: Link | None = None
    availabilities: Link | None = None
    offer: Link | None = None
    entitlement: Link | None = None
    subscription: Link | None = None
    parent_subscription: Link | None = None
    provisioning_status: Link | None = None
    patch_operation: Link | None = None


class Attributes(PcModel):
    object_type: str | None = None
    etag: str | None = None


class ResourceCollection(PcModel, Generic[T]):
    """`{"totalCount", "items", "links", "continuationToken", "attributes": {"objectType": "Collection"}}`."""

    total_count: int = 0
    items: list[T] = []
    links: Links | None = None
    continuation_token: str | None = None
    attributes: Attributes | None = None


class KeyValuePair(PcModel):
    key: str | None = None
    value: Any = None


class ApiFault(PcModel):
    """An error body. `code` is an int on most APIs (800090, 60012) but Microsoft also sends strings.

    Newer errors add `errorName`, `isRetryable`, `parameters`, `errorMessageExtended`; the throttling body is
    `{"statusCode": 429, "message": "..."}`.
    """

    code: int | str | None = None
    description: str | None = None
    message: str | None = None
    data: list[Any] = []
    source: str | None = None
    error_name: str | None = None
    is_retryable: bool | None = None
    parameters: dict[str, Any] = {}
    error_message_extended: str | None = None
    status_code: int | None = None

    @property
    def code_number(self) -> int | None:
        """`code` as an int when it is one (also "800090" sent as a string), else None."""
        if isinstance(self.code, int):
            return self.code
        if isinstance(self.code, str) and self.code.strip().lstrip("-").isdigit():
            return int(self.code)
        return None

    @property
    def text(self) -> str:
        return self.description or self.message or ""


# ---------------------------------------------------------------------------------------------------------------
# Customers, address validation, qualifications, agreements (facts section 3)


class Address(PcModel):
    country: str | None = None
    region: str | None = None
    city: str | None = None
    state: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    address_line3: str | None = None
    postal_code: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone_number: str | None = None


class CompanyProfile(PcModel):
    tenant_id: str | None = None
    domain: str | None = None
    company_name: str | None = None
    organization_registration_number: str | None = None
    address: Address | None = None
    email: str | None = None
    links: Links | None = None
    attributes: Attributes | None = None


class BillingProfile(PcModel):
    id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    culture: str | None = None
    language: str | None = None
    company_name: str | None = None
    default_address: Address | None = None
    links: Links | None = None
    attributes: Attributes | None = None


class UserCredentials(PcModel):
    """Only returned when the customer is created."""

    user_name: str | None = None
    password: str | None = None


class CustomerAssociation(PcModel):
    associated_partner_id: str | None = None


class Customer(PcModel):
    id: str | None = None
    commerce_id: str | None = None
    company_profile: CompanyProfile | None = None
    billing_profile: BillingProfile | None = None
    relationship_to_partner: str | None = None
    allow_delegated_access: bool | None = None
    user_credentials: UserCredentials | None = None
    custom_domains: list[str] = []
    association: CustomerAssociation | None = None
    enable_gdap_by_default: bool | None = msgspec.field(default=None, name="enableGDAPByDefault")
    links: Links | None = None
    attributes: Attributes | None = None


class AddressValidationResponse(PcModel):
    """`status`: VerifiedShippable, Verified, InteractionRequired, StreetPartial, PremisesPartial, Multiple, None,
    NotValidated."""

    original_address: Address | None = None
    suggested_addresses: list[Address] = []
    status: str | None = None
    validation_message: str | None = None


class CustomerQualification(PcModel):
    """Both the request (`qualification`, `educationSegment`, `website`, `validationCode`) and the response
    (`vettingStatus`, `vettingReason`, `vettingCreateDate`)."""

    qualification: str | None = None
    vetting_status: str | None = None
    vetting_reason: str | None = None
    vetting_create_date: datetime | None = None
    education_segment: str | None = None
    website: str | None = None
    validation_code: str | None = None


class Contact(PcModel):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone_number: str | None = None


class Agreement(PcModel):
    """A customer's attested agreement (request and response of POST /customers/{id}/agreements)."""

    user_id: str | None = None
    primary_contact: Contact | None = None
    template_id: str | None = None
    date_agreed: datetime | None = None
    type: str | None = None
    agreement_link: str | None = None
    attributes: Attributes | None = None


class AgreementMetaData(PcModel):
    template_id: str | None = None
    agreement_type: str | None = None
    agreement_link: str | None = None
    version_rank: int | None = None
    attributes: Attributes | None = None


# ---------------------------------------------------------------------------------------------------------------
# Catalog (facts section 4)


class ProductType(PcModel):
    """Microsoft's `ItemType`: `{"id": "OnlineServicesNCE", "displayName": ..., "subType": {...}}`."""

    id: str | None = None
    display_name: str | None = None
    sub_type: ProductType | None = None


class Product(PcModel):
    id: str | None = None
    title: str | None = None
    description: str | None = None
    product_type: ProductType | None = None
    is_microsoft_product: bool | None = None
    publisher_name: str | None = None
    localized_attributes: list[KeyValuePair] = []
    links: Links | None = None
    attributes: Attributes | None = None


class AttestationProperties(PcModel):
    attestation_type: str | None = None
    enforce_attestation: bool | None = None


class Sku(PcModel):
    id: str | None = None
    product_id: str | None = None
    title: str | None = None
    description: str | None = None
    minimum_quantity: int | None = None
    maximum_quantity: int | None = None
    is_trial: bool | None = None
    supported_billing_cycles: list[str] = []
    purchase_prerequisites: list[str] = []
    inventory_variables: list[str] = []
    provisioning_variables: list[str] = []
    actions: list[str] = []
    dynamic_attributes: dict[str, Any] = {}
    attestation_properties: AttestationProperties | None = None
    consumption_type: str | None = None
    links: Links | None = None
    attributes: Attributes | None = None

    @property
    def is_addon(self) -> bool:
        return _truthy(self.dynamic_attributes.get("isAddon"))

    @property
    def prerequisite_skus(self) -> list[str]:
        """The SKUs ("productId:skuId") an add-on can attach to; the customer must own at least one."""
        return _str_list(self.dynamic_attributes.get("prerequisiteSkus"))

    @property
    def upgrade_target_offers(self) -> list[str]:
        """The SKUs ("productId:skuId") this one can be upgraded to; Microsoft sends null when there are none."""
        return _str_list(self.dynamic_attributes.get("upgradeTargetOffers"))

    @property
    def provisioning_id(self) -> str | None:
        """The Entra ID SKU GUID that license assignment uses (`SubscribedSku.product_sku.id`)."""
        value = self.dynamic_attributes.get("provisioningId")
        return str(value) if value else None

    @property
    def has_constraints(self) -> bool:
        return _truthy(self.dynamic_attributes.get("hasConstraints"))


class Currency(PcModel):
    code: str | None = None
    symbol: str | None = None


class RefundOption(PcModel):
    """Catalog form `{"sequenceId", "type", "expiresAfter": "P1D"}` (ISO-8601 duration) and subscription form
    `{"type": "Full", "expiresAt": <date-time>}` share one model."""

    type: str | None = None
    sequence_id: int | None = None
    expires_after: str | None = None
    expires_at: datetime | None = None


class CancellationPolicy(PcModel):
    refund_options: list[RefundOption] = []


class TermRenewalOption(PcModel):
    term_duration: str | None = None
    description: str | None = None


class Term(PcModel):
    id: str | None = None
    duration: str | None = None
    description: str | None = None
    billing_cycle: str | None = None
    renewal_options: list[TermRenewalOption] = []
    cancellation_policies: list[CancellationPolicy] = []


class RenewalOption(PcModel):
    renew_to_id: str | None = None
    is_auto_renewable: bool | None = None


class RenewalInstruction(PcModel):
    applicable_term_ids: list[str] = []
    renewal_options: list[RenewalOption] = []


class Availability(PcModel):
    """`catalogItemId` = "ProductId:SkuId:AvailabilityId"; the availability id can change, fetch it before buying."""

    id: str | None = None
    product_id: str | None = None
    sku_id: str | None = None
    catalog_item_id: str | None = None
    default_currency: Currency | None = None
    segment: str | None = None
    country: str | None = None
    is_purchasable: bool | None = None
    is_renewable: bool | None = None
    renewal_instructions: list[RenewalInstruction] = []
    terms: list[Term] = []
    included_quantity_options: list[int] = []
    product: Product | None = None
    sku: Sku | None = None
    links: Links | None = None
    attributes: Attributes | None = None


# ---------------------------------------------------------------------------------------------------------------
# Promotions (facts section 6.4)


class PromotionTerm(PcModel):
    duration: str | None = None
    billing_cycle: str | None = None


class PricingPolicy(PcModel):
    """`{"policyType": "PercentDiscount", "value": "0.05"}`: Microsoft sends the value as a string."""

    policy_type: str | None = None
    value: str | None = None

    @property
    def decimal_value(self) -> Decimal | None:
        return _to_decimal(self.value)


class RequiredProduct(PcModel):
    product_id: str | None = None
    sku_id: str | None = None
    term: PromotionTerm | None = None
    pricing_policies: list[PricingPolicy] = []


class PromotionProperties(PcModel):
    is_auto_applicable: bool | None = None


class SeatConstraint(PcModel):
    min_seats: int | None = None
    max_seats: int | None = None
    type: str | None = None


class AssetOwnershipLimit(PcModel):
    min_assets: int | None = None
    max_assets: int | None = None
    type: str | None = None


class EligibilityConstraint(PcModel):
    is_applicable: bool | None = None
    type: str | None = None


class ProductOwnershipConstraint(PcModel):
    big_id: str | None = None
    min_seats: int | None = None
    max_seats: int | None = None


class PromotionConstraints(PcModel):
    seat_constraints: list[SeatConstraint] = []
    asset_ownership_limits: list[AssetOwnershipLimit] = []
    eligibility_constraints: list[EligibilityConstraint] = []
    product_ownership_constraints: list[list[ProductOwnershipConstraint]] = []


class ProductPromotion(PcModel):
    id: str | None = None
    name: str | None = None
    description: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    properties: PromotionProperties | None = None
    required_products: list[RequiredProduct] = []
    promotion_constraints: PromotionConstraints | None = None
    links: Links | None = None
    attributes: Attributes | None = None


class PromotionEligibilityError(PcModel):
    """`type`: InvalidCatalogItemId, InvalidPromotion, PrerequisiteProductOwnership, RedemptionLimit, SeatCount,
    OfferPurchasedPreviously, Term, NoPromotionsAvailable, FirstPurchase. SeatCount limits were published as
    `minRequiredSeats`/`maxRequiredSeats` (2021) and `minimumRequiredSeats`/`maximumRequiredSeats` (2023); use
    `min_seats`/`max_seats`."""

    type: str | None = None
    description: str | None = None
    minimum_required_seats: int | None = None
    maximum_required_seats: int | None = None
    min_required_seats: int | None = None
    max_required_seats: int | None = None
    available_seats: int | None = None
    max_promotion_redemption_count: int | None = None
    remaining_promotion_redemption_count: int | None = None
    eligible_terms: list[PromotionTerm] = []

    @property
    def min_seats(self) -> int | None:
        return self.minimum_required_seats if self.minimum_required_seats is not None else self.min_required_seats

    @property
    def max_seats(self) -> int | None:
        return self.maximum_required_seats if self.maximum_required_seats is not None else self.max_required_seats


class PromotionEligibility(PcModel):
    promotion_id: str | None = None
    is_eligible: bool | None = None
    errors: list[PromotionEligibilityError] = []


class PromotionEligibilityItem(PcModel):
    """One item of a promotion-eligibility request or result. `id` is an int (the docs also send "0")."""

    id: int | None = None
    catalog_item_id: str | None = None
    quantity: int | None = None
    term_duration: str | None = None
    billing_cycle: str | None = None
    promotion_id: str | None = None
    eligibilities: list[PromotionEligibility] = []
    attributes: Attributes | None = None


class PromotionEligibilitiesRequest(PcModel):
    items: list[PromotionEligibilityItem] = []


# ---------------------------------------------------------------------------------------------------------------
# Carts, orders (facts sections 6.1-6.3)


class CustomTermEndDate(PcModel):
    """`allowedCustomTermEndDateType`: calendarMonthAligned | subscriptionAligned."""

    allowed_custom_term_end_date_type: str | None = None
    allowed_custom_term_end_date: datetime | None = None
    coterm_subscription_ids: list[str] = []


class Participant(PcModel):
    """`key`: transaction_reseller | additional_transaction_reseller; `value`: the partner (MPN) id."""

    key: str | None = None
    value: str | None = None


class RenewsTo(PcModel):
    term_duration: str | None = None


class CartLineItemError(PcModel):
    """Errors attached at cart create/update: 10000-10019, 500600 (facts 6.1)."""

    error_code: int | str | None = None
    error_description: str | None = None
    additional_information: Any = None


class Pricing(PcModel):
    """Prices on cart and order line items (added with SDK 3.4.0)."""

    list_price: Decimal | None = None
    discounted_price: Decimal | None = None
    prorated_price: Decimal | None = None
    price: Decimal | None = None
    extended_price: Decimal | None = None


class CartLineItem(PcModel):
    id: int | None = None
    catalog_item_id: str | None = None
    friendly_name: str | None = None
    quantity: int = 0
    currency_code: str | None = None
    billing_cycle: str | None = None
    term_duration: str | None = None
    promotion_id: str | None = None
    participants: list[Participant] = []
    provisioning_context: dict[str, Any] = {}
    order_group: str | None = None
    addon_items: list[CartLineItem] = []
    renews_to: RenewsTo | None = None
    error: CartLineItemError | None = None
    custom_term_end_date: datetime | None = None
    attestation_accepted: bool | None = None
    purchase_system: str | None = None
    pricing: Pricing | None = None


class Cart(PcModel):
    id: str | None = None
    creation_timestamp: datetime | None = None
    last_modified_timestamp: datetime | None = None
    expiration_timestamp: datetime | None = None
    last_modified_user: str | None = None
    status: str | None = None
    line_items: list[CartLineItem] = []
    partner_on_record_attestation_accepted: bool | None = None
    links: Links | None = None
    attributes: Attributes | None = None


class OrderLineItem(PcModel):
    line_item_number: int | None = None
    offer_id: str | None = None
    subscription_id: str | None = None
    parent_subscription_id: str | None = None
    term_duration: str | None = None
    billing_cycle: str | None = None
    renews_to: RenewsTo | None = None
    transaction_type: str | None = None
    promotion_id: str | None = None
    custom_term_end_date: datetime | None = None
    friendly_name: str | None = None
    quantity: int = 0
    pricing: Pricing | None = None
    partner_id_on_record: str | None = None
    additional_partner_ids_on_record: list[str] = []
    provisioning_context: dict[str, Any] = {}
    attestation_accepted: bool | None = None
    links: Links | None = None
    attributes: Attributes | None = None


class Order(PcModel):
    id: str | None = None
    alternate_id: str | None = None
    reference_customer_id: str | None = None
    billing_cycle: str | None = None
    currency_code: str | None = None
    currency_symbol: str | None = None
    line_items: list[OrderLineItem] = []
    creation_date: datetime | None = None
    status: str | None = None
    transaction_type: str | None = None
    total_price: Decimal | None = None
    links: Links | None = None
    attributes: Attributes | None = None


class OrderError(PcModel):
    order_group_id: str | None = None
    code: int | str | None = None
    description: str | None = None


class CartCheckoutResult(PcModel):
    """Checkout answer: one Order per order group; subscription ids may still be missing (async provisioning)."""

    orders: list[Order] = []
    order_errors: list[OrderError] = []
    links: Links | None = None
    attributes: Attributes | None = None


class QuantityProvisioningStatus(PcModel):
    quantity: int | None = None
    status: str | None = None


class OrderLineItemProvisioningStatus(PcModel):
    order_line_item_id: int | None = None
    line_item_number: int | None = None
    status: str | None = None
    quantity_provisioning_information: list[QuantityProvisioningStatus] = []
    attributes: Attributes | None = None


# ---------------------------------------------------------------------------------------------------------------
# Subscriptions, transitions, migrations (facts section 7)


class RefundableQuantityDetail(PcModel):
    quantity: int = 0
    allowed_until_date_time: datetime | None = None


class RefundableQuantity(PcModel):
    """Seats that can still be reduced now, per purchase batch with its own window end."""

    total_quantity: int = 0
    details: list[RefundableQuantityDetail] = []


class ProductTerm(PcModel):
    """The product of scheduled next-term / next-charge instructions."""

    product_id: str | None = None
    sku_id: str | None = None
    availability_id: str | None = None
    billing_cycle: str | None = None
    term_duration: str | None = None
    promotion_id: str | None = None


class ScheduledNextTermInstructions(PcModel):
    product: ProductTerm | None = None
    quantity: int | None = None
    custom_term_end_date: datetime | None = None


class NextChargeInstructions(PcModel):
    product: ProductTerm | None = None
    quantity: int | None = None


class Subscription(PcModel):
    """A subscription. `creation_date`, `effective_start_date` and `commitment_end_date` are kept as Microsoft's
    text (samples carry "2015-11-25T06: 41: 12Z"); use `created`, `effective_start`, `commitment_end`."""

    id: str | None = None
    entitlement_id: str | None = None
    offer_id: str | None = None
    offer_name: str | None = None
    friendly_name: str | None = None
    product_type: ProductType | None = None
    quantity: int = 0
    unit_type: str | None = None
    parent_subscription_id: str | None = None
    consumption_type: str | None = None
    creation_date: str | None = None
    effective_start_date: str | None = None
    commitment_end_date: str | None = None
    commitment_end_date_time: datetime | None = None
    cancellation_allowed_until_date: datetime | None = None
    billing_cycle_end_date: datetime | None = None
    billing_cycle_end_date_time: datetime | None = None
    custom_term_end_date: datetime | None = None
    status: str | None = None
    auto_renew_enabled: bool | None = None
    billing_type: str | None = None
    billing_cycle: str | None = None
    term_duration: str | None = None
    renewal_term_duration: str | None = None
    has_purchasable_addons: bool | None = None
    is_trial: bool | None = None
    is_microsoft_product: bool | None = None
    actions: list[str] = []
    refund_options: list[RefundOption] = []
    refundable_quantity: RefundableQuantity | None = None
    scheduled_next_term_instructions: ScheduledNextTermInstructions | None = None
    next_charge_instructions: NextChargeInstructions | None = None
    suspension_reasons: list[str] = []
    partner_id: str | None = None
    publisher_name: str | None = None
    promotion_id: str | None = None
    migrated_from_subscription_id: str | None = None
    order_id: str | None = None
    contract_type: str | None = None
    attention_needed: bool | None = None
    action_taken: bool | None = None
    links: Links | None = None
    attributes: Attributes | None = None

    @property
    def created(self) -> datetime | None:
        return parse_pc_datetime(self.creation_date)

    @property
    def effective_start(self) -> datetime | None:
        return parse_pc_datetime(self.effective_start_date)

    @property
    def commitment_end(self) -> datetime | None:
        return parse_pc_datetime(self.commitment_end_date)

    @property
    def effective_start_day(self) -> date | None:
        """The term's first day, as Microsoft writes it (its own offset kept)."""
        start = self.effective_start
        return start.date() if start else None

    @property
    def commitment_end_day(self) -> date | None:
        """The term's last day, as Microsoft writes it (its own offset kept)."""
        end = self.commitment_end
        return end.date() if end else None

    @property
    def is_nce(self) -> bool:
        return self.product_type is not None and self.product_type.id == NCE_PRODUCT_TYPE

    @property
    def status_key(self) -> str | None:
        return enum_key(self.status)

    @property
    def reducible_quantity(self) -> int:
        """Seats that can be removed now (0 when Microsoft does not say)."""
        return self.refundable_quantity.total_quantity if self.refundable_quantity else 0


class SubscriptionProvisioningStatus(PcModel):
    sku_id: str | None = None
    status: str | None = None
    quantity: int | None = None
    end_date: datetime | None = None
    attributes: Attributes | None = None


class TransitionError(PcModel):
    """`code` 0-13 (TransitionErrorCode, facts 7.6)."""

    code: int | str | None = None
    description: str | None = None


class TransitionEligibilityDetail(PcModel):
    is_eligible: bool | None = None
    transition_type: str | None = None
    errors: list[TransitionError] = []


class SubscriptionTransitionEligibility(PcModel):
    """2023 addition: which existing subscriptions can receive the transition."""

    is_eligible: bool | None = None
    subscription_id: str | None = None
    subscription_friendly_name: str | None = None
    subscription_term_duration: str | None = None
    subscription_billing_cycle: str | None = None
    errors: list[TransitionError] = []


class TransitionEligibility(PcModel):
    operation_id: str | None = None
    catalog_item_id: str | None = None
    title: str | None = None
    description: str | None = None
    quantity: int | None = None
    eligibilities: list[TransitionEligibilityDetail] = []
    subscription_eligibilities: list[SubscriptionTransitionEligibility] = []
    attributes: Attributes | None = None


class TransitionEvent(PcModel):
    """`name`: Conversion | LicenseReassignment; `status`: Started | InProgress | Completed | Failed (the docs show
    "Started " with a trailing blank: compare through `status_key`)."""

    name: str | None = None
    status: str | None = None
    timestamp: datetime | None = None
    errors: list[Any] = []
    attributes: Attributes | None = None

    @property
    def status_key(self) -> str | None:
        return enum_key(self.status)


class Transition(PcModel):
    """Request and response of POST .../transitions, and the items of GET .../transitions."""

    operation_id: str | None = None
    from_catalog_item_id: str | None = None
    from_subscription_id: str | None = None
    to_catalog_item_id: str | None = None
    to_subscription_id: str | None = None
    quantity: int | None = None
    term_duration: str | None = None
    billing_cycle: str | None = None
    transition_type: str | None = None
    promotion_id: str | None = None
    events: list[TransitionEvent] = []
    attributes: Attributes | None = None


class TransitionList(PcModel):
    """GET .../transitions. Microsoft's samples put the list under `transition`, not `items`; `transitions` reads
    whichever is present."""

    total_count: int | None = None
    transition: list[Transition] = []
    items: list[Transition] = []
    links: Links | None = None
    attributes: Attributes | None = None

    @property
    def transitions(self) -> list[Transition]:
        return self.items or self.transition


class NewCommerceMigration(PcModel):
    """Request and response of POST /customers/{id}/migrations/newcommerce (add-ons nest as `addOnMigrations`)."""

    id: str | None = None
    started_time: datetime | None = None
    completed_time: datetime | None = None
    current_subscription_id: str | None = None
    status: str | None = None
    customer_tenant_id: str | None = None
    catalog_item_id: str | None = None
    new_commerce_subscription_id: str | None = None
    new_commerce_order_id: str | None = None
    subscription_end_date: datetime | None = None
    quantity: int | None = None
    term_duration: str | None = None
    billing_cycle: str | None = None
    purchase_full_term: bool | None = None
    custom_term_end_date: datetime | None = None
    external_reference_id: str | None = None
    add_on_migrations: list[NewCommerceMigration] = []
    attributes: Attributes | None = None


class NewCommerceEligibilityError(PcModel):
    """`code` 5: the equivalent New Commerce offer is not available yet."""

    code: int | str | None = None
    description: str | None = None


class NewCommerceEligibility(PcModel):
    """Result of POST .../migrations/newcommerce/validate."""

    current_subscription_id: str | None = None
    is_eligible: bool | None = None
    catalog_item_id: str | None = None
    term_duration: str | None = None
    billing_cycle: str | None = None
    custom_term_end_date: datetime | None = None
    errors: list[NewCommerceEligibilityError] = []
    add_on_migrations: list[NewCommerceEligibility] = []
    attributes: Attributes | None = None


# ---------------------------------------------------------------------------------------------------------------
# Users and licenses (facts section 8)


class PasswordProfile(PcModel):
    password: str | None = None
    force_change_password: bool | None = None


class CustomerUser(PcModel):
    id: str | None = None
    usage_location: str | None = None
    user_principal_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    immutable_id: str | None = None
    password_profile: PasswordProfile | None = None
    last_directory_sync_time: datetime | None = None
    user_domain_type: str | None = None
    state: str | None = None
    soft_deletion_time: datetime | None = None  # Microsoft's name (create-user response sample)
    links: Links | None = None
    attributes: Attributes | None = None


class ProductSku(PcModel):
    """`id` is the Entra ID SKU GUID (the catalog's `provisioningId`), not the NCE ProductId/SkuId."""

    id: str | None = None
    name: str | None = None
    sku_part_number: str | None = None
    target_type: str | None = None
    license_group_id: str | None = None


class ServicePlan(PcModel):
    id: str | None = None
    display_name: str | None = None
    service_name: str | None = None
    capability_status: str | None = None
    target_type: str | None = None


class SubscribedSku(PcModel):
    available_units: int = 0
    active_units: int = 0
    consumed_units: int = 0
    suspended_units: int = 0
    total_units: int = 0
    warning_units: int = 0
    product_sku: ProductSku | None = None
    service_plans: list[ServicePlan] = []
    capability_status: str | None = None
    attributes: Attributes | None = None


class LicenseAssignment(PcModel):
    sku_id: str | None = None
    excluded_plans: list[str] = []


class LicenseWarning(PcModel):
    code: str | int | None = None
    message: str | None = None
    service: str | None = None
    service_plans: list[str] = []


class LicenseUpdate(PcModel):
    """POST /customers/{id}/users/{uid}/licenseupdates request and response."""

    licenses_to_assign: list[LicenseAssignment] = []
    licenses_to_remove: list[str] = []
    license_warnings: list[LicenseWarning] = []
    attributes: Attributes | None = None


class UserLicense(PcModel):
    """An item of GET /customers/{id}/users/{uid}/licenses: the licence's SKU and its service plans."""

    product_sku: ProductSku | None = None
    service_plans: list[ServicePlan] = []
    attributes: Attributes | None = None


# ---------------------------------------------------------------------------------------------------------------
# GDAP relationships: Microsoft Graph's delegatedAdminRelationships (facts 3.5), camelCase like Partner Center


class GraphList(PcModel, Generic[T]):
    """A Graph collection: `{"value": [...], "@odata.nextLink": "..."}`."""

    value: list[T] = []
    next_link: str | None = msgspec.field(default=None, name="@odata.nextLink")


class DelegatedAdminRelationshipCustomer(PcModel):
    tenant_id: str | None = None
    display_name: str | None = None


class UnifiedRole(PcModel):
    role_definition_id: str | None = None


class DelegatedAdminAccessDetails(PcModel):
    unified_roles: list[UnifiedRole] = []


class DelegatedAdminRelationship(PcModel):
    """`status`: created, approvalPending, active, terminated, expired (and Graph's transitional ones:
    activating, approved, expiring, terminating, terminationRequested)."""

    id: str | None = None
    display_name: str | None = None
    duration: str | None = None
    status: str | None = None
    auto_extend_duration: str | None = None
    customer: DelegatedAdminRelationshipCustomer | None = None
    access_details: DelegatedAdminAccessDetails | None = None
    created_date_time: datetime | None = None
    last_modified_date_time: datetime | None = None
    activated_date_time: datetime | None = None
    end_date_time: datetime | None = None


class DelegatedAdminRelationshipRequest(PcModel):
    """`action`: lockForApproval, approve, terminate; `status`: created, pending, succeeded, failed."""

    id: str | None = None
    action: str | None = None
    status: str | None = None
    created_date_time: datetime | None = None
    last_modified_date_time: datetime | None = None


# ---------------------------------------------------------------------------------------------------------------
# Invoices and reconciliation line items (facts section 9)


class TaxReceipt(PcModel):
    id: str | None = None
    tax_receipt_pdf_download_link: str | None = None


class InvoiceDetail(PcModel):
    invoice_line_item_type: str | None = None
    billing_provider: str | None = None
    links: Links | None = None
    attributes: Attributes | None = None


class Invoice(PcModel):
    """`documentType`: invoice | void_note | adjustment_note; adjustments nest under `amendments`."""

    id: str | None = None
    invoice_date: datetime | None = None
    billing_period_start_date: datetime | None = None
    billing_period_end_date: datetime | None = None
    total_charges: Decimal | None = None
    paid_amount: Decimal | None = None
    currency_code: str | None = None
    currency_symbol: str | None = None
    pdf_download_link: str | None = None
    tax_receipts: list[TaxReceipt] = []
    invoice_details: list[InvoiceDetail] = []
    amendments: list[Invoice] = []
    document_type: str | None = None
    amends_of: str | None = None
    invoice_type: str | None = None
    links: Links | None = None
    attributes: Attributes | None = None


class OneTimeInvoiceLineItem(PcModel):
    """A billed or unbilled NCE reconciliation row (provider OneTime, facts 9.2).

    Microsoft sends amounts and quantities as strings ("720", "25") or numbers, `mpnId` as a string and
    `resellerMpnId` as a string or a number; all decode. `priceAdjustmentDescription` is a JSON-encoded list
    (`price_adjustments`)."""

    partner_id: str | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    customer_domain_name: str | None = None
    customer_country: str | None = None
    invoice_number: str | None = None
    mpn_id: str | int | None = None
    reseller_mpn_id: str | int | None = None
    order_id: str | None = None
    order_date: datetime | None = None
    product_id: str | None = None
    sku_id: str | None = None
    availability_id: str | None = None
    product_name: str | None = None
    sku_name: str | None = None
    product_qualifiers: list[str] = []
    charge_type: str | None = None
    unit_price: Decimal | None = None
    effective_unit_price: Decimal | None = None
    unit_type: str | None = None
    quantity: int | None = None
    subtotal: Decimal | None = None
    tax_total: Decimal | None = None
    total_for_customer: Decimal | None = None
    currency: str | None = None
    publisher_name: str | None = None
    publisher_id: str | None = None
    subscription_description: str | None = None
    subscription_id: str | None = None
    subscription_start_date: datetime | None = None
    subscription_end_date: datetime | None = None
    charge_start_date: datetime | None = None
    charge_end_date: datetime | None = None
    term_and_billing_cycle: str | None = None
    alternate_id: str | None = None
    reference_id: str | None = None
    price_adjustment_description: str | None = None
    discount_details: str | None = None
    pricing_currency: str | None = None
    pc_to_bc_exchange_rate: Decimal | None = msgspec.field(default=None, name="pcToBCExchangeRate")
    pc_to_bc_exchange_rate_date: datetime | None = msgspec.field(default=None, name="pcToBCExchangeRateDate")
    billable_quantity: Decimal | None = None
    meter_description: str | None = None
    billing_frequency: str | None = None
    reservation_order_id: str | None = None
    credit_reason_code: str | None = None
    promotion_id: str | None = None
    invoice_line_item_type: str | None = None
    billing_provider: str | None = None
    attributes: Attributes | None = None

    @property
    def charge_type_key(self) -> str | None:
        return charge_type_key(self.charge_type)

    @property
    def price_adjustments(self) -> list[str]:
        text = (self.price_adjustment_description or "").strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except ValueError:
            return [text]
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]


class LicenseBasedLineItem(PcModel):
    """Legacy Office (license-based) invoice row, provider `office`."""

    partner_id: str | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    mpn_id: int | str | None = None
    tier2_mpn_id: int | str | None = None
    order_id: str | None = None
    subscription_id: str | None = None
    syndication_partner_subscription_number: str | None = None
    offer_id: str | None = None
    durable_offer_id: str | None = None
    offer_name: str | None = None
    domain_name: str | None = None
    billing_cycle_type: str | None = None
    subscription_name: str | None = None
    subscription_description: str | None = None
    subscription_start_date: datetime | None = None
    subscription_end_date: datetime | None = None
    charge_start_date: datetime | None = None
    charge_end_date: datetime | None = None
    charge_type: str | None = None
    unit_price: Decimal | None = None
    quantity: int | None = None
    amount: Decimal | None = None
    total_other_discount: Decimal | None = None
    subtotal: Decimal | None = None
    tax: Decimal | None = None
    total_for_customer: Decimal | None = None
    currency: str | None = None
    invoice_line_item_type: str | None = None
    billing_provider: str | None = None
    attributes: Attributes | None = None


class _AzureLineItemBase(PcModel):
    partner_id: str | None = None
    partner_name: str | None = None
    partner_billable_account_id: str | None = None
    customer_id: str | None = None
    domain_name: str | None = None
    customer_company_name: str | None = None
    mpn_id: int | str | None = None
    tier2_mpn_id: int | str | None = None
    invoice_number: str | None = None
    subscription_id: str | None = None
    subscription_name: str | None = None
    subscription_description: str | None = None
    billing_cycle_type: str | None = None
    order_id: str | None = None
    service_name: str | None = None
    service_type: str | None = None
    resource_guid: str | None = None
    resource_name: str | None = None
    region: str | None = None
    consumed_quantity: Decimal | None = None
    charge_start_date: datetime | None = None
    charge_end_date: datetime | None = None
    unit: str | None = None
    invoice_line_item_type: str | None = None
    billing_provider: str | None = None
    attributes: Attributes | None = None


class UsageBasedLineItem(_AzureLineItemBase):
    """Legacy Azure billing row, provider `azure`, type billing_line_items."""

    detail_line_item_id: int | None = None
    sku: str | None = None
    included_quantity: Decimal | None = None
    overage_quantity: Decimal | None = None
    list_price: Decimal | None = None
    currency: str | None = None
    pretax_charges: Decimal | None = None
    tax_amount: Decimal | None = None
    post_tax_total: Decimal | None = None
    pretax_effective_rate: Decimal | None = None
    post_tax_effective_rate: Decimal | None = None
    charge_type: str | None = None


class DailyUsageLineItem(_AzureLineItemBase):
    """Legacy Azure daily usage row, provider `azure`, type usage_line_items."""

    customer_billable_account: str | None = None
    usage_date: datetime | None = None


# ---------------------------------------------------------------------------------------------------------------
# Decoding and encoding

# a PascalCase object key (`"LineItems":`): such bodies take the normalising path
_PASCAL_KEY = re.compile(rb'"[A-Z][A-Za-z0-9_]*"\s*:')
_lenient_json = msgspec.json.Decoder(float_hook=Decimal)
_encoder = msgspec.json.Encoder(decimal_format="number")


def decode(model: type[T], data: bytes | bytearray | memoryview | str | dict[str, Any] | list[Any]) -> T:
    """Decode a Partner Center JSON body (or an already parsed dict/list) into `model`.

    Fast path: msgspec's typed decoding with `strict=False` (so "25" fills an int field, "720" a Decimal one).
    Bodies with PascalCase keys (as Microsoft's request samples are written), dicts, and bodies that fail
    validation go through a normalising path: keys are camel-cased like the .NET SDK does, and JSON nulls are
    treated as absent (so a null list becomes the default empty list). Malformed JSON raises
    `msgspec.DecodeError`; values of the wrong type raise `msgspec.ValidationError`.
    """
    if isinstance(data, (dict, list)):
        return msgspec.convert(_normalise(data), type=model, strict=False)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if _PASCAL_KEY.search(raw) is None:
        try:
            return msgspec.json.decode(raw, type=model, strict=False)
        except msgspec.ValidationError:
            pass
    return msgspec.convert(_normalise(_lenient_json.decode(raw)), type=model, strict=False)


def encode(value: Any) -> bytes:
    """JSON for a request body: camelCase names, fields left at their default omitted, Decimals as numbers."""
    return _encoder.encode(value)


def camel_key(name: str) -> str:
    """Camel-case a property name the way Microsoft's .NET SDK (Newtonsoft) does: "LineItems" -> "lineItems",
    "ID" -> "id", "PCToBCExchangeRate" -> "pcToBCExchangeRate"."""
    if not name or not name[0].isupper():
        return name
    chars = list(name)
    for i, char in enumerate(chars):
        if i == 1 and not char.isupper():
            break
        if i > 0 and i + 1 < len(chars) and not chars[i + 1].isupper():
            break
        chars[i] = char.lower()
    return "".join(chars)


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {camel_key(k) if isinstance(k, str) else k: _normalise(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------------------
# Value helpers

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-_/]+")
_BILLING_CYCLE_ALIASES = {"onetime": "one_time", "yearly": "annual"}


def enum_key(value: str | None) -> str | None:
    """A comparable form of Microsoft's enum-like strings: "Monthly"/"MONTHLY" -> "monthly", "OneTime"/"one_time"
    -> "one_time", "addQuantity" -> "add_quantity", "Started " -> "started", "InReview" -> "in_review"."""
    if value is None:
        return None
    text = _CAMEL_BOUNDARY.sub("_", value.strip())
    text = _SEPARATORS.sub("_", text).strip("_").lower()
    return text or None


def billing_cycle_key(value: str | None) -> str | None:
    """Billing cycle for comparison: "Monthly" -> "monthly", "OneTime"/"one_time" -> "one_time"."""
    key = enum_key(value)
    return _BILLING_CYCLE_ALIASES.get(key, key) if key else None


def status_key(value: str | None) -> str | None:
    return enum_key(value)


def charge_type_key(value: str | None) -> str | None:
    """Charge type for comparison: "New" -> "new", "addQuantity" -> "add_quantity"."""
    return enum_key(value)


def term_duration_key(value: str | None) -> str | None:
    """ISO-8601 durations in upper case: "p1y" -> "P1Y"; empty -> None (Microsoft sends "" for no renewal term)."""
    if value is None:
        return None
    text = value.strip().upper()
    return text or None


def split_catalog_item_id(catalog_item_id: str) -> tuple[str, str, str | None]:
    """Split "CFQ7TTC0LH18:0001:CFQ7TTC0K971" into (product, sku, availability); "P:S" gives (P, S, None)."""
    parts = catalog_item_id.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"not a catalog item id: {catalog_item_id!r}")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


_DATE_TIME_GAP = re.compile(r"\s*([T:.+\-Z])\s*")


def parse_pc_datetime(value: str | datetime | date | None) -> datetime | None:
    """Parse a Partner Center date-time leniently, as UTC when no offset is given.

    Accepts ISO-8601 with "Z" or an offset, any number of fractional digits, a bare date, and the blank-padded
    form in Microsoft's samples ("2015-11-25T06: 41: 12Z"). Returns None for None/"" and raises ValueError for
    anything else.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        text = value.strip()
        if not text:
            return None
        text = _DATE_TIME_GAP.sub(r"\1", text)
        try:  # msgspec's RFC 3339 parser, so results match decoded fields (it rounds a 7th fractional digit)
            parsed = msgspec.convert(text, type=datetime)
        except msgspec.ValidationError:
            parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _str_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v) for v in value]


def _to_decimal(value: str | None) -> Decimal | None:
    if value is None or not value.strip():
        return None
    return Decimal(value.strip())
