"""Where the sandbox Partner Center answers: what our side of the wire needs to call it, in a module of its own so
the client, the connection and the domains know the address without importing the sandbox's ASGI app."""

from __future__ import annotations

from app.config import Settings

MOUNT_PATH = "/_sandbox/partner-center"


def sandbox_url(settings: Settings) -> str:
    """The sandbox's https address (its own TLS listener): Microsoft and msal speak only https."""
    return f"https://{settings.host}:{settings.sandbox_port}{MOUNT_PATH}"
