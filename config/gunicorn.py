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


class RedactedAtoms(dict[str, Any]):
    """gunicorn's ``SafeAtoms`` (names case-insensitive, a missing one is "-", quotes escaped),
    with every value redacted first, but only the values the log format asks for. The atoms
    hold every request and response header and the whole WSGI environ (some 50 strings, most
    with a "/"); redacting them all cost three regular expressions each on every request."""

    def __getitem__(self, name: str) -> Any:
        key = name.lower() if name.startswith("{") else name
        if not dict.__contains__(self, key):
            return "-"
        value = dict.__getitem__(self, key)
        if isinstance(value, str):
            value = (redact_query(value) if key == "q" else redact(value)).replace('"', '\\"')
        return value


class RedactingLogger(Logger):
    atoms_wrapper_class = RedactedAtoms


logger_class = RedactingLogger
