"""Partner Center's errors as typed exceptions, carrying Microsoft's code and description."""

from __future__ import annotations


class PartnerCenterError(Exception):
    """A refused or failed Partner Center call (`code` is Microsoft's: 800090, 13605, 60012, ...)."""

    def __init__(
        self,
        status: int,
        code: int | str | None,
        description: str,
        *,
        data: list | None = None,
        request_id: str = "",
        correlation_id: str = "",
    ) -> None:
        super().__init__(f"Partner Center {status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.data = data or []
        self.request_id = request_id
        self.correlation_id = correlation_id

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500


class BusinessRuleError(PartnerCenterError):
    """4xx: Microsoft refused the change; retrying the same call cannot succeed."""


class NotFoundError(BusinessRuleError):
    pass


class AuthenticationError(PartnerCenterError):
    """401/403: the token is missing, expired, lacks MFA, or app-only where app+user is needed."""


class ThrottledError(PartnerCenterError):
    def __init__(self, *args: object, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServiceError(PartnerCenterError):
    """5xx or a timeout that outlived every retry."""


def error_for(
    status: int, body: object, request_id: str, correlation_id: str, retry_after: float | None = None
) -> PartnerCenterError:
    code: int | str | None = None
    description = ""
    data: list = []
    if isinstance(body, dict):
        code = body.get("code", body.get("statusCode"))
        description = str(body.get("description") or body.get("message") or "")
        data = body.get("data") or []
    kwargs = {"data": data, "request_id": request_id, "correlation_id": correlation_id}
    if status == 429:
        return ThrottledError(status, code, description or "Too many requests.", retry_after=retry_after, **kwargs)
    if status >= 500:
        return ServiceError(status, code, description or "Partner Center failed.", **kwargs)
    if status in (401, 403) and code in (None, 900420, 900421, 900329, 401, 403):
        return AuthenticationError(status, code, description, **kwargs)
    if status == 404:
        return NotFoundError(status, code, description, **kwargs)
    return BusinessRuleError(status, code, description, **kwargs)
