"""The sandbox Partner Center as an ASGI app, served at MOUNT_PATH on a listener of its own (`create_sandbox_server`).

It stands for Microsoft, another origin than Cloudseat's: its listener serves nothing of the app, and the app's
listener nothing of it, so a page of one can never run in the other's origin.

Same paths, bodies, headers and errors as Microsoft's API (facts sections 1-2): bearer tokens from its own
identity endpoints, MS-RequestId idempotency for writes, MS-CorrelationId echoed, and injectable faults.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, StrictUndefined, Template
from litestar import Litestar, Request, Response, Router, asgi, delete, get, patch, post, route
from litestar.connection import ASGIConnection
from litestar.enums import MediaType
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Message, Receive, Scope, Send

from app import db
from app.config import Settings
from app.partner_center.sandbox import directory, identity, newcommerce, service, transitions
from app.partner_center.sandbox.address import MOUNT_PATH, sandbox_url
from app.partner_center.sandbox.errors import PartnerCenterFault
from app.partner_center.sandbox.shapes import collection
from app.web.security import add_security_headers

log = logging.getLogger(__name__)
_random = random.SystemRandom()
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


# --- Faults: share of 5xx, share of 429 with Retry-After, added latency ----------------------------


class InjectFaults(ASGIMiddleware):
    """Partner Center fails sometimes; the sandbox fails on purpose, the configured share of calls.

    Half of the injected 5xx happen after a write was applied (the answer is lost, not the change), so
    only a client that retries with the same MS-RequestId avoids doing the write twice.
    """

    exclude_path_pattern = ("/login/",)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await next_app(scope, receive, send)
            return
        send = _echo_request_ids(scope, send)
        faults = await service.faults()
        if faults["latency_ms"]:
            await asyncio.sleep(faults["latency_ms"] / 1000)
        error_rate, throttle_rate = float(faults["error_rate"]), float(faults["throttle_rate"])
        roll = _random.random()
        if roll < throttle_rate:
            body = {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."}
            await _send_json(send, 429, body, {"Retry-After": "1"})
            return
        if roll < throttle_rate + error_rate / 2:
            await _send_json(send, 503, {"code": 503, "description": "Service unavailable.", "source": "PartnerFD"})
            return
        lose_answer = scope.get("method") in WRITE_METHODS and _random.random() < error_rate / 2
        if not lose_answer:
            await next_app(scope, receive, send)
            return

        async def swallow(message: Message) -> None:
            return None

        await next_app(scope, receive, swallow)  # the write happens; its answer is lost
        await _send_json(send, 500, {"code": 500, "description": "Internal server error.", "source": "PartnerFD"})


def _echo_request_ids(scope: Scope, send: Send) -> Send:
    """Responses echo MS-RequestId and MS-CorrelationId (facts 2.2)."""
    echoed = [(name, value) for name, value in scope["headers"] if name in (b"ms-requestid", b"ms-correlationid")]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start" and echoed:
            message = {**message, "headers": [*message.get("headers", []), *echoed]}
        await send(message)

    return wrapped


async def _send_json(send: Send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    header_list = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    header_list += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": header_list}
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": raw, "more_body": False}
    await send(start)
    await send(end)


# --- Auth guards -----------------------------------------------------------------------------------


def _settings(connection: ASGIConnection) -> Settings:
    return connection.app.state.settings


def partner_caller(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """App-only or app+user (with MFA) tokens."""
    identity.caller(
        connection.headers.get("authorization"),
        _settings(connection).secret_key,
        user_required=False,
        audience=identity.audience_for(connection.url.path),
    )


def user_caller(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """App+user tokens only: price sheets, users (facts 2.1)."""
    identity.caller(
        connection.headers.get("authorization"),
        _settings(connection).secret_key,
        user_required=True,
        audience=identity.audience_for(connection.url.path),
    )


# --- Responses ---------------------------------------------------------------------------------------


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


async def idempotent(request: Request, status: int, work: Callable[[], Awaitable[Any]]) -> Response:
    """A write keyed by MS-RequestId: the first successful answer is stored and replayed for retries."""
    request_id = request.headers.get("ms-requestid")
    async with db.transaction():
        if request_id:
            await db.execute("SELECT pg_advisory_xact_lock(hashtext($1))", request_id)
            stored = await db.fetch("SELECT status, body FROM pcs_requests WHERE request_id = $1", request_id)
            if stored:
                return Response(bytes(stored[0]["body"]), status_code=stored[0]["status"], media_type=MediaType.JSON)
        body = await work()
        raw = json.dumps(body).encode()
        if request_id:
            await db.execute(
                "INSERT INTO pcs_requests (request_id, method, path, status, body, created_at) "
                "VALUES ($1, $2, $3, $4, $5, now())",
                request_id,
                request.method,
                request.url.path,
                status,
                raw,
            )
    return Response(raw, status_code=status, media_type=MediaType.JSON)


def _continuation(request: Request) -> str | None:
    return request.headers.get("ms-continuationtoken") if request.query_params.get("seekOperation") else None


# --- Identity ------------------------------------------------------------------------------------


@get("/login/{tenant:str}/v2.0/.well-known/openid-configuration", sync_to_thread=False)
def openid_configuration(request: Request, tenant: FromPath[str]) -> Response:
    return _json(identity.openid_configuration(sandbox_url(request.app.state.settings) + "/login", tenant))


@get("/login/{tenant:str}/discovery/v2.0/keys", sync_to_thread=False)
def keys(tenant: FromPath[str]) -> Response:
    return _json({"keys": []})


# The sandbox's HTML pages: every value they show is escaped by the template (query parameters' names as well as
# their values), so nothing a link carries can become markup on the sandbox's origin.
_pages = Environment(autoescape=True, undefined=StrictUndefined)
PAGE_STYLE = """body{font:15px system-ui;background:#f3f2f1;display:grid;place-items:center;min-height:90vh}
main,form{background:#fff;padding:2rem;width:420px;box-shadow:0 2px 6px #0002}input[type=email]{width:100%;
padding:.5rem;box-sizing:border-box;margin:.25rem 0 1rem}
button{background:#0067b8;color:#fff;border:0;padding:.6rem 1.5rem}"""
_PAGE = (
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }} · {{ site }}</title>
<style>"""
    + PAGE_STYLE
    + """</style></head><body>{% block body %}{% endblock %}
</body></html>"""
)
# The policy allows exactly the pages' one <style> (by hash) and nothing else to load or run. No form-action:
# signing in redirects back to Cloudseat's own origin.
SANDBOX_POLICY = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(PAGE_STYLE.encode()).digest()).decode()
    + "'; base-uri 'none'; frame-ancestors 'none'"
)
SIGN_IN_PAGE = _pages.from_string(
    _PAGE.replace(
        "{% block body %}{% endblock %}",
        """<form method="post"><h2>Sign in to the sandbox Partner Center</h2>
<p>This is Cloudseat's simulated Microsoft sign-in. Nothing leaves this machine.</p>
<label>Admin agent account
<input type="email" name="user_name" value="{{ user_name }}" required></label>
<label><input type="checkbox" name="mfa" value="yes" checked> I completed multi-factor authentication</label>
{% for name, value in hidden %}<input type="hidden" name="{{ name }}" value="{{ value }}">{% endfor %}
<p><button type="submit">Sign in</button></p></form>""",
    )
)
SIGN_IN_ERROR_PAGE = _pages.from_string(
    _PAGE.replace(
        "{% block body %}{% endblock %}",
        """<main><h2>Sign in</h2><p>Sorry, but we're having trouble signing you in.</p>
<p id="error">{{ description }}</p></main>""",
    )
)
APPROVAL_PAGE = _pages.from_string(
    _PAGE.replace(
        "{% block body %}{% endblock %}",
        """<main><h2>{{ title }}</h2><p>This is Cloudseat's simulated Microsoft 365 admin center.</p>
{% if relationship %}<p><strong>{{ relationship.displayName }}</strong> asks for delegated admin access to
<strong>{{ relationship.customer.displayName }}</strong> ({{ domain }}) for {{ days }} days.</p><p>Roles:</p>
<ul>{% for role in roles %}<li>{{ role }}</li>{% endfor %}</ul>
<p>Status: <strong id="status">{{ relationship.status }}</strong></p>
{% if relationship.status == "approvalPending" %}<form method="post"><label>Global administrator of {{ domain }}
<input type="email" name="user_name" value="admin@{{ domain }}" required></label>
<p><button type="submit">Approve</button></p></form>{% endif %}
{% else %}<p>{{ message }}</p>{% endif %}</main>""",
    )
)


def _html(template: Template, status: int = 200, **values: Any) -> Response:
    return Response(template.render(**values), status_code=status, media_type=MediaType.HTML)


def _sign_in_error(exc: identity.OAuthError) -> Response:
    """Microsoft answers a bad client or redirect URI with its own error page: it sends nothing to the redirect
    URI, which is exactly what it cannot trust."""
    return _html(SIGN_IN_ERROR_PAGE, 400, title="Sign in", site="Sandbox identity", description=exc.description)


@get("/login/{tenant:str}/oauth2/v2.0/authorize", media_type=MediaType.HTML)
async def authorize_page(request: Request, tenant: FromPath[str]) -> Response:
    """The sign-in page a CSP admin sees when connecting Partner Center in sandbox mode."""
    params = dict(request.query_params)
    try:
        await identity.check_sign_in(params.get("client_id", ""), params.get("redirect_uri", ""), tenant)
    except identity.OAuthError as exc:
        return _sign_in_error(exc)
    return _html(
        SIGN_IN_PAGE,
        title="Sign in",
        site="Sandbox identity",
        user_name=identity.SANDBOX_AGENT,
        hidden=[(name, value) for name, value in params.items() if name not in ("user_name", "mfa")],
    )


@post("/login/{tenant:str}/oauth2/v2.0/authorize", status_code=303)
async def authorize_submit(request: Request, tenant: FromPath[str]) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    redirect_uri = form.get("redirect_uri", "")
    try:
        code = await identity.create_code(
            tenant=tenant,
            client_id=form.get("client_id", ""),
            redirect_uri=redirect_uri,
            code_challenge=form.get("code_challenge"),
            nonce=form.get("nonce"),
            user_name=form.get("user_name", identity.SANDBOX_AGENT),
            mfa=form.get("mfa") == "yes",
            scope=form.get("scope", ""),
        )
    except identity.OAuthError as exc:
        return _sign_in_error(exc)
    query = urlencode({"code": code, "state": form.get("state", ""), "session_state": "sandbox"})
    return Response("", status_code=303, headers={"Location": f"{redirect_uri}?{query}"})


@post("/login/{tenant:str}/oauth2/v2.0/token")
async def token(request: Request, tenant: FromPath[str]) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    if not form.get("client_secret") and request.headers.get("authorization", "").lower().startswith("basic "):
        import base64

        user, _, secret = base64.b64decode(request.headers["authorization"][6:]).decode().partition(":")
        form.setdefault("client_id", user)
        form["client_secret"] = secret
    settings = request.app.state.settings
    issuer = sandbox_url(settings) + f"/login/{tenant}/v2.0"
    try:
        return _json(await identity.token(form, secret_key=settings.secret_key, tenant=tenant, issuer=issuer))
    except identity.OAuthError as exc:
        return _json(exc.body(), exc.status)


# --- Customers, agreements -------------------------------------------------------------------------


@get("/v1/agreements", sync_to_thread=False)
def agreements_metadata(agreementType: FromQuery[str] = "MicrosoftCloudAgreement") -> Response:
    items = [service.agreement_metadata()] if agreementType.lower() in ("microsoftcustomeragreement", "*") else []
    return _json(collection(items))


@post("/v1/customers")
async def create_customer(request: Request, data: JSONBody[dict[str, Any]]) -> Response:
    return await idempotent(request, 201, lambda: service.create_customer(data))


@get("/v1/customers")
async def list_customers(request: Request, size: FromQuery[int] = 100) -> Response:
    items, after = await service.list_customers(min(max(size, 1), 500), _continuation(request))
    return _json(collection(items, continuation=after, next_uri=f"/customers?size={size}&seekOperation=Next"))


@get("/v1/customers/{customer_id:str}")
async def get_customer(customer_id: FromPath[str]) -> Response:
    return _json(await service.get_customer(customer_id))


@post("/v1/customers/{customer_id:str}/agreements")
async def create_agreement(request: Request, customer_id: FromPath[str], data: JSONBody[dict[str, Any]]) -> Response:
    return await idempotent(request, 201, lambda: service.create_agreement(customer_id, data))


@get("/v1/customers/{customer_id:str}/agreements")
async def list_agreements(customer_id: FromPath[str]) -> Response:
    return _json(collection(await service.list_agreements(customer_id)))


# --- Carts, orders -----------------------------------------------------------------------------------


@post("/v1/customers/{customer_id:str}/carts")
async def create_cart(request: Request, customer_id: FromPath[str], data: JSONBody[dict[str, Any]]) -> Response:
    return await idempotent(request, 201, lambda: service.create_cart(customer_id, data))


@get("/v1/customers/{customer_id:str}/carts/{cart_id:str}")
async def get_cart(customer_id: FromPath[str], cart_id: FromPath[str]) -> Response:
    return _json(await service.get_cart(customer_id, cart_id))


@post("/v1/customers/{customer_id:str}/carts/{cart_id:str}/checkout")
async def checkout(request: Request, customer_id: FromPath[str], cart_id: FromPath[str]) -> Response:
    return await idempotent(request, 201, lambda: service.checkout(customer_id, cart_id))


@get("/v1/customers/{customer_id:str}/orders")
async def list_orders(customer_id: FromPath[str]) -> Response:
    return _json(collection(await service.list_orders(customer_id)))


@get("/v1/customers/{customer_id:str}/orders/{order_id:str}")
async def get_order(customer_id: FromPath[str], order_id: FromPath[str]) -> Response:
    return _json(await service.get_order(customer_id, order_id))


@get("/v1/customers/{customer_id:str}/orders/{order_id:str}/provisioningstatus")
async def order_provisioning_status(customer_id: FromPath[str], order_id: FromPath[str]) -> Response:
    return _json(collection(await service.order_provisioning_status(customer_id, order_id)))


# --- Subscriptions -----------------------------------------------------------------------------------


@get("/v1/customers/{customer_id:str}/subscriptions")
async def list_subscriptions(customer_id: FromPath[str], order_id: FromQuery[str | None] = None) -> Response:
    return _json(collection(await service.list_subscriptions(customer_id, order_id)))


@get("/v1/customers/{customer_id:str}/subscriptions/{subscription_id:str}")
async def get_subscription(customer_id: FromPath[str], subscription_id: FromPath[str]) -> Response:
    return _json(await service.get_subscription(customer_id, subscription_id))


@patch("/v1/customers/{customer_id:str}/subscriptions/{subscription_id:str}")
async def update_subscription(
    request: Request, customer_id: FromPath[str], subscription_id: FromPath[str], data: JSONBody[dict[str, Any]]
) -> Response:
    if_match = request.headers.get("if-match")
    return await idempotent(
        request, 200, lambda: service.update_subscription(customer_id, subscription_id, data, if_match)
    )


# --- Invoices and billing line items -------------------------------------------------------------------


@get("/v1/invoices")
async def list_invoices() -> Response:
    return _json(collection(await service.list_invoices()))


async def _line_items(
    request: Request,
    page: Callable[[int, int | None], Awaitable[tuple[list[dict], int | None]]],
    size: int,
    next_uri: str,
) -> Response:
    """A page of billing line items, continued with seekOperation=Next and MS-ContinuationToken (facts 9.1)."""
    token_value = _continuation(request)
    items, after = await page(min(max(size, 1), 2000), int(token_value) if token_value else None)
    return _json(collection(items, continuation=str(after) if after else None, next_uri=next_uri))


@get("/v1/invoices/unbilled/lineitems")
async def unbilled(
    request: Request, currencycode: FromQuery[str | None] = None, size: FromQuery[int] = 2000
) -> Response:
    return await _line_items(
        request,
        lambda size, after: service.unbilled_line_items(currencycode, size, after),
        size,
        "/invoices/unbilled/lineitems?provider=onetime&invoicelineitemtype="
        f"billinglineitems&size={size}&seekOperation=Next",
    )


@get("/v1/invoices/{invoice_id:str}")
async def get_invoice(invoice_id: FromPath[str]) -> Response:
    return _json(await service.get_invoice(invoice_id))


@get("/v1/invoices/{invoice_id:str}/lineitems/OneTime/BillingLineItems")
async def invoice_lines(request: Request, invoice_id: FromPath[str], size: FromQuery[int] = 2000) -> Response:
    return await _line_items(
        request,
        lambda size, after: service.invoice_line_items(invoice_id, size, after),
        size,
        f"/invoices/{invoice_id}/lineitems/OneTime/BillingLineItems?size={size}&seekOperation=Next",
    )


# --- Wiring --------------------------------------------------------------------------------------------


def _fault_handler(request: Request, exc: PartnerCenterFault) -> Response:
    return _json(exc.body(), exc.status)


def _http_handler(request: Request, exc: HTTPException) -> Response:
    """Unknown paths, wrong methods, malformed bodies: Microsoft's error shape with the same status."""
    return _json(
        {"code": exc.status_code, "description": exc.detail, "data": [], "source": "PartnerFD"}, exc.status_code
    )


def _unexpected_handler(request: Request, exc: Exception) -> Response:
    log.exception("sandbox Partner Center failed on %s %s", request.method, request.url.path, exc_info=exc)
    return _json({"code": 500, "description": "Internal server error.", "data": [], "source": "PartnerFD"}, 500)


API_HANDLERS = [
    agreements_metadata,
    create_customer,
    list_customers,
    get_customer,
    create_agreement,
    list_agreements,
    create_cart,
    get_cart,
    checkout,
    list_orders,
    get_order,
    order_provisioning_status,
    list_subscriptions,
    get_subscription,
    update_subscription,
    list_invoices,
    unbilled,
    get_invoice,
    invoice_lines,
]


def create_sandbox_app(settings: Settings) -> Litestar:
    from litestar.datastructures import State

    return Litestar(
        route_handlers=[
            openid_configuration,
            keys,
            authorize_page,
            authorize_submit,
            token,
            price_sheet,
            *GDAP_APPROVAL_PAGES,
            Router(path="/", route_handlers=API_HANDLERS, guards=[partner_caller]),
        ],
        middleware=[InjectFaults()],
        before_send=[add_security_headers(SANDBOX_POLICY)],
        exception_handlers={
            PartnerCenterFault: _fault_handler,
            HTTPException: _http_handler,
            Exception: _unexpected_handler,
        },
        state=State({"settings": settings}),
        openapi_config=None,
        debug=settings.debug,
    )


def create_sandbox_server(settings: Settings) -> Litestar:
    """What the sandbox's https listener serves: the sandbox at MOUNT_PATH (Microsoft's paths below it) and a 404
    in Microsoft's shape for anything else, the app's paths included."""
    sandbox_app = create_sandbox_app(settings)

    @asgi(MOUNT_PATH, is_mount=True, copy_scope=True)
    async def partner_center_sandbox(scope: Scope, receive: Receive, send: Send) -> None:
        await sandbox_app(scope, receive, send)

    return Litestar(
        route_handlers=[partner_center_sandbox],
        exception_handlers={HTTPException: _http_handler},
        openapi_config=None,
        debug=settings.debug,
    )


async def prepare(settings: Settings) -> None:
    """The sandbox's partner tenant and Cloudseat's app registration; run at start-up (mounted apps get no
    lifespan of their own)."""
    await service.ensure_state()
    await identity.ensure_app(settings.secret_key, [settings.base_url + identity.CLOUDSEAT_REDIRECT_PATH])
    await directory.ensure_existing_tenants()
    await newcommerce.seed_legacy_estate()


# --- Catalog and price sheets (facts 4 and 5) ------------------------------------------------------------


@get("/v1/products")
async def list_products(
    country: FromQuery[str] = "US",
    targetView: FromQuery[str] = "OnlineServices",
    targetSegment: FromQuery[str | None] = None,
) -> Response:
    return _json(collection(service.products(country, targetView, targetSegment)))


@get("/v1/products/{product_id:str}")
async def get_product(product_id: FromPath[str], country: FromQuery[str] = "US") -> Response:
    return _json(service.product_by_id(product_id, country))


@get("/v1/products/{product_id:str}/skus")
async def list_skus(
    product_id: FromPath[str], country: FromQuery[str] = "US", targetSegment: FromQuery[str | None] = None
) -> Response:
    return _json(collection(service.skus(product_id, country, targetSegment)))


@get("/v1/products/{product_id:str}/skus/{sku_id:str}")
async def get_sku(product_id: FromPath[str], sku_id: FromPath[str], country: FromQuery[str] = "US") -> Response:
    return _json(service.sku_by_id(product_id, sku_id, country))


@get("/v1/products/{product_id:str}/skus/{sku_id:str}/availabilities")
async def list_availabilities(
    product_id: FromPath[str],
    sku_id: FromPath[str],
    country: FromQuery[str] = "US",
    targetSegment: FromQuery[str | None] = None,
) -> Response:
    return _json(collection(service.availabilities(product_id, sku_id, country, targetSegment)))


PRICE_SHEET = re.compile(r"pricesheets\(Market='(?P<market>[A-Za-z]{2})',PricesheetView='(?P<view>\w+)'\)/\$value")


@get("/v1.0/sales/{rest:path}", guards=[user_caller])
async def price_sheet(rest: FromPath[str], timeline: FromQuery[str] = "current") -> Response:
    """The price sheet download: app+user only, a CSV attachment (facts 5.1)."""
    match = PRICE_SHEET.fullmatch(rest.strip("/"))
    if not match:
        raise PartnerCenterFault(404, 404, "Not found.")
    body = await service.price_sheet(match["market"], match["view"], timeline)
    return Response(
        body.encode(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="pricesheet_{match["market"]}.csv"'},
    )


API_HANDLERS += [list_products, get_product, list_skus, get_sku, list_availabilities]


@post("/v1/validations/address", status_code=200)
async def validate_address(data: JSONBody[dict[str, Any]]) -> Response:
    return _json(service.validate_address(data))


@get("/v1/customers/{customer_id:str}/qualifications")
async def list_qualifications(customer_id: FromPath[str]) -> Response:
    return _json(await service.list_qualifications(customer_id))


@post("/v1/customers/{customer_id:str}/qualifications")
async def add_qualification(
    request: Request, customer_id: FromPath[str], data: JSONBody[dict[str, Any]], code: FromQuery[str | None] = None
) -> Response:
    return await idempotent(request, 201, lambda: service.add_qualification(customer_id, data, code))


API_HANDLERS += [validate_address, list_qualifications, add_qualification]


@get("/v1/productpromotions")
async def list_promotions(country: FromQuery[str] = "US", segment: FromQuery[str] = "commercial") -> Response:
    return _json(collection(service.list_promotions(country, segment)))


@get("/v1/productpromotions/{promotion_id:str}")
async def get_promotion(promotion_id: FromPath[str]) -> Response:
    return _json(service.get_promotion(promotion_id))


@post("/v1/customers/{customer_id:str}/promotionEligibilities", status_code=200)
async def promotion_eligibilities(customer_id: FromPath[str], data: JSONBody[dict[str, Any]]) -> Response:
    return _json(await service.promotion_eligibilities(customer_id, data))


API_HANDLERS += [list_promotions, get_promotion, promotion_eligibilities]


@get("/v1/customers/{customer_id:str}/subscriptions/customTermEndDates")
async def custom_term_end_dates(customer_id: FromPath[str], term_duration: FromQuery[str] = "P1Y") -> Response:
    return _json(collection(await service.custom_term_end_dates(customer_id, term_duration)))


API_HANDLERS += [custom_term_end_dates]


# --- Transitions: upgrades and trial conversions (facts 6.5, 7.6) --------------------------------------------


@get("/v1/customers/{customer_id:str}/subscriptions/{subscription_id:str}/transitionEligibilities")
async def transition_eligibilities(
    customer_id: FromPath[str], subscription_id: FromPath[str], eligibilityType: FromQuery[str] = "immediate"
) -> Response:
    return _json(collection(await transitions.eligibilities(customer_id, subscription_id, eligibilityType)))


@post("/v1/customers/{customer_id:str}/subscriptions/{subscription_id:str}/transitions")
async def create_transition(
    request: Request, customer_id: FromPath[str], subscription_id: FromPath[str], data: JSONBody[dict[str, Any]]
) -> Response:
    return await idempotent(request, 200, lambda: transitions.create(customer_id, subscription_id, data))


@get("/v1/customers/{customer_id:str}/subscriptions/{subscription_id:str}/transitions")
async def list_transitions(
    customer_id: FromPath[str], subscription_id: FromPath[str], operationId: FromQuery[str | None] = None
) -> Response:
    return _json(await transitions.history(customer_id, subscription_id, operationId))


API_HANDLERS += [transition_eligibilities, create_transition, list_transitions]


# --- Customer directory: users, licences (facts 8); domains (facts 3.1); GDAP in Graph's paths (facts 3.5) ---------
# Users and licences take app+user tokens only, as Microsoft documents; GDAP is checked per customer (900308).


@post("/v1/customers/{customer_id:str}/users", guards=[user_caller], status_code=200)
async def create_user(request: Request, customer_id: FromPath[str], data: JSONBody[dict[str, Any]]) -> Response:
    # 200, not 201: Microsoft's published create-user response is "200 OK"
    return await idempotent(request, 200, lambda: directory.create_user(customer_id, data))


@get("/v1/customers/{customer_id:str}/users", guards=[user_caller])
async def list_users(
    request: Request,
    customer_id: FromPath[str],
    size: FromQuery[int] = 100,
    filter: FromQuery[str | None] = None,  # Microsoft's query parameter name
) -> Response:
    deleted = directory.wants_deleted_users(filter)
    items, after = await directory.list_users(customer_id, min(max(size, 1), 500), _continuation(request), deleted)
    next_uri = f"/customers/{customer_id}/users?size={size}&seekOperation=Next"
    return _json(collection(items, continuation=after, next_uri=next_uri))


@get("/v1/customers/{customer_id:str}/users/{user_id:str}", guards=[user_caller])
async def get_user(customer_id: FromPath[str], user_id: FromPath[str]) -> Response:
    return _json(await directory.get_user(customer_id, user_id))


@patch("/v1/customers/{customer_id:str}/users/{user_id:str}", guards=[user_caller])
async def update_user(
    request: Request, customer_id: FromPath[str], user_id: FromPath[str], data: JSONBody[dict[str, Any]]
) -> Response:
    return await idempotent(request, 200, lambda: directory.update_user(customer_id, user_id, data))


# the answer is 204; the decorator says 200 because Litestar refuses a Response return type on a 204 handler
@delete("/v1/customers/{customer_id:str}/users/{user_id:str}", guards=[user_caller], status_code=200)
async def delete_user(request: Request, customer_id: FromPath[str], user_id: FromPath[str]) -> Response:
    return await idempotent(request, 204, lambda: directory.delete_user(customer_id, user_id))


@get("/v1/customers/{customer_id:str}/subscribedskus", guards=[user_caller])
async def subscribed_skus(customer_id: FromPath[str]) -> Response:
    return _json(collection(await directory.subscribed_skus(customer_id)))


@post("/v1/customers/{customer_id:str}/users/{user_id:str}/licenseupdates", guards=[user_caller])
async def update_licenses(
    request: Request, customer_id: FromPath[str], user_id: FromPath[str], data: JSONBody[dict[str, Any]]
) -> Response:
    return await idempotent(request, 201, lambda: directory.update_licenses(customer_id, user_id, data))


@get("/v1/customers/{customer_id:str}/users/{user_id:str}/licenses", guards=[user_caller])
async def user_licenses(customer_id: FromPath[str], user_id: FromPath[str]) -> Response:
    return _json(collection(await directory.user_licenses(customer_id, user_id)))


@route("/v1/domains/{domain:str}", http_method=["GET", "HEAD"])
async def check_domain(domain: FromPath[str]) -> Response:
    """200 when the domain is taken (by a customer or an existing tenant), 404 when it is free; no body."""
    return Response(b"", status_code=200 if await directory.domain_exists(domain) else 404)


GDAP_RELATIONSHIPS = "/v1.0/tenantRelationships/delegatedAdminRelationships"


async def _graph(answer: Awaitable[Response]) -> Response:
    """Graph answers its errors in its own shape, not Partner Center's."""
    try:
        return await answer
    except directory.GraphFault as fault:
        return _json(fault.body(), fault.status)


async def _graph_json(work: Awaitable[Any]) -> Response:
    return _json(await work)


@post(GDAP_RELATIONSHIPS)
async def create_gdap_relationship(request: Request, data: JSONBody[dict[str, Any]]) -> Response:
    return await _graph(idempotent(request, 201, lambda: directory.create_relationship(data)))


@get(GDAP_RELATIONSHIPS)
async def list_gdap_relationships() -> Response:
    relationships = await directory.list_relationships()
    return _json({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#relationships", "value": relationships})


@get(GDAP_RELATIONSHIPS + "/{relationship_id:str}")
async def get_gdap_relationship(relationship_id: FromPath[str]) -> Response:
    return await _graph(_graph_json(directory.get_relationship(relationship_id)))


@post(GDAP_RELATIONSHIPS + "/{relationship_id:str}/requests")
async def create_gdap_request(
    request: Request, relationship_id: FromPath[str], data: JSONBody[dict[str, Any]]
) -> Response:
    return await _graph(idempotent(request, 201, lambda: directory.create_request(relationship_id, data)))


API_HANDLERS += [
    create_user,
    list_users,
    get_user,
    update_user,
    delete_user,
    subscribed_skus,
    update_licenses,
    user_licenses,
    check_domain,
    create_gdap_relationship,
    list_gdap_relationships,
    get_gdap_relationship,
    create_gdap_request,
]

# The customer's admin approves in Microsoft's admin center, at
# https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/{id}; the sandbox has
# no browser-side routing, so it serves that page at the same path without the "#".
GDAP_APPROVAL_PATH = "/AdminPortal/Home/partners/invitation/granularAdminRelationships/{relationship_id:str}"


@get(GDAP_APPROVAL_PATH, media_type=MediaType.HTML)
async def gdap_approval_page(relationship_id: FromPath[str]) -> Response:
    """The page the customer's Global Administrator opens from the partner's approval link."""
    try:
        relationship, domain = await directory.approval(relationship_id)
    except directory.GraphFault as fault:
        return _approval_html("Relationship not found", fault.status, message=fault.message)
    return _approval_html(
        "Approve delegated admin access",
        relationship=relationship,
        domain=domain,
        days=directory.duration_days(relationship["duration"]),
        roles=[directory.role_name(r["roleDefinitionId"]) for r in relationship["accessDetails"]["unifiedRoles"]],
    )


@post(GDAP_APPROVAL_PATH, status_code=303)
async def gdap_approval_submit(request: Request, relationship_id: FromPath[str]) -> Response:
    form = await request.form()
    try:
        await directory.approve(relationship_id, str(form.get("user_name", "")))
    except directory.GraphFault as fault:
        return _approval_html("Not approved", fault.status, message=fault.message)
    # back to the page, now showing the active relationship; relative, because the page does not know where the
    # sandbox is mounted
    return Response("", status_code=303, headers={"Location": relationship_id})


def _approval_html(title: str, status: int = 200, **values: Any) -> Response:
    return _html(APPROVAL_PAGE, status, title=title, site="Sandbox admin center", **{"relationship": None, **values})


GDAP_APPROVAL_PAGES = [gdap_approval_page, gdap_approval_submit]


# --- Legacy subscriptions' migration to new commerce (facts 7.7) ----------------------------------------------


@post("/v1/customers/{customer_id:str}/migrations/newcommerce/validate", status_code=200)
async def validate_migration(customer_id: FromPath[str], data: JSONBody[dict[str, Any]]) -> Response:
    return _json(await newcommerce.validate(customer_id, data))


@post("/v1/customers/{customer_id:str}/migrations/newcommerce")
async def create_migration(request: Request, customer_id: FromPath[str], data: JSONBody[dict[str, Any]]) -> Response:
    return await idempotent(request, 201, lambda: newcommerce.create(customer_id, data))


@get("/v1/customers/{customer_id:str}/migrations/newcommerce/{migration_id:str}")
async def get_migration(customer_id: FromPath[str], migration_id: FromPath[str]) -> Response:
    return _json(await newcommerce.get(customer_id, migration_id))


@get("/v1/migrations/newcommerce")
async def list_migrations(
    CustomerTenantId: FromQuery[str | None] = None,  # Microsoft's query parameter names
    CurrentSubscriptionId: FromQuery[str | None] = None,
    ExternalReferenceId: FromQuery[str | None] = None,
) -> Response:
    return _json(
        collection(await newcommerce.list_migrations(CustomerTenantId, CurrentSubscriptionId, ExternalReferenceId))
    )


API_HANDLERS += [validate_migration, create_migration, get_migration, list_migrations]
