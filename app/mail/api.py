"""GET /api/v1/sandbox/mail: the mails the app sent (sandbox mode only; API.md, Sandbox)."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from app.config import Settings
from app.errors import NotFound
from app.mail import service
from app.mail.schemas import MailList
from app.web.schemas import answer

MailLimit = Annotated[int, QueryParameter(ge=1, le=500)]


@get("/sandbox/mail", name="api_sandbox_mail")
async def sandbox_mail(settings: NamedDependency[Settings], limit: MailLimit = 100) -> MailList:
    if not settings.is_sandbox:
        raise NotFound()
    rows = await service.outbox(limit=limit)
    return answer(
        MailList,
        {
            "items": [
                {
                    "id": str(r["id"]),
                    "to": r["to_address"],
                    "subject": r["subject"],
                    "body": r["body"],
                    "attachments": r["attachments"],
                    "status": r["status"],
                    "created_at": r["created_at"].isoformat().replace("+00:00", "Z"),
                }
                for r in rows
            ],
            "next": None,
        },
    )
