"""Home page per role, the admin outbox page, and the health check."""

from __future__ import annotations

from litestar import Request, Response, Router, get
from litestar.di import NamedDependency, Provide

from app.accounts import service as accounts
from app.accounts.rules import Principal
from app.jobs import queue
from app.mail import service as mail
from app.web.auth import csp_admin_only, provide_me, signed_in
from app.web.render import render


@get("/", name="home")
async def home(request: Request, me: NamedDependency[Principal]) -> Response:
    context: dict[str, object] = {"figures": await accounts.figures(me)}
    if me.account_id:
        context["account"] = await accounts.get_account(me, me.account_id)
    if me.role == "csp_admin":
        context["failed_jobs"] = await queue.failed_jobs(limit=5)
    return render(request, "home/home.html", context)


@get("/admin/outbox", name="outbox", guards=[csp_admin_only])
async def outbox(request: Request) -> Response:
    return render(request, "admin/outbox.html", {"mails": await mail.outbox(limit=200)})


@get("/healthz", name="healthz", exclude_from_auth=True, include_in_schema=False)
async def healthz() -> dict:
    return {"status": "ok"}


router = Router(
    path="/",
    route_handlers=[home, outbox],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    include_in_schema=False,
)
