"""/api/v1/orders (API.md, Orders). Thin: the service and the rules decide."""

from __future__ import annotations

import uuid

from litestar import Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from app.accounts.rules import Principal
from app.orders import service
from app.orders.schemas import Order, OrderBody, OrderPage, order_answer, order_page
from app.web.auth import provide_me, signed_in
from app.web.paging import api_window, next_cursor
from app.web.schemas import Cursor, Limit, fields


@post("/orders", name="api_place_order", status_code=201)
async def place_order(me: NamedDependency[Principal], data: OrderBody) -> Order:
    return order_answer(await service.place_order(me, fields(data)))


@get("/orders", name="api_orders")
async def list_orders(
    me: NamedDependency[Principal],
    customer_id: FromQuery[uuid.UUID | None] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> OrderPage:
    size, offset = api_window(limit, cursor)
    items, total = await service.list_orders(me, customer_id, size, offset)
    return order_page(items, next_cursor(size, offset, total))


@get("/orders/{order_id:uuid}", name="api_order")
async def get_order(me: NamedDependency[Principal], order_id: FromPath[uuid.UUID]) -> Order:
    return order_answer(await service.get_order(me, order_id))


router = Router(
    path="/",
    route_handlers=[place_order, list_orders, get_order],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    tags=["orders"],
)
