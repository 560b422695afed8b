"""Self-service subscription pages: the list with its filters, the renewal calendar, and a subscription's page
(seats with a preview of what they cost, auto-renew, cancellation inside the window, the next term's scheduled
change, suspension, the change log). Every action is a queued operation that the page follows live."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from app import clock, db
from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.billing import service as billing
from app.catalog import service as catalog
from app.config import Settings
from app.errors import Conflict, Invalid, NotFound
from app.operations import service as operations
from app.orders import basket
from app.subscriptions import changes, health, rules, service, upgrades
from app.subscriptions.forms import (
    AutoRenewForm,
    CancelForm,
    FixDriftForm,
    ImportForm,
    ScheduleForm,
    SeatsForm,
    StatusForm,
    UpgradeForm,
)
from app.web.auth import csp_admin_only, provide_me, signed_in
from app.web.forms import Form, RowId, SearchText, form_fields, read_form
from app.web.paging import Page, page_number
from app.web.render import is_htmx, redirect, render

PAGE_SIZE = 25
ENDING = {"30": 30, "60": 60, "90": 90}


@get("/subscriptions", name="subscriptions_page")
async def subscriptions_page(
    request: Request,
    me: NamedDependency[Principal],
    status: FromQuery[str] = "",
    q: SearchText = "",
    ending: FromQuery[str] = "",
    page: FromQuery[str] = "1",
) -> Response:
    number = page_number(page)
    filters = {"status": status if status in service.STATUSES else "", "q": q.strip()[:100], "ending": ending}
    rows, total = await service.list_subscriptions(
        me,
        customer_id=None,
        status=filters["status"] or None,
        q=filters["q"] or None,
        ending_within=ENDING.get(ending),
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    context = {"subscriptions": rows, "filters": filters, "page": Page(number, PAGE_SIZE, total)}
    return render(request, "subscriptions/list.html", context, block="results")


@get("/subscriptions/renewals", name="renewals_page")
async def renewals_page(request: Request, me: NamedDependency[Principal], days: FromQuery[str] = "30") -> Response:
    window = ENDING.get(days, 30)
    items = await service.renewals(me, window)
    totals: dict[str, dict] = {}
    for item in items:
        if item["renewal_charge"] is not None:
            total = totals.setdefault(item["currency"], {"amount": 0, "count": 0})
            total["amount"] += item["renewal_charge"]
            total["count"] += 1
    context = {"items": items, "days": window, "totals": totals, "ending": [i for i in items if not i["renews"]]}
    return render(request, "subscriptions/renewals.html", context)


async def _context(me: Principal, subscription_id: uuid.UUID, **extra: object) -> dict:
    row = await service.get_row(me, subscription_id)
    item = service.subscription_json(row, me)
    now = clock.now()
    price = row["customer_unit_price"] if me.role == "customer_admin" else row["unit_price"]
    try:
        offer = await catalog.get_offer(row["offer_id"])
    except NotFound:  # an offer Microsoft retired from the catalog: the subscription still shows
        offer = None
    targets = await catalog.offer_titles(list(offer["upgrade_targets"])) if offer else {}
    batches = sorted(((int(q), until) for q, until in row["batches"] if until > now), key=lambda batch: batch[1])
    # a reseller's customer is billed by its reseller: it sees its own price, not the reseller's ledger
    ledger = me.role != "customer_admin" or row["bill_to_id"] == row["customer_id"]
    return {
        "sub": item,
        "row": row,
        "price": price,
        "offer": offer,
        "plans": catalog.plans_of(offer) if offer else [],
        "targets": targets,
        "open_batches": batches,
        "window_ends": rules.window_ends_at(batches, now),
        "days_left": (row["end_date"] - now.date()).days + 1 if row["end_date"] else None,
        "cancel_preview": service.seat_preview(row, price, 0, now.date()) if row["term"] else None,
        "intent": service.intent(row),
        "events": await service.events(me, subscription_id),
        "upgrades": await upgrades.options_for(me, row, offer) if offer and row["status"] == "active" else [],
        "charges": await billing.charges_json(subscription_id) if ledger else None,
        "can_suspend": me.role != "customer_admin",
        "problem": None,
        "problem_card": None,
        **extra,
    }


@get("/subscriptions/{subscription_id:uuid}", name="subscription_page")
async def subscription_page(
    request: Request,
    me: NamedDependency[Principal],
    subscription_id: FromPath[uuid.UUID],
    operation: FromQuery[uuid.UUID | None] = None,
) -> Response:
    context = await _context(me, subscription_id)
    if operation is not None:
        context["operation"] = await operations.get(me, operation)
    return render(request, "subscriptions/subscription.html", context)


@get("/subscriptions/{subscription_id:uuid}/operations/{operation_id:uuid}", name="subscription_operation")
async def operation_progress(
    request: Request,
    me: NamedDependency[Principal],
    subscription_id: FromPath[uuid.UUID],
    operation_id: FromPath[uuid.UUID],
) -> Response:
    """The banner of a queued action, polled until it ends; then the page reloads with the result."""
    found = await operations.get(me, operation_id, wait=0.8)
    if found["status"] in ("succeeded", "failed"):
        return Response("", status_code=200, headers={"HX-Refresh": "true"})
    if is_htmx(request):  # the banner alone: polled every second, it needs none of the page's prices and quotes
        context = {"sub": {"id": (await service.get_row(me, subscription_id))["id"]}, "operation": found}
    else:
        context = await _context(me, subscription_id, operation=found)
    return render(request, "subscriptions/subscription.html", context, block="operation")


@get("/subscriptions/{subscription_id:uuid}/seats/preview", name="subscription_seat_preview")
async def seat_preview(
    request: Request,
    me: NamedDependency[Principal],
    subscription_id: FromPath[uuid.UUID],
    quantity: FromQuery[str] = "",
) -> Response:
    """What the stepper's seat count would charge or refund now, or why it cannot be done (NCE_RULES 4, 5)."""
    row = await service.get_row(me, subscription_id)
    now = clock.now()
    price = row["customer_unit_price"] if me.role == "customer_admin" else row["unit_price"]
    try:
        wanted = int(quantity)
    except ValueError:
        wanted = row["quantity"]
    offer = await catalog.get_offer(row["offer_id"])
    refundable = rules.refundable_quantity([(int(q), u) for q, u in row["batches"]], now)
    refusal = None
    if wanted != row["quantity"]:
        refusal = rules.seat_change_refusal(
            row["status"], row["quantity"], wanted, refundable, offer["min_quantity"], offer["max_quantity"]
        )
    context = {
        "row": row,
        "wanted": wanted,
        "refusal": refusal,
        "preview": service.seat_preview(row, price, wanted, now.date()),
        "refundable": refundable,
    }
    return render(request, "subscriptions/_seat_preview.html", context)


async def _act(
    request: Request,
    me: Principal,
    subscription_id: uuid.UUID,
    card: str,
    action: Callable[[dict], Awaitable[dict]],
    form: type[Form] | None = None,
) -> Response:
    """Decode the card's form, queue the action with its values and follow it on the page; a refusal (of the form
    or by a rule) is shown on its card with its message."""
    try:
        operation = await action(form_fields(await read_form(request, form)) if form else {})
    except (Conflict, Invalid) as refused:
        message = refused.message
        if isinstance(refused, Invalid) and refused.errors:
            message = " ".join(str(v) for v in refused.errors.values())
        context = await _context(me, subscription_id, problem=message, problem_card=card)
        return render(request, "subscriptions/subscription.html", context, status_code=refused.status_code)
    url = request.app.route_reverse("subscription_page", subscription_id=subscription_id)
    return redirect(request, f"{url}?operation={operation['id']}")


def _int(value: object, field: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise Invalid({field: "Give a whole number of seats."}) from None


@post("/subscriptions/{subscription_id:uuid}/seats", name="subscription_seats")
async def change_seats(
    request: Request, me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]
) -> Response:
    async def action(values: dict) -> dict:
        return await changes.request_change(me, subscription_id, {"quantity": _int(values.get("quantity"), "quantity")})

    return await _act(request, me, subscription_id, "seats", action, SeatsForm)


@post("/subscriptions/{subscription_id:uuid}/auto-renew", name="subscription_auto_renew")
async def toggle_auto_renew(
    request: Request, me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]
) -> Response:
    async def action(values: dict) -> dict:
        return await changes.request_change(me, subscription_id, {"auto_renew": values.get("auto_renew") == "on"})

    return await _act(request, me, subscription_id, "renewal", action, AutoRenewForm)


@post("/subscriptions/{subscription_id:uuid}/cancel", name="subscription_cancel")
async def cancel(request: Request, me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]) -> Response:
    async def action(values: dict) -> dict:
        # the whole-subscription button sends no quantity; "Cancel some seats" sent emptied is not "all of them"
        body = {"quantity": _int(values["quantity"], "quantity")} if "quantity" in values else {}
        return await changes.request_cancel(me, subscription_id, body)

    return await _act(request, me, subscription_id, "cancel", action, CancelForm)


@post("/subscriptions/{subscription_id:uuid}/schedule", name="subscription_schedule")
async def schedule(request: Request, me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]) -> Response:
    async def action(values: dict) -> dict:
        term, _, plan = str(values.get("plan", "")).partition("/")
        body = {"quantity": _int(values.get("quantity"), "quantity"), "offer_id": values.get("offer_id")}
        if term and plan:
            body.update(term=term, billing_plan=plan)
        if values.get("coterm_end_date"):
            body["coterm_end_date"] = values["coterm_end_date"]
        return await changes.request_schedule(me, subscription_id, body)

    return await _act(request, me, subscription_id, "schedule", action, ScheduleForm)


@post("/subscriptions/{subscription_id:uuid}/schedule/delete", name="subscription_unschedule")
async def unschedule(
    request: Request, me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]
) -> Response:
    async def action(values: dict) -> dict:
        return await changes.request_unschedule(me, subscription_id)

    return await _act(request, me, subscription_id, "schedule", action)


@post("/subscriptions/{subscription_id:uuid}/status", name="subscription_status")
async def set_status(
    request: Request, me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]
) -> Response:
    async def action(values: dict) -> dict:
        target = "suspended" if values.get("status") == "suspended" else "active"
        return await changes.request_status(me, subscription_id, target)

    return await _act(request, me, subscription_id, "service", action, StatusForm)


@post("/subscriptions/{subscription_id:uuid}/upgrade", name="subscription_upgrade")
async def upgrade(request: Request, me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]) -> Response:
    async def action(values: dict) -> dict:
        body = {"offer_id": values.get("offer_id"), "quantity": _int(values.get("quantity"), "quantity")}
        return await upgrades.request_upgrade(me, subscription_id, body)

    return await _act(request, me, subscription_id, "upgrade", action, UpgradeForm)


@post("/subscriptions/{subscription_id:uuid}/buy", name="subscription_buy")
async def buy_paid(request: Request, me: NamedDependency[Principal], subscription_id: FromPath[uuid.UUID]) -> Response:
    """A trial's "Buy": its paid offer, for the trial's seats and customer, in the basket."""
    row = await service.get_row(me, subscription_id)
    offer = await catalog.get_offer(row["offer_id"])
    if not row["is_trial"] or not offer["upgrade_targets"]:
        raise Invalid({"offer_id": "Only a trial has a paid offer to buy."})
    paid = await catalog.get_offer(offer["upgrade_targets"][0])
    plans = catalog.plans_of(paid)
    plan = next((p for p in plans if (p["term"], p["billing_plan"]) == ("P1Y", "monthly")), plans[0] if plans else None)
    if plan is None:
        raise Invalid({"offer_id": f"{paid['title']} has no price to buy it at."})
    await basket.add(
        me,
        {
            "offer_id": paid["id"],
            "plan": f"{plan['term']}/{plan['billing_plan']}",
            "quantity": str(row["quantity"]),
            "customer_id": str(row["customer_id"]),
        },
    )
    return redirect(request, request.app.route_reverse("basket"))


@get("/admin/subscription-health", name="subscription_health", guards=[csp_admin_only])
async def health_page(request: Request, me: NamedDependency[Principal], checked: FromQuery[str] = "") -> Response:
    drifts = await health.open_drifts()
    last = await db.fetchval("SELECT max(health_checked_on) FROM accounts WHERE kind = 'customer'")
    context = {"drifts": drifts, "last_checked": last, "checked": checked}
    return render(request, "admin/subscription_health.html", context)


@post("/admin/subscription-health/check", name="subscription_health_check", guards=[csp_admin_only])
async def health_check_now(request: Request, me: NamedDependency[Principal]) -> Response:
    queued = await health.check_all(me)
    return redirect(request, request.app.route_reverse("subscription_health") + f"?checked={queued}")


@post("/admin/subscription-health/{drift_id:int}", name="subscription_health_fix", guards=[csp_admin_only])
async def health_fix(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings], drift_id: RowId
) -> Response:
    values = form_fields(await read_form(request, FixDriftForm))
    operation = await health.fix(me, drift_id, str(values.get("direction", "")), settings)
    if operation is not None and operation.get("subject_id"):
        url = request.app.route_reverse("subscription_page", subscription_id=uuid.UUID(operation["subject_id"]))
        return redirect(request, f"{url}?operation={operation['id']}")
    return redirect(request, request.app.route_reverse("subscription_health"))


@get("/admin/partner-center/import", name="pc_import", guards=[csp_admin_only])
async def import_page(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings]
) -> Response:
    customers = await health.unlinked_customers(settings)
    resellers = await accounts.resellers_for_choice(me)
    return render(request, "admin/import.html", {"customers": customers, "resellers": resellers})


@post("/admin/partner-center/import", name="pc_import_customer", guards=[csp_admin_only])
async def import_customer(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings]
) -> Response:
    values = form_fields(await read_form(request, ImportForm))
    account = await health.import_customer(
        me, str(values.get("tenant_id", "")), str(values.get("reseller_id") or "") or None, settings
    )
    return redirect(request, request.app.route_reverse("account_detail", account_id=account["id"]))


router = Router(
    path="/",
    route_handlers=[
        subscriptions_page,
        renewals_page,
        subscription_page,
        operation_progress,
        seat_preview,
        change_seats,
        toggle_auto_renew,
        cancel,
        schedule,
        unschedule,
        set_status,
        upgrade,
        buy_paid,
        health_page,
        health_check_now,
        health_fix,
        import_page,
        import_customer,
    ],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    include_in_schema=False,  # pages, not the API: /schema documents /api/v1 only
)
