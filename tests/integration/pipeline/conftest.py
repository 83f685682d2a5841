"""Fixtures for the pipeline: a real aiosmtpd server and the runtime's mailer pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from panel_service.mail import Mailer
from panel_service.runtime import Runtime
from tests.support.services import SmtpRecorder, smtp_server


@pytest.fixture()
def smtp(runtime: Runtime) -> Iterator[SmtpRecorder]:
    """An SMTP server for this test; the runtime's mailer sends to it (configuration, not a patch)."""
    with smtp_server() as recorder:
        original = runtime.mailer
        runtime.mailer = Mailer(
            runtime.settings.model_copy(update={"smtp_host": recorder.host, "smtp_port": recorder.port})
        )
        try:
            yield recorder
        finally:
            runtime.mailer = original
