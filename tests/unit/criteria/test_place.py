"""Place (§4a): regions up the ISO 3166 hierarchy, homes, and the distance to a study's nearest
site, checked against a small independent evaluator written here (its own walk of pycountry's
parent links, its own distance formula: the chord between unit vectors)."""

from __future__ import annotations

import datetime as dt
import math

import pycountry
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel_service.domain.criteria import (
    All,
    Any,
    CriteriaError,
    FieldLeaf,
    Node,
    Not,
    Truth,
    evaluate,
    explain,
    parse_json,
    parse_text,
    to_json,
    to_text,
)
from panel_service.domain.geo import EARTH_RADIUS_KM, Home, Sites, site_points
from panel_service.domain.profile import ProfileData
from panel_service.domain.profile_json import ProfileJSONError, profile_from_json, profile_to_json
from tests.unit.criteria.strategies import EVALUATION_DAYS, criteria_trees, profiles, site_sets
from tests.unit.criteria.test_histories import independent as independent_histories

ON = dt.date(2026, 6, 15)
AARHUS_SITE = site_points([{"name": "Aarhus University Hospital", "lat": 56.19, "lon": 10.17}])


class Tie(Exception):
    """A distance within a micrometre of a threshold: floating point may fall either way."""


def _chain(code: str) -> list[str]:
    chain = [code]
    while True:
        subdivision = pycountry.subdivisions.get(code=chain[-1])
        if subdivision is None:
            return chain
        chain.append(subdivision.parent_code or subdivision.country_code)


def _km(home: tuple[float, float], site: tuple[float, float, float]) -> float:
    def unit(lat: float, lon: float) -> tuple[float, float, float]:
        phi, lam = math.radians(lat), math.radians(lon)
        return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))

    a, b = unit(*home), unit(site[0], site[1])
    chord = math.dist(a, b)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, chord / 2))


def _compare(km: float, op: str, value: object) -> bool:
    bounds = value if isinstance(value, tuple) else (value,)
    for bound in bounds:
        if abs(km - float(bound)) < 1e-6:  # type: ignore[arg-type]
            raise Tie
    if op == "between":
        low, high = value  # type: ignore[misc]
        return float(low) <= km <= float(high)
    return {"lt": km < value, "le": km <= value, "gt": km > value, "ge": km >= value}[op]  # type: ignore[operator]


def _place_truth(leaf: FieldLeaf, profile: ProfileData, sites: Sites) -> Truth:
    if leaf.field == "region":
        if profile.region is None:
            return Truth.UNKNOWN
        values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
        chain = _chain(profile.region)
        if any(value in chain for value in values):
            found = Truth.TRUE
        elif any(profile.region in _chain(str(value))[1:] for value in values):
            found = Truth.UNKNOWN
        else:
            found = Truth.FALSE
        return found.negate() if leaf.op == "ne" else found
    if profile.home is None or not sites:
        return Truth.UNKNOWN
    nearest = min(_km((profile.home.lat, profile.home.lon), site) for site in sites)
    return Truth.TRUE if _compare(nearest, leaf.op, leaf.value) else Truth.FALSE


def independent(node: Node, profile: ProfileData, on: dt.date, sites: Sites) -> Truth:
    """Raises ``Tie`` where a distance sits on a threshold."""
    if isinstance(node, All):
        return min(independent(child, profile, on, sites) for child in node.children)
    if isinstance(node, Any):
        return max(independent(child, profile, on, sites) for child in node.children)
    if isinstance(node, Not):
        return independent(node.child, profile, on, sites).negate()
    if isinstance(node, FieldLeaf) and node.field in ("region", "distance_to_site_km"):
        return _place_truth(node, profile, sites)
    return independent_histories(node, profile, on)


def agrees(tree: Node, profile: ProfileData, on: dt.date, sites: Sites) -> bool:
    try:
        expected = independent(tree, profile, on, sites)
    except Tie:
        return True
    return evaluate(tree, profile, on, sites) is expected


@settings(max_examples=400, deadline=None)
@given(tree=criteria_trees(6), profile=profiles(), sites=site_sets(), on=st.sampled_from(EVALUATION_DAYS))
def test_the_evaluator_agrees_with_the_independent_one(
    tree: Node, profile: ProfileData, sites: Sites, on: dt.date
) -> None:
    assert agrees(tree, profile, on, sites), (to_text(tree), profile)


def truth(text: str, profile: ProfileData, sites: Sites = AARHUS_SITE) -> Truth:
    return evaluate(parse_text(text), profile, ON, sites)


@pytest.mark.parametrize(
    ("criterion", "region", "expected"),
    [
        ("region = DK", "DK-84", Truth.TRUE),  # a subdivision is in its country
        ("region = GB-ENG", "GB-LND", Truth.TRUE),  # and in its parent subdivision
        ("region = GB", "GB-LND", Truth.TRUE),
        ("region = GB-SCT", "GB-LND", Truth.FALSE),
        ("region = DK-84", "DK-84", Truth.TRUE),
        ("region = DK-84", "DK", Truth.UNKNOWN),  # less specific than what the study asks
        ("region = GB-LND", "GB-ENG", Truth.UNKNOWN),
        ("region = DK-84", "SE-M", Truth.FALSE),
        ("region != DK", "DK-81", Truth.FALSE),
        ("region != DK-84", "DK", Truth.UNKNOWN),
        ("region in (SE, GB-ENG)", "GB-CMD", Truth.TRUE),
        ("region in (SE, GB-LND)", "GB-ENG", Truth.UNKNOWN),
        ("region = DK", None, Truth.UNKNOWN),
    ],
)
def test_region_hierarchy(criterion: str, region: str | None, expected: Truth) -> None:
    assert truth(criterion, ProfileData(region=region)) is expected


def test_distance_to_the_nearest_site() -> None:
    aarhus, copenhagen = Home(56.16, 10.21), Home(55.68, 12.57)
    two_sites = site_points([{"lat": 56.19, "lon": 10.17}, {"lat": 55.73, "lon": 12.57}])
    assert truth("distance_to_site_km <= 50", ProfileData(home=aarhus)) is Truth.TRUE
    assert truth("distance_to_site_km <= 50", ProfileData(home=copenhagen)) is Truth.FALSE
    assert truth("distance_to_site_km <= 50", ProfileData(home=copenhagen), two_sites) is Truth.TRUE
    assert truth("distance_to_site_km > 100", ProfileData(home=copenhagen)) is Truth.TRUE
    assert truth("distance_to_site_km between 155 and 165", ProfileData(home=copenhagen)) is Truth.TRUE
    assert truth("distance_to_site_km <= 50", ProfileData()) is Truth.UNKNOWN  # no home
    # No sites: there is no nearest site, so nobody is known to be near one or far from all.
    assert truth("distance_to_site_km <= 50", ProfileData(home=aarhus), ()) is Truth.UNKNOWN
    assert truth("not distance_to_site_km <= 50", ProfileData(home=aarhus), ()) is Truth.UNKNOWN
    assert truth("distance_to_site_km <= 0", ProfileData(home=Home(56.19, 10.17))) is Truth.TRUE


def test_place_leaves_in_the_text_and_json_forms() -> None:
    tree = parse_json(
        {
            "all": [
                {"field": "region", "op": "in", "value": ["gb-eng", "DK"]},
                {"field": "distance_to_site_km", "op": "between", "value": [0, 75.5]},
            ]
        }
    )
    assert to_text(tree) == "region in (DK, GB-ENG) and distance_to_site_km between 0 and 75.5"
    assert parse_text(to_text(tree)) == tree
    assert to_json(parse_text("distance_to_site_km <= 50")) == {
        "field": "distance_to_site_km",
        "op": "le",
        "value": 50,
    }


@pytest.mark.parametrize(
    ("criteria", "path", "message"),
    [
        ({"field": "region", "op": "eq", "value": "XX-99"}, "value", 'unknown region "XX-99"'),
        (
            {"all": [{"field": "region", "op": "in", "value": ["DK", "QQ"]}]},
            "all[0].value[1]",
            'unknown region "QQ"',
        ),
        ({"field": "region", "op": "eq", "value": 7}, "value", "region takes an ISO 3166-2 code"),
        ({"field": "distance_to_site_km", "op": "eq", "value": 5}, "op", "does not apply"),
        ({"field": "distance_to_site_km", "op": "le", "value": -1}, "value", "from 0 to 20000"),
        ({"field": "distance_to_site_km", "op": "le", "value": "far"}, "value", "takes a number"),
    ],
)
def test_bad_place_leaves_are_refused_with_their_path(criteria: object, path: str, message: str) -> None:
    with pytest.raises(CriteriaError) as caught:
        parse_json(criteria)
    issue = caught.value.issues[0]
    assert (issue.path, message in issue.message) == (path, True), issue


def test_explanations_in_english_and_danish() -> None:
    tree = parse_text("distance_to_site_km <= 50 and region = DK")
    profile = ProfileData(region="DK-84", home=Home(55.68, 12.57))
    english = [leaf.sentence for leaf in explain(tree, profile, ON, AARHUS_SITE).leaves]
    danish = [leaf.sentence for leaf in explain(tree, profile, ON, AARHUS_SITE, language="da").leaves]
    assert english == [
        "you live about 160 km from the nearest site of the study, and the study asks for at most 50 km",
        "you told us you live in the Capital Region of Denmark, and that is in Denmark",
    ]
    assert danish == [
        "du bor cirka 160 km fra studiets nærmeste sted, og studiet spørger om højst 50 km",
        "du har fortalt os, at du bor i Region Hovedstaden, og det er i Danmark",
    ]
    unknown = explain(tree, ProfileData(region="DK"), ON, AARHUS_SITE).leaves[0]
    assert (unknown.sentence, unknown.question) == (
        "you have not told us which town you live in",
        "Which town do you live in?",
    )
    vaguer = explain(parse_text("region = DK-84"), ProfileData(region="DK"), ON).leaves[0]
    assert vaguer.sentence.startswith("you told us you live in Denmark, which is less specific")


@pytest.mark.parametrize(
    ("home", "expected"),
    [
        ({"lat": 55.6789, "lon": 12.5711}, Home(55.68, 12.57)),
        ({"place": "Aarhus, DK"}, Home(56.16, 10.21, "Århus, DK", 2624652)),
        ({"place": "københavn, dk"}, Home(55.68, 12.57, "Copenhagen, DK", 2618425)),
        ({"geonameid": 2624652}, Home(56.16, 10.21, "Århus, DK", 2624652)),
    ],
)
def test_profile_json_takes_a_home(home: dict[str, object], expected: Home) -> None:
    profile = profile_from_json({"home": home})
    assert profile.home == expected
    assert profile_from_json(profile_to_json(profile)) == profile


@pytest.mark.parametrize(
    ("home", "key", "message"),
    [
        ({"place": "Atlantis, DK"}, "home.place", "no town"),
        ({"geonameid": 1}, "home.geonameid", "no town with GeoNames id"),
        ({"lat": 91, "lon": 0}, "home.lat", "-90 to 90"),
        ({"lat": 55}, "home.lon", "expected a number"),
        ({"street": "Nørrebrogade 1"}, "home.street", "unknown key"),
        ({}, "home", 'give "lat" and "lon"'),
        ("Aarhus", "home", "expected"),
    ],
)
def test_bad_homes_are_refused_with_their_key(home: object, key: str, message: str) -> None:
    with pytest.raises(ProfileJSONError) as caught:
        profile_from_json({"home": home})
    assert any(found == key and message in text for found, text in caught.value.errors), caught.value.errors


def test_profile_regions_are_checked_against_iso_3166() -> None:
    assert profile_from_json({"region": "gb-lnd"}).region == "GB-LND"
    assert profile_from_json({"region": "DK"}).region == "DK"
    with pytest.raises(ProfileJSONError):
        profile_from_json({"region": "DK-99"})


def test_the_gazetteer_finds_towns_without_javascript_or_network() -> None:
    from panel_service.domain import gazetteer

    assert [place.label for place in gazetteer.search("aarh", country="DK")][:1] == ["Århus, DK"]
    assert gazetteer.search("odense, dk")[0].label == "Odense, DK"
    assert gazetteer.lookup("Koge, DK") is not None  # accents need not be typed
