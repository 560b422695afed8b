"""The subscriptions API's bodies (API.md Subscriptions), decoded at the edge (app/web/schemas.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from app.web.schemas import Body, IsoDate, OfferId, Quantity

Seats = Annotated[int, Meta(ge=1, le=2_147_483_647)]


class ChangeBody(Body):
    """`PATCH /subscriptions/{id}`: seats, auto-renew, or both."""

    quantity: Quantity | UnsetType = UNSET
    auto_renew: bool | UnsetType = UNSET


class CancelBody(Body):
    """`POST /subscriptions/{id}/cancel`: some seats, or (left out) the whole subscription."""

    quantity: Seats | UnsetType = UNSET


class ScheduleBody(Body):
    """`PUT /subscriptions/{id}/scheduled-change`: what the next term should be."""

    quantity: Seats | UnsetType = UNSET
    offer_id: OfferId | UnsetType = UNSET
    term: Literal["P1M", "P1Y", "P3Y"] | UnsetType = UNSET
    billing_plan: Literal["monthly", "annual", "triennial"] | UnsetType = UNSET
    coterm_end_date: IsoDate | UnsetType | None = UNSET


class UpgradeBody(Body):
    """`POST /subscriptions/{id}/upgrade`: the target, and the seats to move (left out: all of them)."""

    offer_id: OfferId
    quantity: Seats | UnsetType = UNSET
