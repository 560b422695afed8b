"""One URL, two renderings: the full page, or only the named block when htmx asks for it."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.response import Redirect

FRAGMENT_HEADERS = {"Vary": "HX-Request"}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_fragment(request: Request) -> bool:
    """htmx asked for a part of the page (not a boosted navigation, not a history restore)."""
    return (
        is_htmx(request)
        and request.headers.get("hx-boosted") != "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def render(
    request: Request,
    template_name: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    force_block: bool = False,
) -> Response:
    """Render a page; with `block` and an htmx request (or `force_block`), only that block."""
    env = request.app.template_engine.engine  # type: ignore[union-attr]
    template = env.get_template(template_name)
    ctx = {"request": request, "me": request.scope.get("user"), **(context or {})}
    if block and (force_block or wants_fragment(request)):
        html = "".join(template.blocks[block](template.new_context(ctx)))
    else:
        html = template.render(ctx)
    return Response(
        html,
        media_type=MediaType.HTML,
        status_code=status_code,
        headers={**FRAGMENT_HEADERS, **(headers or {})},
    )


def redirect(request: Request, url: str) -> Response:
    """After a successful POST: a 303 for a plain form, HX-Redirect for htmx."""
    if is_htmx(request):
        return Response("", status_code=200, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


async def form_values(request: Request) -> dict:
    """A posted form's fields, without the CSRF token."""
    form = await request.form()
    return {k: v for k, v in form.items() if k != "_csrf_token"}
