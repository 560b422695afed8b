"""The operation answer (API.md Conventions): a change that goes to Microsoft runs on the job queue."""

from __future__ import annotations

from typing import Literal

from app.web.schemas import Answer


class OperationAnswer(Answer):
    """app/operations/service.py operation_json; `error` is the reason a failed operation failed."""

    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    error: str | None
    created_at: str
    updated_at: str
