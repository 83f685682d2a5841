from __future__ import annotations

import click

from panel_service.cli.common import cli_runtime
from panel_service.migrate import upgrade


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations to the configured database."""
    runtime = cli_runtime()
    try:
        upgrade(runtime.database.engine, revision)
    except Exception as exc:  # connection refused, bad credentials: say so plainly
        raise click.ClickException(f"migration failed: {type(exc).__name__}: {exc}") from exc
    finally:
        runtime.close()
    click.echo(f"database at {revision}", err=True)
