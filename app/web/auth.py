"""Who is calling: a page session cookie, or a bearer token on /api. Guards for routes."""

from __future__ import annotations

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
