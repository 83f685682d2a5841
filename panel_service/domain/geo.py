"""Where a volunteer lives and how far that is from a study's sites (§4a).

A home is a point, rounded to ``HOME_DECIMALS`` decimal degrees (about a kilometre: a town,
never an address), with the gazetteer place it came from when the volunteer picked one.

Distances are great-circle (haversine, mean Earth radius). The criteria never compare
kilometres directly: ``d <= v`` is tested as ``a <= sin²(v / 2R)`` on the haversine term ``a``
(``d = 2R·asin(√a)`` rises with ``a``), so the in-memory evaluator and the SQL compiler compute
the same ``a`` in the same order and compare it with the same precomputed threshold; no
``asin`` is needed in SQL and nothing can stray outside its domain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
HOME_DECIMALS = 2  # 0.01° is at most 1.1 km
MAX_DISTANCE_KM = 20000.0  # half the circumference is 20,015 km
KM_PER_DEGREE_LATITUDE = math.pi * EARTH_RADIUS_KM / 180.0

# A site as the criteria see it: (latitude, longitude, cos(radians(latitude))).
SitePoint: TypeAlias = tuple[float, float, float]
Sites: TypeAlias = tuple[SitePoint, ...]


@dataclass(frozen=True)
class Home:
    lat: float
    lon: float
    place: str | None = None  # "Aarhus, DK" when picked from the gazetteer
    geonameid: int | None = None

    def to_json(self) -> dict[str, object]:
        found: dict[str, object] = {"lat": self.lat, "lon": self.lon}
        if self.place is not None:
            found["place"] = self.place
        if self.geonameid is not None:
            found["geonameid"] = self.geonameid
        return found


def round_coordinate(value: float) -> float:
    return round(float(value), HOME_DECIMALS)


def site_points(sites: Sequence[dict[str, object]] | None) -> Sites:
    """A study version's stored sites (``[{"name", "lat", "lon"}]``) as the criteria take them."""
    points: list[SitePoint] = []
    for site in sites or ():
        lat, lon = site.get("lat"), site.get("lon")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            points.append((float(lat), float(lon), math.cos(math.radians(float(lat)))))
    return tuple(points)


def haversine_a(lat: float, lon: float, site: SitePoint) -> float:
    """The haversine term between a home and a site, written exactly as the SQL computes it."""
    site_lat, site_lon, site_cos = site
    return math.pow(math.sin(math.radians(lat - site_lat) / 2), 2) + math.cos(
        math.radians(lat)
    ) * site_cos * math.pow(math.sin(math.radians(lon - site_lon) / 2), 2)


def a_threshold(km: float) -> float:
    """``a`` at distance ``km``: ``d <= km`` exactly when ``a <= a_threshold(km)``."""
    return math.pow(math.sin(min(float(km), MAX_DISTANCE_KM) / (2 * EARTH_RADIUS_KM)), 2)


def km_of_a(a: float) -> float:
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, a))))


def nearest_a(home: tuple[float, float] | None, sites: Sites) -> float | None:
    """The smallest haversine term over the sites; None without a home or without sites."""
    if home is None or not sites:
        return None
    return min(haversine_a(home[0], home[1], site) for site in sites)


def nearest_km(home: tuple[float, float] | None, sites: Sites) -> float | None:
    a = nearest_a(home, sites)
    return None if a is None else km_of_a(a)


def bounding_box(site: SitePoint, km: float) -> tuple[float, float, float | None, float | None]:
    """A latitude/longitude box holding every point within ``km`` of the site, with a margin.

    ``(lat_low, lat_high, lon_low, lon_high)``; the longitude bounds are None when the box would
    reach a pole or cross the antimeridian (then only latitude prefilters).
    """
    degrees = km / KM_PER_DEGREE_LATITUDE * 1.01 + 0.01
    lat_low, lat_high = site[0] - degrees, site[0] + degrees
    widest = max(abs(lat_low), abs(lat_high))
    if widest >= 89.0:
        return lat_low, lat_high, None, None
    lon_degrees = degrees / math.cos(math.radians(widest))
    lon_low, lon_high = site[1] - lon_degrees, site[1] + lon_degrees
    if lon_low < -180.0 or lon_high > 180.0:
        return lat_low, lat_high, None, None
    return lat_low, lat_high, lon_low, lon_high
