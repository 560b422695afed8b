"""The catalog API's bodies (API.md Catalog), decoded at the edge (app/web/schemas.py)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from app.web.schemas import Body, Currency, IsoDate, OfferId, Rate, Uuid

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
