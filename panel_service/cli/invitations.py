"""``panel invitations``: what an operator needs for the one window no mail system closes."""

from __future__ import annotations

import click

from panel_service.cli.common import cli_errors, cli_runtime
from panel_service.domain.vocab import INVITATION_STATUSES
from panel_service.services import contact
from panel_service.services import invitations as service


@click.group()
def invitations() -> None:
    """A study's invitations; those whose send is ambiguous (the worker died after SMTP may have
    accepted)."""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value).replace("\t", " ").replace("\n", " ")


@invitations.command("show")
@click.argument("study_id", type=int)
@click.option(
    "--status",
    type=click.Choice(INVITATION_STATUSES),
    default=None,
    help="Only invitations in this status.",
)
def show_command(study_id: int, status: str | None) -> None:
    """List a study's invitations, one per line, tab-separated: participant_id, status, reason,
    attempts, last_error (email addresses removed), created_at, claimed_at, sent_at,
    next_attempt_at (UTC ISO 8601; empty when not set). Participants appear by id only."""
    runtime = cli_runtime()
    with cli_errors(), runtime.database.session_scope() as session:
        rows = service.study_invitations(session, study_id, status=status)
        for row in rows:
            fields = [
                row.participant_id,
                row.status,
                row.reason,
                row.attempts,
                row.last_error,
                row.created_at,
                row.claimed_at,
                row.sent_at,
                row.next_attempt_at,
            ]
            click.echo("\t".join(_cell(value) for value in fields))
        click.echo(f"{len(rows)} invitation(s)", err=True)
    runtime.close()


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
