"""Security headers on every response the app sends: pages, fragments, API answers, PDFs, static files, errors
and the mounted Partner Center sandbox.

They are set in a `before_send` hook, which Litestar runs on every message the app sends (route middleware
would miss the 404 and 405 answers the router gives before any route runs). A header a response already
carries is left as it is: the sandbox sets its own policy, for its own pages.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from app.config import Settings

STATIC_PREFIX = "/static/"
SCHEMA_PREFIX = "/schema"

# Stripe.js and its card field (an iframe), and the API the field talks to: Stripe's published CSP needs.
STRIPE_SCRIPTS = ("https://js.stripe.com",)
STRIPE_FRAMES = ("https://js.stripe.com", "https://hooks.stripe.com")
STRIPE_CONNECT = ("https://api.stripe.com",)


def uses_stripe_js(settings: Settings) -> bool:
    """The card form loads Stripe.js only where the Stripe gateway takes payments: live mode with Stripe."""
    return not settings.is_sandbox and bool(settings.stripe_secret_key)


def content_security_policy(*, stripe: bool) -> str:
    """Scripts, styles, fonts and fetches from this origin only: no inline script, style or event attribute,
    no eval, no plugin, no framing. Images may be data: URLs (Swagger UI's icons are).

    No form-action: signing in to Partner Center posts to Cloudseat and is redirected to Microsoft's sign-in
    (or the sandbox's on its https port), and browsers apply form-action to that redirect too.
    """
    scripts = ["'self'", *(STRIPE_SCRIPTS if stripe else ())]
    frames = list(STRIPE_FRAMES) if stripe else ["'none'"]
    connect = ["'self'", *(STRIPE_CONNECT if stripe else ())]
    directives = {
        "default-src": ["'self'"],
        "script-src": scripts,
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": connect,
        "frame-src": frames,
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def security_headers(path: str, policy: str) -> dict[str, str]:
    """The headers for a response to `path`. Static assets may be cached (their names carry their version);
    everything else may hold a signed-in caller's data, so no cache keeps it."""
    headers = {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    if not path.startswith(STATIC_PREFIX):
        headers["Cache-Control"] = "no-store"
    return headers


def add_security_headers(policy: str) -> BeforeMessageSendHookHandler:
    """A before_send hook that adds `security_headers` to each response's start message."""

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in security_headers(scope["path"], policy).items():
            if name not in headers:
                headers[name] = value

    return before_send
