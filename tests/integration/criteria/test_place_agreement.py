"""Place leaves in SQL (§4a): region hierarchy and distance to the nearest site match exactly
the profiles that memory says TRUE, and the independent evaluator of ``test_place`` agrees, on
PostgreSQL and SQLite, with the study's sites drawn (none, one, several, across the world)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, func, select

from panel_service.domain.criteria import All, Node, Truth, evaluate, parse_json, parse_text, to_json, to_text
from panel_service.domain.geo import Home, Sites, site_points
from panel_service.domain.profile import ProfileData
from panel_service.queries.criteria_sql import attrition_counts, compile_where, matching_ids, profiles
from tests.integration.criteria.test_sql_agreement import SQL_SETTINGS, insert_profiles
from tests.unit.criteria.strategies import EVALUATION_DAYS, criteria_trees, site_sets
from tests.unit.criteria.strategies import profiles as profile_strategy
from tests.unit.criteria.test_place import Tie, independent


def sql_matches(connection: Connection, node: Node, on: dt.date, sites: Sites) -> set[int]:
    return set(connection.execute(matching_ids(node, on, connection.dialect.name, sites)).scalars())


def memory_matches(node: Node, people: dict[int, ProfileData], on: dt.date, sites: Sites) -> set[int]:
    return {pid for pid, person in people.items() if evaluate(node, person, on, sites) is Truth.TRUE}


@settings(SQL_SETTINGS, max_examples=150)
@given(
    tree=criteria_trees(max_leaves=6),
    people=st.lists(profile_strategy(), min_size=1, max_size=12),
    sites=site_sets(),
    on=st.sampled_from(EVALUATION_DAYS),
)
def test_place_agrees_three_ways(
    engine: Engine, tree: Node, people: list[ProfileData], sites: Sites, on: dt.date
) -> None:
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_profiles(connection, people, first_id=6_000_000)
            found = sql_matches(connection, tree, on, sites) & set(ids)
        finally:
            transaction.rollback()
    by_id = dict(zip(ids, people, strict=True))
    assert found == memory_matches(tree, by_id, on, sites), to_text(tree)
    for pid, person in by_id.items():
        try:
            expected = independent(tree, person, on, sites) is Truth.TRUE
        except Tie:
            continue
        assert (pid in found) == expected, (to_text(tree), person)


@settings(SQL_SETTINGS, max_examples=40)
@given(trees=st.lists(criteria_trees(max_leaves=3), min_size=1, max_size=3), sites=site_sets())
def test_attrition_with_sites_agrees_with_memory(engine: Engine, trees: list[Node], sites: Sites) -> None:
    on = EVALUATION_DAYS[-1]
    root = parse_json({"all": [to_json(tree) for tree in trees]})
    criteria = root.children if isinstance(root, All) else (root,)
    people = [
        ProfileData(region="DK-84", home=Home(55.68, 12.57)),
        ProfileData(region="GB-LND", home=Home(51.51, -0.13)),
        ProfileData(region="DK", home=None),
        ProfileData(region=None, home=Home(56.16, 10.21)),
    ]
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_profiles(connection, people, first_id=7_000_000)
            counts = attrition_counts(
                connection, root, on, base_where=profiles.c.participant_id.in_(ids), sites=sites
            )
        finally:
            transaction.rollback()
    survivors = set(range(len(people)))
    expected = []
    for criterion in criteria:
        survivors = {i for i in survivors if evaluate(criterion, people[i], on, sites) is Truth.TRUE}
        expected.append((to_text(criterion), len(survivors)))
    assert counts == expected


def test_distance_and_region_examples_in_sql(engine: Engine) -> None:
    on = dt.date(2026, 6, 15)
    aarhus = site_points([{"lat": 56.19, "lon": 10.17}])
    sydney = site_points([{"lat": -33.87, "lon": 151.21}])
    people = [
        ProfileData(region="DK-82", home=Home(56.16, 10.21)),  # Aarhus, 4 km
        ProfileData(region="DK-84", home=Home(55.68, 12.57)),  # Copenhagen, 160 km
        ProfileData(region="DK", home=None),  # no home
        ProfileData(region="GB-LND", home=Home(-36.85, 174.76)),  # Auckland: 2,160 km from Sydney
    ]
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_profiles(connection, people, first_id=8_000_000)

            def found(text: str, sites: Sites = aarhus) -> list[int]:
                return sorted(
                    ids.index(pid) for pid in sql_matches(connection, parse_text(text), on, sites) & set(ids)
                )

            assert found("distance_to_site_km <= 50") == [0]
            assert found("not distance_to_site_km <= 50") == [1, 3]
            assert found("distance_to_site_km > 100") == [1, 3]
            assert found("distance_to_site_km <= 50", ()) == []  # no sites: unknown for everyone
            assert found("not distance_to_site_km <= 50", ()) == []
            assert found("distance_to_site_km between 2000 and 2500", sydney) == [3]
            assert found("region = DK") == [0, 1, 2]
            assert found("region = GB-ENG") == [3]
            assert found("not region = DK-84") == [0, 3]  # "DK" alone is less specific: unknown
            # The bounding box is in the query, so an index on (home_lat, home_lon) can help.
            where = str(compile_where(parse_text("distance_to_site_km <= 50"), on, "postgresql", aarhus))
            assert "home_lat BETWEEN" in where and "home_lon BETWEEN" in where
            assert (
                connection.scalar(
                    select(func.count()).select_from(profiles).where(profiles.c.participant_id.in_(ids))
                )
                == 4
            )
        finally:
            transaction.rollback()
