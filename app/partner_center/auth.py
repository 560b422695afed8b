"""Tokens for Partner Center through msal: the Secure Application Model (app + user refresh token, MFA)
and app-only where Microsoft allows it (facts 2.1). msal is synchronous, so its calls run in a thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msal

# the identity platform's authority (live), and the partner tenant the sandbox's admin agent signs in to
LOGIN = "https://login.microsoftonline.com"
SANDBOX_TENANT = "sandboxpartner.onmicrosoft.com"
PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/.default"
# price sheets live on another host, and GDAP in Microsoft Graph: each wants a token for its own audience (facts 2.1)
PRICING_SCOPE = "https://api.partner.microsoft.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
REFRESH_MARGIN_SECONDS = 300


class TokenError(Exception):
    """msal could not get a token; `error` is the identity platform's code (invalid_grant, ...)."""

    def __init__(self, result: dict) -> None:
        super().__init__(f"{result.get('error')}: {result.get('error_description')}")
        self.error = result.get("error")
        self.description = result.get("error_description")


def confidential_app(
    client_id: str,
    client_secret: str,
    *,
    authority: str | None = None,
    oidc_authority: str | None = None,
    verify: str | bool = True,
) -> msal.ConfidentialClientApplication:
    """Live: authority https://login.microsoftonline.com/<partner tenant>; sandbox: its OIDC authority, whose
    self-signed certificate is passed as `verify`."""
    http_client = None
    if isinstance(verify, str):
        import requests

        # requests lets REQUESTS_CA_BUNDLE override a session's `verify`; the sandbox's own certificate must win
        http_client = requests.Session()
        http_client.trust_env = False
        http_client.verify = verify
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=client_secret,
        authority=authority,
        oidc_authority=oidc_authority,
        verify=verify,
        http_client=http_client,
    )


AppFactory = Callable[[], msal.ConfidentialClientApplication]


class _LazyApp:
    """msal's constructor fetches the OpenID configuration with blocking I/O: build it off the event loop,
    once."""

    def __init__(self, factory: AppFactory) -> None:
        self._factory = factory
        self._app: msal.ConfidentialClientApplication | None = None

    async def get(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            self._app = await asyncio.to_thread(self._factory)
        return self._app


@dataclass
class _Cached:
    token: str = ""
    expires_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def fresh(self) -> bool:
        return bool(self.token) and time.time() < self.expires_at - REFRESH_MARGIN_SECONDS


class _Tokens:
    """Caches an access token per audience and refreshes it a few minutes before it expires."""

    def __init__(self, app: AppFactory) -> None:
        self._app = _LazyApp(app)
        self._cached: dict[str, _Cached] = {}

    def _acquire(self, app: msal.ConfidentialClientApplication, scope: str) -> dict:
        raise NotImplementedError

    async def access_token(self, scope: str = PARTNER_CENTER_SCOPE) -> str:
        cached = self._cached.setdefault(scope, _Cached())
        async with cached.lock:
            if not cached.fresh():
                result = await asyncio.to_thread(self._acquire, await self._app.get(), scope)
                if "access_token" not in result:
                    raise TokenError(result)
                cached.token = result["access_token"]
                cached.expires_at = time.time() + int(result.get("expires_in", 3600))
            return cached.token


class AppUserTokens(_Tokens):
    """App + user tokens from a stored refresh token (Secure Application Model)."""

    def __init__(self, app: AppFactory, refresh_token: str) -> None:
        super().__init__(app)
        self.refresh_token = refresh_token

    def _acquire(self, app: msal.ConfidentialClientApplication, scope: str) -> dict:
        # one refresh token serves every audience the app was consented for
        result = app.acquire_token_by_refresh_token(self.refresh_token, [scope])
        self.refresh_token = result.get("refresh_token", self.refresh_token)
        return result


class AppOnlyTokens(_Tokens):
    """Client-credential tokens: only for the calls Microsoft allows app-only."""

    def _acquire(self, app: msal.ConfidentialClientApplication, scope: str) -> dict:
        return app.acquire_token_for_client([scope])
