from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from panel_service.cli.common import cli_errors, cli_runtime
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


@click.command("demo")
@click.option("--volunteers", default=3000, show_default=True, type=click.IntRange(0, 1_000_000))
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds a study.")
def demo(volunteers: int, if_empty: bool) -> None:
    """Load the example study (approved, recruiting), demo staff and synthetic volunteers."""
    from panel_service.services.demo import DEMO_PASSWORD, DEMO_STAFF, has_studies, load_demo

    runtime = cli_runtime()
    if if_empty and has_studies(runtime):
        click.echo("demo: the database already holds studies; nothing loaded", err=True)
        runtime.close()
        return
    with cli_errors():
        result = load_demo(runtime, volunteers=volunteers)
    runtime.close()
    click.echo(
        f"demo: studies {result.study_id} and {result.sleep_study_id} recruiting;"
        f" {result.volunteers} volunteers imported",
        err=True,
    )
    for email, role, _ in DEMO_STAFF:
        click.echo(f"demo: sign in as {role}: {email} / {DEMO_PASSWORD}", err=True)
