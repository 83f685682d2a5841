"""Browser tests: Debian's Chromium driven by Playwright against a live Panel.

The live server is the real embedded mode: a werkzeug server thread over a committed
database, background jobs running in the app's in-process relay threads, and email going
over SMTP to a real aiosmtpd server that the test reads. Nothing is mocked.

Fixtures: ``live`` (a ``LiveServer`` with ``url``, ``smtp`` and ``runtime``), ``page`` (a
fresh browser context per test, phone-sized or desktop by ``page_size``), ``browser``.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from panel_service import create_app
from panel_service.runtime import Runtime
from tests.conftest import make_test_settings, truncate_all
from tests.support.services import SmtpRecorder, free_port, smtp_server, unavailable

CHROMIUM = os.environ.get("PANEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"


@dataclass
class LiveServer:
    url: str
    smtp: SmtpRecorder
    runtime: Runtime


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        unavailable("Chromium", f"{CHROMIUM} not found (make browsers installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def live(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """Panel serving on a free port with its own runtime (jobs in threads) and a real SMTP
    server; every table is emptied before and after."""
    port = free_port()
    with smtp_server() as smtp:
        settings = make_test_settings(
            database_url,
            tmp_path,
            base_url=f"http://127.0.0.1:{port}",
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
        )
        app = create_app(settings, start_background_jobs=True)
        runtime: Runtime = app.extensions["panel_runtime"]
        truncate_all(runtime.database.engine)
        server = make_server("127.0.0.1", port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="panel-live", daemon=True)
        thread.start()
        try:
            yield LiveServer(url=f"http://127.0.0.1:{port}", smtp=smtp, runtime=runtime)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            runtime.close()
            truncate_all(runtime.database.engine)


@pytest.fixture()
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    marker = request.node.get_closest_marker("page_size")
    viewport = {"width": 390, "height": 844} if marker and marker.args[0] == "phone" else None
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    browser_page = context.new_page()
    errors: list[str] = []
    # Script errors only: a refused form answers 422 on purpose, which Chromium also logs.
    browser_page.on("pageerror", lambda error: errors.append(str(error)))
    browser_page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    yield browser_page
    context.close()
    assert not errors, f"script errors in the browser: {errors}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "page_size(kind): 'phone' for a phone-sized viewport")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
