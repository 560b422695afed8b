"""The operation answers (API.md Conventions): a change that goes to Microsoft answers 202 with its queued
operation, which `GET /operations/{id}` follows."""

from __future__ import annotations

import uuid
from typing import Literal

from app.operations.service import operation_json
from app.web.answers import DateTimeText
from app.web.schemas import Answer, answer

OperationStatus = Literal["queued", "running", "succeeded", "failed"]


class Operation(Answer):
    id: uuid.UUID
    kind: str
    status: OperationStatus
    error: str | None
    created_at: DateTimeText
    updated_at: DateTimeText


class OperationAnswer(Answer):
    """The 202 of a change queued for Microsoft."""

    operation: Operation


def operation_answer(row: dict) -> OperationAnswer:
    """`{"operation": ...}` of an operations row."""
    return answer(OperationAnswer, {"operation": operation_json(row)})
