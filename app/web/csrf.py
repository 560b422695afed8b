"""CSRF tokens bound to who posts: the signed-in session, or before sign-in a cookie of the browser's own.

Litestar's CSRF middleware checks that the posted token equals the CSRF cookie, and any valid pair passes: a
page that can plant a cookie (a sibling subdomain) sends its own pair along with the victim's session cookie.
Here the token is HMAC(secret key, session id), so only a page of that session can know it; anonymous forms
(the login, a set-password link) are bound the same way to a random cookie set on the browser's first visit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from litestar.connection import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from app.web.auth import SESSION_COOKIE

CSRF_COOKIE = "cloudseat_csrf"  # the browser's pre-session value, not a token
CSRF_HEADER = "x-csrftoken"  # htmx sends it from <body hx-headers>
CSRF_FIELD = "_csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# the message the error handler turns into "Your form expired"
REFUSED = "CSRF token verification failed"


def csrf_token(secret_key: str, session: str | None, browser: str | None) -> str:
    """The one token a form of this session (or, before sign-in, of this browser) may post."""
    binding = f"session:{session}" if session else f"browser:{browser or ''}"
    return hmac.new(secret_key.encode(), f"csrf|{binding}".encode(), hashlib.sha256).hexdigest()


class BoundCSRF(ASGIMiddleware):
    """Refuses a POST whose token is not the one of its session; gives pages their token for `csrf_token()`."""

    scopes = (ScopeType.HTTP,)

    @staticmethod
    def should_bypass_for_scope(scope: Scope) -> bool:
        # bearer-token API calls carry no ambient credentials, so CSRF does not apply to them; the mounted sandbox
        # sees its own path in scope["path"], the server's is in raw_path
        paths = (scope["path"], (scope.get("raw_path") or b"").decode("latin-1"))
        return any(path.startswith(("/api/", "/_sandbox/", "/static/")) for path in paths)

    def __init__(self, secret_key: str, secure_cookies: bool) -> None:
        self.secret_key = secret_key
        self.secure_cookies = secure_cookies

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request = scope["litestar_app"].request_class(scope=scope, receive=receive)
        cookies = request.cookies
        session, browser = cookies.get(SESSION_COOKIE), cookies.get(CSRF_COOKIE)
        first_visit = not session and not browser
        if first_visit:
            browser = secrets.token_urlsafe(32)
        expected = csrf_token(self.secret_key, session, browser)
        # set before refusing too, so the error page's own forms (sign out) carry a token that works
        ScopeState.from_scope(scope).csrf_token = expected
        if first_visit:
            send = self._setting_cookie(send, browser or "")
        if request.method not in SAFE_METHODS:
            given = await self._posted_token(request)
            if first_visit or not given or not hmac.compare_digest(given, expected):
                raise PermissionDeniedException(REFUSED)
        await next_app(scope, receive, send)

    @staticmethod
    async def _posted_token(request: Request) -> str:
        if given := request.headers.get(CSRF_HEADER):
            return given
        if request.content_type[0] in {RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART}:
            # the parsed form is kept on the scope, so the handler reads it again without the body
            return str((await request.form()).get(CSRF_FIELD) or "")
        return ""

    def _setting_cookie(self, send: Send, value: str) -> Send:
        cookie = Cookie(
            key=CSRF_COOKIE, value=value, path="/", httponly=True, samesite="lax", secure=self.secure_cookies
        ).to_header(header="")

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message).add("set-cookie", cookie)
            await send(message)

        return wrapped
