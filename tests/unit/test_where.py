"""Towns and sites in words (issue 13 item 4): names in the volunteer's language, the town a
site is in, and a brute-force check of the latitude-band search for the nearest town."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from panel_service.domain import gazetteer
from panel_service.domain.geo import Home, haversine_a, km_of_a


def test_towns_are_named_in_the_volunteers_language_and_found_by_either_name() -> None:
    copenhagen = gazetteer.lookup("Copenhagen, DK")
    aarhus = gazetteer.lookup("Århus, DK")
    assert copenhagen is not None and aarhus is not None
    assert (copenhagen.name_in("en"), copenhagen.name_in("da")) == ("Copenhagen", "København")
    assert (aarhus.name_in("en"), aarhus.name_in("da")) == ("Aarhus", "Aarhus")
    assert gazetteer.place_text(copenhagen, "da") == "København, Danmark"
    assert gazetteer.place_text(aarhus, "en") == "Aarhus, Denmark"
    for query, found in (
        ("København", copenhagen),
        ("kobenh", copenhagen),
        ("Aarhus", aarhus),
        ("århus", aarhus),
    ):
        assert gazetteer.search(query, limit=1) == [found], query
    malmo = gazetteer.lookup("Malmö, SE")
    assert malmo is not None and gazetteer.search("Malmø", limit=1) == [malmo]
    assert gazetteer.lookup("Flensborg, DE") == gazetteer.lookup("Flensburg, DE")


def test_danish_towns_come_first_among_equal_prefixes() -> None:
    assert [place.country for place in gazetteer.search("Helsing", limit=2)] == ["DK", "DK"]


def test_home_text_uses_the_town_in_the_language_else_what_was_stored() -> None:
    home = gazetteer.resolve_home("Copenhagen")
    assert gazetteer.home_text(home, "da") == "København, Danmark"
    assert gazetteer.home_text(Home(55.0, 11.0, "Somewhere, DK"), "en") == "Somewhere, DK"
    assert gazetteer.home_text(Home(55.0, 11.0), "en") == "55.00, 11.00"
    assert gazetteer.home_text(None, "en") == ""


def test_a_site_is_named_with_its_town_unless_its_name_says_it() -> None:
    bispebjerg = {"name": "Bispebjerg Hospital", "lat": 55.71, "lon": 12.54}
    assert gazetteer.site_text(bispebjerg, "en") == "Bispebjerg Hospital, Copenhagen"
    assert gazetteer.site_text(bispebjerg, "da") == "Bispebjerg Hospital, København"
    # On Aarhus' edge, beside a village: Aarhus, which the name says already.
    assert gazetteer.site_text({"name": "Aarhus University Hospital", "lat": 56.19, "lon": 10.17}, "da") == (
        "Aarhus University Hospital"
    )
    assert gazetteer.site_text({"name": "Skejby", "lat": 56.19, "lon": 10.17}, "en") == "Skejby, Aarhus"
    assert (
        gazetteer.site_text({"name": "Lighthouse", "lat": 57.0, "lon": 8.0}, "en") == "Lighthouse"
    )  # at sea
    assert gazetteer.site_text({"name": "No coordinates"}, "en") == "No coordinates"


def _brute_nearest(lat: float, lon: float, within_km: float) -> gazetteer.Place | None:
    site = (lat, lon, math.cos(math.radians(lat)))
    best: tuple[float, gazetteer.Place] | None = None
    for place in gazetteer.gazetteer().by_id.values():
        km = km_of_a(haversine_a(place.lat, place.lon, site))
        weight = place.population / max(km, 1.0) ** 2
        if km <= within_km and (best is None or weight > best[0]):
            best = (weight, place)
    return None if best is None else best[1]


@settings(max_examples=40, deadline=None)
@given(lat=st.floats(54.5, 58.0), lon=st.floats(8.0, 15.5), km=st.sampled_from([5.0, 15.0, 40.0]))
def test_the_latitude_band_finds_what_a_scan_of_every_town_finds(lat: float, lon: float, km: float) -> None:
    assert gazetteer.gazetteer().nearest(lat, lon, km) == _brute_nearest(lat, lon, km)
