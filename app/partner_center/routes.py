"""Admin page: connect Cloudseat to Partner Center and see the connection."""

from __future__ import annotations

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.response import Redirect

from app.accounts.rules import Principal
from app.config import Settings
from app.errors import Conflict
from app.partner_center import connect
from app.web.auth import csp_admin_only, provide_me
from app.web.render import render


async def _page(request: Request, settings: Settings, error: str | None = None, status: int = 200) -> Response:
    context = {
        "connection": await connect.current(),
        "error": error,
        "mode": settings.mode,
        "nav": "partner_center",
        "connected": request.query_params.get("connected") == "1",
    }
    return render(request, "admin/partner_center.html", context, status_code=status)


@get("/admin/partner-center", name="partner_center")
async def partner_center_page(request: Request, settings: NamedDependency[Settings]) -> Response:
    return await _page(request, settings)


@post("/admin/partner-center/connect", name="partner_center_connect")
async def partner_center_connect(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings]
) -> Response:
    try:
        auth_uri = await connect.start(me, settings)
    except Conflict as exc:
        return await _page(request, settings, exc.message, 409)
    if request.headers.get("hx-request") == "true":
        return Response("", headers={"HX-Redirect": auth_uri})
    return Redirect(auth_uri, status_code=303)


@get("/admin/partner-center/callback", name="partner_center_callback")
async def partner_center_callback(
    request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings]
) -> Response:
    reply = {k: str(v) for k, v in request.query_params.items()}
    try:
        await connect.finish(me, settings, reply)
    except Conflict as exc:
        return await _page(request, settings, exc.message, 409)
    return Redirect(request.url_for("partner_center") + "?connected=1", status_code=303)


router = Router(
    path="/",
    route_handlers=[partner_center_page, partner_center_connect, partner_center_callback],
    guards=[csp_admin_only],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    include_in_schema=False,
)
