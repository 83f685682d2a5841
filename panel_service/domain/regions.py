"""The regions a volunteer can pick in the profile form (ISO 3166-2 codes).

Panel recruits in Denmark first, so all five Danish regions come first; the neighbouring
countries' largest regions follow so that a volunteer living across a border can still
answer. Criteria may name any well-formed ISO 3166-2 code; this list is only what the form
offers. Names are given in English and Danish because the form is shown in both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    code: str
    country: str  # ISO 3166-1 alpha-2, for grouping in the select
    name_en: str
    name_da: str

    def name(self, language: str) -> str:
        return self.name_da if language == "da" else self.name_en


REGIONS: tuple[Region, ...] = (
    Region("DK-84", "DK", "Capital Region of Denmark", "Region Hovedstaden"),
    Region("DK-82", "DK", "Central Denmark Region", "Region Midtjylland"),
    Region("DK-81", "DK", "North Denmark Region", "Region Nordjylland"),
    Region("DK-85", "DK", "Region Zealand", "Region Sjælland"),
    Region("DK-83", "DK", "Region of Southern Denmark", "Region Syddanmark"),
    Region("SE-AB", "SE", "Stockholm County", "Stockholms län"),
    Region("SE-M", "SE", "Skåne County", "Skåne län"),
    Region("SE-O", "SE", "Västra Götaland County", "Västra Götalands län"),
    Region("SE-N", "SE", "Halland County", "Hallands län"),
    Region("NO-03", "NO", "Oslo", "Oslo"),
    Region("NO-46", "NO", "Vestland", "Vestland"),
    Region("DE-SH", "DE", "Schleswig-Holstein", "Slesvig-Holsten"),
    Region("DE-HH", "DE", "Hamburg", "Hamborg"),
    Region("DE-BE", "DE", "Berlin", "Berlin"),
    Region("DE-NI", "DE", "Lower Saxony", "Niedersachsen"),
    Region("NL-NH", "NL", "North Holland", "Nordholland"),
    Region("GB-ENG", "GB", "England", "England"),
    Region("GB-SCT", "GB", "Scotland", "Skotland"),
)
BY_CODE = {region.code: region for region in REGIONS}


def region_name(code: str | None, language: str = "en") -> str | None:
    if code is None:
        return None
    region = BY_CODE.get(code)
    return region.name(language) if region else code
