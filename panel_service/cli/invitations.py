"""``panel invitations``: what an operator needs for the one window no mail system closes."""

from __future__ import annotations

import click

from panel_service.cli.common import cli_errors, cli_runtime
from panel_service.services import contact


@click.group()
def invitations() -> None:
    """Invitations whose send is ambiguous (the worker died after SMTP may have accepted)."""


@invitations.command("ambiguous")
def ambiguous_command() -> None:
    """List ambiguous invitations, one per line, tab-separated:
    study_id, participant_id, message_id, claimed_at (UTC ISO 8601), attempts, last_error."""
    runtime = cli_runtime()
    with cli_errors(), runtime.database.session_scope() as session:
        rows = contact.ambiguous(session)
        for row in rows:
            claimed = row.claimed_at.isoformat() if row.claimed_at is not None else ""
            fields = [row.study_id, row.participant_id, row.message_id or "", claimed, row.attempts]
            fields.append((row.last_error or "").replace("\t", " ").replace("\n", " "))
            click.echo("\t".join(str(value) for value in fields))
        click.echo(f"{len(rows)} ambiguous invitation(s)", err=True)
    runtime.close()


@invitations.command("resolve")
@click.argument("study_id", type=int)
@click.argument("participant_id", type=int)
@click.option(
    "--as",
    "outcome",
    required=True,
    type=click.Choice(["sent", "resend"]),
    help="sent: the mail logs show it was delivered; resend: it was not, queue it again.",
)
def resolve_command(study_id: int, participant_id: int, outcome: str) -> None:
    """Resolve one ambiguous invitation after checking the mail server's logs (by Message-ID)."""
    runtime = cli_runtime()
    with cli_errors(), runtime.database.session_scope() as session:
        invitation = contact.resolve_ambiguous(session, study_id, participant_id, outcome)
        status = invitation.status
    click.echo(f"invitation {study_id}/{participant_id} is now {status}", err=True)
    runtime.close()
