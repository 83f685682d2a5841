"""Web hardening: who may read /metrics, which responses caches must not keep, what logs hold."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service import create_app
from panel_service.extensions import limiter
from tests.support.services import free_port, port_open
from tests.support.volunteers import make_volunteer, sign_in

TOKEN = "Tok3n-single-use-9f8e7d"
SEARCH_WORD = "narcolepsy"
SENSITIVE_REQUESTS = (
    f"/verify/{TOKEN}",
    f"/unsubscribe/{TOKEN}",
    f"/password/reset/{TOKEN}",
    f"/invitations/answer/{TOKEN}?answer=interested",
    f"/vocabulary/search?system=icd10&q={SEARCH_WORD}",
    "/login?next=/me/invitations/97531864",  # an id unlikely to appear by chance (a timing, a hex id)
)


@pytest.fixture(autouse=True)
def _fresh_limits(app: Flask) -> Iterator[None]:
    with app.app_context():
        limiter.reset()
    yield


def _metrics(client: FlaskClient, address: str, **headers: str) -> int:
    return client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": address}).status_code


def test_metrics_are_served_to_loopback_only_by_default(client: FlaskClient) -> None:
    assert _metrics(client, "127.0.0.1") == 200
    assert _metrics(client, "::1") == 200
    for outsider in ("203.0.113.7", "10.1.2.3", "2001:db8::1"):
        assert _metrics(client, outsider) == 404, outsider
    assert _metrics(client, "203.0.113.7", Authorization="Bearer anything-at-all-here") == 404


def test_metrics_follow_the_allowed_networks_and_the_token(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"metrics_allow": "10.0.0.0/8", "metrics_token": "scrape-token-0123456789"}
    )
    app = create_app(configured, start_background_jobs=False)
    try:
        client = app.test_client()
        assert _metrics(client, "10.20.30.40") == 200
        assert _metrics(client, "::ffff:10.20.30.40") == 200
        assert _metrics(client, "127.0.0.1") == 404, "loopback is no longer on the list"
        assert _metrics(client, "203.0.113.7") == 404
        assert _metrics(client, "203.0.113.7", Authorization="Bearer scrape-token-0123456789") == 200
        assert _metrics(client, "203.0.113.7", Authorization="Bearer scrape-token-012345678") == 404
        assert _metrics(client, "203.0.113.7", Authorization="Basic scrape-token-0123456789") == 404
    finally:
        app.extensions["panel_runtime"].close()


def test_proxy_hops_make_the_forwarded_client_the_address(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"proxy_hops": 1}), start_background_jobs=False)
    try:
        client = app.test_client()
        # Through our proxy (on loopback) for an outside client: not served.
        assert _metrics(client, "127.0.0.1", **{"X-Forwarded-For": "203.0.113.7"}) == 404
        # A client cannot forge loopback: only the entry our one proxy added is believed.
        assert _metrics(client, "127.0.0.1", **{"X-Forwarded-For": "127.0.0.1, 203.0.113.7"}) == 404
        assert _metrics(client, "127.0.0.1", **{"X-Forwarded-For": "127.0.0.1"}) == 200
    finally:
        app.extensions["panel_runtime"].close()


def test_pages_with_a_session_or_csrf_token_are_private_and_not_stored(
    client: FlaskClient, db: Session, settings: Settings
) -> None:
    for path in ("/login", "/signup", "/"):
        assert client.get(path).headers["Cache-Control"] == "private, no-store", path
    make_volunteer(db, settings)
    sign_in(client, "vera@example.org")
    for path in ("/", "/me", "/me/profile"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "private, no-store", path


def test_static_files_and_health_stay_cacheable(client: FlaskClient, db: Session, settings: Settings) -> None:
    make_volunteer(db, settings)
    sign_in(client, "vera@example.org")  # even for a signed-in browser
    for path in ("/static/css/panel.css", "/healthz"):
        with client.get(path) as response:
            assert response.status_code == 200
            assert "no-store" not in response.headers.get("Cache-Control", ""), path


@pytest.fixture()
def app_log() -> Iterator[io.StringIO]:
    """The app's own log output: a stream with the formatter configure_logging installed, and
    request lines (INFO) let through."""
    stream = io.StringIO()
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    web_logger = logging.getLogger("panel.web")
    web_logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        web_logger.setLevel(logging.NOTSET)
        root.removeHandler(handler)


def test_app_log_holds_no_link_token_search_word_or_invitation(
    client: FlaskClient, app_log: io.StringIO
) -> None:
    for path in SENSITIVE_REQUESTS:
        client.get(path)
    logging.getLogger("werkzeug").warning('127.0.0.1 - - "GET /verify/%s HTTP/1.1" 410 -', TOKEN)
    written = app_log.getvalue()
    assert written.count("http.request") == len(SENSITIVE_REQUESTS), written
    assert "/verify/[redacted]" in written and "/invitations/answer/[redacted]" in written
    for secret in (TOKEN, SEARCH_WORD, "interested", "97531864"):
        assert secret not in written, secret


def test_gunicorn_access_log_holds_no_link_token_search_word_or_invitation(tmp_path: Path) -> None:
    port = free_port()
    environ = {
        **os.environ,
        "PANEL_ENV": "development",
        "PANEL_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'panel.sqlite3'}",
        "LOG_LEVEL": "INFO",
    }
    environ.pop("CELERY_BROKER_URL", None)
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log_file:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                "python:config.gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "panel_service:create_app()",
            ],
            env=environ,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not port_open("127.0.0.1", port):
                assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            base = f"http://127.0.0.1:{port}"
            for path in SENSITIVE_REQUESTS:
                request = urllib.request.Request(
                    base + path, headers={"Referer": f"{base}/unsubscribe/{TOKEN}"}
                )
                try:
                    urllib.request.urlopen(request, timeout=30).close()
                except urllib.error.HTTPError as refused:
                    refused.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    written = log_path.read_text()
    access_lines = [line for line in written.splitlines() if '"GET /' in line]
    assert len(access_lines) == len(SENSITIVE_REQUESTS), written
    assert any("/unsubscribe/[redacted]" in line for line in access_lines)
    for secret in (TOKEN, SEARCH_WORD, "interested", "97531864"):
        assert secret not in written, secret
