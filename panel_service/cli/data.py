from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from panel_service.cli.common import cli_runtime
from panel_service.services.volunteer_import import import_profiles
from panel_service.timeutil import panel_today

MAX_ERRORS_SHOWN = 200


@click.group("import")
def import_group() -> None:
    """Bulk imports."""


@import_group.command("profiles")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 50_000))
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar on stderr (default: when a terminal)."
)
def import_profiles_command(file: Path, batch_size: int, progress: bool | None) -> None:
    """Import volunteers from FILE.jsonl (one JSON object a line). Emails nobody.

    Invalid lines are reported by line number and nothing of them is written; the valid ones
    are imported (an email already present is updated). Exits 1 when any line was invalid.
    """
    runtime = cli_runtime()
    show = sys.stderr.isatty() if progress is None else progress
    with (
        file.open(encoding="utf-8") as handle,
        tqdm(unit=" lines", disable=not show, file=sys.stderr, mininterval=0.5) as bar,
    ):
        report = import_profiles(
            runtime.database.session,
            handle,
            today=panel_today(runtime.settings),
            batch_size=batch_size,
            progress=bar.update,
        )
    runtime.close()
    for number, reason in report.errors[:MAX_ERRORS_SHOWN]:
        click.echo(f"line {number}: {reason}", err=True)
    if len(report.errors) > MAX_ERRORS_SHOWN:
        click.echo(f"... and {len(report.errors) - MAX_ERRORS_SHOWN} more invalid lines", err=True)
    click.echo(
        f"read {report.lines} lines: imported {report.imported} "
        f"({report.created} new, {report.updated} updated), {len(report.errors)} invalid"
        + ("; recruiting studies will be re-matched" if report.rematch_requested else ""),
        err=True,
    )
    if report.errors:
        raise SystemExit(1)
