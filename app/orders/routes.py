"""Ordering pages: the basket (htmx edits, the customer it is for, the MCA step, the price summary), checkout,
and the orders with their provisioning followed live."""

from __future__ import annotations

import uuid

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from markupsafe import escape

from app import clock
from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.config import Settings
from app.errors import AppError, Conflict, Invalid
from app.orders import basket, service
from app.orders.forms import AddLineForm, BasketMcaForm, CustomerForm, LineForm
from app.web.auth import provide_me, signed_in
from app.web.forms import form_fields, read_form
from app.web.paging import Page, page_number
from app.web.render import is_htmx, redirect, render

PAGE_SIZE = 20


async def _basket_context(
    me: Principal, settings: Settings, problem: AppError | None = None, mca_errors: dict | None = None
) -> dict:
    found = await basket.summary(me)
    terms = {line["term"] for line in found.lines if line["term"] and line["kind"] != "trial"}
    customer_view = me.role == "customer_admin"
    today = clock.now().date()
    summaries = (
        [service.line_summary(p, today, customer_view=customer_view) for p in found.priced] if found.priced else []
    )
    problem = problem or found.problem
    line_no = None
    if problem is not None and problem.field and problem.field.startswith("lines["):
        line_no = int(problem.field[6:].split("]")[0])
    customers: list[dict] = []
    if me.role != "customer_admin":
        customers, _ = await accounts.list_accounts(me, kind="customer", limit=200, offset=0)
    mca = await accounts.latest_mca(found.customer["id"]) if found.customer else None
    return {
        "customer": found.customer,
        "customers": customers,
        "lines": found.lines,
        "summaries": summaries,
        "problem": problem,
        "problem_line": line_no,
        "mca": mca,
        "mca_errors": mca_errors or {},
        "totals": _totals(summaries),
        "end_dates": await basket.end_dates(settings, found.customer, terms),
    }


def _totals(summaries: list[dict]) -> dict | None:
    if not summaries:
        return None
    currency = summaries[0]["currency"]
    return {
        "first_charge": sum((s["first_charge"] for s in summaries), start=0),
        "monthly": sum((s["recurring"] or 0 for s in summaries), start=0),
        "currency": currency,
    }


def _basket(request: Request, context: dict, status_code: int = 200) -> Response:
    return render(request, "orders/basket.html", context, block="basket", status_code=status_code)


@get("/basket", name="basket")
async def basket_page(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings]
) -> Response:
    return _basket(request, await _basket_context(me, settings))


@post("/basket/lines", name="basket_add")
async def add_line(request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings]) -> Response:
    try:
        await basket.add(me, form_fields(await read_form(request, AddLineForm)))
    except Invalid as invalid:
        if not is_htmx(request):  # a plain post: the basket's page, with what was refused at its top
            return _basket(request, await _basket_context(me, settings, invalid), 422)
        return Response(
            f'<div class="alert alert-error" role="alert">{escape(invalid.message)}</div>',
            status_code=422,
            media_type="text/html",
            headers={"HX-Retarget": "#add-errors", "HX-Reswap": "innerHTML"},
        )
    return redirect(request, request.app.route_reverse("basket"))


@post("/basket/lines/{line_id:uuid}", name="basket_update")
async def update_line(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings], line_id: FromPath[uuid.UUID]
) -> Response:
    try:
        await basket.update(me, line_id, form_fields(await read_form(request, LineForm)))
    except Invalid as invalid:
        return _basket(request, await _basket_context(me, settings, invalid), 422)
    return _basket(request, await _basket_context(me, settings))


@post("/basket/lines/{line_id:uuid}/delete", name="basket_remove")
async def remove_line(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings], line_id: FromPath[uuid.UUID]
) -> Response:
    await basket.remove(me, line_id)
    return _basket(request, await _basket_context(me, settings))


@post("/basket/customer", name="basket_customer")
async def choose_customer(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings]
) -> Response:
    values = form_fields(await read_form(request, CustomerForm))
    await basket.set_customer(me, basket._uuid(values.get("customer_id")))
    return _basket(request, await _basket_context(me, settings))


@post("/basket/mca", name="basket_mca")
async def accept_mca(request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings]) -> Response:
    """The MCA step: the customer accepts, or its reseller (or the CSP) attests that it did."""
    customer = await basket.customer_id(me)
    if customer is None:
        raise Invalid({"customer_id": "Choose the customer this order is for."})
    try:
        values = form_fields(await read_form(request, BasketMcaForm))
        if values.get("accepted_on"):  # a date on the form: the acceptance's day, at midnight UTC
            values["accepted_at"] = f"{values.pop('accepted_on')}T00:00:00Z"
        await accounts.record_mca_acceptance(me, customer, values)
    except Invalid as invalid:
        return _basket(request, await _basket_context(me, settings, mca_errors=invalid.errors), 422)
    return _basket(request, await _basket_context(me, settings))


@post("/basket/checkout", name="basket_checkout")
async def checkout(request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings]) -> Response:
    try:
        order = await basket.checkout(me)
    except (Conflict, Invalid) as refused:  # the first rule that refused, beside its line
        return _basket(request, await _basket_context(me, settings, refused), refused.status_code)
    return redirect(request, request.app.route_reverse("order_page", order_id=order["id"]))


@get("/orders", name="orders_page")
async def orders_page(request: Request, me: NamedDependency[Principal], page: FromQuery[str] = "1") -> Response:
    number = page_number(page)
    rows, total = await service.list_orders(me, None, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    return render(request, "orders/list.html", {"orders": rows, "page": Page(number, PAGE_SIZE, total)})


@get("/orders/{order_id:uuid}", name="order_page")
async def order_page(request: Request, me: NamedDependency[Principal], order_id: FromPath[uuid.UUID]) -> Response:
    order = await service.get_order(me, order_id)
    customer = await accounts.get_account(me, uuid.UUID(order["customer_id"]))
    return render(request, "orders/order.html", {"order": order, "customer": customer}, block="progress")


router = Router(
    path="/",
    route_handlers=[
        basket_page,
        add_line,
        update_line,
        remove_line,
        choose_customer,
        accept_mca,
        checkout,
        orders_page,
        order_page,
    ],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    include_in_schema=False,  # pages, not the API: /schema documents /api/v1 only
)
