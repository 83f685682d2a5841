"""The dispatcher's reused SMTP connection, against a real aiosmtpd server."""

from __future__ import annotations

import time
from pathlib import Path

from panel_service.mail import Mailer
from tests.conftest import make_test_settings
from tests.support.services import smtp_server


def test_a_connection_the_server_closed_while_idle_is_reopened_and_each_message_sent_once(
    tmp_path: Path,
) -> None:
    with smtp_server(idle_timeout=0.3) as server:
        settings = make_test_settings("sqlite://", tmp_path, smtp_host=server.host, smtp_port=server.port)
        mailer = Mailer(settings)
        first, second, third = (
            mailer.build(
                to=f"v{n}@example.org", subject=f"Message {n}", text="Hello", message_id=f"<m{n}@test>"
            )
            for n in (1, 2, 3)
        )
        with mailer.batch() as batch:
            batch.send(first)
            time.sleep(1.0)  # the server drops the idle connection
            batch.send(second)
            batch.send(third)  # right after: the reopened connection is reused
        # handle_DATA records a message before the server answers 250, so all are in by now
        received = list(server.messages)
    assert [message["Message-ID"] for message in received] == ["<m1@test>", "<m2@test>", "<m3@test>"]
    assert server.to_addresses() == ["v1@example.org", "v2@example.org", "v3@example.org"]
