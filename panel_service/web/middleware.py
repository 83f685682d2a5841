"""Request id, structured request logging, metrics and security headers."""

from __future__ import annotations

import time
import uuid

import structlog
from flask import Flask, Response, g, request, session
from flask_login import current_user

from config.logging import get_logger
from panel_service.extensions import limiter
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


SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


@limiter.request_filter
def _never_limited() -> bool:
    """Static files and the health probe carry no limit: Flask-Limiter answers them without
    evaluating the (empty) set of limits, which was a fifth of /healthz's time in the app.
    Registered once per process (the limiter is), not per app."""
    return request.endpoint in PUBLIC_ENDPOINTS


def install_middleware(app: Flask) -> None:
    production = app.config["PANEL_SETTINGS"].env == "production"
    defaults = SECURITY_HEADERS + ((HSTS,) if production else ())

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
        # Each default unless the view set its own (one pass over the headers, not one per name).
        present = {name.lower() for name, _value in headers.items()}
        for name, value in defaults:
            if name.lower() not in present:
                headers.add(name, value)
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
