from __future__ import annotations

import uuid

from app.config import Settings
from app.mail import service


async def deliver(payload: dict, settings: Settings) -> None:
    await service.deliver(uuid.UUID(payload["mail_id"]), settings)


HANDLERS = {service.DELIVER_JOB: deliver}
