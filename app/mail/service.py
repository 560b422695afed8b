"""Outgoing mail. Sending is a job: the row is written with the change that caused it and the job
delivers it (to the outbox only in sandbox mode, by SMTP in live mode)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from app import clock, db
from app.config import Settings
from app.jobs import queue
from app.mail.tables import MailAttachment, OutboxMail

DELIVER_JOB = "mail.deliver"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


async def send(
    to: str, subject: str, body: str, files: list[Attachment] | None = None, *, dated: datetime | None = None
) -> uuid.UUID:
    """Write the mail and queue its delivery in the caller's transaction. `dated`: the moment the mail belongs to
    when a moved clock caught up with it (a reminder due days ago), so the outbox lists it in its place."""
    mail_id = uuid.uuid4()
    attachments = [f.filename for f in files or []]
    async with db.transaction():
        await OutboxMail.insert(
            OutboxMail(
                id=mail_id,
                to_address=to,
                subject=subject,
                body=body,
                attachments=attachments or [],
                status="queued",
                created_at=dated or clock.now(),
            )
        ).run()
        for position, file in enumerate(files or []):
            await MailAttachment.insert(
                MailAttachment(
                    mail_id=mail_id,
                    position=position,
                    filename=file.filename,
                    content_type=file.content_type,
                    content=file.content,
                )
            ).run()
        await queue.enqueue(DELIVER_JOB, {"mail_id": str(mail_id)}, dedupe_key=f"mail:{mail_id}")
    return mail_id


async def deliver(mail_id: uuid.UUID, settings: Settings) -> str:
    """Deliver one queued mail; idempotent: a mail already sent is left alone."""
    mail = await OutboxMail.objects().get(OutboxMail.id == mail_id).run()
    if mail is None or mail.status == "sent":
        return "skipped"
    if settings.is_sandbox:
        transport = "outbox"
    else:
        await _send_smtp(mail, settings)
        transport = "smtp"
    await (
        OutboxMail.update({OutboxMail.status: "sent", OutboxMail.transport: transport, OutboxMail.sent_at: clock.now()})
        .where(OutboxMail.id == mail_id)
        .run()
    )
    return transport


async def _send_smtp(mail: OutboxMail, settings: Settings) -> None:
    import aiosmtplib

    if not settings.smtp_host:
        raise RuntimeError("SMTP_HOST is not set: live mode cannot deliver mail")
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message.set_content(mail.body)
    for file in await files_of(mail.id):
        main, _, sub = file.content_type.partition("/")
        message.add_attachment(file.content, maintype=main, subtype=sub, filename=file.filename)
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        start_tls=settings.smtp_starttls,
    )


async def files_of(mail_id: uuid.UUID) -> list[Attachment]:
    rows = (
        await MailAttachment.select(MailAttachment.filename, MailAttachment.content_type, MailAttachment.content)
        .where(MailAttachment.mail_id == mail_id)
        .order_by(MailAttachment.position)
        .run()
    )
    return [Attachment(r["filename"], r["content_type"], bytes(r["content"])) for r in rows]


async def outbox(limit: int = 100, offset: int = 0) -> list[dict]:
    return (
        await OutboxMail.select()
        .order_by(OutboxMail.created_at, ascending=False)
        .limit(limit)
        .offset(offset)
        .output(load_json=True)
        .run()
    )
