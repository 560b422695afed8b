"""Connecting Cloudseat to Partner Center (Secure Application Model, facts 2.1): an admin agent signs in with
MFA through msal's authorization code flow with PKCE; only the refresh token is kept, encrypted with a key
derived from SECRET_KEY. No password is ever seen or stored."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

import msal
from cryptography.fernet import Fernet, InvalidToken

from app import clock, db
from app.accounts.rules import Principal
from app.audit import service as audit
from app.config import Settings
from app.errors import Conflict
from app.partner_center.auth import LOGIN, PARTNER_CENTER_SCOPE, SANDBOX_TENANT, AppUserTokens, confidential_app
from app.partner_center.sandbox import identity
from app.partner_center.sandbox.address import sandbox_url
from app.partner_center.tables import PartnerCenterAuthFlow, PartnerCenterConnection

FLOW_LIFETIME = timedelta(minutes=15)
# what a new sign-in replaces in the connection row
CONNECTION_FIELDS = [
    PartnerCenterConnection.user_name,
    PartnerCenterConnection.tenant_id,
    PartnerCenterConnection.refresh_token_enc,
    PartnerCenterConnection.connected_by,
    PartnerCenterConnection.connected_at,
]
MFA_MISSING = "The sign-in did not use multi-factor authentication. Partner Center requires MFA: sign in again with it."


def _fernet(secret_key: str) -> Fernet:
    key = hashlib.sha256(f"cloudseat-partner-center-refresh-token:{secret_key}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret_key: str, value: str) -> str:
    return _fernet(secret_key).encrypt(value.encode()).decode()


def decrypt(secret_key: str, value: str) -> str:
    return _fernet(secret_key).decrypt(value.encode()).decode()


def app_factory(settings: Settings) -> Callable[[], msal.ConfidentialClientApplication]:
    if settings.is_sandbox:
        url = sandbox_url(settings)
        return lambda: confidential_app(
            identity.SANDBOX_CLIENT_ID,
            identity.sandbox_client_secret(settings.secret_key),
            oidc_authority=f"{url}/login/{SANDBOX_TENANT}/v2.0",
            verify=str(settings.sandbox_tls[0]),
        )
    client_id, secret, tenant = settings.pc_client_id, settings.pc_client_secret, settings.pc_tenant_id
    if not (client_id and secret and tenant):
        raise Conflict(
            "not_configured",
            "Set PARTNER_CENTER_CLIENT_ID, PARTNER_CENTER_CLIENT_SECRET and "
            "PARTNER_CENTER_TENANT_ID to connect Partner Center.",
        )
    return lambda: confidential_app(client_id, secret, authority=f"{LOGIN}/{tenant}")


def redirect_uri(settings: Settings) -> str:
    return f"{settings.base_url}{identity.CLOUDSEAT_REDIRECT_PATH}"  # registered in the sandbox's app registration


async def start(actor: Principal, settings: Settings) -> str:
    """Begin a sign-in; returns the identity platform's URL to send the admin to."""
    app = await asyncio.to_thread(app_factory(settings))
    flow = await asyncio.to_thread(
        app.initiate_auth_code_flow, [PARTNER_CENTER_SCOPE], redirect_uri=redirect_uri(settings)
    )
    await (
        PartnerCenterAuthFlow.delete().where(PartnerCenterAuthFlow.created_at < clock.real_now() - FLOW_LIFETIME).run()
    )
    await PartnerCenterAuthFlow.insert(
        PartnerCenterAuthFlow(
            state=flow["state"], flow=json.dumps(flow), user_id=actor.user_id, created_at=clock.real_now()
        )
    ).run()
    return str(flow["auth_uri"])


async def finish(actor: Principal, settings: Settings, reply: dict[str, str]) -> dict:
    """The callback: redeem the code (PKCE checked by msal), require MFA, keep the refresh token encrypted."""
    # one statement, so a sign-in's flow is redeemed once even when its callback arrives twice
    rows = await (
        PartnerCenterAuthFlow.delete()
        .where(
            (PartnerCenterAuthFlow.state == reply.get("state", ""))
            & (PartnerCenterAuthFlow.user_id == actor.user_id)
            & (PartnerCenterAuthFlow.created_at > clock.real_now() - FLOW_LIFETIME)
        )
        .returning(PartnerCenterAuthFlow.flow)
        .run()
    )
    if not rows:
        raise Conflict("sign_in_expired", "This sign-in expired or was started by someone else. Start again.")
    if reply.get("error"):
        raise Conflict("sign_in_failed", f"The sign-in failed: {reply.get('error_description') or reply['error']}")
    flow = json.loads(rows[0]["flow"]) if isinstance(rows[0]["flow"], str) else rows[0]["flow"]
    app = await asyncio.to_thread(app_factory(settings))
    result = await asyncio.to_thread(app.acquire_token_by_auth_code_flow, flow, reply)
    if "refresh_token" not in result:
        raise Conflict("sign_in_failed", f"The sign-in failed: {result.get('error_description') or result}")
    claims = result.get("id_token_claims", {})
    if "mfa" not in claims.get("amr", []):
        raise Conflict("mfa_required", MFA_MISSING)
    user_name = str(claims.get("preferred_username") or claims.get("upn") or "")
    tenant = str(claims.get("tid", ""))
    async with db.transaction():
        connection = PartnerCenterConnection(
            id=1,
            user_name=user_name,
            tenant_id=tenant,
            refresh_token_enc=encrypt(settings.secret_key, result["refresh_token"]),
            connected_by=actor.user_id,
            connected_at=clock.now(),
        )
        await (
            PartnerCenterConnection.insert(connection)
            .on_conflict(target=PartnerCenterConnection.id, action="DO UPDATE", values=CONNECTION_FIELDS)
            .run()
        )
        await audit.record(
            actor, "partner_center", "connection", "connected", after={"user_name": user_name, "tenant_id": tenant}
        )
    return {"user_name": user_name, "tenant_id": tenant}


async def current() -> dict | None:
    # the table holds one row at most (CHECK id = 1)
    return await (
        PartnerCenterConnection.select(
            PartnerCenterConnection.user_name,
            PartnerCenterConnection.tenant_id,
            PartnerCenterConnection.connected_at,
            PartnerCenterConnection.connected_by,
        )
        .first()
        .run()
    )


async def user_tokens(settings: Settings) -> AppUserTokens | None:
    """App + user tokens from the stored connection, or None when nobody has connected yet."""
    row = await PartnerCenterConnection.select(PartnerCenterConnection.refresh_token_enc).first().run()
    if row is None:
        return None
    try:
        refresh_token = decrypt(settings.secret_key, row["refresh_token_enc"])
    except InvalidToken:
        return None  # SECRET_KEY changed: the admin must connect again
    return AppUserTokens(app_factory(settings), refresh_token)


async def connect_sandbox(settings: Settings, actor: Principal) -> None:
    """Sandbox mode only: connect the sandbox's admin agent as if they had signed in with MFA, so a fresh demo
    syncs its catalog without a sign-in first. Live mode always goes through the sign-in page."""
    if not settings.is_sandbox:
        raise RuntimeError("Only the sandbox Partner Center can be connected without a sign-in.")
    if await current() is not None:
        return
    refresh_token = await identity.issue_refresh_token(identity.SANDBOX_CLIENT_ID, identity.SANDBOX_AGENT, mfa=True)
    connection = PartnerCenterConnection(
        id=1,
        user_name=identity.SANDBOX_AGENT,
        tenant_id=SANDBOX_TENANT,
        refresh_token_enc=encrypt(settings.secret_key, refresh_token),
        connected_by=actor.user_id,
        connected_at=clock.now(),
    )
    await (
        PartnerCenterConnection.insert(connection)
        .on_conflict(target=PartnerCenterConnection.id, action="DO NOTHING")
        .run()
    )
