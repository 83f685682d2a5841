"""The ``panel`` command. Nothing prompts; program output goes to stdout, messages to stderr."""

from __future__ import annotations

import sys

import click

from panel_service.cli.common import cli_errors
from panel_service.cli.criteria import criteria
from panel_service.cli.data import demo, import_group
from panel_service.cli.db import db
from panel_service.cli.invitations import invitations
from panel_service.cli.jobs import jobs
from panel_service.cli.users import tokens, users


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Panel: research-panel participant matching service."""


for command in (db, users, tokens, criteria, import_group, demo, invitations, jobs):
    main.add_command(command)


def run() -> None:
    with cli_errors():
        main(standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
