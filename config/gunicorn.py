"""gunicorn settings: ``gunicorn -c python:config.gunicorn 'panel_service:create_app()'``.

The access log goes to stdout with the usual combined format, but every field passes through
``config.redaction`` first: a request line or referrer can hold a single-use link token or a
volunteer's search words, and the access log also holds the client address.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from config.redaction import redact, redact_query

accesslog = "-"


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            if isinstance(value, str):
                atoms[name] = redact_query(value) if name == "q" else redact(value)
        return atoms


logger_class = RedactingLogger
