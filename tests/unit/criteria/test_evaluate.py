from __future__ import annotations

import datetime as dt
import itertools

import pytest

from panel_service.domain.criteria import (
    Truth,
    compile_criteria,
    evaluate,
    evaluate_many,
    parse_json,
    parse_text,
    profile_facts,
)
from panel_service.domain.criteria.model import All, Any, Node, Not
from panel_service.domain.profile import ProfileData

TODAY = dt.date(2026, 11, 25)
T, F, U = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN


def truth_of(text: str, profile: ProfileData, on: dt.date = TODAY) -> Truth:
    return evaluate(parse_text(text), profile, on)


@pytest.mark.parametrize(("left", "right"), list(itertools.product((T, F, U), repeat=2)))
def test_connectives_follow_kleene_logic(left: Truth, right: Truth) -> None:
    values = {"smoker": left, "pregnant": right}
    profile = ProfileData(
        sex="female",
        smoker={T: True, F: False, U: None}[values["smoker"]],
        pregnant={T: True, F: False, U: None}[values["pregnant"]],
    )
    assert truth_of("smoker and pregnant", profile) == min(left, right)
    assert truth_of("smoker or pregnant", profile) == max(left, right)
    assert truth_of("not smoker", profile) == Truth(2 - left)


def test_truth_prints_as_lower_case_words() -> None:
    assert [str(value) for value in (T, F, U)] == ["true", "false", "unknown"]


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        (dt.date(2000, 2, 29), dt.date(2018, 2, 28), 17),  # not yet: a leapling turns 18 on 1 March
        (dt.date(2000, 2, 29), dt.date(2018, 3, 1), 18),
        (dt.date(2000, 2, 29), dt.date(2020, 2, 29), 20),
        (dt.date(2000, 2, 29), dt.date(2020, 2, 28), 19),
        (dt.date(2008, 11, 25), TODAY, 18),  # birthday today
        (dt.date(2008, 11, 26), TODAY, 17),  # birthday tomorrow
    ],
)
def test_age_is_whole_years_with_the_29_february_rule(born: dt.date, on: dt.date, age: int) -> None:
    profile = ProfileData(birth_date=born)
    assert truth_of(f"age = {age}", profile, on) is T
    assert truth_of(f"age >= {age + 1}", profile, on) is F


@pytest.mark.parametrize(
    ("height", "weight", "bmi"),
    [
        (200.0, 100.0, 25.0),
        (180.0, 81.0, 25.0),
        (100.0, 2.45, 2.5),  # 2.45 rounds half up, not to even
        (100.0, 2.449, 2.4),
        (170.0, 72.3, 25.0),  # 25.0173 → 25.0
        (176.0, 77.6, 25.1),  # 25.0516 → 25.1
    ],
)
def test_bmi_is_rounded_half_up_to_one_decimal(height: float, weight: float, bmi: float) -> None:
    profile = ProfileData(height_cm=height, weight_kg=weight)
    assert truth_of(f"bmi = {bmi}", profile) is T


def test_bmi_is_unknown_without_both_height_and_weight() -> None:
    assert truth_of("bmi >= 25", ProfileData(height_cm=180.0)) is U
    assert truth_of("bmi >= 25", ProfileData(weight_kg=80.0)) is U


@pytest.mark.parametrize(
    ("criterion", "codes", "expected"),
    [
        ("has condition G25.8", ("G258",), T),
        ("has condition G25.8", ("G2581",), T),  # a descendant
        ("has condition G25.8", ("G25",), U),  # the parent is less specific: it may or may not be (§4a)
        ("has condition G25.81", ("G258",), U),
        ("has condition G25.81", ("G258", "G2581"), T),  # another entry settles it
        ("not has condition G25.81", ("G258",), U),
        ("has condition G25.8", ("G259",), F),
        ("has condition N18", ("N183",), T),
        ("has condition N17-N19", ("N17",), T),
        ("has condition N17-N19", ("N199",), T),  # the last category's descendants count
        ("has condition N17-N19", ("N169",), F),
        ("has condition N17-N19", ("N20",), F),
        ("has condition N17-N19", ("N1A",), F),  # a letter sorts after every digit
        ("has condition N17-N19", (), F),  # answered "none": closed world
        ("has condition N17-N19", None, U),  # never answered
    ],
)
def test_condition_codes_match_descendants_and_ranges(
    criterion: str, codes: tuple[str, ...] | None, expected: Truth
) -> None:
    assert truth_of(criterion, ProfileData(conditions=codes)) is expected


@pytest.mark.parametrize(
    ("criterion", "codes", "expected"),
    [
        ("takes A12CC", ("A12CC05",), T),
        ("takes A12C", ("A12CC05",), T),
        ("takes A", ("A12CC05",), T),
        ("takes A12CB", ("A12CC05",), F),
        ("takes A12CC05", ("A12CC",), U),  # less specific answer (§4a)
        ("takes A12CC05", ("A12CB",), F),
        ("takes A12CC", (), F),
        ("takes A12CC", None, U),
        ("not takes A12CC", None, U),
    ],
)
def test_medication_codes_match_descendants(
    criterion: str, codes: tuple[str, ...] | None, expected: Truth
) -> None:
    assert truth_of(criterion, ProfileData(medications=codes)) is expected


def test_pregnant_is_false_for_men_whatever_the_answer() -> None:
    assert truth_of("pregnant", ProfileData(sex="male")) is F
    assert truth_of("not pregnant", ProfileData(sex="male")) is T
    assert truth_of("pregnant", ProfileData(sex="female")) is U
    assert truth_of("pregnant", ProfileData(sex=None, pregnant=True)) is T


@pytest.mark.parametrize(
    ("criterion", "profile", "expected"),
    [
        ("sex = female", ProfileData(sex="female"), T),
        ("sex != female", ProfileData(sex="other"), T),
        ("sex != female", ProfileData(), U),
        ("sex in (female, other)", ProfileData(sex="male"), F),
        ("region = DK-84", ProfileData(region="DK-84"), T),
        ("region in (DK-84, DK-85)", ProfileData(region="DK-81"), F),
        ("height_cm between 160 and 170.5", ProfileData(height_cm=170.5), T),
        ("weight_kg > 80", ProfileData(weight_kg=80.0), F),
        ("age in (18, 19)", ProfileData(birth_date=dt.date(2007, 1, 1)), T),
        ("smoker = false", ProfileData(smoker=False), T),
        ("smoker != true", ProfileData(), U),
    ],
)
def test_field_leaves(criterion: str, profile: ProfileData, expected: Truth) -> None:
    assert truth_of(criterion, profile) is expected


def test_unknown_does_not_hide_a_definite_answer() -> None:
    profile = ProfileData(smoker=True)  # conditions unanswered
    assert truth_of("smoker or has condition D66", profile) is T
    assert truth_of("not smoker and has condition D66", profile) is F
    assert truth_of("smoker and has condition D66", profile) is U


def test_compiled_criteria_are_cached_by_value() -> None:
    first = parse_json({"all": [{"condition": "D66"}, {"field": "smoker", "op": "eq", "value": True}]})
    second = parse_text("has condition D66 and smoker")
    assert first is not second
    assert compile_criteria(first) is compile_criteria(second)


def test_evaluate_many_agrees_with_evaluate() -> None:
    trees: list[Node] = [
        parse_text("age >= 40"),
        parse_text("has condition I10 or has condition E11"),
        Not(parse_text("takes A12CC")),
        All((parse_text("smoker"), parse_text("bmi > 30"))),
        Any((parse_text("smoker"), parse_text("bmi > 30"))),
    ]
    profile = ProfileData(
        birth_date=dt.date(1970, 5, 1), height_cm=170.0, weight_kg=95.0, conditions=("I10",), medications=None
    )
    assert evaluate_many(trees, profile, TODAY) == [evaluate(tree, profile, TODAY) for tree in trees]
    assert profile_facts(profile, TODAY).age == 56
