"""Web hardening: who may read /metrics, which responses caches must not keep, what logs hold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from config.settings import Settings
from panel_service import create_app
from panel_service.extensions import limiter
from tests.support.volunteers import make_volunteer, sign_in


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


def test_metrics_follow_the_allowed_networks_and_the_token(settings: Settings, db: Session) -> None:
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


def test_proxy_hops_make_the_forwarded_client_the_address(settings: Settings, db: Session) -> None:
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


def test_static_files_and_health_stay_cacheable(client: FlaskClient) -> None:
    for path in ("/static/css/panel.css", "/healthz"):
        with client.get(path) as response:
            assert response.status_code == 200
            assert "no-store" not in response.headers.get("Cache-Control", ""), path
