"""/api/v1/subscriptions (API.md, Subscriptions). Thin: the service and the rules decide."""

from __future__ import annotations

import uuid

from litestar import Request, Router, delete, get, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from app.accounts.rules import Principal
from app.errors import Malformed
from app.operations.schemas import OperationAnswer, operation_answer
from app.subscriptions import changes, service, upgrades
from app.subscriptions.schemas import (
    CancelBody,
    ChangeBody,
    ScheduleBody,
    Subscription,
    SubscriptionEventPage,
    SubscriptionPage,
    UpgradeBody,
    UpgradeOptionPage,
    events_page,
    subscription_answer,
    subscription_page,
    upgrade_options_page,
)
from app.web.auth import provide_me, signed_in
from app.web.paging import api_window, next_cursor
from app.web.schemas import Cursor, Limit, OptionalWord, fields


@get("/subscriptions", name="api_subscriptions")
async def list_subscriptions(
    me: NamedDependency[Principal],
    customer_id: FromQuery[uuid.UUID | None] = None,
    status: OptionalWord = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> SubscriptionPage:
    size, offset = api_window(limit, cursor)
    items, total = await service.list_subscriptions(
        me, customer_id=customer_id, status=status, limit=size, offset=offset
    )
    return subscription_page(items, next_cursor(size, offset, total))


@patch("/subscriptions/{subscription_id:uuid}", name="api_change_subscription", status_code=202)
async def change_subscription(
    me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID], data: ChangeBody
) -> OperationAnswer:
    return operation_answer(await changes.request_change(me, subscription_id, fields(data)))


@post("/subscriptions/{subscription_id:uuid}/cancel", name="api_cancel_subscription", status_code=202)
async def cancel_subscription(
    request: Request,
    me: NamedDependency[Principal],
    subscription_id: FromPath[uuid.UUID],
    data: CancelBody | None = None,
) -> OperationAnswer:
    # no body at all reads as `{}` (the whole subscription); a JSON `null` also arrives as None, and is refused
    if data is None and (await request.body()).strip():
        raise Malformed("Send a JSON object: {} cancels the whole subscription, {quantity} some seats.")
    return operation_answer(await changes.request_cancel(me, subscription_id, fields(data)))


@post("/subscriptions/{subscription_id:uuid}/suspend", name="api_suspend_subscription", status_code=202)
async def suspend_subscription(me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]) -> OperationAnswer:
    return operation_answer(await changes.request_status(me, subscription_id, "suspended"))


@post("/subscriptions/{subscription_id:uuid}/reactivate", name="api_reactivate_subscription", status_code=202)
async def reactivate_subscription(
    me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]
) -> OperationAnswer:
    return operation_answer(await changes.request_status(me, subscription_id, "active"))


@put("/subscriptions/{subscription_id:uuid}/scheduled-change", name="api_schedule_change", status_code=202)
async def schedule_change(
    me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID], data: ScheduleBody
) -> OperationAnswer:
    return operation_answer(await changes.request_schedule(me, subscription_id, fields(data)))


@delete(
    "/subscriptions/{subscription_id:uuid}/scheduled-change",
    name="api_unschedule_change",
    status_code=202,
)
async def unschedule_change(me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]) -> OperationAnswer:
    return operation_answer(await changes.request_unschedule(me, subscription_id))


@get("/subscriptions/{subscription_id:uuid}/upgrades", name="api_subscription_upgrades")
async def upgrade_options(me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]) -> UpgradeOptionPage:
    return upgrade_options_page(await upgrades.options(me, subscription_id))


@post("/subscriptions/{subscription_id:uuid}/upgrade", name="api_upgrade_subscription", status_code=202)
async def upgrade(
    me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID], data: UpgradeBody
) -> OperationAnswer:
    return operation_answer(await upgrades.request_upgrade(me, subscription_id, fields(data)))


@get("/subscriptions/{subscription_id:uuid}/events", name="api_subscription_events")
async def subscription_events(
    me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]
) -> SubscriptionEventPage:
    return events_page(await service.events(me, subscription_id))


@get("/subscriptions/{subscription_id:uuid}", name="api_subscription")
async def get_subscription(me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]) -> Subscription:
    return subscription_answer(await service.get_subscription(me, subscription_id))


router = Router(
    path="/",
    route_handlers=[
        list_subscriptions,
        get_subscription,
        change_subscription,
        cancel_subscription,
        suspend_subscription,
        reactivate_subscription,
        schedule_change,
        unschedule_change,
        upgrade_options,
        upgrade,
        subscription_events,
    ],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    tags=["subscriptions"],
)
