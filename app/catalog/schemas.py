"""The catalog API's bodies (API.md Catalog), decoded at the edge (app/web/schemas.py)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from app.web.schemas import Answer, Body, Currency, IsoDate, OfferId, Rate, Uuid

MAX_FX_RATES = 1000
# a margin in percent: the service keeps it between -100 and 1000 (numeric(9, 4))
Percent = Annotated[str, Meta(max_length=12, pattern=r"^\s*-?\d{1,4}(\.\d{1,4})?\s*$")]


class FxRateBody(Body):
    """One rate of `PUT /catalog/fx-rates`: 1 `from` is `rate` `to` from `effective_from` on."""

    from_: Currency = msgspec.field(name="from")
    to: Currency
    rate: Rate
    effective_from: IsoDate


FxRatesBody = Annotated[list[FxRateBody], Meta(max_length=MAX_FX_RATES)]


class MarginRuleBody(Body):
    """`POST /catalog/margin-rules`."""

    scope: Literal["global", "reseller", "product", "customer", "reseller_customers"]
    kind: Literal["markup_on_cost", "discount_off_erp"]
    percent: Percent
    account_id: Uuid | UnsetType | None = UNSET
    offer_id: OfferId | UnsetType | None = UNSET
    allow_below_cost: bool | UnsetType = UNSET


# --- Answers (API.md Catalog), in app/catalog/service.py's order -----------------------------------------------


class PlanAnswer(Answer):
    term: str
    billing_plan: str


class OfferAnswer(Answer):
    id: str
    product_id: str
    sku_id: str
    title: str
    product_title: str
    description: str
    publisher: str
    kind: Literal["license", "software_subscription", "perpetual", "trial"]
    segment: Literal["commercial", "education", "government", "nonprofit"]
    status: Literal["active", "discontinued"]
    is_addon: bool
    prerequisites: list[str]
    upgrade_targets: list[str]
    min_quantity: int
    max_quantity: int
    plans: list[PlanAnswer]


class OfferList(Answer):
    items: list[OfferAnswer]
    next: str | None


class PromotionAnswer(Answer):
    id: str
    percent: str


class PriceAnswer(Answer):
    """Amounts per `per` (the term, or one month of a monthly plan), in `currency`; `cost` and `margin` are null for
    a viewer who may not see them."""

    offer_id: str
    term: str
    billing_plan: str
    unit_price: str
    term_price: str
    currency: str
    cost: str | None
    erp: str
    margin: str | None
    surcharge: str
    promotion: PromotionAnswer | None
    per: Literal["term", "month"]
    market: str
    fx_rate: str | None
    explanation: list[str]


class FxRateAnswer(Answer):
    from_: str = msgspec.field(name="from")
    to: str
    rate: str
    effective_from: str


class FxRateList(Answer):
    items: list[FxRateAnswer]
    next: str | None


class MarginRuleAnswer(Answer):
    """`owner` is "csp" or the reseller's id; the names are there to read the rule by."""

    id: str
    owner: str
    scope: Literal["global", "reseller", "product", "customer", "reseller_customers"]
    account_id: str | None
    offer_id: str | None
    kind: Literal["markup_on_cost", "discount_off_erp"]
    percent: str
    allow_below_cost: bool
    owner_name: str | None
    account_name: str | None
    offer_title: str | None


class MarginRuleList(Answer):
    items: list[MarginRuleAnswer]
    next: str | None
