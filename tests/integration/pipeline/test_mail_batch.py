"""The dispatcher's reused SMTP connection, against a real aiosmtpd server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from panel_service.mail import Mailer, OutgoingMail
from tests.conftest import make_test_settings
from tests.support.services import SmtpRecorder, free_port, smtp_server


def three_messages(mailer: Mailer) -> list[OutgoingMail]:
    return [
        mailer.build(to=f"v{n}@example.org", subject=f"Message {n}", text="Hello", message_id=f"<m{n}@test>")
        for n in (1, 2, 3)
    ]


def test_a_connection_the_server_closed_while_idle_is_reopened_and_each_message_sent_once(
    tmp_path: Path,
) -> None:
    with smtp_server(idle_timeout=0.3) as server:
        settings = make_test_settings("sqlite://", tmp_path, smtp_host=server.host, smtp_port=server.port)
        mailer = Mailer(settings)
        first, second, third = three_messages(mailer)
        with mailer.batch() as batch:
            batch.send(first)
            time.sleep(1.0)  # the server drops the idle connection
            batch.send(second)
            batch.send(third)  # right after: the reopened connection is reused
        # handle_DATA records a message before the server answers 250, so all are in by now
        received = list(server.messages)
    assert [message["Message-ID"] for message in received] == ["<m1@test>", "<m2@test>", "<m3@test>"]
    assert server.to_addresses() == ["v1@example.org", "v2@example.org", "v3@example.org"]


class ClosingAfterOneMessage(SmtpRecorder):
    """Answers 421 (closing) to a second MAIL on the same connection, as a server going down or
    limiting messages per connection does."""

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if getattr(session, "delivered", False):
            return "421 4.3.2 closing this connection"
        session.delivered = True
        envelope.mail_from = address
        return "250 OK"


def test_a_421_to_mail_on_a_reused_connection_sends_the_message_once_on_a_new_one(tmp_path: Path) -> None:
    server = ClosingAfterOneMessage(port=free_port())
    controller = Controller(server, hostname=server.host, port=server.port)
    controller.start()
    try:
        mailer = Mailer(
            make_test_settings("sqlite://", tmp_path, smtp_host=server.host, smtp_port=server.port)
        )
        with mailer.batch() as batch:
            for message in three_messages(mailer):
                batch.send(message)
        received = list(server.messages)
    finally:
        controller.stop()
    assert [message["Message-ID"] for message in received] == ["<m1@test>", "<m2@test>", "<m3@test>"]
