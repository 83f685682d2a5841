from __future__ import annotations

import pytest

from panel_service.domain.criteria.vocabulary import lookup, nearest_term, search


@pytest.mark.parametrize(
    ("query", "system", "code"),
    [
        ("restless legs", "icd10", "G25.8"),
        ("kidney disease", "icd10", "N17-N19"),
        ("haemophilia", "icd10", "D66"),
        ("high blood pressure", "icd10", "I10"),
        ("type 2 diabetes", "icd10", "E11"),
        ("magnesium", "atc", "A12CC"),
        ("G25.8", "icd10", "G25.8"),
        ("g258", "icd10", "G25.8"),
        ("A12CC", "atc", "A12CC"),
        ("paracetamol", "atc", "N02BE01"),
    ],
)
def test_search_finds_lay_words_and_codes(query: str, system: str, code: str) -> None:
    found = search(query, limit=10, system=system)  # type: ignore[arg-type]
    assert code in [term.code for term in found[:5]], [term.code for term in found]


def test_search_covers_icd10_cm_and_typing_in_progress() -> None:
    assert "G25.81" in [term.code for term in search("restless", 10)]
    assert "E11" in [term.code for term in search("type 2 d", 5)]


def test_the_atc_list_has_the_magnesium_substances() -> None:
    oxide = lookup("atc", "A12CC05")
    assert oxide is not None
    assert oxide.name == "Magnesium oxide"
    assert oxide.plain_name == "magnesium oxide"
    assert lookup("atc", "A12CC") is not None


def test_nearest_term_falls_back_to_the_closest_ancestor() -> None:
    term = nearest_term("icd10", "N1839")
    assert term is not None
    assert term.code == "N18.3"
