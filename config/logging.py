"""One logging set-up for the web app, the workers and the CLI.

structlog renders JSON in production and readable lines in development. Context variables
(``request_id`` in the web, ``task_id``/``job`` in workers) are merged into every line.
"""

from __future__ import annotations

import logging
import sys

import structlog

from config.redaction import redact
from config.settings import Settings

_configured = False


def configure_logging(settings: Settings, *, force: bool = False) -> None:
    global _configured
    if _configured and not force:
        return
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.effective_log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _Redactor(keep_logged_mail=settings.env != "production"),
    ]
    structlog.configure(
        # A line below the level is dropped before the processors run (the stdlib logger would
        # drop it after them: a timestamp and the redaction of every value for nothing).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    # Logs go to stderr so that CLI commands keep stdout for program output.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("werkzeug", "sqlalchemy.engine", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    _configured = True


class _Redactor:
    """Takes link tokens and sensitive query strings out of every string in a line, ours and
    other libraries' (Werkzeug's request lines arrive as the message). Outside production the
    embedded mailer writes emails to the log on purpose (it is the mailbox of `make run`), so
    their bodies keep their links there."""

    def __init__(self, *, keep_logged_mail: bool) -> None:
        self.keep_logged_mail = keep_logged_mail

    def __call__(
        self, _logger: object, _method: str, event_dict: structlog.types.EventDict
    ) -> structlog.types.EventDict:
        keep_body = self.keep_logged_mail and event_dict.get("event") == "email.logged"
        for key, value in event_dict.items():
            if isinstance(value, str) and not (keep_body and key == "body"):
                event_dict[key] = redact(value)
        return event_dict


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
