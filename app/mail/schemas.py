"""The sandbox outbox's answer (API.md Sandbox, `GET /sandbox/mail`), in the order app/mail/api.py writes it."""

from __future__ import annotations

import uuid
from typing import Literal

from app.web.answers import DateTimeText
from app.web.schemas import Answer


class MailAnswer(Answer):
    """A mail the app sent (or queued): `attachments` are the files' names."""

    id: uuid.UUID
    to: str
    subject: str
    body: str
    attachments: list[str]
    status: Literal["queued", "sent", "failed"]
    created_at: DateTimeText


class MailList(Answer):
    items: list[MailAnswer]
    next: str | None
