"""A study version's sites (product contract §3, §4a): where the study runs, by name and coordinates.

Sites are part of what a volunteer is shown and so part of what an approval covers (P5). Stored
as JSON, ``[{"name": "...", "lat": 56.19, "lon": 10.17}]``, in the order the coordinator gave.
The API sends that list; the web form sends one line per site, ``Name; latitude; longitude``.
Validation returns every problem at once, keyed by its path (``sites[1].lat``) so the API can
name it and the form can point at the line.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

MAX_SITES = 50
MAX_SITE_NAME = 200
SITE_KEYS = ("name", "lat", "lon")
_LIMITS = {"lat": 90.0, "lon": 180.0}


def _has_control(text: str) -> bool:
    # Cc: control characters (NUL, tab, newline, escape ...); Cs: lone surrogates, which are
    # not text at all and would fail to encode.
    return any(unicodedata.category(char) in ("Cc", "Cs") for char in text)


def _coordinate(value: object, key: str) -> tuple[float | None, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, "must be a number"
    number = float(value) if abs(value) < 1e300 else math.inf
    limit = _LIMITS[key]
    if not math.isfinite(number) or not -limit <= number <= limit:
        return None, f"must be between {-limit:g} and {limit:g}"
    return number, None


def clean_sites(value: object, path: str = "sites") -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The sites in canonical form and the problems found, each keyed by its path."""
    if not isinstance(value, list | tuple):
        return [], {path: 'must be a list of {"name", "lat", "lon"}'}
    if len(value) > MAX_SITES:
        return [], {path: f"must list at most {MAX_SITES} sites"}
    sites: list[dict[str, Any]] = []
    problems: dict[str, str] = {}
    for index, item in enumerate(value):
        site, found = clean_site(item, f"{path}[{index}]")
        problems.update(found)
        if site is not None:
            sites.append(site)
    return (sites, problems) if not problems else ([], problems)


def clean_site(item: object, where: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """One site in canonical form (None when it has problems) and its problems under ``where``."""
    if not isinstance(item, dict):
        return None, {where: 'must be an object with "name", "lat" and "lon"'}
    problems: dict[str, str] = {}
    for key in item:
        if key not in SITE_KEYS:
            problems[f"{where}.{str(key)[:50]}"] = "unknown field"
    raw_name = item.get("name")
    name = ""
    if not isinstance(raw_name, str):
        problems[f"{where}.name"] = f"must be a text of 1 to {MAX_SITE_NAME} characters"
    elif _has_control(raw_name):
        problems[f"{where}.name"] = "must not contain control characters"
    else:
        name = " ".join(raw_name.split())
        if not name:
            problems[f"{where}.name"] = "must not be empty"
        elif len(name) > MAX_SITE_NAME:
            problems[f"{where}.name"] = f"must be at most {MAX_SITE_NAME} characters"
    coordinates: dict[str, float] = {}
    for key in ("lat", "lon"):
        if key not in item:
            problems[f"{where}.{key}"] = "is required"
            continue
        number, problem = _coordinate(item[key], key)
        if problem is not None:
            problems[f"{where}.{key}"] = problem
        elif number is not None:
            coordinates[key] = number
    if problems:
        return None, problems
    return {"name": name, "lat": coordinates["lat"], "lon": coordinates["lon"]}, {}


def parse_lines(text: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``Name; latitude; longitude`` a line (blank lines skipped; a decimal comma is accepted)
    into the list ``clean_sites`` takes. Problems are keyed ``sites[i]`` by the site's index."""
    raw: list[dict[str, Any]] = []
    problems: dict[str, str] = {}
    for line in (line for line in text.splitlines() if line.strip()):
        index = len(raw)
        parts = [part.strip() for part in line.split(";")]
        if len(parts) != 3:
            problems[f"sites[{index}]"] = "write one site a line as: Name; latitude; longitude"
            raw.append({})
            continue
        site: dict[str, Any] = {"name": parts[0]}
        for key, part in zip(("lat", "lon"), parts[1:], strict=True):
            try:
                site[key] = float(part.replace(",", ".")) if part else None
            except ValueError:
                site[key] = part
        raw.append(site)
    return raw, problems


def to_lines(sites: list[dict[str, Any]]) -> str:
    return "\n".join(f"{site['name']}; {site['lat']}; {site['lon']}" for site in sites)
