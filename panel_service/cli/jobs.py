"""``panel jobs``: background jobs the outbox gave up on after PANEL_JOB_MAX_ATTEMPTS failed runs."""

from __future__ import annotations

import click

from panel_service import outbox
from panel_service.cli.common import cli_errors, cli_runtime


@click.group()
def jobs() -> None:
    """Dead background jobs: list them, re-queue them."""


@jobs.command("dead")
def dead_command() -> None:
    """List dead jobs, one per line, tab-separated: id, task, attempts, last_error (the exception
    type), created_at, last_failed_at, dead_at (UTC ISO 8601)."""
    runtime = cli_runtime()
    with cli_errors(), runtime.database.session_scope() as session:
        rows = outbox.dead(session)
        for row in rows:
            fields = [
                row.id,
                row.task_name,
                row.attempts,
                (row.last_error or "").replace("\t", " ").replace("\n", " "),
                *(
                    when.isoformat() if when else ""
                    for when in (row.created_at, row.last_failed_at, row.dead_at)
                ),
            ]
            click.echo("\t".join(str(value) for value in fields))
        click.echo(f"{len(rows)} dead job(s)", err=True)
    runtime.close()


@jobs.command("retry")
@click.argument("job_ids", type=int, nargs=-1)
@click.option("--all", "every", is_flag=True, help="Re-queue every dead job.")
def retry_command(job_ids: tuple[int, ...], every: bool) -> None:
    """Re-queue dead jobs (by id, or --all) with a fresh set of attempts, due now."""
    if bool(job_ids) == every:
        raise click.UsageError("give job ids or --all (not both)")
    runtime = cli_runtime()
    with cli_errors(), runtime.database.session_scope() as session:
        requeued = outbox.retry_dead(session, None if every else list(job_ids))
    missing = sorted(set(job_ids) - set(requeued))
    click.echo(f"{len(requeued)} job(s) re-queued", err=True)
    runtime.close()
    if missing:
        click.echo(f"error: not dead: {', '.join(str(i) for i in missing)}", err=True)
        raise SystemExit(1)
