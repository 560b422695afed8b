"""The sandbox's Microsoft identity platform: OpenID discovery, sign-in with MFA, and tokens.

msal talks to it for real (its `oidc_authority`), so the client's token code is the code that runs
against login.microsoftonline.com in live mode. Tokens are JWTs signed with a key derived from
SECRET_KEY; their lifetimes use real time (msal checks them against the machine's clock).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt

from app import db
from app.partner_center.sandbox.errors import (
    APP_ONLY_NOT_SUPPORTED,
    INVALID_TOKEN,
    MFA_REQUIRED,
    PartnerCenterFault,
)

PARTNER_CENTER_AUDIENCE = "https://api.partnercenter.microsoft.com"
PRICING_AUDIENCE = "https://api.partner.microsoft.com"  # price sheets
GRAPH_AUDIENCE = "https://graph.microsoft.com"  # GDAP relationships
AUDIENCES = (PARTNER_CENTER_AUDIENCE, PRICING_AUDIENCE, GRAPH_AUDIENCE)
SANDBOX_CLIENT_ID = "5f8b6a3c-0c1e-4e57-9b3a-c10d5ea70001"
SANDBOX_AGENT = "admin@sandboxpartner.onmicrosoft.com"  # the admin agent the demo connects as
# where Cloudseat's sign-in returns, under its base URL: the redirect URI its app registration lists
CLOUDSEAT_REDIRECT_PATH = "/admin/partner-center/callback"
ACCESS_TOKEN_SECONDS = 3600
CODE_LIFETIME = timedelta(minutes=10)


def signing_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"cloudseat-sandbox-identity", hashlib.sha256).digest()


def sandbox_client_secret(secret_key: str) -> str:
    """The secret of the app registration the sandbox ships for Cloudseat (both sides know SECRET_KEY)."""
    return (
        base64.urlsafe_b64encode(hmac.new(secret_key.encode(), b"cloudseat-sandbox-client", hashlib.sha256).digest())
        .decode()
        .rstrip("=")
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def openid_configuration(issuer_base: str, tenant: str) -> dict:
    """Discovery for msal. The sign-in page is the sandbox's too, on its own origin like Microsoft's (a browser
    meets its self-signed certificate there, as it does on the GDAP approval page)."""
    authority = f"{issuer_base}/{tenant}"
    return {
        "issuer": f"{authority}/v2.0",
        "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
        "token_endpoint": f"{authority}/oauth2/v2.0/token",
        "jwks_uri": f"{authority}/discovery/v2.0/keys",
        "response_types_supported": ["code", "id_token", "code id_token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["HS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "tenant_region_scope": "WW",
    }


async def ensure_app(secret_key: str, redirect_uris: list[str]) -> None:
    """Cloudseat's app registration: its secret and its redirect URIs, the only places a sign-in may send a code
    (as in Entra, the registration follows the deployment: a new base URL replaces the old one)."""
    await db.execute(
        "INSERT INTO pcs_apps (client_id, secret_hash, name, redirect_uris) VALUES ($1, $2, 'Cloudseat', $3::jsonb) "
        "ON CONFLICT (client_id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, "
        "redirect_uris = EXCLUDED.redirect_uris",
        SANDBOX_CLIENT_ID,
        _digest(sandbox_client_secret(secret_key)),
        json.dumps(redirect_uris),
    )


async def check_sign_in(client_id: str, redirect_uri: str, tenant: str) -> None:
    """The authorize endpoint's first check, as Microsoft's: a known app, and a redirect URI that is exactly one
    registered for it. Otherwise an error page and no code: a code sent anywhere else could be redeemed by
    whoever owns that address."""
    rows = await db.fetch("SELECT redirect_uris FROM pcs_apps WHERE client_id = $1", client_id)
    if not rows:
        raise OAuthError(
            "unauthorized_client",
            f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication request to the wrong "
            "tenant.",
        )
    registered = rows[0]["redirect_uris"]
    if redirect_uri not in (json.loads(registered) if isinstance(registered, str) else registered):
        raise OAuthError(
            "invalid_request",
            f"AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
            f"URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the request "
            "matches one added to your application in the Azure portal. Navigate to "
            "https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
        )


async def _check_client(client_id: str, client_secret: str) -> None:
    stored = await db.fetchval("SELECT secret_hash FROM pcs_apps WHERE client_id = $1", client_id)
    if stored is None or not hmac.compare_digest(str(stored), _digest(client_secret)):
        raise OAuthError("invalid_client", "AADSTS7000215: Invalid client secret provided.", 401)


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict:
        codes = re.match(r"AADSTS(\d+)", self.description)
        return {
            "error": self.error,
            "error_description": self.description,
            "error_codes": [int(codes.group(1))] if codes else [],
            "timestamp": datetime.now(UTC).isoformat(),
        }


async def create_code(
    *,
    tenant: str,
    client_id: str,
    redirect_uri: str,
    code_challenge: str | None,
    nonce: str | None,
    user_name: str,
    mfa: bool,
    scope: str,
) -> str:
    await check_sign_in(client_id, redirect_uri, tenant)
    code = secrets.token_urlsafe(32)
    await db.execute(
        "INSERT INTO pcs_auth_codes (code_hash, client_id, redirect_uri, code_challenge, nonce, "
        "user_name, mfa, scope, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        _digest(code),
        client_id,
        redirect_uri,
        code_challenge,
        nonce,
        user_name,
        mfa,
        scope,
        datetime.now(UTC) + CODE_LIFETIME,
    )
    return code


def requested_audience(scope: str) -> str:
    """The resource a token request names in its scopes ("https://api.partner.microsoft.com/.default openid");
    Partner Center when it names none of the three."""
    for item in scope.split():
        resource = item.rsplit("/", 1)[0]
        if resource in AUDIENCES:
            return resource
    return PARTNER_CENTER_AUDIENCE


def audience_for(path: str) -> str:
    """The audience a sandbox call must carry, as Microsoft's hosts require."""
    if path.startswith("/v1.0/sales/pricesheets"):
        return PRICING_AUDIENCE
    if path.startswith("/v1.0/tenantRelationships/"):
        return GRAPH_AUDIENCE
    return PARTNER_CENTER_AUDIENCE


def _tokens(
    signing: bytes,
    tenant: str,
    issuer: str,
    client_id: str,
    user_name: str | None,
    mfa: bool,
    nonce: str | None = None,
    audience: str = PARTNER_CENTER_AUDIENCE,
) -> dict:
    now = int(time.time())
    claims = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{tenant}/",
        "iat": now,
        "nbf": now,
        "exp": now + ACCESS_TOKEN_SECONDS,
        "tid": tenant,
        "appid": client_id,
        "ver": "1.0",
        "uti": uuid.uuid4().hex,
    }
    if user_name:
        claims.update(
            upn=user_name,
            name=user_name.split("@")[0],
            idtyp="user",
            amr=["pwd", "mfa"] if mfa else ["pwd"],
            scp="user_impersonation",
        )
    else:
        claims.update(idtyp="app", roles=[])
    response = {
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
        "ext_expires_in": ACCESS_TOKEN_SECONDS,
        "access_token": jwt.encode(claims, signing, algorithm="HS256"),
        "scope": f"{audience}/user_impersonation" if user_name else f"{audience}/.default",
    }
    if user_name:
        id_claims = {
            "aud": client_id,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_TOKEN_SECONDS,
            "tid": tenant,
            "sub": _digest(user_name)[:43],
            "oid": str(uuid.uuid5(uuid.NAMESPACE_DNS, user_name)),
            "preferred_username": user_name,
            "name": user_name.split("@")[0],
            "ver": "2.0",
            "amr": claims["amr"],
        }
        if nonce:
            id_claims["nonce"] = nonce
        response["id_token"] = jwt.encode(id_claims, signing, algorithm="HS256")
        response["client_info"] = (
            base64.urlsafe_b64encode(f'{{"uid":"{id_claims["oid"]}","utid":"{tenant}"}}'.encode()).decode().rstrip("=")
        )
    return response


async def token(form: dict[str, str], *, secret_key: str, tenant: str, issuer: str) -> dict:
    """The token endpoint: client_credentials (app-only), authorization_code (PKCE), refresh_token."""
    grant = form.get("grant_type", "")
    client_id = form.get("client_id", "")
    await _check_client(client_id, form.get("client_secret", ""))
    signing = signing_key(secret_key)
    audience = requested_audience(form.get("scope", ""))
    if grant == "client_credentials":
        return _tokens(signing, tenant, issuer, client_id, None, mfa=False, audience=audience)
    if grant == "authorization_code":
        async with db.transaction():
            rows = await db.fetch(
                "UPDATE pcs_auth_codes SET used_at = now() WHERE code_hash = $1 AND used_at IS NULL "
                "AND expires_at > now() RETURNING *",
                _digest(form.get("code", "")),
            )
            if not rows or rows[0]["client_id"] != client_id or rows[0]["redirect_uri"] != form.get("redirect_uri"):
                raise OAuthError(
                    "invalid_grant", "AADSTS70008: The provided authorization code is invalid or has expired."
                )
            code = rows[0]
            if code["code_challenge"]:
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if not hmac.compare_digest(challenge, code["code_challenge"]):
                    raise OAuthError(
                        "invalid_grant", "AADSTS501481: The Code_Verifier does not match the code_challenge."
                    )
            response = _tokens(
                signing, tenant, issuer, client_id, code["user_name"], code["mfa"], code["nonce"], audience
            )
            response["refresh_token"] = await issue_refresh_token(client_id, code["user_name"], code["mfa"])
        return response
    if grant == "refresh_token":
        rows = await db.fetch(
            "SELECT user_name, mfa FROM pcs_refresh_tokens "
            "WHERE token_hash = $1 AND client_id = $2 AND revoked_at IS NULL",
            _digest(form.get("refresh_token", "")),
            client_id,
        )
        if not rows:
            raise OAuthError("invalid_grant", "AADSTS700082: The refresh token has expired or is invalid.")
        response = _tokens(signing, tenant, issuer, client_id, rows[0]["user_name"], rows[0]["mfa"], audience=audience)
        response["refresh_token"] = form["refresh_token"]  # sliding validity: the same token stays valid
        return response
    raise OAuthError("unsupported_grant_type", f"AADSTS70003: The grant type {grant!r} is not supported.")


async def issue_refresh_token(client_id: str, user_name: str, mfa: bool) -> str:
    value = secrets.token_urlsafe(48)
    await db.execute(
        "INSERT INTO pcs_refresh_tokens (token_hash, client_id, user_name, mfa, created_at) "
        "VALUES ($1, $2, $3, $4, now())",
        _digest(value),
        client_id,
        user_name,
        mfa,
    )
    return value


def caller(
    authorization: str | None, secret_key: str, *, user_required: bool, audience: str = PARTNER_CENTER_AUDIENCE
) -> dict:
    """Check the bearer token of a Partner Center call: issued for `audience` (the host's own); app+user calls
    must carry MFA (facts 2.1)."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise PartnerCenterFault(401, INVALID_TOKEN[0], "Authorization header is missing or malformed.")
    try:
        claims = jwt.decode(value, signing_key(secret_key), algorithms=["HS256"], audience=audience)
    except jwt.PyJWTError as exc:
        raise PartnerCenterFault(401, INVALID_TOKEN[0], f"{INVALID_TOKEN[1]} ({exc})") from None
    if claims.get("idtyp") == "user" and "mfa" not in claims.get("amr", []):
        raise PartnerCenterFault(401, *MFA_REQUIRED)
    if user_required and claims.get("idtyp") != "user":
        raise PartnerCenterFault(403, *APP_ONLY_NOT_SUPPORTED)
    return claims
