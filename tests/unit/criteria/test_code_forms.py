"""Codes are checked by form (product contract §4): ICD-10-CM's letter-second category QA0 and its
descendants are well formed, in codes, ranges and range expansion; an ATC code starts with one
of the 14 anatomical main groups. Every refusal names the path of the offending value."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from panel_service.domain.criteria import CriteriaError, Truth, evaluate, parse_json, parse_text, to_text
from panel_service.domain.criteria.evaluate import range_categories
from panel_service.domain.criteria.vocabulary import lookup, nearest_term, search
from panel_service.domain.profile import ProfileData, normalise_atc, normalise_icd10
from panel_service.domain.profile_json import ProfileJSONError, profile_from_json
from panel_service.synthetic import MEDICATIONS

TODAY = dt.date(2026, 11, 25)
# ICD-10-CM (April 2026): the category QA0 "Neurodevelopmental disorders related to specific
# genetic pathogenic variants" and its 19 descendants.
QA0_FAMILY = (
    "QA0", "QA0.0", "QA0.01", "QA0.010", "QA0.0101", "QA0.0102", "QA0.0109", "QA0.011", "QA0.012",
    "QA0.013", "QA0.0131", "QA0.0139", "QA0.014", "QA0.0141", "QA0.0142", "QA0.0149", "QA0.015",
    "QA0.0151", "QA0.0159", "QA0.8",
)  # fmt: skip
ATC_MAIN_GROUPS = "ABCDGHJLMNPRSV"
NOT_ATC_MAIN_GROUPS = "EFIKOQTUWXYZ"


def issues_of(obj: object) -> list[tuple[str, str]]:
    with pytest.raises(CriteriaError) as caught:
        parse_json(obj)
    return [(issue.path, issue.message) for issue in caught.value.issues]


def test_the_qa0_family_is_twenty_codes() -> None:
    assert len(QA0_FAMILY) == 20 and len(set(QA0_FAMILY)) == 20


@pytest.mark.parametrize("code", QA0_FAMILY)
def test_qa0_and_its_descendants_are_well_formed(code: str) -> None:
    key = code.replace(".", "")
    assert normalise_icd10(code) == key
    assert normalise_icd10(code.lower()) == key
    assert parse_json({"condition": code}) == parse_json({"condition": key})
    assert to_text(parse_text(f"has condition {code}")) == f"has condition {code}"
    assert profile_from_json({"conditions": [code]}).conditions == (key,)


@pytest.mark.parametrize("code", ["G25.81", "N18", "U07.1", "A00", "Z99.89", "O00", "QA0.0101"])
def test_who_and_cm_codes_keep_being_accepted(code: str) -> None:
    assert normalise_icd10(code) == code.replace(".", "")


@pytest.mark.parametrize(
    "code", ["QA", "Q", "1A0", "25.8", "QA0.01010", "QA0-", "Q A0", "QA0..1", "QA.0", "QÄ0", ""]
)
def test_malformed_icd10_codes_are_refused_with_the_path(code: str) -> None:
    with pytest.raises(ValueError):
        normalise_icd10(code)
    assert [path for path, _ in issues_of({"all": [{"condition": "D66"}, {"condition": code}]})] == [
        "all[1].condition"
    ]
    with pytest.raises(ProfileJSONError) as caught:
        profile_from_json({"conditions": ["G25.81", code]})
    assert [key for key, _ in caught.value.errors] == ["conditions[1]"]


@pytest.mark.parametrize("text", ["QA0-QA0", "Q00-QA0", "Q90-QZZ", "qa0-qa0", "A00-QA0"])
def test_ranges_with_a_letter_second_are_well_formed(text: str) -> None:
    node = parse_json({"condition": text})
    assert node == parse_text(f"has condition {text}")
    assert node.display == text.upper()  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "message"), [("QA0-Q99", "runs backwards"), ("QA0.0-QA0", "range")])
def test_bad_ranges_with_a_letter_second_are_refused(text: str, message: str) -> None:
    issues = issues_of({"not": {"condition": text}})
    assert [path for path, _ in issues] == ["not.condition"]
    assert message in issues[0][1]


def test_range_expansion_orders_digits_before_letters() -> None:
    symbols = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert range_categories("Q99", "QA1") == {"Q99", "QA0", "QA1"} | {f"Q9{c}" for c in symbols[10:]}
    assert range_categories("QA0", "QA0") == {"QA0"}
    assert range_categories("Q98", "QB0") == {"Q98", "QB0"} | {f"Q9{c}" for c in symbols[9:]} | {
        f"QA{c}" for c in symbols
    }
    widest = range_categories("A00", "ZZZ")
    assert len(widest) == 26 * 36 * 36
    assert all(re.fullmatch(r"[A-Z][0-9A-Z][0-9A-Z]", category) for category in widest)


@pytest.mark.parametrize(
    ("criterion", "codes", "expected"),
    [
        ("has condition QA0", ("QA00101",), Truth.TRUE),
        ("has condition QA0.01", ("QA00159",), Truth.TRUE),
        ("has condition QA0.01", ("QA08",), Truth.FALSE),
        ("has condition QA0-QA0", ("QA08",), Truth.TRUE),
        ("has condition QA0-QA0", ("QA0",), Truth.TRUE),
        ("has condition QA0-QA0", ("Q999",), Truth.FALSE),
        ("has condition Q00-QA0", ("QA00101",), Truth.TRUE),  # chapter 17 of ICD-10-CM
        ("has condition Q00-QA0", ("Q999",), Truth.TRUE),
        ("has condition Q00-QA0", ("QB0",), Truth.FALSE),
        ("has condition Q90-Q99", ("QA0",), Truth.FALSE),  # a letter sorts after every digit
        ("not has condition Q00-QA0", ("QA0",), Truth.FALSE),
        ("has condition QA0-QA0", None, Truth.UNKNOWN),
    ],
)
def test_qa0_codes_and_ranges_match(criterion: str, codes: tuple[str, ...] | None, expected: Truth) -> None:
    assert evaluate(parse_text(criterion), ProfileData(conditions=codes), TODAY) is expected


@pytest.mark.parametrize("letter", ATC_MAIN_GROUPS)
def test_every_anatomical_main_group_is_accepted_at_every_level(letter: str) -> None:
    for code in (letter, f"{letter}01", f"{letter}01A", f"{letter}01AA", f"{letter}01AA01"):
        assert normalise_atc(code.lower()) == code
        assert parse_json({"medication": code}) == parse_text(f"takes {code}")
    assert profile_from_json({"medications": [f"{letter}01AA01"]}).medications == (f"{letter}01AA01",)


@pytest.mark.parametrize("letter", NOT_ATC_MAIN_GROUPS)
def test_letters_that_are_not_main_groups_are_refused_at_every_level(letter: str) -> None:
    for code in (letter, f"{letter}01", f"{letter}01A", f"{letter}01AA", f"{letter}01AA01"):
        with pytest.raises(ValueError):
            normalise_atc(code)
        issues = issues_of({"any": [{"medication": "A12CC"}, {"medication": code}]})
        assert [path for path, _ in issues] == ["any[1].medication"]
        assert f'"{code}"' in issues[0][1]
    with pytest.raises(ProfileJSONError) as caught:
        profile_from_json({"medications": ["A12CC05", f"{letter}01AA01"]})
    assert [key for key, _ in caught.value.errors] == ["medications[1]"]


@pytest.mark.parametrize("code", ["E01", "F", "O01AA01", "A1", "A012", "A01A1", "A01AA1", "A01AA012", "1"])
def test_malformed_atc_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError):
        normalise_atc(code)
    assert [path for path, _ in issues_of({"medication": code})] == ["medication"]


def test_gabapentinoids_are_n02bf_in_the_vocabulary() -> None:
    for name, code in (("gabapentin", "N02BF01"), ("pregabalin", "N02BF02")):
        found = [term.code for term in search(name, limit=5, system="atc")]
        assert found[:2] in (["N02BF", code], [code]), found  # the substance, after its group
    assert lookup("atc", "N02BF") is not None
    assert lookup("atc", "N03AX12") is None and lookup("atc", "N03AX16") is None
    # A profile that still holds a withdrawn code keeps a name: the nearest listed group.
    nearest = nearest_term("atc", "N03AX12")
    assert nearest is not None and nearest.code == "N03"


def test_the_synthetic_volunteers_take_only_listed_medicines() -> None:
    for _reason, code, _probability in MEDICATIONS:
        assert lookup("atc", code) is not None, code
