"""The ``panel`` command. Minimal group for the criteria branch; the lead's version replaces it."""

import click

from panel_service.cli.criteria import criteria


@click.group()
def main() -> None:
    """Panel: research-panel participant matching."""


main.add_command(criteria)
