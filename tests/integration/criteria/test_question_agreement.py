"""``question`` leaves in SQL (§4a): SQL = memory = the independent evaluator of
tests/unit/criteria/test_questions.py, on PostgreSQL and SQLite, for drawn trees over every
question type, op and ``answered_within``, and drawn answers (stale, unanswered, partly answered
instruments, questions that do not apply to the volunteer's sex). Attrition counts agree too."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, insert

from panel_service.domain.criteria import All, Node, Truth, evaluate, parse_json, parse_text, to_json, to_text
from panel_service.domain.profile import ProfileData
from panel_service.domain.questions import Answer, derive
from panel_service.queries.criteria_sql import attrition_counts, profile_answers, profiles
from panel_service.services.questions import answer_rows
from tests.integration.criteria.test_sql_agreement import SQL_SETTINGS, insert_profiles, sql_matches
from tests.unit.criteria.question_strategies import (
    TEST_CATALOGUE,
    criteria_with_questions,
    leaf_and_answers,
    profiles_with_answers,
)
from tests.unit.criteria.strategies import EVALUATION_DAYS
from tests.unit.criteria.test_questions import independent

Drawn = list[tuple[ProfileData, dict[str, Answer]]]


def insert_answered(connection: Connection, people: Drawn, first_id: int) -> list[int]:
    ids = insert_profiles(connection, [profile for profile, _raw in people], first_id=first_id)
    rows = [
        row
        for pid, (_profile, raw) in zip(ids, people, strict=True)
        for row in answer_rows(pid, raw, TEST_CATALOGUE)
    ]
    if rows:
        connection.execute(insert(profile_answers), rows)
    return ids


def three_ways(engine: Engine, tree: Node, people: Drawn, on: dt.date, first_id: int) -> None:
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_answered(connection, people, first_id)
            found = sql_matches(connection, tree, on) & set(ids)
        finally:
            transaction.rollback()
    by_id = dict(zip(ids, people, strict=True))
    memory = {pid for pid, (profile, _raw) in by_id.items() if evaluate(tree, profile, on) is Truth.TRUE}
    small = {
        pid for pid, (profile, raw) in by_id.items() if independent(tree, profile, raw, on) is Truth.TRUE
    }
    assert found == memory, to_text(tree)
    assert memory == small, to_text(tree)


@settings(SQL_SETTINGS, max_examples=150)
@given(tree=criteria_with_questions(max_leaves=6), data=st.data(), on=st.sampled_from(EVALUATION_DAYS))
def test_questions_agree_three_ways(engine: Engine, tree: Node, data: st.DataObject, on: dt.date) -> None:
    people = data.draw(st.lists(profiles_with_answers(around=on), min_size=1, max_size=10), label="people")
    three_ways(engine, tree, people, on, first_id=5_000_000)


@settings(SQL_SETTINGS, max_examples=200)
@given(data=st.data(), on=st.sampled_from(EVALUATION_DAYS))
def test_one_leaf_at_its_edges_agrees_three_ways(engine: Engine, data: st.DataObject, on: dt.date) -> None:
    drawn = data.draw(st.lists(leaf_and_answers(on), min_size=1, max_size=6), label="leaves")
    tree = drawn[0][0]
    people = [(ProfileData(sex=sex, answers=derive(TEST_CATALOGUE, raw)), raw) for _leaf, raw, sex in drawn]
    three_ways(engine, tree, people, on, first_id=6_000_000)
    three_ways(engine, parse_json({"not": to_json(tree)}, TEST_CATALOGUE), people, on, first_id=6_000_000)


@settings(SQL_SETTINGS, max_examples=40)
@given(
    trees=st.lists(criteria_with_questions(max_leaves=3), min_size=1, max_size=4),
    data=st.data(),
    on=st.sampled_from(EVALUATION_DAYS),
)
def test_attrition_counts_with_questions_agree_with_memory(
    engine: Engine, trees: list[Node], data: st.DataObject, on: dt.date
) -> None:
    people = data.draw(st.lists(profiles_with_answers(around=on), min_size=1, max_size=10), label="people")
    root = parse_json({"all": [to_json(tree) for tree in trees]}, TEST_CATALOGUE)
    criteria = root.children if isinstance(root, All) else (root,)
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            ids = insert_answered(connection, people, first_id=7_000_000)
            counts = attrition_counts(connection, root, on, base_where=profiles.c.participant_id >= 7_000_000)
        finally:
            transaction.rollback()
    survivors = set(ids)
    by_id = dict(zip(ids, people, strict=True))
    expected: list[tuple[str, int]] = []
    for criterion in criteria:
        survivors = {pid for pid in survivors if evaluate(criterion, by_id[pid][0], on) is Truth.TRUE}
        expected.append((to_text(criterion), len(survivors)))
    assert counts == expected


def test_worked_examples_in_sql(engine: Engine) -> None:
    on = dt.date(2026, 6, 15)
    people: Drawn = [
        (ProfileData(sex="male"), {}),
        (ProfileData(sex="female"), {"breastfeeding": Answer(True, on)}),
        (ProfileData(sex="female"), {"breastfeeding": Answer(False, dt.date(2020, 1, 1))}),
        (ProfileData(), {"languages": Answer(frozenset({"da", "en"}), on)}),
    ]
    people = [(ProfileData(sex=p.sex, answers=derive(TEST_CATALOGUE, raw)), raw) for p, raw in people]
    for text in (
        "answer breastfeeding = false",
        "answer breastfeeding = false answered within P1Y",
        "not answer breastfeeding = true",
        "answer languages has da",
        "not answer languages has de",
        "answer menopausal_status != premenopausal",
    ):
        three_ways(engine, parse_text(text, TEST_CATALOGUE), people, on, first_id=8_000_000)
