"""Catalog pages: the marketplace (search, filters, an offer's prices for the viewer), and the CSP's catalog
admin (sync with live progress, runs, settings, FX rates, promotions, price history) and margin rules."""

from __future__ import annotations

import uuid
from datetime import date

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from markupsafe import escape

from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.catalog import service, sync
from app.catalog.forms import CatalogSettingsForm, FxRateForm, MarginForm
from app.errors import AppError, Conflict, Invalid
from app.web.auth import csp_admin_only, provide_me, signed_in
from app.web.forms import SearchText, form_fields, parse_form, read_form
from app.web.paging import Page, page_number
from app.web.render import form_values, is_htmx, redirect, render

PAGE_SIZE = 20


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def _customers(me: Principal) -> list[dict]:
    """Whose prices a reseller or the CSP may look at (customers see their own)."""
    if me.role == "customer_admin":
        return []
    rows, _ = await accounts.list_accounts(me, kind="customer", limit=200, offset=0)
    return rows


@get("/marketplace", name="marketplace")
async def marketplace(
    request: Request,
    me: NamedDependency[Principal],
    q: SearchText = "",
    kind: FromQuery[str] = "",
    publisher: SearchText = "",
    addon: FromQuery[str] = "",
    term: FromQuery[str] = "",
    segment: FromQuery[str] = "",
    customer_id: FromQuery[str] = "",
    page: FromQuery[str] = "1",
) -> Response:
    number = page_number(page)
    rows, total = await service.list_offers(
        q=q,
        kind=kind if kind in service.KINDS else None,
        segment=segment if segment in service.SEGMENTS else None,
        addon={"yes": True, "no": False}.get(addon),
        publisher=publisher or None,
        term=term if term in ("P1M", "P1Y", "P3Y") else None,
        include_discontinued=me.role == "csp_admin",  # the CSP sees what left the catalog; buyers do not
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    last_run = await service.last_run_id()
    synced = last_run is not None
    prices = await service.headline_prices(me, rows, _uuid(customer_id)) if synced else {}
    statuses = {o["id"]: service.offer_status(o, last_run) for o in rows} if me.role == "csp_admin" else {}
    return render(
        request,
        "catalog/list.html",
        {
            "offers": rows,
            "prices": prices,
            "statuses": statuses,
            "page": Page(number, PAGE_SIZE, total),
            "q": q,
            "filters": {"kind": kind, "publisher": publisher, "addon": addon, "term": term, "segment": segment},
            "customer_id": customer_id,
            "customers": await _customers(me),
            "kinds": service.KINDS,
            "segments": service.SEGMENTS,
            "synced": synced,
        },
        block="offers_table",
    )


@get("/marketplace/offers/{offer_id:str}", name="offer")
async def offer_page(
    request: Request,
    me: NamedDependency[Principal],
    offer_id: FromPath[str],
    customer_id: FromQuery[str] = "",
    market: FromQuery[str] = "",
) -> Response:
    offer = await service.get_offer(offer_id.upper())
    customer = _uuid(customer_id)
    try:
        table = await service.price_table(me, offer, customer)
        refused = None
    except AppError as error:  # a customer out of scope, or not a customer
        table, refused = [], error.message
    related = await service.offer_titles([*offer["prerequisites"], *offer["upgrade_targets"]])
    markets = list((await service.catalog_settings())["markets"])
    market = market.upper() if market.upper() in markets else markets[0]
    context = {
        "offer": offer,
        "table": table,
        "refused": refused,
        "related": related,
        "customer_id": customer_id,
        "customers": await _customers(me),
        "history": await service.price_history(offer["id"], market) if me.role == "csp_admin" else None,
        "markets": markets,
        "market": market,
        "show_cost": me.role == "csp_admin",  # Microsoft's cost is the CSP's business, not a reseller's
        "status": service.offer_status(offer, await service.last_run_id()),
    }
    return render(request, "catalog/offer.html", context, block="price_table")


@get("/admin/catalog", name="admin_catalog", guards=[csp_admin_only])
async def admin_catalog(request: Request) -> Response:
    runs = await service.sync_runs()
    return render(
        request,
        "admin/catalog.html",
        {
            "runs": runs,
            "active": next((r for r in runs if r["status"] in ("queued", "running")), None),
            "settings": await service.catalog_settings(),
            "fx_rates": await service.list_fx_rates(),
            "promotions": await service.promotions_in_force(),
            "errors": {},
            "values": {},
        },
    )


@get("/admin/catalog/sync", name="admin_catalog_sync_status", guards=[csp_admin_only])
async def sync_status(request: Request) -> Response:
    """The progress fragment; htmx polls it while a sync runs and stops when it has ended."""
    runs = await service.sync_runs()
    active = next((r for r in runs if r["status"] in ("queued", "running")), None)
    return render(request, "admin/catalog.html", {"runs": runs, "active": active}, block="sync", force_block=True)


@post("/admin/catalog/sync", name="admin_catalog_sync", guards=[csp_admin_only])
async def start_sync(request: Request, me: NamedDependency[Principal]) -> Response:
    await sync.request_sync(me)
    return redirect(request, request.app.route_reverse("admin_catalog"))


@post("/admin/catalog/settings", name="admin_catalog_settings", guards=[csp_admin_only])
async def save_settings(request: Request, me: NamedDependency[Principal]) -> Response:
    values = await form_values(request)
    try:
        await service.update_settings(me, form_fields(parse_form(values, CatalogSettingsForm)))
    except Invalid as invalid:
        runs = await service.sync_runs()
        return render(
            request,
            "admin/catalog.html",
            {
                "runs": runs,
                "active": None,
                "settings": await service.catalog_settings(),
                "fx_rates": await service.list_fx_rates(),
                "promotions": await service.promotions_in_force(),
                "errors": invalid.errors,
                "values": values,
            },
            status_code=422,
        )
    return redirect(request, request.app.route_reverse("admin_catalog"))


@post("/admin/catalog/fx-rates", name="admin_fx_add", guards=[csp_admin_only])
async def add_fx_rate(request: Request, me: NamedDependency[Principal]) -> Response:
    try:
        await service.add_fx_rate(me, form_fields(await read_form(request, FxRateForm)))
    except Invalid as invalid:
        if not is_htmx(request):  # a plain post: the page's alert says it (app/web/errors.py)
            raise
        return Response(
            f'<div class="alert alert-error" role="alert">{escape(invalid.message)}</div>',
            status_code=422,
            media_type="text/html",
            headers={"HX-Retarget": "#fx-errors", "HX-Reswap": "innerHTML"},
        )
    return redirect(request, request.app.route_reverse("admin_catalog") + "#fx")


@post("/admin/catalog/fx-rates/delete", name="admin_fx_delete", guards=[csp_admin_only])
async def delete_fx_rate(request: Request, me: NamedDependency[Principal]) -> Response:
    values = form_fields(await read_form(request, FxRateForm))
    try:
        effective = date.fromisoformat(str(values.get("effective_from", "")))
    except ValueError:
        raise Invalid({"effective_from": "effective_from is a date."}) from None
    await service.delete_fx_rate(me, str(values.get("from", "")), str(values.get("to", "")), effective)
    return redirect(request, request.app.route_reverse("admin_catalog") + "#fx")


@get("/catalog/margins", name="margins")
async def margins_page(request: Request, me: NamedDependency[Principal]) -> Response:
    return render(request, "catalog/margins.html", await _margins_context(me, {}, {}))


async def _margins_context(me: Principal, values: dict, errors: dict) -> dict:
    if me.role == "csp_admin":
        resellers, _ = await accounts.list_accounts(me, kind="reseller", limit=200, offset=0)
    else:
        resellers = []
    return {
        "rules": await service.list_margin_rules(me),  # first: a customer is refused (403) before anything is read
        "customers": await _customers(me),
        "resellers": resellers,
        "settings": await service.catalog_settings(),
        "values": values,
        "errors": errors,
    }


@post("/catalog/margins", name="margin_create")
async def create_margin(request: Request, me: NamedDependency[Principal]) -> Response:
    values = await form_values(request)
    try:
        return await _create_margin(request, me, form_fields(parse_form(values, MarginForm)))
    except (Invalid, Conflict) as error:
        errors = error.errors if isinstance(error, Invalid) else {"form": error.message}
        return render(request, "catalog/margins.html", await _margins_context(me, values, errors), status_code=422)


async def _create_margin(request: Request, me: Principal, values: dict) -> Response:
    if me.role == "reseller_admin":  # its form names one of its customers, or none for all of them
        values["scope"] = "customer" if values.get("customer_id") else "reseller_customers"
    body = {
        "scope": values.get("scope"),
        "kind": values.get("kind"),
        "percent": values.get("percent"),
        "allow_below_cost": values.get("allow_below_cost") == "yes",
    }
    if values.get("scope") in ("customer", "reseller"):
        body["account_id"] = values.get(f"{values['scope']}_id") or None
    if values.get("offer_id"):
        body["offer_id"] = str(values["offer_id"]).strip().upper()
    await service.create_margin_rule(me, body)
    return redirect(request, request.app.route_reverse("margins"))


@post("/catalog/margins/{rule_id:uuid}/delete", name="margin_delete")
async def delete_margin(request: Request, me: NamedDependency[Principal], rule_id: FromPath[uuid.UUID]) -> Response:
    await service.delete_margin_rule(me, rule_id)
    return redirect(request, request.app.route_reverse("margins"))


router = Router(
    path="/",
    route_handlers=[
        marketplace,
        offer_page,
        admin_catalog,
        sync_status,
        start_sync,
        save_settings,
        add_fx_rate,
        delete_fx_rate,
        margins_page,
        create_margin,
        delete_margin,
    ],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    include_in_schema=False,
)
