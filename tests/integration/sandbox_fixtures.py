"""A real HTTP server for the Partner Center client to talk to: uvicorn on loopback in the test's loop."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx
import msal
import pytest
import uvicorn

from app import db
from app.config import Settings
from app.partner_center.auth import AppOnlyTokens, AppUserTokens, confidential_app
from app.partner_center.client import PartnerCenterClient, RetryPolicy
from app.partner_center.sandbox import app as sandbox
from app.partner_center.sandbox import catalog, identity

PCS_TABLES = [
    "pcs_requests",
    "pcs_user_licenses",
    "pcs_users",
    "pcs_gdap_relationships",
    "pcs_migrations",
    "pcs_transitions",
    "pcs_auth_codes",
    "pcs_refresh_tokens",
    "pcs_line_items",
    "pcs_seat_batches",
    "pcs_subscriptions",
    "pcs_orders",
    "pcs_carts",
    "pcs_qualifications",
    "pcs_agreements",
    "pcs_customers",
    "pcs_invoices",
    "pcs_state",
]
TENANT = "sandboxpartner.onmicrosoft.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sandbox:
    settings: Settings
    url: str
    # the test's HTTP clients, closed before the server stops so it need not wait out their keep-alive connections
    http_clients: list[httpx.AsyncClient] = dataclasses.field(default_factory=list)

    @property
    def oidc_authority(self) -> str:
        return f"{self.url}/login/{TENANT}/v2.0"

    @property
    def ca(self) -> str:
        return str(self.settings.sandbox_tls[0])

    def msal_app(self, secret: str | None = None) -> Callable[[], msal.ConfidentialClientApplication]:
        """A factory: msal's constructor does blocking HTTP, so it must run off the event loop."""
        return lambda: confidential_app(
            identity.SANDBOX_CLIENT_ID,
            secret or identity.sandbox_client_secret(self.settings.secret_key),
            oidc_authority=self.oidc_authority,
            verify=self.ca,
        )

    def client(self, tokens, **retry: float) -> PartnerCenterClient:
        http = httpx.AsyncClient(verify=self.tls, timeout=60)
        self.http_clients.append(http)
        return PartnerCenterClient(self.url, tokens, retry=RetryPolicy(**retry), http=http)

    def app_only_client(self, **retry: float) -> PartnerCenterClient:
        return self.client(AppOnlyTokens(self.msal_app()), **retry)

    async def set_faults(
        self, error_rate: float = 0, throttle_rate: float = 0, latency_ms: int = 0, provisioning_ms: int = 0
    ) -> None:
        await db.execute(
            "UPDATE pcs_faults SET error_rate = $1, throttle_rate = $2, latency_ms = $3, provisioning_ms = $4",
            error_rate,
            throttle_rate,
            latency_ms,
            provisioning_ms,
        )

    async def user_tokens(self, mfa: bool = True) -> AppUserTokens:
        """Sign in an admin agent the way the Connect page does: msal's auth code flow with PKCE, through the
        sandbox's sign-in page, redeemed for a refresh token."""
        factory = self.msal_app()
        app = await asyncio.to_thread(factory)
        flow = app.initiate_auth_code_flow(
            ["https://api.partnercenter.microsoft.com/.default"],
            redirect_uri=self.settings.base_url + identity.CLOUDSEAT_REDIRECT_PATH,  # the one registered
        )
        query = dict(parse_qsl(urlsplit(flow["auth_uri"]).query))
        assert query["code_challenge_method"] == "S256"
        async with httpx.AsyncClient(verify=self.tls) as http:
            signed_in = await http.post(
                flow["auth_uri"].split("?")[0],
                data={**query, "user_name": "agent@sandboxpartner.onmicrosoft.com", **({"mfa": "yes"} if mfa else {})},
            )
        assert signed_in.status_code == 303, signed_in.text
        reply = dict(parse_qsl(urlsplit(signed_in.headers["location"]).query))
        result = await asyncio.to_thread(app.acquire_token_by_auth_code_flow, flow, reply)
        assert "refresh_token" in result, result
        amr = result["id_token_claims"].get("amr", [])
        assert ("mfa" in amr) == mfa
        return AppUserTokens(factory, result["refresh_token"])

    @property
    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca)


@pytest.fixture
async def pc_sandbox(committed, settings: Settings) -> AsyncIterator[Sandbox]:
    await db.execute(f"TRUNCATE {', '.join(PCS_TABLES)} RESTART IDENTITY CASCADE")
    await db.execute("UPDATE pcs_faults SET error_rate = 0, throttle_rate = 0, latency_ms = 0, provisioning_ms = 0")
    port = free_port()
    # the sandbox alone on its https listener, as `cloudseat serve` serves it; the app is the tests' ASGI client
    served = dataclasses.replace(settings, host="127.0.0.1", sandbox_port=port)
    await sandbox.prepare(served)
    cert, key = served.sandbox_tls
    server = uvicorn.Server(
        uvicorn.Config(
            sandbox.create_sandbox_server(served),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ssl_certfile=str(cert),
            timeout_graceful_shutdown=0.1,  # only idle keep-alive connections are left to wait for
            ssl_keyfile=str(key),
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the server failed to start: show why
            raise RuntimeError("the sandbox server stopped before it started")
        await asyncio.sleep(0.02)
    running = Sandbox(served, sandbox.sandbox_url(served))
    try:
        yield running
    finally:
        for http in running.http_clients:
            await http.aclose()
        server.should_exit = True
        await task
        await db.execute(f"TRUNCATE {', '.join(PCS_TABLES)} RESTART IDENTITY CASCADE")
        await db.execute("UPDATE pcs_faults SET error_rate = 0, throttle_rate = 0, latency_ms = 0, provisioning_ms = 0")


# --- Helpers the Partner Center tests share ---------------------------------------------------------


def customer_body(domain: str | None = None, country: str = "US") -> dict:
    return {
        "companyProfile": {"domain": domain or f"contoso{uuid.uuid4().hex[:8]}.onmicrosoft.com"},
        "billingProfile": {
            "email": "it@contoso.test",
            "culture": "en-US",
            "language": "en",
            "companyName": "Contoso",
            "defaultAddress": {
                "firstName": "Ada",
                "lastName": "Lovelace",
                "addressLine1": "1 Microsoft Way",
                "city": "Redmond",
                "state": "WA",
                "postalCode": "98052",
                "country": country,
            },
        },
    }


MCA = {
    "primaryContact": {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@contoso.test"},
    "templateId": "117a77b0-9360-443b-8795-c6dedc750cf9",
    "dateAgreed": "2026-11-20T10:00:00Z",
    "type": "MicrosoftCustomerAgreement",
}


async def new_customer(client, *, mca: bool = True, country: str = "US") -> dict:
    customer = await client.create_customer(customer_body(country=country))
    if mca:
        await client.attest_agreement(customer.id, MCA)
    return customer


def line(offer, quantity: int = 1, term: str = "P1Y", cycle: str = "monthly") -> dict:
    return {
        "catalogItemId": catalog.catalog_item_id(offer),
        "quantity": quantity,
        "termDuration": term,
        "billingCycle": cycle,
    }


async def buy(client, customer_id: str, *lines: dict) -> list[dict]:
    cart = await client.create_cart(customer_id, {"lineItems": list(lines)})
    result = await client.checkout(customer_id, cart.id)
    assert result.order_errors == [], result
    return [
        await client.get_subscription(customer_id, li.subscription_id)
        for order in result.orders
        for li in order.line_items
    ]
