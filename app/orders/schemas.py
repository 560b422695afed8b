"""The orders API's bodies (API.md Orders), decoded at the edge (app/web/schemas.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from app.web.schemas import Body, IsoDate, OfferId, Uuid

MAX_LINES = 50
Seats = Annotated[int, Meta(ge=1, le=2_147_483_647)]


class OrderLineBody(Body):
    offer_id: OfferId
    quantity: Seats
    billing_plan: Literal["monthly", "annual", "triennial", "one_time", "none"]
    term: Literal["", "P1M", "P1Y", "P3Y"] | UnsetType = UNSET  # empty or left out: a perpetual licence
    coterm_end_date: IsoDate | UnsetType | None = UNSET


class OrderBody(Body):
    customer_id: Uuid
    lines: Annotated[list[OrderLineBody], Meta(min_length=1, max_length=MAX_LINES)]
