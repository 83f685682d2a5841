"""Request id, structured request logging, metrics and security headers."""

from __future__ import annotations

import time
import uuid

import structlog
from flask import Flask, Response, g, request, session
from flask_login import current_user

from config.logging import get_logger
from panel_service.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = get_logger("panel.web")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
# Responses that never carry anything of one visitor (no user is loaded for them either).
PUBLIC_ENDPOINTS = {"static", "public.healthz"}
# Pages anyone may cache unless they were rendered for one visitor (see _personal); every other
# response can show private data and is marked no-store.
PUBLIC_UNLESS_PERSONAL = {"public.home"}
NO_STORE = "private, no-store"


def install_middleware(app: Flask) -> None:
    production = app.config["PANEL_SETTINGS"].env == "production"

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        endpoint = request.endpoint or "unmatched"
        elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
        HTTP_REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        HTTP_LATENCY.labels(endpoint).observe(elapsed)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if endpoint not in PUBLIC_ENDPOINTS and (
            endpoint not in PUBLIC_UNLESS_PERSONAL or _personal(response)
        ):
            headers["Cache-Control"] = NO_STORE
        if endpoint != "public.metrics":
            log.info(
                "http.request",
                method=request.method,
                path=request.path,
                status=response.status_code,
                ms=round(elapsed * 1000, 1),
            )
        return response


def _personal(response: Response) -> bool:
    """Whether the response belongs to one visitor: rendered for a signed-in user, holding a
    CSRF token (every page with a form does), or setting the session cookie. A cache that kept
    it could hand one person's page or token to the next."""
    return (
        "csrf_token" in g  # flask_wtf keeps the token it rendered here
        or session.modified
        or "Set-Cookie" in response.headers
        or current_user.is_authenticated
    )
