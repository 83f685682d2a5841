"""``panel criteria check|eval|explain`` (product contract §8).

stdout carries only the program's output (normalised JSON, ``true``/``false``/``unknown``, the
explanation); every error goes to stderr, one a line with its JSON path, and the exit code is
non-zero only for invalid input.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import typing as t
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from panel_service.domain import json_input
from panel_service.domain.criteria import (
    CriteriaError,
    Node,
    explain,
    parse_any,
    to_json,
)
from panel_service.domain.criteria.evaluate import evaluate
from panel_service.domain.geo import Sites, site_points
from panel_service.domain.profile import ProfileData
from panel_service.domain.profile_json import ProfileJSONError, profile_from_json
from panel_service.domain.sites import clean_sites

INVALID_INPUT = 1


class InvalidInput(click.ClickException):
    """Errors already printed one a line on stderr; ends the command with a non-zero exit code."""

    exit_code = INVALID_INPUT

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))

    def show(self, file: t.IO[t.Any] | None = None) -> None:
        click.echo(self.message, err=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput([f"error: {path}: cannot read the file: {error}"]) from None


def _load_criteria(path: Path) -> Node:
    try:
        return parse_any(_read(path))
    except CriteriaError as error:
        lines = [f"error: {path}: {issue.path}: {issue.message}" for issue in error.issues]
        raise InvalidInput(lines) from None


def _load_profile(path: Path, today: dt.date | None = None) -> ProfileData:
    try:
        obj = json_input.loads(_read(path))
    except json.JSONDecodeError as error:
        message = f"error: {path}: line {error.lineno}, column {error.colno}: not valid JSON: {error.msg}"
        raise InvalidInput([message]) from None
    except json_input.JSONInputError as error:
        raise InvalidInput(
            [f"error: {path}: {key}: {message}" for key, message in error.fields.items()]
        ) from None
    except RecursionError:
        raise InvalidInput([f"error: {path}: nested too deeply"]) from None
    try:
        return profile_from_json(obj, strict=True, today=today)
    except ProfileJSONError as error:
        raise InvalidInput([f"error: {path}: {key}: {message}" for key, message in error.errors]) from None


def _load_sites(path: Path | None) -> Sites:
    """SITES_FILE: a JSON list of ``{"name", "lat", "lon"}`` (as the API's ``sites``), each
    problem reported with its path (``sites[1].lat``)."""
    if path is None:
        return ()
    try:
        obj = json_input.loads(_read(path))
    except json.JSONDecodeError as error:
        message = f"error: {path}: line {error.lineno}, column {error.colno}: not valid JSON: {error.msg}"
        raise InvalidInput([message]) from None
    except json_input.JSONInputError as error:
        raise InvalidInput(
            [f"error: {path}: {key}: {message}" for key, message in error.fields.items()]
        ) from None
    except RecursionError:
        raise InvalidInput([f"error: {path}: nested too deeply"]) from None
    sites, problems = clean_sites(obj)
    if problems:
        raise InvalidInput([f"error: {path}: {key}: {message}" for key, message in problems.items()])
    return site_points(sites)


def _today() -> dt.date:
    """Today in the panel's time zone (``PANEL_TIMEZONE``, default UTC)."""
    name = os.environ.get("PANEL_TIMEZONE", "UTC")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput([f"error: PANEL_TIMEZONE: unknown time zone {name!r}"]) from None
    return dt.datetime.now(zone).date()


def _evaluation_date(on: dt.datetime | None) -> dt.date:
    return on.date() if on is not None else _today()


existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)
on_option = click.option(
    "--on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Evaluate on this day (YYYY-MM-DD); default: today in PANEL_TIMEZONE.",
)


@click.group()
def criteria() -> None:
    """Check and evaluate eligibility criteria."""


@criteria.command("check")
@click.argument("file", type=existing_file)
def check_command(file: Path) -> None:
    """Validate FILE (criteria as JSON or text) and print the normalised JSON."""
    node = _load_criteria(file)
    click.echo(json.dumps(to_json(node), indent=2, ensure_ascii=False))


sites_option = click.option(
    "--sites",
    "sites_file",
    type=existing_file,
    help='JSON list of the study\'s sites, [{"name", "lat", "lon"}], for distance_to_site_km.',
)


@criteria.command("eval")
@click.argument("criteria_file", type=existing_file)
@click.argument("profile_file", type=existing_file)
@on_option
@sites_option
def eval_command(
    criteria_file: Path, profile_file: Path, on: dt.datetime | None, sites_file: Path | None
) -> None:
    """Print true, false or unknown: does the profile meet the criteria?"""
    node = _load_criteria(criteria_file)
    profile = _load_profile(profile_file, _evaluation_date(on))
    sites = _load_sites(sites_file)
    click.echo(str(evaluate(node, profile, _evaluation_date(on), sites)))


@criteria.command("explain")
@click.argument("criteria_file", type=existing_file)
@click.argument("profile_file", type=existing_file)
@on_option
@sites_option
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain_command(
    criteria_file: Path, profile_file: Path, on: dt.datetime | None, sites_file: Path | None, as_json: bool
) -> None:
    """Explain, criterion by criterion, why the profile does or does not meet the criteria."""
    node = _load_criteria(criteria_file)
    profile = _load_profile(profile_file, _evaluation_date(on))
    explanation = explain(node, profile, _evaluation_date(on), _load_sites(sites_file))
    if as_json:
        leaves = [
            {
                "path": leaf.path,
                "criterion": leaf.criterion,
                "result": str(leaf.result),
                "negated": leaf.negated,
                "sentence": leaf.sentence,
                "question": leaf.question,
            }
            for leaf in explanation.leaves
        ]
        click.echo(json.dumps({"result": str(explanation.result), "leaves": leaves}, indent=2))
        return
    click.echo(f"result: {explanation.result}")
    for leaf in explanation.leaves:
        wanted = " (the study wants this to be false)" if leaf.negated else ""
        click.echo(f"- {leaf.criterion}: {leaf.result}{wanted}: {leaf.sentence}")
        if leaf.question:
            click.echo(f"  to settle it: {leaf.question}")


__all__ = ["criteria"]
