from __future__ import annotations

import pytest

from panel_service.domain.criteria.vocabulary import lookup, nearest_term, search


@pytest.mark.parametrize(
    ("query", "system", "code"),
    [
        ("restless legs", "icd10", "G25.81"),
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


@pytest.mark.parametrize(
    ("query", "system", "code"),
    [
        ("uro i benene", "icd10", "G25.81"),
        ("forhøjet blodtryk", "icd10", "I10"),
        ("sukkersyge", "icd10", "E11"),
        ("sukkersyge", "icd10", "E10"),
        ("blodprop i hjertet", "icd10", "I21"),
        ("knogleskørhed", "icd10", "M81"),
        ("grå stær", "icd10", "H25"),
        ("hjertemagnyl", "atc", "B01AC06"),
        ("magnesiumoxid", "atc", "A12CC05"),
        ("lykkepiller", "atc", "N06A"),
        ("p-piller", "atc", "G03A"),
        ("blodfortyndende", "atc", "B01"),
    ],
)
def test_search_finds_danish_lay_words_and_names(query: str, system: str, code: str) -> None:
    found = search(query, limit=10, system=system, language="da")  # type: ignore[arg-type]
    assert code in [term.code for term in found[:5]], [term.code for term in found]


def test_every_listed_term_has_danish_words() -> None:
    """The Danish lay vocabulary covers everything the English one does (issue 13, item 3)."""
    from panel_service.domain.criteria.vocabulary import vocabulary

    english = [term for term in vocabulary().terms if term.lay or term.system == "atc"]
    missing = [term.code for term in english if term.name_da is None]
    assert not missing, missing
    lay_missing = [term.code for term in english if term.lay and not term.lay_da]
    assert not lay_missing, lay_missing


def test_a_term_is_named_in_the_volunteers_language() -> None:
    term = lookup("icd10", "I10")
    assert term is not None
    assert term.plain_name_in("en") == "high blood pressure"
    assert term.plain_name_in("da") == "forhøjet blodtryk"
    substance = lookup("atc", "A12CC05")
    assert substance is not None
    assert substance.plain_name_in("da") == "magnesiumoxid"
    unlisted = lookup("icd10", "A00")
    assert unlisted is not None and unlisted.plain_name_in("da") == unlisted.plain_name


def test_results_hold_no_near_duplicates() -> None:
    """One "restless legs", not G25.8 beside G25.81: the descendant whose official name says
    it stays; of "type 2 diabetes" E11 and E11.9 (without complications), the ancestor."""
    for language in ("en", "da"):
        names = [term.plain_name_in(language) for term in search("restless legs", 20, language=language)]
        assert len(names) == len(set(names)), names
    restless = [term.code for term in search("restless legs", 20, system="icd10")]
    assert "G25.81" in restless and "G25.8" not in restless
    diabetes = [term.code for term in search("type 2 diabetes", 20, system="icd10")]
    assert "E11" in diabetes and "E11.9" not in diabetes
    # Two different codes that share a name are no duplicates: heartburn as medicine and condition.
    both = [term.code for term in search("halsbrand", 10, language="da")]
    assert "A02" in both and "K21" in both


def test_typing_a_code_lists_that_code_and_its_descendants() -> None:
    assert [term.code for term in search("G25.8", 3, system="icd10")][:2] == ["G25.8", "G25.81"]


def test_a_part_of_the_body_is_not_offered_as_a_medicine() -> None:
    """ "heart (C)" was listed as a medicine: ATC main groups answer a code, not words."""
    assert "C" not in [term.code for term in search("heart", 50, system="atc")]
    assert "C" in [term.code for term in search("C", 5, system="atc")]
