"""``question`` leaves (§4a): validation, both forms, three values, explanations, and a small
independent evaluator written from the words of ARCHITECTURE §4a that the engine must agree with."""

from __future__ import annotations

import calendar
import datetime as dt
import typing as t
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel_service.domain.criteria import (
    All,
    Any,
    CriteriaError,
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
from panel_service.domain.criteria.model import QuestionLeaf
from panel_service.domain.profile import ProfileData
from panel_service.domain.questions import Answer, derive
from tests.unit.criteria.question_strategies import (
    TEST_CATALOGUE,
    criteria_json_with_questions,
    criteria_with_questions,
    leaf_and_answers,
    profiles_with_answers,
)
from tests.unit.criteria.strategies import EVALUATION_DAYS
from tests.unit.criteria.test_histories import independent as independent_v2

ON = dt.date(2026, 6, 15)


def answered(sex: str | None = None, **answers: t.Any) -> ProfileData:
    given_answers = {
        key: value if isinstance(value, Answer) else Answer(value, ON) for key, value in answers.items()
    }
    return ProfileData(sex=sex, answers=derive(TEST_CATALOGUE, given_answers))


def truth(text: str, profile: ProfileData, on: dt.date = ON) -> Truth:
    return evaluate(parse_text(text, TEST_CATALOGUE), profile, on)


# -- the independent evaluator -----------------------------------------------------------------


def months_back(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def earliest_fresh_day(on: dt.date, duration: str) -> dt.date:
    amount, unit = int(duration[1:-1]), duration[-1]
    if unit == "D":
        return on - dt.timedelta(days=amount)
    if unit == "W":
        return on - dt.timedelta(days=7 * amount)
    return months_back(on, amount * (12 if unit == "Y" else 1))


def holds(leaf: QuestionLeaf, value: t.Any) -> bool:
    expected: t.Any = leaf.value
    if value is None:  # not applicable: no option, no number, so only "is not" holds
        return leaf.op == "ne"
    if leaf.op == "has":
        return expected in value
    if leaf.op == "in":
        return any(value == item for item in expected)
    if leaf.op == "between":
        return expected[0] <= value and value <= expected[1]
    if leaf.op == "eq":
        return value == expected
    if leaf.op == "ne":
        return value != expected
    if leaf.op == "lt":
        return value < expected
    if leaf.op == "le":
        return not value > expected
    if leaf.op == "gt":
        return value > expected
    return not value < expected


def question_truth(leaf: QuestionLeaf, sex: str | None, raw: dict[str, Answer], on: dt.date) -> Truth:
    question = TEST_CATALOGUE[leaf.key]
    if question.applies_to is not None and sex is not None and sex not in question.applies_to:
        return Truth.TRUE if holds(leaf, question.value_for_others) else Truth.FALSE
    if question.items:  # scored from its items; partly answered is unanswered
        if any(item not in raw for item in question.items):
            return Truth.UNKNOWN
        total = sum(question.scoring[str(raw[item].value)] for item in question.items)
        answer = Answer(total, min(raw[item].answered_on for item in question.items))
    elif leaf.key in raw:
        answer = raw[leaf.key]
    else:
        return Truth.UNKNOWN
    if leaf.answered_within is not None and answer.answered_on < earliest_fresh_day(on, leaf.answered_within):
        return Truth.UNKNOWN
    return Truth.TRUE if holds(leaf, answer.value) else Truth.FALSE


def independent(node: Node, profile: ProfileData, raw: dict[str, Answer], on: dt.date) -> Truth:
    if isinstance(node, All):
        return min(independent(child, profile, raw, on) for child in node.children)
    if isinstance(node, Any):
        return max(independent(child, profile, raw, on) for child in node.children)
    if isinstance(node, Not):
        return independent(node.child, profile, raw, on).negate()
    if isinstance(node, QuestionLeaf):
        return question_truth(node, profile.sex, raw, on)
    return independent_v2(node, profile, on)


@settings(max_examples=500, deadline=None)
@given(tree=criteria_with_questions(6), data=st.data(), on=st.sampled_from(EVALUATION_DAYS))
def test_the_evaluator_agrees_with_the_independent_one(tree: Node, data: st.DataObject, on: dt.date) -> None:
    profile, raw = data.draw(profiles_with_answers(around=on), label="profile")
    assert evaluate(tree, profile, on) is independent(tree, profile, raw, on), to_text(tree)


@settings(max_examples=600, deadline=None)
@given(data=st.data(), on=st.sampled_from(EVALUATION_DAYS))
def test_one_leaf_at_its_edges_agrees_with_the_independent_one(data: st.DataObject, on: dt.date) -> None:
    leaf, raw, sex = data.draw(leaf_and_answers(on), label="leaf, answers, sex")
    profile = ProfileData(sex=sex, answers=derive(TEST_CATALOGUE, raw))
    assert evaluate(leaf, profile, on) is independent(leaf, profile, raw, on), to_text(leaf)


@settings(max_examples=300, deadline=None)
@given(obj=criteria_json_with_questions())
def test_text_and_json_forms_round_trip(obj: dict[str, object]) -> None:
    tree = parse_json(obj, TEST_CATALOGUE)
    assert parse_text(to_text(tree), TEST_CATALOGUE) == tree
    assert parse_json(to_json(tree), TEST_CATALOGUE) == tree


# -- worked examples ---------------------------------------------------------------------------


def test_unanswered_and_stale_answers_are_unknown() -> None:
    criterion = "answer smoking_status in (current, former) answered within P12M"
    assert truth(criterion, answered()) is Truth.UNKNOWN
    assert truth(criterion, answered(smoking_status="former")) is Truth.TRUE
    assert truth(criterion, answered(smoking_status="never")) is Truth.FALSE
    a_year_ago = Answer("former", dt.date(2025, 6, 15))
    assert truth(criterion, answered(smoking_status=a_year_ago)) is Truth.TRUE  # on the edge
    older = Answer("former", dt.date(2025, 6, 14))
    assert truth(criterion, answered(smoking_status=older)) is Truth.UNKNOWN
    assert truth("answer smoking_status in (current, former)", answered(smoking_status=older)) is Truth.TRUE


def test_a_question_for_women_takes_its_value_for_everyone_else() -> None:
    assert truth("answer breastfeeding = false", answered("male")) is Truth.TRUE
    assert truth("answer breastfeeding = true", answered("male", breastfeeding=True)) is Truth.FALSE
    assert truth("answer breastfeeding = false", answered("female")) is Truth.UNKNOWN
    assert truth("answer breastfeeding = false", answered(None, breastfeeding=False)) is Truth.TRUE
    # Not applicable (no value for men): no option holds, "is not" does.
    assert truth("answer menopausal_status in (postmenopausal)", answered("male")) is Truth.FALSE
    assert truth("answer menopausal_status != premenopausal", answered("male")) is Truth.TRUE
    assert truth("not answer menopausal_status = premenopausal", answered("male")) is Truth.TRUE


def test_instruments_are_scored_from_all_their_items() -> None:
    items = {f"phq9_{n}": "more_than_half" for n in range(1, 10)}
    assert truth("answer phq9 >= 18", answered(**items)) is Truth.TRUE
    assert truth("answer phq9 = 18", answered(**items)) is Truth.TRUE
    del items["phq9_9"]
    assert truth("answer phq9 >= 0", answered(**items)) is Truth.UNKNOWN


def test_multi_choice_has_and_numbers_and_dates() -> None:
    volunteer = answered(
        languages=frozenset({"da", "en"}), pack_years=7.5, last_vaccination=dt.date(2025, 3, 1), falls_12m=2
    )
    assert truth("answer languages has da", volunteer) is Truth.TRUE
    assert truth("answer languages has de", volunteer) is Truth.FALSE
    assert truth("answer pack_years between 5 and 10", volunteer) is Truth.TRUE
    assert truth("answer pack_years > 7.5", volunteer) is Truth.FALSE
    assert truth("answer last_vaccination >= 2025-01-01", volunteer) is Truth.TRUE
    assert truth("answer falls_12m in (0, 1)", volunteer) is Truth.FALSE


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "path", "message"),
    [
        ({"question": "shoe_size", "op": "eq", "value": 1}, "question", 'unknown question "shoe_size"'),
        ({"question": "languages", "op": "eq", "value": "da"}, "op", 'op "eq" does not apply'),
        ({"question": "smoking_status", "op": "in", "value": ["sometimes"]}, "value[0]", "not an option"),
        ({"question": "rls_nights_week", "op": "gt", "value": 9}, "value", "from 0 to 7"),
        ({"question": "falls_12m", "op": "eq", "value": 1.5}, "value", "whole numbers"),
        ({"question": "lives_alone", "op": "eq", "value": "yes"}, "value", "true or false"),
        (
            {"question": "lives_alone", "op": "eq", "value": True, "answered_within": "12M"},
            "answered_within",
            "P12M",
        ),
        (
            {"question": "lives_alone", "op": "eq", "value": True, "since": "2020"},
            "since",
            'unknown key "since"',
        ),
        ({"question": "pack_years", "op": "between", "value": [10, 5]}, "value", "low <= high"),
    ],
)
def test_bad_question_leaves_are_refused_with_their_path(
    obj: dict[str, object], path: str, message: str
) -> None:
    with pytest.raises(CriteriaError) as caught:
        parse_json({"all": [{"field": "age", "op": "ge", "value": 18}, obj]}, TEST_CATALOGUE)
    issues = caught.value.issues
    assert any(issue.path == f"all[1].{path}" and message in issue.message for issue in issues), issues


def test_the_validator_uses_the_catalogue_it_is_given() -> None:
    with pytest.raises(CriteriaError):
        parse_json({"question": "last_vaccination", "op": "lt", "value": "2025-01-01"})  # not in the seed
    assert parse_json({"question": "last_vaccination", "op": "lt", "value": "2025-01-01"}, TEST_CATALOGUE)


# -- explanations ------------------------------------------------------------------------------


def test_explanations_in_english_and_danish() -> None:
    tree = parse_text(
        "answer smoking_status = former and answer breastfeeding = false and answer lives_alone = true"
    )
    volunteer = answered("male", smoking_status="former")
    english = [leaf.sentence for leaf in explain(tree, volunteer, ON).leaves]
    assert english[0] == (
        "you answered “Do you smoke, or have you ever smoked?” with “I used to smoke but have stopped”, "
        "and that is “I used to smoke but have stopped”"
    )
    assert "not asked of people whose sex is male" in english[1]
    assert english[2] == "you have not answered the question “Do you live alone?”"
    danish = [leaf.sentence for leaf in explain(tree, volunteer, ON, language="da").leaves]
    assert danish[0].startswith("du svarede “Ryger du, eller har du nogensinde røget?” med “Jeg har røget")
    assert danish[2] == "du har ikke svaret på spørgsmålet “Bor du alene?”"
    stale = answered(lives_alone=Answer(True, dt.date(2024, 1, 1)))
    leaf = explain(parse_text("answer lives_alone = true answered within P1Y"), stale, ON).leaves[0]
    assert leaf.result is Truth.UNKNOWN and "more than 1 year ago" in leaf.sentence
    assert leaf.question == "Do you live alone?"


def test_answers_of_a_profile_replace_cleanly() -> None:
    base = answered(smoking_status="never")
    assert replace(base, answers={}).answers == {}


def test_the_language_reference_lists_every_shipped_question() -> None:
    from pathlib import Path

    from panel_service.domain.questions import seed_catalogue

    text = (Path(__file__).parents[3] / "docs" / "criteria.md").read_text(encoding="utf-8")
    catalogue = seed_catalogue()
    missing = [key for key in catalogue if catalogue.instrument_of(key) is None and f"`{key}`" not in text]
    assert not missing
    for line in (
        "answer smoking_status in (current, former) answered within P12M",
        "answer languages has da",
    ):
        assert line in text and parse_text(line) is not None


def test_fhir_gives_question_leaves_as_text() -> None:
    from panel_service.services.fhir import characteristics

    tree = parse_text("answer smoking_status = former and not answer languages has da")
    assert characteristics(tree) == [
        {"code": {"text": "answer smoking_status = former"}, "valueBoolean": True, "exclude": False},
        {"code": {"text": "answer languages has da"}, "valueBoolean": True, "exclude": True},
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"key": "Owns dog", "type": "boolean"}, "lower-case"),
        ({"key": "pet", "type": "colour"}, "type must be one of"),
        ({"key": "pet", "type": "choice"}, "needs options"),
        ({"key": "pet", "type": "choice", "options": [{"key": "true"}]}, "cannot be an option key"),
        ({"key": "pet", "type": "choice", "options": [{"key": "Dog"}]}, "option needs a key"),
        ({"key": "pet", "type": "boolean", "applies_to": {"sex": ["dog"]}}, "applies_to"),
        (
            {"key": "pet", "type": "boolean", "applies_to": {"sex": ["male"]}, "value_for_others": 3},
            "true or false",
        ),
    ],
)
def test_bad_catalogue_entries_are_refused(data: dict[str, object], message: str) -> None:
    from panel_service.domain.questions import QuestionDataError, question_from_data

    with pytest.raises(QuestionDataError, match=message):
        question_from_data(data)
