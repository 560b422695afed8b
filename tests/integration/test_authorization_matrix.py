"""Every route, called as every role and as another reseller's user: 200/201/303 inside the caller's
scope and role, 403 where the role lacks the action, 404 outside the scope, 401/redirect when anonymous.

The matrix must name every route the app has, so a new route cannot ship without its expectations.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from app import db
from app.auth import service as auth
from app.catalog import service as catalog
from app.operations import service as operations
from app.web.auth import SESSION_COOKIE
from tests import factories
from tests.integration import billing_fixtures
from tests.integration.test_billing_runs import run_now

pytestmark = pytest.mark.integration

ACTORS = ("csp", "reseller", "customer", "other_reseller")
SKIP = 0  # this actor's call is tested elsewhere
OFFER = "CFQ7TTC0LH18:0001"


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # placeholders: {customer} (of the reseller), {reseller}, {peer_user}, {token}
    expect: dict[str, int]  # actor -> status
    body: dict | list | None = None


def same(status: int, **overrides: int) -> dict[str, int]:
    return {actor: overrides.get(actor, status) for actor in ACTORS}


CUSTOMER_BODY = {
    "name": "Matrix Customer",
    "email": "it@matrix.test",
    "country": "DE",
    "currency": "EUR",
    "address": {"line1": "Friedrichstraße 100", "city": "Berlin", "postal_code": "10117"},
}
RESELLER_BODY = {
    "name": "Matrix Reseller",
    "email": "billing@matrix.test",
    "country": "US",
    "currency": "USD",
    "mpn_id": "6123409",
    "address": {"line1": "1 Main St", "city": "Redmond", "postal_code": "98052"},
}
MCA_BODY = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@customer.test"}

API = [
    Case("POST", "/api/v1/resellers", same(403, csp=201), RESELLER_BODY),
    Case(
        "POST",
        "/api/v1/customers",
        same(403, csp=201, reseller=201),
        {**CUSTOMER_BODY, "reseller_id": "{reseller}"},
    ),
    Case("GET", "/api/v1/accounts", same(200)),
    Case("GET", "/api/v1/accounts/{customer}", same(200, other_reseller=404)),
    Case("PATCH", "/api/v1/accounts/{customer}", same(200, other_reseller=404), {"name": "Renamed GmbH"}),
    Case("GET", "/api/v1/accounts/{customer}/users", same(200, other_reseller=404)),
    Case(
        "POST",
        "/api/v1/accounts/{customer}/users",
        same(201, other_reseller=404),
        {"email": "new-{actor}@customer.test", "name": "New User"},
    ),
    Case("POST", "/api/v1/customers/{customer}/mca-acceptance", same(201, other_reseller=404), MCA_BODY),
    Case("GET", "/api/v1/me", same(200)),
    Case("GET", "/api/v1/sandbox/mail", same(403, csp=200)),
    Case("GET", "/api/v1/sandbox/clock", same(403, csp=200)),
    Case("POST", "/api/v1/sandbox/clock", same(403, csp=200), {"advance": "PT0S"}),
    Case("POST", "/api/v1/sandbox/settle?timeout=0", same(403, csp=200)),
    Case("PUT", "/api/v1/sandbox/faults", same(403, csp=200), {"error_rate": 0, "throttle_rate": 0}),
    Case("GET", "/api/v1/catalog/offers", same(200)),
    Case("GET", "/api/v1/catalog/offers/{offer}", same(200)),
    Case(
        "GET",
        "/api/v1/catalog/offers/{offer}/price?term=P1Y&billing_plan=annual&customer_id={customer}",
        same(200, other_reseller=404),
    ),
    Case("POST", "/api/v1/catalog/sync", same(403, csp=202)),
    Case("GET", "/api/v1/catalog/fx-rates", same(403, csp=200)),
    Case("PUT", "/api/v1/catalog/fx-rates", same(403, csp=200), []),
    Case("GET", "/api/v1/catalog/margin-rules", same(200, customer=403)),
    # the CSP's rule for the customer and the reseller's own are two rules (rules belong to whoever made them)
    Case(
        "POST",
        "/api/v1/catalog/margin-rules",
        same(201, customer=403, other_reseller=404),
        {"scope": "customer", "account_id": "{customer}", "kind": "markup_on_cost", "percent": "5"},
    ),
    Case("DELETE", "/api/v1/catalog/margin-rules/{rule}", same(204, customer=403, other_reseller=404)),
    Case("GET", "/api/v1/operations/{operation}", same(200, other_reseller=404)),
    # authorized callers reach the checks: the world's customer has not accepted the MCA yet
    Case(
        "POST",
        "/api/v1/orders",
        same(409, other_reseller=404),
        {
            "customer_id": "{customer}",
            "lines": [{"offer_id": OFFER, "quantity": 1, "term": "P1Y", "billing_plan": "annual"}],
        },
    ),
    Case("GET", "/api/v1/subscriptions", same(200)),
    Case("GET", "/api/v1/subscriptions/{subscription}", same(200, other_reseller=404)),
    Case("GET", "/api/v1/subscriptions/{subscription}/events", same(200, other_reseller=404)),
    Case("PATCH", "/api/v1/subscriptions/{subscription}", same(202, other_reseller=404), {"quantity": 2}),
    # the world's subscription has no open window: authorized callers reach the rule that refuses
    Case("POST", "/api/v1/subscriptions/{subscription}/cancel", same(409, other_reseller=404), {}),
    # the world's subscription is active: reactivating it is refused by the rule, suspending is queued
    Case("POST", "/api/v1/subscriptions/{subscription}/reactivate", same(409, customer=403, other_reseller=404)),
    Case("POST", "/api/v1/subscriptions/{subscription}/suspend", same(202, customer=403, other_reseller=404)),
    Case(
        "PUT", "/api/v1/subscriptions/{subscription}/scheduled-change", same(202, other_reseller=404), {"quantity": 2}
    ),
    Case("GET", "/api/v1/subscriptions/{subscription}/upgrades", same(200, other_reseller=404)),
    # the world's offer has no upgrade path: authorized callers are told so on the field
    Case("POST", "/api/v1/subscriptions/{subscription}/upgrade", same(422, other_reseller=404), {"offer_id": OFFER}),
    # nothing was scheduled yet (the queued change above has not run): authorized callers reach the rule
    Case("DELETE", "/api/v1/subscriptions/{subscription}/scheduled-change", same(409, other_reseller=404)),
    Case("GET", "/api/v1/orders", same(200)),
    Case("GET", "/api/v1/orders/{order}", same(200, other_reseller=404)),
    # billing: the world's reseller is billed for its customer, who has no invoices of its own
    Case("GET", "/api/v1/invoices", same(200)),
    Case("GET", "/api/v1/invoices/{invoice}", same(200, customer=404, other_reseller=404)),
    Case("GET", "/api/v1/invoices/{invoice}/pdf", same(200, customer=404, other_reseller=404)),
    Case("GET", "/api/v1/invoices/{invoice}/payments", same(200, customer=404, other_reseller=404)),
    Case("POST", "/api/v1/invoices/{invoice}/payments", same(403, csp=201), {"amount": "0.01", "method": "manual"}),
    Case("GET", "/api/v1/credit-notes", same(200)),
    Case("GET", "/api/v1/credit-notes/{credit_note}", same(200, customer=404, other_reseller=404)),
    Case("GET", "/api/v1/credit-notes/{credit_note}/pdf", same(200, customer=404, other_reseller=404)),
    Case("GET", "/api/v1/accounts/{customer}/charges", same(200, customer=403, other_reseller=404)),
    Case("GET", "/api/v1/accounts/{customer}/credit", same(200, other_reseller=404)),
    Case("PUT", "/api/v1/accounts/{reseller}/credit", same(403, csp=200), {"credit_limit": "500.00"}),
    Case("GET", "/api/v1/accounts/{customer}/billing-options", same(200, other_reseller=404)),
    Case("PUT", "/api/v1/accounts/{reseller}/billing-options", same(403, csp=200), {"payment_terms_days": 30}),
    Case("GET", "/api/v1/accounts/{customer}/dunning-policy", same(200, other_reseller=404)),
    Case(
        "PUT",
        "/api/v1/accounts/{reseller}/dunning-policy",
        same(403, csp=200),
        {"reminder_days": [3], "suspend_after_days": 20},
    ),
    Case("GET", "/api/v1/billing/dunning-policy", same(403, csp=200)),
    Case("PUT", "/api/v1/billing/dunning-policy", same(403, csp=200), {"reminder_days": [1], "suspend_after_days": 9}),
    Case("GET", "/api/v1/billing/tax-rates", same(403, csp=200)),
    Case("PUT", "/api/v1/billing/tax-rates", same(403, csp=200), {"country": "DE", "label": "USt", "rate": "19"}),
    Case("POST", "/api/v1/billing/runs", same(403, csp=202), {}),
    Case("GET", "/api/v1/billing/runs/{run}", same(404, csp=200)),
    Case("GET", "/api/v1/billing/deferred-revenue", same(403, csp=200)),
]
CARD_FORM = {
    "payment_method_id": "new",
    "number": "4242424242424242",
    "exp_month": "12",
    "exp_year": "2031",
    "cvc": "123",
    "amount": "0.01",
}
DUNNING_FORM = {"reminder_days": "1, 7", "suspend_after_days": "14"}
OPTIONS_FORM = {
    "billing_plans": "monthly",
    "monthly_surcharge_percent": "0",
    "payment_terms_days": "14",
    "billing_day": "1",
}

PAGE_CUSTOMER_FORM = {
    "kind": "customer",
    "name": "Page Customer",
    "email": "it@page.test",
    "country": "DE",
    "currency": "EUR",
    "address_line1": "Friedrichstraße 100",
    "city": "Berlin",
    "postal_code": "10117",
    "reseller_id": "{reseller}",
}
PAGES = [
    Case("GET", "/", same(200)),
    Case("GET", "/accounts", same(200)),
    Case("POST", "/accounts", same(403, csp=303, reseller=303), PAGE_CUSTOMER_FORM),
    Case("GET", "/accounts/new?kind=customer", same(200, customer=403)),
    Case("GET", "/accounts/new?kind=reseller", same(403, csp=200)),
    Case("POST", "/accounts/validate?field=postal_code", same(200), {"country": "DE", "postal_code": "1"}),
    Case("GET", "/accounts/{customer}", same(200, other_reseller=404)),
    Case("POST", "/accounts/{customer}", same(303, other_reseller=404), {"name": "Renamed on page"}),
    Case("GET", "/accounts/{customer}/edit", same(200, other_reseller=404)),
    Case(
        "POST",
        "/accounts/{customer}/users",
        same(303, other_reseller=404),
        {"email": "page-{actor}@customer.test", "name": "Page User"},
    ),
    Case("POST", "/users/{peer_user}/active", same(303, other_reseller=404), {"active": "false"}),
    Case("POST", "/accounts/{customer}/mca", same(303, other_reseller=404), MCA_BODY),
    # the world's customer has no existing tenant to link: authorized callers are refused on the card
    Case("POST", "/accounts/{customer}/gdap", same(409, customer=403, other_reseller=404)),
    Case("POST", "/accounts/{customer}/gdap/refresh", same(409, customer=403, other_reseller=404)),
    # a field missing: authorized callers reach the form's validation (Partner Center is not needed for it)
    Case("POST", "/accounts/{customer}/qualification", same(422, other_reseller=404), {"qualification": "education"}),
    Case("POST", "/accounts/{customer}/qualification/refresh", same(200, other_reseller=404)),
    Case("GET", "/profile", same(200)),
    Case("POST", "/profile/tokens", same(200), {"name": "matrix"}),
    Case("POST", "/profile/tokens/{token}/revoke", same(200)),
    Case("GET", "/admin/outbox", same(403, csp=200)),
    Case("GET", "/admin/partner-center", same(403, csp=200)),
    # the CSP's sign-in needs the served sandbox: its CSP path is tested in test_partner_center_contract
    Case("POST", "/admin/partner-center/connect", same(403, csp=SKIP)),
    Case(
        "GET", "/admin/partner-center/callback?state=unknown", same(409, reseller=403, customer=403, other_reseller=403)
    ),
    Case("GET", "/marketplace", same(200)),
    Case("GET", "/marketplace/offers/{offer}", same(200)),
    Case("GET", "/admin/catalog", same(403, csp=200)),
    Case("GET", "/admin/catalog/sync", same(403, csp=200)),
    Case("POST", "/admin/catalog/sync", same(403, csp=303)),
    Case(
        "POST",
        "/admin/catalog/settings",
        same(403, csp=303),
        {
            "markets": "US DE",
            "currencies": "USD EUR",
            "default_margin_kind": "discount_off_erp",
            "default_margin_percent": "0",
        },
    ),
    Case(
        "POST",
        "/admin/catalog/fx-rates",
        same(403, csp=303),
        {"from": "EUR", "to": "GBP", "effective_from": "2026-01-01", "rate": "0.86"},
    ),
    Case(
        "POST",
        "/admin/catalog/fx-rates/delete",
        same(403, csp=303),
        {"from": "EUR", "to": "CHF", "effective_from": "2025-01-01"},
    ),
    Case("GET", "/catalog/margins", same(200, customer=403)),
    # the CSP's rule for the customer and the reseller's own are two rules
    Case(
        "POST",
        "/catalog/margins",
        same(303, customer=403, other_reseller=404),
        {"scope": "customer", "customer_id": "{customer}", "kind": "markup_on_cost", "percent": "5"},
    ),
    Case("POST", "/catalog/margins/{rule}/delete", same(303, customer=403, other_reseller=404)),
    Case("GET", "/basket", same(200)),
    Case(
        "POST",
        "/basket/lines",
        same(303, other_reseller=404),  # a customer's own basket is always for itself
        {"offer_id": OFFER, "plan": "P1Y/annual", "quantity": "2", "customer_id": "{customer}"},
    ),
    Case("POST", "/basket/lines/{basket_line}", same(200), {"quantity": "3"}),
    Case("POST", "/basket/lines/{basket_line}/delete", same(200)),
    Case("POST", "/basket/customer", same(200, other_reseller=404), {"customer_id": "{customer}"}),
    # the other reseller's basket is for nobody yet: the step asks for a customer first
    Case("POST", "/basket/mca", same(200, other_reseller=422), MCA_BODY),
    # the world's customer has not accepted the MCA: checkout is refused beside the basket (authorized)
    Case("POST", "/basket/checkout", same(409, other_reseller=422)),
    Case("GET", "/orders", same(200)),
    Case("GET", "/orders/{order}", same(200, other_reseller=404)),
    Case("GET", "/subscriptions", same(200)),
    Case("GET", "/subscriptions/renewals", same(200)),
    Case("GET", "/subscriptions/{subscription}", same(200, other_reseller=404)),
    Case("GET", "/subscriptions/{subscription}/operations/{operation}", same(200, other_reseller=404)),
    Case("GET", "/subscriptions/{subscription}/seats/preview?quantity=2", same(200, other_reseller=404)),
    Case("POST", "/subscriptions/{subscription}/seats", same(303, other_reseller=404), {"quantity": "2"}),
    Case("POST", "/subscriptions/{subscription}/auto-renew", same(303, other_reseller=404), {"auto_renew": "off"}),
    # the world's subscription has no open window: authorized callers see the rule's refusal on the page
    Case("POST", "/subscriptions/{subscription}/cancel", same(409, other_reseller=404), {}),
    Case(
        "POST",
        "/subscriptions/{subscription}/schedule",
        same(303, other_reseller=404),
        {"quantity": "2", "offer_id": OFFER, "plan": "P1Y/annual"},
    ),
    Case("POST", "/subscriptions/{subscription}/schedule/delete", same(409, other_reseller=404)),
    Case(
        "POST",
        "/subscriptions/{subscription}/status",
        same(303, customer=403, other_reseller=404),
        {"status": "suspended"},
    ),
    Case(
        "POST",
        "/subscriptions/{subscription}/upgrade",
        same(422, other_reseller=404),
        {"offer_id": OFFER, "quantity": "1"},
    ),
    Case("GET", "/admin/subscription-health", same(403, csp=200)),
    Case("POST", "/admin/subscription-health/check", same(403, csp=303)),
    Case("POST", "/admin/subscription-health/{drift}", same(403, csp=404), {"direction": "pull"}),
    # the import lists and reads Partner Center's customers: its CSP path is tested in test_subscription_health
    Case("GET", "/admin/partner-center/import", same(403, csp=SKIP)),
    Case("POST", "/admin/partner-center/import", same(403, csp=SKIP), {"tenant_id": "x"}),
    # not a trial: authorized callers are told there is no paid offer to buy
    Case("POST", "/subscriptions/{subscription}/buy", same(422, other_reseller=404)),
    Case("GET", "/invoices", same(200)),
    Case("GET", "/invoices/{invoice}", same(200, customer=404, other_reseller=404)),
    Case("GET", "/invoices/{invoice}/pdf", same(200, customer=404, other_reseller=404)),
    # a cent by the sandbox's test card: the reseller pays its own invoice, the CSP may charge its card
    Case("POST", "/invoices/{invoice}/pay", same(303, customer=404, other_reseller=404), CARD_FORM),
    Case("POST", "/invoices/{invoice}/manual-payment", same(403, csp=303), {"amount": "0.01"}),
    # the credit note is in EUR and the invoice in USD: the CSP is told they do not match
    Case("POST", "/invoices/{invoice}/apply-credit", same(403, csp=422), {"credit_note_id": "{credit_note}"}),
    Case("GET", "/accounts/{customer}/billing", same(200, other_reseller=404)),
    Case("POST", "/accounts/{reseller}/billing/credit", same(403, csp=303), {"credit_limit": "900"}),
    Case("POST", "/accounts/{reseller}/billing/options", same(403, csp=303), OPTIONS_FORM),
    Case("POST", "/accounts/{reseller}/billing/dunning", same(403, csp=303), DUNNING_FORM),
    Case("POST", "/accounts/{customer}/billing/card", same(303, reseller=403, other_reseller=404), CARD_FORM),
    Case("POST", "/accounts/{customer}/billing/remove-card", same(404, reseller=403), {"card_id": "{operation}"}),
    Case("GET", "/accounts/{customer}/statement", same(200, other_reseller=404)),
    Case("GET", "/billing", same(403, csp=200)),
    Case("POST", "/billing/run", same(403, csp=303), {"as_of": ""}),
    Case("POST", "/billing/seller", same(403, csp=303), {"seller_name": "Contoso CSP", "seller_country": "NL"}),
    Case("POST", "/billing/tax", same(403, csp=303), {"country": "FR", "label": "TVA", "rate": "20"}),
    Case("POST", "/billing/dunning", same(403, csp=303), DUNNING_FORM),
    Case("GET", "/billing/deferred-revenue", same(403, csp=200)),
]

PUBLIC = {  # reachable without signing in
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/set-password/{secret:str}"),
    ("POST", "/set-password/{secret:str}"),
    ("GET", "/healthz"),
    ("GET", "/static/{file_path:path}"),
    ("HEAD", "/static/{file_path:path}"),
}


def _template(path: str) -> str:
    """The route's path as Litestar declares it, from the case's concrete path."""
    replacements = {
        "{customer}": "{account_id:uuid}",
        "{reseller}": "{account_id:uuid}",
        "{peer_user}": "{user_id:uuid}",
        "{token}": "{token_id:uuid}",
        "{offer}": "{offer_id:str}",
        "{rule}": "{rule_id:uuid}",
        "{operation}": "{operation_id:uuid}",
        "{drift}": "{drift_id:int}",
        "{order}": "{order_id:uuid}",
        "{basket_line}": "{line_id:uuid}",
        "{subscription}": "{subscription_id:uuid}",
        "{run}": "{run_id:uuid}",
        "/api/v1/invoices/{invoice}": "/api/v1/invoices/{invoice_id:uuid}",
        "/api/v1/credit-notes/{credit_note}": "/api/v1/credit-notes/{credit_note_id:uuid}",
        "{invoice}": "{document_id:uuid}",
        "{card}": "{card_id:uuid}",
    }
    path = path.split("?", maxsplit=1)[0]
    for placeholder, declared in replacements.items():
        path = path.replace(placeholder, declared)
    return path


def test_matrix_names_every_route(app):
    declared = {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method != "OPTIONS" and not route.path.startswith("/schema")
    }
    covered = {(case.method, _template(case.path)) for case in API + PAGES} | PUBLIC
    assert declared - covered == set(), "add these routes to the authorization matrix"


@pytest.fixture
async def world(tx):
    return await build_world()


async def build_world() -> dict:
    """A reseller with a customer, another reseller with its own, a user of each role, an offer priced in the
    customer's market, FX rates, and the reseller's invoice and credit note from one billing run."""
    reseller = await factories.reseller()
    customer = await factories.customer(reseller["id"])
    other = await factories.reseller()
    await factories.customer(other["id"])
    actors = {
        "csp": await factories.user(None),
        "reseller": await factories.user(reseller),
        "customer": await factories.user(customer),
        "other_reseller": await factories.user(other),
    }
    # one offer priced in the customer's market, as a sync would leave it
    run_id = await db.fetchval(
        "INSERT INTO catalog_sync_runs (status, created_at) VALUES ('completed', now()) RETURNING id"
    )
    await db.execute(
        "INSERT INTO catalog_offers (id, product_id, sku_id, title, product_title, publisher, kind, segment, "
        "min_quantity, max_quantity, fingerprint, first_run_id, changed_run_id) VALUES ($1, 'CFQ7TTC0LH18', '0001', "
        "'Microsoft 365 Business Basic', 'Microsoft 365 Business Basic', 'Microsoft Corporation', 'license', "
        "'commercial', 1, 300, 'x', $2, $2)",
        OFFER,
        run_id,
    )
    await db.execute(
        "INSERT INTO catalog_prices (offer_id, market, currency, segment, term, billing_plan, unit_price, erp_price, "
        "effective_start, effective_end, first_run_id, changed_run_id) VALUES ($1, 'DE', 'EUR', 'commercial', 'P1Y', "
        "'annual', 53.57, 66.96, '2025-01-01', '9999-12-31 23:59:59+00', $2, $2)",
        OFFER,
        run_id,
    )
    await db.execute("UPDATE catalog_settings SET markets = '{US, DE}', currencies = '{USD, EUR}'")
    await db.execute(
        "INSERT INTO fx_rates (from_currency, to_currency, effective_from, rate, created_at) "
        "VALUES ('EUR', 'CHF', '2025-01-01', 0.95, now()), ('EUR', 'USD', '2025-01-01', 1.08, now())"
    )
    # the reseller's invoice (USD, its currency) and a credit note (EUR), from one billing run
    await billing_fixtures.charge(await billing_fixtures.subscription(customer, bill_to=reseller), "100.00")
    eur = await billing_fixtures.subscription(customer, bill_to=reseller, currency="EUR")
    await billing_fixtures.charge(eur, "-10.00", charge_type="cancel")
    run = await run_now()
    documents = {r["kind"]: str(r["id"]) for r in await db.fetch("SELECT id, kind FROM invoices")}
    return {"reseller": reseller, "customer": customer, "actors": actors, "run": str(run), **documents}


def _fill(value, ids: dict[str, str]):
    if isinstance(value, str):
        for key, replacement in ids.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


async def _ids(world, actor: str) -> dict[str, str]:
    peer = await factories.user(world["customer"])
    _, token = await auth.create_token(world["actors"][actor], "to revoke")
    # a rule to delete: for the one offer, so it never clashes with the customer-wide rule the POST case makes; the
    # reseller's own (a reseller deletes only its own rules), the CSP's for the others
    await db.execute("DELETE FROM margin_rules WHERE offer_id IS NOT NULL")
    rule = await catalog.create_margin_rule(
        world["actors"]["reseller" if actor == "reseller" else "csp"],
        {
            "scope": "customer",
            "account_id": str(world["customer"]["id"]),
            "offer_id": OFFER,
            "kind": "markup_on_cost",
            "percent": "1",
        },
    )
    operation = await operations.create("test", world["actors"]["csp"], account_id=world["customer"]["id"])
    order = await db.fetchval(
        "INSERT INTO orders (id, customer_id, bill_to_id, status, currency, created_at, updated_at) "
        "VALUES (gen_random_uuid(), $1, $2, 'completed', 'EUR', now(), now()) RETURNING id",
        world["customer"]["id"],
        world["reseller"]["id"],
    )
    actor_user = world["actors"][actor].user_id
    own_customer = world["customer"]["id"] if actor != "other_reseller" else None
    await db.execute(
        "INSERT INTO baskets (user_id, customer_id, updated_at) VALUES ($1, $2, now()) "
        "ON CONFLICT (user_id) DO UPDATE SET customer_id = $2",
        actor_user,
        own_customer,
    )
    basket_line = await db.fetchval(
        "INSERT INTO basket_lines (id, user_id, offer_id, quantity, term, billing_plan, added_at) "
        "VALUES (gen_random_uuid(), $1, $2, 1, 'P1Y', 'annual', now()) RETURNING id",
        actor_user,
        OFFER,
    )
    subscription = await db.fetchval(
        "INSERT INTO subscriptions (id, customer_id, bill_to_id, offer_id, title, status, quantity, term, "
        "billing_plan, auto_renew, currency, unit_price, customer_unit_price, cost_price, cost_currency, created_at, "
        "updated_at) VALUES (gen_random_uuid(), $1, $2, $3, 'Basic', 'active', 1, 'P1Y', 'annual', true, 'EUR', "
        "60, 66, 50, 'EUR', now(), now()) RETURNING id",
        world["customer"]["id"],
        world["reseller"]["id"],
        OFFER,
    )
    return {
        "subscription": str(subscription),
        "basket_line": str(basket_line),
        "order": str(order),
        "offer": OFFER,
        "rule": str(rule["id"]),
        "operation": str(operation["id"]),
        "drift": "999999",  # no such difference: the CSP is told so, the others may not ask
        "invoice": world["invoice"],
        "credit_note": world["credit_note"],
        "run": world["run"],
        "customer": str(world["customer"]["id"]),
        "reseller": str(world["reseller"]["id"]),
        "peer_user": str(peer.user_id),
        "token": str(token["id"]),
        "actor": actor,
    }


@pytest.mark.parametrize("case", API, ids=lambda c: f"{c.method} {c.path}")
async def test_api_matrix(world, client: httpx.AsyncClient, case: Case):
    anonymous = await client.request(case.method, _fill(case.path, await _ids(world, "csp")), json=case.body)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    for actor, expected in case.expect.items():
        ids = await _ids(world, actor)
        headers = await factories.api_token(world["actors"][actor])
        response = await client.request(case.method, _fill(case.path, ids), json=_fill(case.body, ids), headers=headers)
        assert response.status_code == expected, (actor, response.text)
        if expected >= 400:
            assert set(response.json()["error"]) >= {"code", "message"}


async def _page_client(app, principal) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    secret, _ = await auth.login(principal.email, factories.PASSWORD, "10.0.0.1")
    client.cookies.set(SESSION_COOKIE, secret)
    token = factories.csrf_from((await client.get("/profile")).text)
    return client, token


@pytest.mark.parametrize("case", PAGES, ids=lambda c: f"{c.method} {c.path}")
async def test_page_matrix(world, app, case: Case):
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    path = _fill(case.path, await _ids(world, "csp"))
    response = await anonymous.request(case.method, path, data=case.body if case.method == "POST" else None)
    # anonymous: GETs go to the login page; POSTs without a CSRF cookie are refused before anything runs
    assert response.status_code in ((303,) if case.method == "GET" else (403,))
    if case.method == "GET":
        assert response.headers["location"].startswith("/login?next=")
    for actor, expected in case.expect.items():
        if expected == SKIP:
            continue
        ids = await _ids(world, actor)
        client, token = await _page_client(app, world["actors"][actor])
        response = await client.request(
            case.method,
            _fill(case.path, ids),
            data=_fill(case.body, ids) if case.method == "POST" else None,
            headers={"X-CSRFToken": token},
        )
        assert response.status_code == expected, (actor, response.text[:500])
