"""The code summary (domain.criteria.summary) says what the in-memory evaluator says for every
plain code leaf, and a range's cover names exactly the codes whose category lies in it."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from panel_service.domain.criteria import Truth, evaluate, parse_json
from panel_service.domain.criteria.evaluate import range_categories
from panel_service.domain.criteria.model import Condition, Medication
from panel_service.domain.criteria.summary import (
    ICD10_CHARACTERS,
    ICD10_FIRST,
    code_summary,
    false_terms,
    range_cover,
    true_terms,
)
from panel_service.domain.profile import ProfileData
from tests.unit.criteria.strategies import condition_leaves, medication_leaves
from tests.unit.criteria.strategies import profiles as profile_strategy

ON = dt.date(2026, 11, 25)
categories = st.builds(
    lambda first, second, third: first + second + third,
    st.sampled_from(ICD10_FIRST),
    st.sampled_from(ICD10_CHARACTERS),
    st.sampled_from(ICD10_CHARACTERS),
)
stored_codes = st.builds(
    lambda category, rest: category + rest, categories, st.text(alphabet=ICD10_CHARACTERS, max_size=4)
)


def summary_truth(leaves: list[Condition | Medication], summary: list[str] | None) -> Truth:
    """A plain leaf (an ``any`` of them) read off the summary as criteria_sql reads it."""
    if summary is None:
        return Truth.UNKNOWN
    items = set(summary)
    if not items.isdisjoint(true_terms(leaves)):
        return Truth.TRUE
    if not items.isdisjoint(false_terms(leaves)):
        return Truth.UNKNOWN
    return Truth.FALSE


def test_the_summary_holds_each_code_marked_exact_and_the_prefixes_a_criterion_can_name() -> None:
    assert code_summary(["G2581"], "icd10") == ["=G2581", "G", "G2", "G25", "G258"]
    assert code_summary(["I10", "N183"], "icd10") == ["=I10", "=N183", "I", "I1", "N", "N1", "N18"]
    # ATC: only the levels (A, A12, A12C, A12CC), never A1 or A12CC0.
    assert code_summary(["A12CC05", "A12C"], "atc") == ["=A12C", "=A12CC05", "A", "A12", "A12C", "A12CC"]
    assert code_summary([], "atc") == []
    assert code_summary(None, "icd10") is None


def test_the_false_side_names_less_specific_codes_marked_exact() -> None:
    leaf = Condition("G2581")
    assert true_terms([leaf]) == ["=G2581", "G2581"]
    assert false_terms([leaf]) == ["=G25", "=G258", "=G2581", "G2581"]
    assert false_terms([Medication("A12CC05")]) == ["=A", "=A12", "=A12C", "=A12CC", "=A12CC05", "A12CC05"]
    assert false_terms([Condition("N17", "N19")]) == ["=N17", "=N18", "=N19", "N17", "N18", "N19"]
    assert true_terms([Condition("A00", "B19")])[:3] == ["=B10", "=B11", "=B12"]
    assert "A" in true_terms([Condition("A00", "B19")]) and "=A" not in true_terms([Condition("A00", "B19")])


def test_wide_ranges_are_covered_by_letters_and_two_character_prefixes() -> None:
    # Z9A-Z9Z (ICD-10-CM's letters third) sort after Z99, so Z9 is listed by its categories.
    assert range_cover("A00", "Z99") == [
        *"ABCDEFGHIJKLMNOPQRSTUVWXY",
        *(f"Z{digit}" for digit in "012345678"),
        *(f"Z9{digit}" for digit in "0123456789"),
    ]
    assert range_cover("A00", "AZZ") == ["A"]
    assert range_cover("Q90", "QA0") == ["Q9", "QA0"]
    assert range_cover("N19", "N17") == []


@given(low=categories, high=categories)
def test_a_range_cover_is_exactly_the_range_categories(low: str, high: str) -> None:
    low, high = sorted((low, high))
    cover = range_cover(low, high)
    covered = {
        category
        for category in range_categories(low[0] + "00", high[0] + "ZZ")
        if any(category.startswith(prefix) for prefix in cover)
    }
    assert covered == range_categories(low, high)
    # The fewest prefixes: no prefix of the cover lies inside another.
    assert not any(a != b and b.startswith(a) for a in cover for b in cover)


@given(low=categories, high=categories, code=stored_codes)
def test_a_stored_code_is_covered_when_its_category_is_in_the_range(low: str, high: str, code: str) -> None:
    low, high = sorted((low, high))
    assert any(code.startswith(prefix) for prefix in range_cover(low, high)) == (low <= code[:3] <= high)


@given(leaves=st.lists(condition_leaves(), min_size=1, max_size=3), profile=profile_strategy())
def test_plain_condition_leaves_read_off_the_summary_as_in_memory(
    leaves: list[dict[str, object]], profile: ProfileData
) -> None:
    plain = [{"condition": leaf["condition"]} for leaf in leaves]
    tree = parse_json({"any": plain})
    parsed = [parse_json(leaf) for leaf in plain]
    assert summary_truth(parsed, code_summary(profile.conditions, "icd10")) == evaluate(tree, profile, ON)  # type: ignore[arg-type]


@given(leaves=st.lists(medication_leaves(), min_size=1, max_size=3), profile=profile_strategy())
def test_plain_medication_leaves_read_off_the_summary_as_in_memory(
    leaves: list[dict[str, object]], profile: ProfileData
) -> None:
    plain = [{"medication": leaf["medication"]} for leaf in leaves]
    tree = parse_json({"any": plain})
    parsed = [parse_json(leaf) for leaf in plain]
    assert summary_truth(parsed, code_summary(profile.medications, "atc")) == evaluate(tree, profile, ON)  # type: ignore[arg-type]
