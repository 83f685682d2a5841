from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from panel_service.extensions import limiter
from panel_service.mail import Mailer
from panel_service.runtime import Runtime
from tests.support.services import SmtpRecorder, smtp_server


@pytest.fixture(autouse=True)
def _fresh_limits(app: Flask) -> Iterator[None]:
    """Rate-limit counters live in memory for the whole session; each test starts clean."""
    with app.app_context():
        limiter.reset()
    yield


@pytest.fixture()
def mail_runtime(committed_runtime: Runtime) -> Iterator[tuple[Runtime, SmtpRecorder]]:
    """The session runtime with real commits and its mailer pointed at a real SMTP server."""
    original = committed_runtime.mailer
    with smtp_server() as smtp:
        settings = committed_runtime.settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port}
        )
        committed_runtime.mailer = Mailer(settings)
        try:
            yield committed_runtime, smtp
        finally:
            committed_runtime.mailer = original
