"""The ``panel`` command. Nothing prompts; program output goes to stdout, messages to stderr."""

from __future__ import annotations

import sys

import click

from panel_service.cli.common import cli_errors
from panel_service.cli.db import db
from panel_service.cli.users import tokens, users


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Panel: research-panel participant matching service."""


for command in (db, users, tokens):
    main.add_command(command)


def _optional_commands() -> None:
    """Command groups of other areas register here as they land."""
    import importlib

    for module_name, attribute in (
        ("panel_service.cli.criteria", "criteria"),
        ("panel_service.cli.data", "import_group"),
        ("panel_service.cli.data", "demo"),
        ("panel_service.cli.invitations", "invitations"),
        ("panel_service.cli.jobs", "jobs"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        main.add_command(getattr(module, attribute))


_optional_commands()


def run() -> None:
    with cli_errors():
        main(standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
