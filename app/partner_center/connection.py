"""Which Partner Center Cloudseat talks to, and as whom: the sandbox in sandbox mode, Microsoft in live mode."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import httpx
import jwt

from app.config import Settings
from app.partner_center.auth import LOGIN, SANDBOX_TENANT, AppOnlyTokens, confidential_app
from app.partner_center.client import GRAPH_API, PRICING_API, PartnerCenterClient
from app.partner_center.connect import user_tokens
from app.partner_center.sandbox import identity
from app.partner_center.sandbox.address import sandbox_url

LIVE_API = "https://api.partnercenter.microsoft.com"


def app_only_client(settings: Settings) -> PartnerCenterClient:
    """A client with app-only tokens (the calls Microsoft allows without a user)."""
    if settings.is_sandbox:
        ca = str(settings.sandbox_tls[0])
        url = sandbox_url(settings)
        tokens = AppOnlyTokens(
            lambda: confidential_app(
                identity.SANDBOX_CLIENT_ID,
                identity.sandbox_client_secret(settings.secret_key),
                oidc_authority=f"{url}/login/{SANDBOX_TENANT}/v2.0",
                verify=ca,
            )
        )
        return PartnerCenterClient(
            url, tokens, http=httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca), timeout=60)
        )
    if not (settings.pc_client_id and settings.pc_client_secret and settings.pc_tenant_id):
        raise RuntimeError(
            "Live mode needs PARTNER_CENTER_CLIENT_ID, PARTNER_CENTER_CLIENT_SECRET and PARTNER_CENTER_TENANT_ID."
        )
    client_id, secret, tenant = settings.pc_client_id, settings.pc_client_secret, settings.pc_tenant_id
    tokens = AppOnlyTokens(lambda: confidential_app(client_id, secret, authority=f"{LOGIN}/{tenant}"))
    return PartnerCenterClient(LIVE_API, tokens, pricing_base=PRICING_API, graph_base=GRAPH_API)


async def sync_client(settings: Settings) -> PartnerCenterClient:
    """A client with the connected admin agent's tokens: the price sheet takes app + user tokens only."""
    tokens = await user_tokens(settings)
    if tokens is None:
        raise RuntimeError(
            "Partner Center is not connected: an admin agent must sign in (Admin → Partner Center) before the "
            "catalog can sync, because Microsoft serves price sheets to app + user tokens only."
        )
    client = app_only_client(settings)
    client.tokens = tokens
    return client


async def job_client(settings: Settings) -> PartnerCenterClient:
    """For queued work: the connected admin agent's app + user tokens when there are some (every call takes
    them), app-only tokens otherwise."""
    client = app_only_client(settings)
    if (tokens := await user_tokens(settings)) is not None:
        client.tokens = tokens
    return client


async def check(settings: Settings) -> list[str]:
    """What `cloudseat pc check` prints: where, as whom, until when, and how much is there. It uses the
    connected admin agent (app + user) when there is one, app-only tokens otherwise."""

    client = await job_client(settings)
    try:
        token = await client.tokens.access_token()
        claims = jwt.decode(token, options={"verify_signature": False})
        customers = [c async for c in client.list_customers()]
        subscriptions = 0
        for customer in customers:
            subscriptions += len(await client.list_subscriptions(str(customer.id)))
    finally:
        await client.aclose()
    who = claims.get("upn") or f"app {claims.get('appid')} (app-only)"
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    return [
        f"Partner Center: {client.base_url} ({settings.mode} mode)",
        f"Connected as:   {who}, partner tenant {claims.get('tid')}",
        f"Token expires:  {expires:%Y-%m-%d %H:%M:%S} UTC",
        f"Customers:      {len(customers)}",
        f"Subscriptions:  {subscriptions}",
    ]
