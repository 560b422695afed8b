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
    """429: wait `retry_after` seconds (Microsoft's Retry-After), then try again."""

    retry_after: float | None = None


class ServiceError(PartnerCenterError):
    """5xx or a timeout that outlived every retry."""


def error_for(
    status: int, body: object, request_id: str, correlation_id: str, retry_after: float | None = None
) -> PartnerCenterError:
    code: int | str | None = None
    description = ""
    data: list = []
    if isinstance(body, dict) and isinstance(body.get("error"), dict):  # Microsoft Graph's shape (GDAP calls)
        body = {"code": body["error"].get("code"), "description": body["error"].get("message")}
    if isinstance(body, dict):
        code = body.get("code", body.get("statusCode"))
        description = str(body.get("description") or body.get("message") or "")
        data = body.get("data") or []
    if status == 429:
        cls: type[PartnerCenterError] = ThrottledError
        description = description or "Too many requests."
    elif status >= 500:
        cls, description = ServiceError, description or "Partner Center failed."
    elif status in (401, 403) and code in (None, 900420, 900421, 900329, 401, 403):
        cls = AuthenticationError
    elif status == 404:
        cls = NotFoundError
    else:
        cls = BusinessRuleError
    error = cls(status, code, description, data=data, request_id=request_id, correlation_id=correlation_id)
    if isinstance(error, ThrottledError):
        error.retry_after = retry_after
    return error
