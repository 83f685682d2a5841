"""``/healthz`` answered ahead of Flask's dispatch.

A probe needs none of what Flask builds per request (request and app contexts, URL matching,
sessions, the user, Babel, the limiter, before/after hooks), only the cached check of
``web.public.views.health_answer``. This WSGI wrapper serves ``GET``/``HEAD /healthz`` itself,
with what the app's middleware gives every response: the same JSON and status codes, a request
id, the security headers, the request counted and timed under the endpoint ``public.healthz``
and logged as ``http.request``. No ``Cache-Control: no-store`` (the answer is nobody's).
Everything else, other methods included, goes to Flask unchanged.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import structlog

from config.logging import get_logger
from panel_service.metrics import HTTP_LATENCY, HTTP_REQUESTS
from panel_service.web.middleware import HSTS, SECURITY_HEADERS
from panel_service.web.public.views import health_answer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

log = get_logger("panel.web")

HEALTH_PATH = "/healthz"
ENDPOINT = "public.healthz"
_STATUS_LINES = {200: "200 OK", 503: "503 SERVICE UNAVAILABLE"}


class HealthProbe:
    def __init__(self, app: Flask, wrapped: WSGIApplication) -> None:
        self.app = app
        self.wrapped = wrapped
        production = app.config["PANEL_SETTINGS"].env == "production"
        self.headers = list(SECURITY_HEADERS + ((HSTS,) if production else ()))
        self.json_indent = 2 if app.debug else None
        # The counters for the two answers, looked up once (a label lookup takes a lock).
        self.counted: dict[tuple[str, int], Any] = {}
        self.latency = HTTP_LATENCY.labels(ENDPOINT)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if environ.get("PATH_INFO") != HEALTH_PATH or method not in ("GET", "HEAD"):
            return self.wrapped(environ, start_response)
        started = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        body_data, status = health_answer(self.app)
        body = self._encoded(body_data)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Request-ID", request_id),
            *self.headers,
        ]
        start_response(_STATUS_LINES.get(status, f"{status} STATUS"), headers)
        counter = self.counted.get((method, status))
        if counter is None:
            counter = self.counted.setdefault(
                (method, status), HTTP_REQUESTS.labels(ENDPOINT, method, str(status))
            )
        counter.inc()
        elapsed = time.perf_counter() - started
        self.latency.observe(elapsed)
        log.info(
            "http.request",
            method=method,
            path=HEALTH_PATH,
            status=status,
            ms=round(elapsed * 1000, 1),
        )
        return [] if method == "HEAD" else [body]

    def _encoded(self, body: dict[str, Any]) -> bytes:
        """As Flask's ``jsonify`` writes it: sorted keys, compact unless debugging, a newline."""
        if self.json_indent:
            text = json.dumps(body, indent=self.json_indent, sort_keys=True)
        else:
            text = json.dumps(body, separators=(",", ":"), sort_keys=True)
        return (text + "\n").encode()
