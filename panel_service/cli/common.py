from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from config.logging import configure_logging
from config.settings import SettingsError, load_settings
from panel_service.runtime import Runtime
from panel_service.services.errors import ServiceError


@contextmanager
def cli_errors() -> Iterator[None]:
    """Known failures become one clear line on stderr and a non-zero exit, never a traceback."""
    try:
        yield
    except SettingsError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except ServiceError as exc:
        details = "".join(f"\n  {path}: {message}" for path, message in exc.fields.items())
        click.echo(f"error: {exc.message}{details}", err=True)
        raise SystemExit(1) from None


def cli_runtime() -> Runtime:
    with cli_errors():
        settings = load_settings()
    configure_logging(settings)
    return Runtime(settings)
