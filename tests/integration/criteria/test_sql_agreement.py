"""The agreement proof: for random trees and random profiles, SQL matches exactly the profiles
whose in-memory result is TRUE, on PostgreSQL and on SQLite."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, func, insert, select

from panel_service.domain.criteria import (
    All,
    Node,
    Not,
    Truth,
    evaluate,
    parse_json,
    parse_text,
    to_json,
    to_text,
)
from panel_service.domain.criteria.summary import code_summary
from panel_service.domain.history import Entry, history_row, make_entry
from panel_service.domain.profile import ProfileData
from panel_service.models import Participant
from panel_service.queries.criteria_sql import (
    attrition_counts,
    compile_where,
    matching_ids,
    profile_conditions,
    profile_medications,
    profiles,
)
from tests.unit.criteria.strategies import EVALUATION_DAYS, criteria_trees, random_profile
from tests.unit.criteria.strategies import profiles as profile_strategy
from tests.unit.criteria.test_histories import SMALL_DAY, independent, small_space

settings.register_profile(
    "criteria-sql",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SQL_SETTINGS = settings.get_profile("criteria-sql")
POPULATION_SIZE = 400
participants = Participant.__table__


def insert_profiles(connection: Connection, people: Sequence[ProfileData], first_id: int = 1) -> list[int]:
    ids = list(range(first_id, first_id + len(people)))
    connection.execute(insert(participants), [{"id": pid} for pid in ids])
    connection.execute(
        insert(profiles),
        [
            {
                "participant_id": pid,
                "birth_date": person.birth_date,
                "sex": person.sex,
                "region": person.region,
                "height_cm": person.height_cm,
                "weight_kg": person.weight_kg,
                "bmi": person.bmi,
                "smoker": person.smoker,
                "pregnant": person.pregnant,
                "conditions_answered": person.conditions is not None,
                "medications_answered": person.medications is not None,
                "home_lat": None if person.home is None else person.home.lat,
                "home_lon": None if person.home is None else person.home.lon,
                "condition_codes": summary_of(person.condition_entries, "icd10"),
                "medication_codes": summary_of(person.medication_entries, "atc"),
            }
            for pid, person in zip(ids, people, strict=True)
        ],
    )
    for table, attribute in (
        (profile_conditions, "condition_entries"),
        (profile_medications, "medication_entries"),
    ):
        rows = [
            {"participant_id": pid, "code": entry.code, **history_row(entry)}
            for pid, person in zip(ids, people, strict=True)
            for entry in getattr(person, attribute) or ()
        ]
        if rows:
            connection.execute(insert(table), rows)
    return ids


def summary_of(entries: Sequence[Entry] | None, system: str) -> list[str] | None:
    """The code summary of the rows inserted for these entries, as the writers store it."""
    return None if entries is None else code_summary((entry.code for entry in entries), system)


def clear(connection: Connection) -> None:
    for table in (profile_conditions, profile_medications, profiles, participants):
        connection.execute(delete(table))


def population() -> list[ProfileData]:
    """A fixed, seeded population from the same edge-seeking pools as the drawn profiles."""
    rng = random.Random(20261125)
    return [random_profile(rng) for _ in range(POPULATION_SIZE)]


class Populated(tuple[Engine, dict[int, ProfileData]]):
    """The engine and its inserted population; a short repr keeps hypothesis reports readable."""

    def __repr__(self) -> str:
        return f"<{len(self[1])} profiles on {self[0].dialect.name}>"


@pytest.fixture(scope="module")
def populated(engine: Engine) -> Iterator[Populated]:
    people = population()
    with engine.begin() as connection:
        clear(connection)
        ids = insert_profiles(connection, people)
    yield Populated((engine, dict(zip(ids, people, strict=True))))
    with engine.begin() as connection:
        clear(connection)


def sql_matches(connection: Connection, node: Node, on: dt.date) -> set[int]:
    query = matching_ids(node, on, connection.dialect.name)
    return set(connection.execute(query).scalars())


def memory_matches(node: Node, people: dict[int, ProfileData], on: dt.date) -> set[int]:
    return {pid for pid, person in people.items() if evaluate(node, person, on) is Truth.TRUE}


@SQL_SETTINGS
@given(tree=criteria_trees(), on=st.sampled_from(EVALUATION_DAYS))
def test_sql_matches_exactly_the_true_profiles(
    populated: tuple[Engine, dict[int, ProfileData]], tree: Node, on: dt.date
) -> None:
    engine, people = populated
    with engine.connect() as connection:
        assert sql_matches(connection, tree, on) == memory_matches(tree, people, on), to_text(tree)


@settings(SQL_SETTINGS, max_examples=120)
@given(
    tree=criteria_trees(),
    people=st.lists(profile_strategy(), min_size=1, max_size=12),
    on=st.sampled_from(EVALUATION_DAYS),
)
def test_agreement_on_drawn_profiles(
    engine: Engine, tree: Node, people: list[ProfileData], on: dt.date
) -> None:
    """Hypothesis draws the profiles too (and shrinks a failure to the smallest profile)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_profiles(connection, people, first_id=1_000_000)
            expected = memory_matches(tree, dict(zip(ids, people, strict=True)), on)
            found = sql_matches(connection, tree, on) & set(ids)
            assert found == expected, to_text(tree)
        finally:
            transaction.rollback()


@settings(SQL_SETTINGS, max_examples=60)
@given(
    trees=st.lists(criteria_trees(max_leaves=4), min_size=1, max_size=4),
    on=st.sampled_from(EVALUATION_DAYS),
)
def test_attrition_counts_agree_with_memory(
    populated: tuple[Engine, dict[int, ProfileData]], trees: list[Node], on: dt.date
) -> None:
    engine, people = populated
    root = parse_json({"all": [to_json(tree) for tree in trees]})
    criteria = root.children if isinstance(root, All) else (root,)
    with engine.connect() as connection:
        counts = attrition_counts(connection, root, on)
    survivors = set(people)
    expected: list[tuple[str, int]] = []
    for criterion in criteria:
        survivors = {pid for pid in survivors if evaluate(criterion, people[pid], on) is Truth.TRUE}
        expected.append((to_text(criterion), len(survivors)))
    assert counts == expected


def test_attrition_respects_base_where(populated: tuple[Engine, dict[int, ProfileData]]) -> None:
    engine, people = populated
    first, second = parse_text("age >= 18"), parse_text("has condition N17-N19")
    root = parse_json({"all": [to_json(first), to_json(second)]})
    on = dt.date(2026, 11, 25)
    subset = {pid: person for pid, person in people.items() if pid <= 100}
    with engine.connect() as connection:
        counts = attrition_counts(connection, root, on, base_where=profiles.c.participant_id <= 100)
    assert counts == [
        ("age >= 18", len(memory_matches(first, subset, on))),
        ("has condition N17-N19", len(memory_matches(root, subset, on))),
    ]


def test_the_example_study_matches_exactly_the_eligible_volunteers(engine: Engine) -> None:
    tree = parse_text(
        "age between 18 and 75 and has condition G25.8 and not (has condition N17-N19 or has condition D66 "
        "or pregnant) and not takes A12CC"
    )
    on = dt.date(2026, 11, 25)
    base = ProfileData(
        birth_date=dt.date(1980, 2, 29), sex="female", pregnant=False, conditions=("G2581",), medications=()
    )
    people = [
        base,  # eligible
        replace(base, sex="male", pregnant=None),  # eligible: a man counts as not pregnant
        replace(base, pregnant=None),  # pregnancy unanswered: unknown
        replace(base, conditions=("G2581", "N183")),  # kidney disease
        replace(base, medications=("A12CC05",)),  # already takes magnesium
        replace(base, medications=None),  # medications unanswered: unknown
        replace(base, birth_date=dt.date(1951, 11, 25)),  # 75 today: eligible
        replace(base, birth_date=dt.date(1950, 11, 25)),  # 76 today
        replace(base, conditions=("G25",)),  # G25 is the parent of G25.8, not a descendant
    ]
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_profiles(connection, people, first_id=2_000_000)
            found = sql_matches(connection, tree, on) & set(ids)
        finally:
            transaction.rollback()
    assert sorted(found) == [ids[0], ids[1], ids[6]]
    assert memory_matches(tree, dict(zip(ids, people, strict=True)), on) == found


@settings(SQL_SETTINGS, max_examples=120)
@given(tree=criteria_trees(max_leaves=6), data=st.data(), on=st.sampled_from(EVALUATION_DAYS))
def test_histories_agree_three_ways(engine: Engine, tree: Node, data: st.DataObject, on: dt.date) -> None:
    """SQL = memory = the small evaluator of test_histories, on profiles whose history dates
    cluster around the evaluation day minus each qualifier's duration."""
    people = data.draw(st.lists(profile_strategy(around=on), min_size=1, max_size=12), label="people")
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_profiles(connection, people, first_id=3_000_000)
            found = sql_matches(connection, tree, on) & set(ids)
        finally:
            transaction.rollback()
    by_id = dict(zip(ids, people, strict=True))
    assert found == memory_matches(tree, by_id, on), to_text(tree)
    assert found == {pid for pid, person in by_id.items() if independent(tree, person, on) is Truth.TRUE}


def test_qualifiers_and_less_specific_answers_in_sql(engine: Engine) -> None:
    on = dt.date(2026, 6, 15)

    def taking(status: str | None, since: str | None, until: str | None) -> ProfileData:
        entry = make_entry("A12CC05", status, since, until)
        return ProfileData(medications=("A12CC05",), medication_history=(entry,), conditions=("G258",))

    people = [
        taking("past", None, "2026-03-14"),  # stopped before 15 March: no magnesium in 3 months
        taking("past", None, "2026-03"),  # maybe after 15 March: unknown
        taking("current", "2020", None),
        taking("past", None, "2025"),
        ProfileData(medications=("A12CC",), conditions=("G2581",)),  # less specific than A12CC05
    ]
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_profiles(connection, people, first_id=4_000_000)
            no_magnesium = sql_matches(connection, parse_text("not takes A12CC within P3M"), on) & set(ids)
            on_it_long = sql_matches(connection, parse_text("takes A12CC05 for at least P1Y"), on) & set(ids)
            no_g2581 = sql_matches(connection, parse_text("not has condition G25.81"), on) & set(ids)
            not_a12cc05 = sql_matches(connection, parse_text("not takes A12CC05"), on) & set(ids)
        finally:
            transaction.rollback()
    assert no_magnesium == {ids[0], ids[3]}
    assert on_it_long == {ids[2]}
    assert no_g2581 == set()  # G25.8 is less specific than G25.81: unknown, never a match
    assert not_a12cc05 == set()


def test_every_small_history_agrees_in_sql(engine: Engine) -> None:
    """The exhaustive small space of test_histories, in SQL: each leaf and its negation match
    exactly the profiles that memory (checked there against the small evaluator) says TRUE."""
    leaves, people = small_space()
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_profiles(connection, people, first_id=5_000_000)
            by_id = dict(zip(ids, people, strict=True))
            for leaf in leaves:
                for tree in (leaf, Not(leaf)):
                    found = sql_matches(connection, tree, SMALL_DAY) & set(ids)
                    assert found == memory_matches(tree, by_id, SMALL_DAY), to_text(tree)
        finally:
            transaction.rollback()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("has condition QA0-QA0", {"QA0", "QA00101", "QA08"}),
        ("has condition Q90-QA0", {"Q90", "Q999", "Q9A1", "QA0", "QA00101", "QA08"}),
        ("has condition Q90-Q99", {"Q90", "Q999"}),  # a letter sorts after every digit
        ("has condition QA0.01", {"QA00101"}),
        ("has condition QA0 or has condition QB0-QZZ", {"QA0", "QA00101", "QA08", "QB0"}),
        ("not has condition QA0-QA0", {"Q90", "Q999", "Q9A1", "QB0", "R00"}),
    ],
)
def test_icd10_cm_letter_second_codes_and_ranges_match_in_sql(
    engine: Engine, text: str, expected: set[str]
) -> None:
    """ICD-10-CM's QA0 (a letter second) sorts after Q99 and its descendants in PostgreSQL's
    ``COLLATE "C"`` and SQLite's byte order alike, as in memory."""
    codes = ["Q90", "Q999", "Q9A1", "QA0", "QA00101", "QA08", "QB0", "R00"]
    people = [ProfileData(conditions=(code,)) for code in codes]
    tree = parse_text(text)
    on = dt.date(2026, 11, 25)
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_profiles(connection, people, first_id=3_000_000)
            found = sql_matches(connection, tree, on) & set(ids)
        finally:
            transaction.rollback()
    by_id = dict(zip(ids, codes, strict=True))
    assert {by_id[pid] for pid in found} == expected
    assert memory_matches(tree, dict(zip(ids, people, strict=True)), on) == found


def test_a_count_repeated_on_one_connection_is_planned_for_its_values(pg_engine: Engine) -> None:
    """psycopg prepares a statement after its fifth run; with parameters PostgreSQL then plans it
    once for any value (for a count: one row estimated, a BitmapAnd with the whole birth-date
    range). The compiled criteria carry no parameter, so the prepared plan is the one for them;
    and the same count on the same day stays one prepared statement."""
    tree = parse_text("age between 18 and 75 and has condition G25.81 and not has condition N18 and bmi > 25")
    query = (
        select(func.count())
        .select_from(profiles)
        .where(compile_where(tree, dt.date(2026, 11, 25), "postgresql"))
    )
    with pg_engine.connect() as connection:
        counts = {connection.execute(query).scalar_one() for _ in range(12)}
        prepared = connection.exec_driver_sql(
            "SELECT parameter_types::text FROM pg_prepared_statements WHERE statement LIKE '%%condition_codes &&%%'"
        ).all()
    assert len(counts) == 1
    assert [types for (types,) in prepared] == ["{}"]
