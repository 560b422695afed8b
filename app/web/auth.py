"""Who is calling: a page session cookie, or a bearer token on /api. Guards for routes."""

from __future__ import annotations

import ipaddress
from functools import cache

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.accounts.rules import Principal
from app.auth import service as auth
from app.errors import Forbidden, Unauthorized

SESSION_COOKIE = "cloudseat_session"
API_PREFIX = "/api/"


class IdentifyCaller(ASGIMiddleware):
    """Sets scope["user"] to the Principal or None. It never refuses: guards do, per route."""

    scopes = (ScopeType.HTTP,)
    exclude_path_pattern = ("^/static/",)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal: Principal | None = None
        headers = dict(scope.get("headers") or [])
        if scope["path"].startswith(API_PREFIX):
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                principal = await auth.principal_for_token(token.strip())
        else:
            cookie = ASGIConnection(scope).cookies.get(SESSION_COOKIE)
            if cookie:
                principal = await auth.principal_for_session(cookie)
        scope["user"] = principal
        await next_app(scope, receive, send)


def signed_in(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.user is None:
        raise Unauthorized()


def csp_admin_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    signed_in(connection, _)
    if connection.user.role != "csp_admin":
        raise Forbidden("Only CSP admins can do this.")


def provide_me(request: ASGIConnection) -> Principal:
    return request.user


@cache
def _networks(trusted_proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies)


def _host(entry: str) -> str:
    """An X-Forwarded-For entry without its port: "1.2.3.4:5678" -> "1.2.3.4", "[::1]:80" -> "::1"."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    return entry.partition(":")[0] if entry.count(":") == 1 else entry


def _trusted(host: str, trusted_proxies: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(trusted_proxies))


def forwarded_client(peer: str, forwarded_for: list[str], trusted_proxies: tuple[str, ...]) -> str:
    """The client's address: the peer's, unless the peer is one of our proxies (CLOUDSEAT_TRUSTED_PROXIES).

    Then it is the right-most X-Forwarded-For entry that is not a proxy of ours: each proxy appends the address it
    was called from, and everything left of our first proxy's entry is whatever the client wrote. Under uvicorn
    (given the same proxies) the peer is already that client, which is not a proxy, so nothing is read twice.
    """
    if not _trusted(peer, trusted_proxies):
        return peer
    entries = [_host(entry) for value in forwarded_for for entry in value.split(",") if entry.strip()]
    for host in reversed(entries):
        if not _trusted(host, trusted_proxies):
            return host
    return entries[0] if entries else peer  # a chain of our own proxies only


def client_ip(connection: ASGIConnection, trusted_proxies: tuple[str, ...]) -> str:
    """The address sign-in throttling counts."""
    peer = connection.client.host if connection.client else "unknown"
    return forwarded_client(peer, connection.headers.getall("x-forwarded-for", []), trusted_proxies)
