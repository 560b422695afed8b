"""Live mode delivers mail over SMTP: a real SMTP server (aiosmtpd) on loopback receives it."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from aiosmtpd.controller import Controller

from app.mail import service as mail
from app.mail.tables import OutboxMail

pytestmark = pytest.mark.integration


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


async def test_live_mode_sends_by_smtp(tx, settings, smtp_server):
    inbox, port = smtp_server
    live = dataclasses.replace(
        settings,
        mode="live",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        mail_from="Cloudseat <billing@csp.example>",
    )
    mail_id = await mail.send("ann@customer.test", "Your invoice", "Hello Ann")
    assert await mail.deliver(mail_id, live) == "smtp"
    assert len(inbox.messages) == 1
    sender, recipients, content = inbox.messages[0]
    assert (sender, recipients) == ("billing@csp.example", ["ann@customer.test"])
    assert "Subject: Your invoice" in content
    assert "Hello Ann" in content
    row = await OutboxMail.select().where(OutboxMail.id == mail_id).first().run()
    assert (row["status"], row["transport"]) == ("sent", "smtp")


async def test_live_mode_without_smtp_host_fails_and_keeps_the_mail_queued(tx, settings):
    live = dataclasses.replace(settings, mode="live", smtp_host=None)
    mail_id = await mail.send("ann@customer.test", "Your invoice", "Hello Ann")
    with pytest.raises(RuntimeError, match="SMTP_HOST is not set"):
        await mail.deliver(mail_id, live)
    row = await OutboxMail.select().where(OutboxMail.id == mail_id).first().run()
    assert row["status"] == "queued"  # the job is retried, then parked as failed for an admin


async def test_an_attached_pdf_goes_out_with_the_mail(tx, settings, smtp_server):
    import email
    from email import policy

    inbox, port = smtp_server
    live = dataclasses.replace(settings, mode="live", smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    pdf = b"%PDF-1.4 a small invoice"
    mail_id = await mail.send(
        "ann@customer.test", "Invoice INV-2027-000001", "Attached.",
        files=[mail.Attachment("INV-2027-000001.pdf", "application/pdf", pdf)],
    )  # fmt: skip
    assert await mail.deliver(mail_id, live) == "smtp"
    message = email.message_from_string(inbox.messages[0][2], policy=policy.default)
    (attachment,) = list(message.iter_attachments())  # type: ignore[attr-defined]
    assert (attachment.get_filename(), attachment.get_content_type()) == ("INV-2027-000001.pdf", "application/pdf")
    assert attachment.get_content() == pdf
    row = await OutboxMail.select().where(OutboxMail.id == mail_id).first().output(load_json=True).run()
    assert row["attachments"] == ["INV-2027-000001.pdf"]
