"""One error taxonomy for the whole app; app/web/errors.py maps it to API bodies, pages and fragments."""

from __future__ import annotations


class AppError(Exception):
    status_code = 400
    code = "bad_request"
    field: str | None = None  # the part of the request it concerns

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class Malformed(AppError):
    """The request is not the shape the API takes at all (e.g. a body that is not a JSON object)."""

    status_code = 400
    code = "malformed_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "Sign in to continue.") -> None:
        super().__init__(message)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"

    def __init__(self, message: str = "Your role does not allow this.") -> None:
        super().__init__(message)


class NotFound(AppError):
    status_code = 404
    code = "not_found"

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message)


class Conflict(AppError):
    """A business rule refused the change; `message` is the exact text of NCE_RULES.md."""

    status_code = 409
    code = "conflict"

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message, code)
        self.field = field  # "lines[2]": the order line a rule refused


class Invalid(AppError):
    """One or more fields are invalid. The API reports the first; forms show every one."""

    status_code = 422
    code = "invalid"

    def __init__(self, errors: dict[str, str]) -> None:
        if not errors:
            raise ValueError("Invalid needs at least one field error")
        self.errors = dict(errors)
        self.field, message = next(iter(self.errors.items()))
        super().__init__(message)


class Unstorable(AppError):
    """A value the database refused where no single field is known (the typed edge names fields first)."""

    status_code = 422
    code = "invalid"


class Upstream(AppError):
    """Partner Center (or another service we depend on) failed."""

    status_code = 502
    code = "upstream_error"


class TooManyAttempts(AppError):
    status_code = 429
    code = "too_many_attempts"
