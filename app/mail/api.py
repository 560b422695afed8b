"""GET /api/v1/sandbox/mail: the mails the app sent (sandbox mode only; API.md, Sandbox)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from app.config import Settings
from app.errors import NotFound
from app.mail import service


@get("/sandbox/mail", name="api_sandbox_mail")
async def sandbox_mail(settings: NamedDependency[Settings], limit: FromQuery[int] = 100) -> dict:
    if not settings.is_sandbox:
        raise NotFound()
    rows = await service.outbox(limit=max(1, min(limit, 500)))
    return {
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
    }
