from __future__ import annotations

from piccolo.columns import JSONB, UUID, Text, Timestamptz
from piccolo.table import Table


class OutboxMail(Table, tablename="mail_outbox"):
    """Every mail the app sends. In sandbox mode the outbox is where mail ends up."""

    id = UUID(primary_key=True)
    to_address = Text()
    subject = Text()
    body = Text()
    attachments = JSONB(default="[]")
    status = Text(default="queued")
    transport = Text(default="")
    error = Text(default="")
    created_at = Timestamptz(default=None)
    sent_at = Timestamptz(null=True, default=None)
