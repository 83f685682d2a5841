"""Regions: ISO 3166-1 countries and ISO 3166-2 subdivisions, from ``pycountry`` (§4a).

A region in criteria may be a country (``DK``) or any subdivision (``DK-84``, ``GB-ENG``,
``GB-LND``); a volunteer's region matches the criterion's region when it is that region or lies
inside it (``GB-LND`` is in ``GB-ENG`` is in ``GB``). The hierarchy is the one ``pycountry``
ships (ISO 3166-2 ``parent`` links, then the country), so it is the same in memory and in SQL:
the evaluator tests the volunteer's ancestors, the SQL compiler ``region IN (descendants)``.

What the profile form offers is narrower: the top-level subdivisions of the countries Panel
recruits in (Denmark first; the neighbours so that someone living across a border can answer).
Names come from ``pycountry`` and its Danish translations; the five Danish regions keep the
names Danes use for them.
"""

from __future__ import annotations

import functools
import gettext
import re
import typing as t
from dataclasses import dataclass

import pycountry

FORM_COUNTRIES = ("DK", "SE", "NO", "DE", "NL", "GB")
# Subdivisions of those countries that are not somewhere one lives "in the country": the
# Arctic islands, and the Caribbean parts of the Kingdom of the Netherlands.
_NOT_OFFERED_TYPES = {"Arctic region", "Special municipality"}
_NOT_OFFERED = {"NL-AW", "NL-CW", "NL-SX"}
_DANISH_REGIONS = {
    "DK-84": ("Capital Region of Denmark", "Region Hovedstaden"),
    "DK-82": ("Central Denmark Region", "Region Midtjylland"),
    "DK-81": ("North Denmark Region", "Region Nordjylland"),
    "DK-85": ("Region Zealand", "Region Sjælland"),
    "DK-83": ("Region of Southern Denmark", "Region Syddanmark"),
}
_BRACKETED = re.compile(r"\s*\[[^\]]*\]")  # "Stockholms län [SE-01]" → "Stockholms län"


@dataclass(frozen=True)
class Region:
    code: str
    country: str  # ISO 3166-1 alpha-2, for grouping in the select
    name_en: str
    name_da: str

    def name(self, language: str) -> str:
        return self.name_da if language == "da" else self.name_en


@functools.cache
def _danish(domain: str) -> gettext.NullTranslations:
    try:
        return gettext.translation(domain, pycountry.LOCALES_DIR, languages=["da"])
    except OSError:
        return gettext.NullTranslations()


def _clean(name: str) -> str:
    return _BRACKETED.sub("", name).strip()


def _names(code: str) -> tuple[str, str]:
    if code in _DANISH_REGIONS:
        return _DANISH_REGIONS[code]
    if "-" not in code:
        country = pycountry.countries.get(alpha_2=code)
        assert country is not None  # callers pass only codes is_region() knows
        english = getattr(country, "common_name", None) or country.name
        return english, _danish("iso3166-1").gettext(country.name)
    subdivision = pycountry.subdivisions.get(code=code)
    return _clean(subdivision.name), _clean(_danish("iso3166-2").gettext(subdivision.name))


@functools.cache
def _hierarchy() -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """The parent of every subdivision (its parent subdivision, else its country) and the
    descendants of every country and subdivision (itself included)."""
    parent: dict[str, str] = {}
    for subdivision in pycountry.subdivisions:
        parent[subdivision.code] = subdivision.parent_code or subdivision.country_code
    below: dict[str, set[str]] = {country.alpha_2: {country.alpha_2} for country in pycountry.countries}
    for code in parent:
        below.setdefault(code, set()).add(code)
    for code in parent:
        for ancestor in region_ancestors(code, parent)[1:]:
            below.setdefault(ancestor, {ancestor}).add(code)
    return parent, {code: frozenset(codes) for code, codes in below.items()}


def region_ancestors(code: str, parent: dict[str, str] | None = None) -> tuple[str, ...]:
    """``code`` and every region it lies in, nearest first: ``GB-LND`` → GB-LND, GB-ENG, GB.

    A code that ISO 3166 does not know (a value stored before regions were checked) is only
    itself, in memory as in SQL.
    """
    links = _hierarchy()[0] if parent is None else parent
    chain = [code]
    while chain[-1] in links and len(chain) < 8:
        chain.append(links[chain[-1]])
    return tuple(chain)


def is_region(code: str) -> bool:
    """A country (ISO 3166-1 alpha-2) or subdivision (ISO 3166-2) that ISO 3166 knows."""
    return code in _hierarchy()[1]


def region_descendants(code: str) -> frozenset[str]:
    """``code`` and every subdivision inside it (``DK`` → DK and its five regions)."""
    return _hierarchy()[1].get(code, frozenset({code}))


def normalise_region(value: object) -> str:
    """Upper case and checked against ISO 3166; raises ValueError for an unknown region."""
    if not isinstance(value, str) or not is_region(value.strip().upper()):
        raise ValueError(value)
    return value.strip().upper()


@functools.cache
def _offered() -> tuple[Region, ...]:
    regions: list[Region] = []
    for country in FORM_COUNTRIES:
        codes = sorted(
            subdivision.code
            for subdivision in pycountry.subdivisions.get(country_code=country)
            if subdivision.parent_code is None
            and subdivision.type not in _NOT_OFFERED_TYPES
            and subdivision.code not in _NOT_OFFERED
        )
        offered = [Region(code, country, *_names(code)) for code in codes]
        regions += sorted(offered, key=lambda region: region.name_en) if country != "DK" else offered
    return tuple(regions)


@functools.cache
def _by_code() -> dict[str, Region]:
    return {region.code: region for region in _offered()}


def __getattr__(name: str) -> t.Any:
    # REGIONS and BY_CODE are built on first use: reading ISO 3166-2 takes a few tenths of a
    # second, which the CLI and the workers need not pay unless they name a region.
    if name == "REGIONS":
        return _offered()
    if name == "BY_CODE":
        return _by_code()
    raise AttributeError(name)


def region_name(code: str | None, language: str = "en") -> str | None:
    """The region's name in ``language`` (English or Danish); the code when ISO 3166 has no name."""
    if code is None:
        return None
    region = _by_code().get(code)
    if region is not None:
        return region.name(language)
    if not is_region(code):
        return code
    english, danish = _names(code)
    return danish if language == "da" else english
