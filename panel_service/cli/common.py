from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.exc import SQLAlchemyError

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
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        click.echo(
            f"error: database: {reason} (is it reachable and migrated? try `panel db upgrade`)", err=True
        )
        raise SystemExit(1) from None


def cli_runtime() -> Runtime:
    with cli_errors():
        settings = load_settings()
    configure_logging(settings)
    runtime = Runtime(settings)
    if settings.is_sqlite:
        # The embedded default migrates its own file, for the CLI as for the app (product contract §7).
        from panel_service.migrate import upgrade

        with cli_errors():
            upgrade(runtime.database.engine)
    return runtime
