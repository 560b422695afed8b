"""Maps every error to what the caller understands: the API error body, a page, or an htmx alert."""

from __future__ import annotations

import logging
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.response import Redirect

from app.errors import AppError, Conflict, Forbidden, Malformed, NotFound, Unauthorized
from app.money import NoRate
from app.web.render import is_htmx, render
from app.web.schemas import refusal

log = logging.getLogger(__name__)

_CODES = {
    400: "malformed_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def api_error(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    return Response({"error": error}, status_code=status, headers=headers)


def _page_error(request: Request, status: int, message: str) -> Response:
    if is_htmx(request):
        return render(
            request,
            "error.html",
            {"status": status, "message": message},
            block="alert",
            status_code=status,
            force_block=True,
            headers={"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"},
        )
    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


def app_error_handler(request: Request, exc: AppError) -> Response:
    if is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return api_error(exc.status_code, exc.code, exc.message, exc.field, headers)
    if isinstance(exc, Unauthorized):
        target = "/login?next=" + quote(request.url.path)
        if is_htmx(request):
            return Response("", status_code=401, headers={"HX-Redirect": target})
        return Redirect(target, status_code=303)
    return _page_error(request, exc.status_code, exc.message)


def no_rate_handler(request: Request, exc: NoRate) -> Response:
    """A change or an order that would bill across currencies without a rate in force (NCE_RULES 2)."""
    return app_error_handler(request, Conflict("no_exchange_rate", str(exc)))


def _validation_error(exc: ValidationException) -> AppError:
    """A query or body Litestar refused: read like the typed edge's own refusals (app/web/schemas.py)."""
    errors = [e for e in exc.extra if isinstance(e, dict)] if isinstance(exc.extra, list) else []
    if not errors:
        return Malformed("The request body is not valid JSON.")
    key = str(errors[0].get("key") or "")
    where = f" - at `$.{key}`" if key not in ("", "data") else ""
    return refusal(f"{errors[0].get('message') or 'Invalid value'}{where}")


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    """Litestar's own errors: unknown routes, malformed bodies, CSRF refusals."""
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException):
        return app_error_handler(request, Unauthorized())
    if isinstance(exc, NotFoundException):
        return app_error_handler(request, NotFound())
    if isinstance(exc, ValidationException) and is_api(request):
        return app_error_handler(request, _validation_error(exc))
    message = exc.detail if status < 500 else "Something went wrong on our side."
    if isinstance(exc, ValidationException):
        message = (
            "The request is malformed: "
            + "; ".join(
                f"{e.get('key') or 'body'}: {e.get('message')}" for e in (exc.extra or []) if isinstance(e, dict)
            )
            if exc.extra
            else "The request body is not valid JSON."
        )
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        message = "Your form expired. Reload the page and try again."
    if is_api(request):
        return api_error(status, _CODES.get(status, "error"), message, headers=getattr(exc, "headers", None))
    return _page_error(request, status, message)


def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if is_api(request):
        return api_error(500, "internal_error", "Something went wrong on our side.")
    return _page_error(request, 500, "Something went wrong on our side. It has been logged.")


EXCEPTION_HANDLERS = {
    AppError: app_error_handler,
    NoRate: no_rate_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}

__all__ = ["EXCEPTION_HANDLERS", "Forbidden", "api_error"]
