from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import redis
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, render_template, request
from flask_babel import get_locale
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from panel_service import outbox
from panel_service.domain.gazetteer import site_text
from panel_service.domain.regions import region_name
from panel_service.extensions import db_session, runtime
from panel_service.metrics import JOBS_DEAD_NOW
from panel_service.services import public_studies
from panel_service.timeutil import panel_today

if TYPE_CHECKING:
    from panel_service.runtime import Runtime

bp = Blueprint("public", __name__)


def _region(code: str) -> str:
    return region_name(code, str(get_locale())) or code


def _site(site: dict[str, object]) -> str:
    """A site by name and town, in the page's language (issue 13 item 4)."""
    return site_text(site, str(get_locale()))


@bp.get("/")
def home() -> str:
    rows = public_studies.recruiting_studies(db_session(), panel_today(runtime().settings), limit=20)
    return render_template("public/home.html", studies=rows, region=_region, site_text=_site)


@bp.get("/studies/<int:study_id>")
def study(study_id: int) -> str:
    """One recruiting study, for anyone. A study that is not recruiting (draft, in review,
    approved but not started, paused, closed, approval expired) answers 404 like one that does
    not exist: the page says nothing a visitor could act on, and contact stays invitation-only,
    so there is no "I'm interested" here, only the way to be matched."""
    row = public_studies.recruiting_study(db_session(), panel_today(runtime().settings), study_id)
    if row is None:
        abort(404)
    return render_template("public/study.html", study=row, region=_region, site_text=_site)


@bp.get("/privacy")
def privacy() -> str:
    return render_template("public/privacy.html", **_operator())


@bp.get("/about")
def about() -> str:
    return render_template("public/about.html", **_operator())


@bp.get("/faq")
def faq() -> str:
    settings = runtime().settings
    return render_template(
        "public/faq.html",
        contact_cap=settings.contact_cap,
        contact_cap_days=settings.contact_cap_days,
        **_operator(),
    )


@bp.get("/contact")
def contact() -> str:
    return render_template("public/contact.html", **_operator())


def _operator() -> dict[str, str]:
    settings = runtime().settings
    return {
        "controller_name": settings.controller_name,
        "controller_address": settings.controller_address,
        "contact_email": settings.contact_email,
    }


# How long a process answers /healthz from its last check. A probe every few seconds, or a load
# balancer's many, then costs no database round trip or Redis PING each (those were most of the
# endpoint's time); an outage shows within this long.
HEALTH_CACHE_SECONDS = 1.0
HEALTH_CACHE = "panel_health"


class HealthCache:
    """The last check's answer for ``seconds``; one check at a time per process."""

    def __init__(self, seconds: float = HEALTH_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.answer: tuple[dict[str, Any], int] | None = None
        self.checked_at = 0.0

    def get(self, check: Callable[[], tuple[dict[str, Any], int]]) -> tuple[dict[str, Any], int]:
        with self.lock:
            now = time.monotonic()
            if self.answer is None or now - self.checked_at >= self.seconds:
                self.answer = check()
                self.checked_at = time.monotonic()
            return self.answer

    def clear(self) -> None:
        with self.lock:
            self.answer = None


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Served by ``web.health.HealthProbe`` ahead of Flask's dispatch; this view answers only
    when the app runs without that wrapper (the same cached check either way)."""
    body, status = health_answer(current_app)
    return jsonify(body), status


def health_answer(app: Flask) -> tuple[dict[str, Any], int]:
    """The app's last health check, or a new one when it is older than the cache allows."""
    cache = app.extensions.get(HEALTH_CACHE)
    if cache is None:
        cache = app.extensions.setdefault(HEALTH_CACHE, HealthCache())
    panel_runtime = app.extensions["panel_runtime"]
    return cast(HealthCache, cache).get(lambda: _check_health(panel_runtime))


def _check_health(panel_runtime: Runtime) -> tuple[dict[str, Any], int]:
    checks: dict[str, Any] = {}
    healthy = True
    try:
        with panel_runtime.database.engine.connect() as connection:
            connection.execution_options(read_only=True).execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        healthy = False
        checks["database"] = f"error: {type(exc).__name__}"
    broker = panel_runtime.settings.celery_broker_url
    if broker:
        checks["broker"] = _broker_status(broker)
        healthy = healthy and checks["broker"] == "ok"
    else:
        checks["broker"] = "in-process"
    return {"status": "ok" if healthy else "unavailable", "checks": checks}, (200 if healthy else 503)


# One Redis client (and so one small connection pool) per process and broker URL: a health
# check every few seconds must not open and tear down a TCP connection each time.
_BROKER_CLIENTS: dict[str, redis.Redis] = {}
_BROKER_CLIENTS_LOCK = threading.Lock()
HEALTH_CLIENT_NAME = "panel-healthz"


def _broker_client(url: str) -> redis.Redis:
    with _BROKER_CLIENTS_LOCK:
        client = _BROKER_CLIENTS.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=2,
                socket_timeout=2,
                max_connections=4,
                client_name=HEALTH_CLIENT_NAME,
            )
            _BROKER_CLIENTS[url] = client
        return client


def _broker_status(url: str) -> str:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return _other_broker_status(url)
    try:
        _broker_client(url).ping()
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _other_broker_status(url: str) -> str:
    """A broker that is not Redis (Panel is run on Redis; kept for other kombu transports)."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


@bp.get("/metrics")
def metrics() -> Response:
    """For the monitoring system only (product contract §8): request rates by endpoint and pipeline
    counts say how busy studies are. Anyone else gets 404, as for a page that does not exist."""
    if not _may_read_metrics():
        abort(404)
    # Dead jobs live in the database, not in this process: count them at each scrape (one
    # count over the rows with dead_at set), so any web process reports the same figure.
    JOBS_DEAD_NOW.set(outbox.dead_count(db_session()))
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def _may_read_metrics() -> bool:
    settings = runtime().settings
    if settings.metrics_token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), settings.metrics_token.encode()
        ):
            return True
    try:
        client = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped
    return any(client in network for network in settings.metrics_networks)
