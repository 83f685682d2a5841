from __future__ import annotations

import click

from panel_service.cli.common import cli_errors, cli_runtime
from panel_service.services import accounts
from panel_service.services.errors import NotFound


@click.group()
def users() -> None:
    """Staff accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["coordinator", "reviewer", "admin"]))
@click.option("--organisation", default=None, help="Required for a coordinator; created on first use.")
def users_create(email: str, role: str, organisation: str | None) -> None:
    """Create a staff account. No password is asked: staff set theirs through a reset link."""
    runtime = cli_runtime()
    with cli_errors(), runtime.database.session_scope() as session:
        account = accounts.create_staff_account(session, email=email, role=role, organisation=organisation)
        click.echo(f"created {account.role} {account.email} (id {account.id})", err=True)
        click.echo(account.id)
    runtime.close()


@click.group()
def tokens() -> None:
    """API bearer tokens."""


@tokens.command("create")
@click.option("--email", required=True)
@click.option("--label", default="cli")
def tokens_create(email: str, label: str) -> None:
    """Create an API token; it is printed alone on the last line and never shown again."""
    runtime = cli_runtime()
    with cli_errors(), runtime.database.session_scope() as session:
        account = accounts.find_account(session, email)
        if account is None or account.role == "participant":
            raise NotFound(f"No staff account with email {email.strip().lower()}.", {"email": "not found"})
        token = accounts.create_api_token(session, account, label)
    runtime.close()
    click.echo("Store this token now; it cannot be shown again.", err=True)
    click.echo(token)
