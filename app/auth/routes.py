"""Sign-in pages, set-password links, and the profile page with API tokens."""

from __future__ import annotations

import uuid

from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from app.accounts.rules import ROLE_LABELS, Principal
from app.auth import rules, service
from app.config import Settings
from app.errors import Invalid, NotFound, TooManyAttempts, Unauthorized
from app.web.auth import SESSION_COOKIE, client_ip, provide_me, signed_in
from app.web.render import redirect, render


@get("/login", name="login", exclude_from_auth=True)
async def login_page(request: Request, next: FromQuery[str] = "/") -> Response:
    if request.user is not None:
        return redirect(request, rules.safe_next(next))
    return render(request, "auth/login.html", {"next": rules.safe_next(next), "values": {}, "error": None})


@post("/login", name="login_submit")
async def login_submit(request: Request, settings: NamedDependency[Settings]) -> Response:
    form = await request.form()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    target = rules.safe_next(str(form.get("next", "/")))
    try:
        secret, _ = await service.login(
            email, password, client_ip(request, settings.trusted_proxies), request.headers.get("user-agent", "")
        )
    except (Unauthorized, TooManyAttempts) as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 401
        return render(
            request,
            "auth/login.html",
            {"next": target, "values": {"email": email}, "error": exc.message},
            block="login_form",
            status_code=status,
        )
    response = redirect(request, target)
    response.set_cookie(
        Cookie(
            key=SESSION_COOKIE,
            value=secret,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/",
            max_age=int(rules.SESSION_LIFETIME.total_seconds()),
        )
    )
    return response


@post("/logout", name="logout")
async def logout(request: Request) -> Response:
    if secret := request.cookies.get(SESSION_COOKIE):
        await service.logout(secret)
    response = redirect(request, request.url_for("login"))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@get("/set-password/{secret:str}", name="set_password")
async def set_password_page(request: Request, secret: FromPath[str]) -> Response:
    user = await service.password_link_user(secret)
    return render(
        request,
        "auth/set_password.html",
        {"user": user, "secret": secret, "errors": {}},
        status_code=200 if user else 404,
    )


@post("/set-password/{secret:str}", name="set_password_submit")
async def set_password_submit(request: Request, secret: FromPath[str]) -> Response:
    form = await request.form()
    try:
        await service.set_password(secret, str(form.get("password", "")), str(form.get("confirm", "")))
    except Invalid as exc:
        user = await service.password_link_user(secret)
        return render(
            request,
            "auth/set_password.html",
            {"user": user, "secret": secret, "errors": exc.errors},
            block="set_password_form",
            status_code=422,
        )
    except NotFound:
        return render(
            request, "auth/set_password.html", {"user": None, "secret": secret, "errors": {}}, status_code=404
        )
    return redirect(request, request.url_for("login") + "?password_set=1")


async def _tokens_context(me: NamedDependency[Principal], **extra: object) -> dict:
    return {
        "tokens": await service.list_tokens(me),
        "new_token": None,
        "token_error": None,
        "role_labels": ROLE_LABELS,
        **extra,
    }


@get("/profile", name="profile")
async def profile(request: Request, me: NamedDependency[Principal]) -> Response:
    return render(request, "auth/profile.html", await _tokens_context(me))


@post("/profile/tokens", name="token_create")
async def token_create(request: Request, me: NamedDependency[Principal]) -> Response:
    name = str((await request.form()).get("name", ""))
    try:
        token, _ = await service.create_token(me, name)
    except Invalid as exc:
        return render(
            request,
            "auth/profile.html",
            await _tokens_context(me, token_error=exc.message),
            block="tokens",
            status_code=422,
        )
    return render(request, "auth/profile.html", await _tokens_context(me, new_token=token), block="tokens")


@post("/profile/tokens/{token_id:uuid}/revoke", name="token_revoke")
async def token_revoke(request: Request, me: NamedDependency[Principal], token_id: FromPath[uuid.UUID]) -> Response:
    await service.revoke_token(me, token_id)
    return render(request, "auth/profile.html", await _tokens_context(me), block="tokens")


public_router = Router(
    path="/",
    route_handlers=[login_page, login_submit, logout, set_password_page, set_password_submit],
    include_in_schema=False,
)
router = Router(
    path="/",
    route_handlers=[profile, token_create, token_revoke],
    guards=[signed_in],
    dependencies={"me": Provide(provide_me, sync_to_thread=False)},
    include_in_schema=False,
)
