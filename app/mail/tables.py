from __future__ import annotations

from typing import ClassVar

from piccolo.columns import JSONB, UUID, Bytea, ForeignKey, SmallInt, Text, Timestamptz
from piccolo.columns.base import OnDelete
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


class MailAttachment(Table, tablename="mail_attachments"):
    """A mail's files (invoice PDFs), kept apart from the outbox row so listing mail never loads them."""

    # the key is (mail_id, position); Piccolo knows one key column, so write these rows by the whole key
    table_key: ClassVar[tuple[str, ...]] = ("mail_id", "position")
    mail_id = ForeignKey(OutboxMail, primary_key=True, null=False, on_delete=OnDelete.cascade, db_column_name="mail_id")
    position = SmallInt(default=None)
    filename = Text(default=None)
    content_type = Text(default=None)
    content = Bytea(default=None)
