"""The orders API's bodies, decoded at the edge (app/web/schemas.py), and its answers (app/web/answers.py); API.md
Orders."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from app.operations.schemas import OperationStatus
from app.web.answers import CurrencyCode, DateTimeText, DecimalText, Fx, OfferIdText
from app.web.schemas import Answer, Body, IsoDate, OfferId, Uuid, answer

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


# --- Answers (API.md Orders) -----------------------------------------------------------------------------------


class OrderLine(Answer):
    """A line as its viewer is billed it: the bill-to's currency (with `fx` when converted), or for a reseller's
    customer its own price in its market's currency."""

    offer_id: OfferIdText
    title: str
    quantity: int
    term: str
    billing_plan: str
    coterm_end_date: date | None
    unit_price: DecimalText
    first_charge: DecimalText
    currency: CurrencyCode
    fx: Fx | None
    status: Literal["pending", "ordered", "provisioned", "failed"]
    subscription_id: uuid.UUID | None
    error: str | None


class OrderOperation(Answer):
    """The provisioning operation the order is followed by (`GET /operations/{id}`)."""

    id: uuid.UUID
    status: OperationStatus
    error: str | None


class Order(Answer):
    id: uuid.UUID
    number: int
    customer_id: uuid.UUID
    customer_name: str | None
    status: Literal["accepted", "provisioning", "completed", "failed"]
    currency: CurrencyCode
    created_at: DateTimeText
    operation: OrderOperation | None
    lines: list[OrderLine]


class OrderPage(Answer):
    items: list[Order]
    next: str | None


def order_answer(order: dict) -> Order:
    """The service's order (app/orders/service.py order_json) as the answer."""
    return answer(Order, order)


def order_page(orders: list[dict], next_cursor: str | None) -> OrderPage:
    return answer(OrderPage, {"items": orders, "next": next_cursor})
