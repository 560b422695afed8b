"""Security headers on every answer: every GET route the app has, walked as each role and anonymously, the API
docs served from our own /static, and Stripe's origins allowed only where Stripe.js is used."""

from __future__ import annotations

import re

import httpx
import pytest

from app.config import Settings, load_settings
from app.main import create_app
from tests import factories
from tests.integration.test_authorization_matrix import OFFER, _ids, _page_client, world  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

ROLES = ("csp", "reseller", "customer")

# What fills each path parameter a GET route declares: the matrix's world, by parameter name.
PARAMETERS = {
    "account_id": "{customer}",
    "offer_id": "{offer}",
    "operation_id": "{operation}",
    "order_id": "{order}",
    "subscription_id": "{subscription}",
    "run_id": "{run}",
    "invoice_id": "{invoice}",
    "document_id": "{invoice}",
    "credit_note_id": "{credit_note}",
    "secret": "no-such-invitation",
    "file_path": "cloudseat.css",
    "path": "no-such-docs-page",
}
# The query a route needs to render (without it the answer is a 400, which must carry the headers as well).
QUERIES = {
    "/accounts/new": "?kind=customer",
    "/subscriptions/{subscription_id:uuid}/seats/preview": "?quantity=2",
    "/admin/partner-center/callback": "?state=unknown",
    "/api/v1/catalog/offers/{offer_id:str}/price": "?term=P1Y&billing_plan=annual&customer_id={customer}",
}
# What the CSP admin gets where it is not the page itself (every other GET route renders for it).
CSP_ADMIN_SEES = {
    "/login": 303,  # signed in already: home
    "/set-password/{secret:str}": 404,
    "/schema/{path:str}": 404,
    "/admin/partner-center/callback": 409,  # no sign-in under way
    "/admin/partner-center/import": 500,  # lists Partner Center's customers: the sandbox is not served here
}


def get_routes(app) -> list[str]:
    return sorted(route.path for route in app.routes if "GET" in getattr(route, "methods", ()))


def concrete(template: str, ids: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        return PARAMETERS[match.group(1)]

    path = re.sub(r"\{(\w+):\w+\}", value, template) + QUERIES.get(template, "")
    for key, replacement in ids.items():
        path = path.replace("{" + key + "}", replacement)
    return path


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


def assert_hardened(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    headers = response.headers
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "same-origin", where
    policy = directives(headers.get("content-security-policy", "default-src *"))
    assert policy.get("frame-ancestors") == ["'none'"], where
    scripts = policy.get("script-src", policy["default-src"])
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(scripts), where
    assert "'unsafe-inline'" not in policy.get("style-src", policy["default-src"]), where
    assert policy.get("object-src", policy["default-src"]) == ["'none'"], where
    if response.request.url.path.startswith("/static/"):
        assert "no-store" not in headers.get("cache-control", ""), where
    else:
        assert headers.get("cache-control") == "no-store", where


async def test_every_get_route_answers_with_the_security_headers_for_every_role(world, app):  # noqa: F811
    routes = get_routes(app)
    assert len(routes) > 60  # the walk follows the app's route list, not a list of its own

    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    ids = await _ids(world, "csp")
    for template in routes:
        response = await anonymous.get(concrete(template, ids))
        assert_hardened(response)
        if template.startswith("/api/"):
            assert response.status_code == 401

    for role in ROLES:
        ids = await _ids(world, role)
        pages, _ = await _page_client(app, world["actors"][role])
        api = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers=await factories.api_token(world["actors"][role]),
        )
        rendered = 0
        for template in routes:
            client = api if template.startswith("/api/") else pages
            response = await client.get(concrete(template, ids))
            assert_hardened(response)
            assert directives(response.headers["content-security-policy"])["script-src"] == ["'self'"]
            if response.headers.get("content-type", "").startswith("text/html") and response.status_code == 200:
                rendered += 1
            if role == "csp":
                assert response.status_code == CSP_ADMIN_SEES.get(template, 200), (template, response.text[:300])
        assert rendered > 15, role  # the walk reached the pages themselves, not only refusals


async def test_an_unknown_path_and_a_refused_post_carry_the_headers_too(app, client: httpx.AsyncClient):
    assert_hardened(await client.get("/no-such-page"))
    assert_hardened(await client.post("/accounts", data={"name": "x"}))  # no CSRF token: 403 before any route
    assert_hardened(await client.delete("/invoices"))  # 405


async def test_the_sandbox_sign_in_page_allows_only_its_own_style(pc_sandbox):
    from app.partner_center.connect import redirect_uri
    from app.partner_center.sandbox import identity

    sign_in = {"client_id": identity.SANDBOX_CLIENT_ID, "redirect_uri": redirect_uri(pc_sandbox.settings), "state": "s"}
    async with httpx.AsyncClient(verify=pc_sandbox.tls) as browser:  # the sandbox's own https listener
        response = await browser.get(f"{pc_sandbox.url}/login/sandbox-tenant/oauth2/v2.0/authorize", params=sign_in)
    assert response.status_code == 200, response.text
    assert_hardened(response)
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert all(source.startswith("'sha256-") for source in policy["style-src"])
    assert "<script" not in response.text


async def test_the_api_docs_load_only_local_assets_and_each_is_served(client: httpx.AsyncClient):
    docs = await client.get("/schema")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert_hardened(docs)
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert any(a.endswith("-bundle.js") for a in assets), assets
    assert any(a.endswith(".css") for a in assets), assets
    assert all(a.startswith("/static/") for a in assets), assets
    assert "http" not in docs.text  # no CDN, nothing from elsewhere
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", docs.text) is None, "an inline script"
    assert " style=" not in docs.text
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200, asset
        kind = "javascript" if asset.endswith(".js") else "css"
        assert kind in served.headers["content-type"], asset
        assert_hardened(served)
    spec = await client.get(re.search(r'data-spec-url="([^"]+)"', docs.text).group(1))
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "Cloudseat API"
    assert (await client.get("/schema/swagger")).text == docs.text


def _live(settings: Settings, **env: str) -> Settings:
    return load_settings(
        {
            "CLOUDSEAT_MODE": "live",
            "SECRET_KEY": settings.secret_key,
            "CLOUDSEAT_DATA_DIR": str(settings.data_dir),
            "CLOUDSEAT_WORKER": "0",
            **env,
        }
    )


@pytest.mark.parametrize(
    ("mode", "env", "stripe"),
    [
        ("sandbox", {}, False),
        ("live", {}, False),
        ("live", {"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_PUBLISHABLE_KEY": "pk_test_x"}, True),
    ],
)
async def test_stripe_js_is_allowed_only_in_live_mode_with_stripe(settings: Settings, mode, env, stripe):
    app = create_app(settings if mode == "sandbox" else _live(settings, **env), manage_pool=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.get("/static/cloudseat.css")
    assert_hardened(response)
    policy = directives(response.headers["content-security-policy"])
    assert ("https://js.stripe.com" in policy["script-src"]) is stripe
    assert ("https://js.stripe.com" in policy["frame-src"]) is stripe
    assert ("https://api.stripe.com" in policy["connect-src"]) is stripe
    if not stripe:
        assert policy["frame-src"] == ["'none'"]
