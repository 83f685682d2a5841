"""The builder's question leaves, pure (domain.criteria.builder): searching the catalogue by
wording in either language, and a leaf for every question and every test the builder offers for
its type, which prints and reads back as the same tree."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from panel_service.domain.criteria import builder as tree
from panel_service.domain.criteria import parse_text, to_text
from panel_service.domain.questions import Catalogue, seed_catalogue

CATALOGUE = seed_catalogue()


@pytest.mark.parametrize(
    ("query", "language", "first"),
    [
        ("smoke", "en", "smoking_status"),
        ("ryger", "da", "smoking_status"),
        ("ryger", "en", "smoking_status"),  # a Danish word on an English page
        ("mr-scanning", "en", "willing_mri"),
        ("alcohol week", "en", "alcohol_units_week"),
        ("genstande", "da", "alcohol_units_week"),
        ("nætter benene", "da", "rls_nights_week"),
        ("pack_years", "en", "pack_years"),
        ("phq", "en", "phq9"),  # the scale before its items
    ],
)
def test_search_finds_questions_by_wording_or_key(query: str, language: str, first: str) -> None:
    found = tree.search_questions(CATALOGUE, query, language)
    assert found and found[0].key == first


def test_search_leaves_out_retired_questions_and_empty_queries() -> None:
    retired = Catalogue(
        [dataclasses.replace(CATALOGUE["willing_mri"], retired=True), CATALOGUE["lives_alone"]]
    )
    assert tree.search_questions(retired, "mri") == []
    assert tree.search_questions(CATALOGUE, " -- ") == []
    assert tree.search_questions(CATALOGUE, "zebra") == []


def _value(kind: str, low: bool = True) -> str:
    return {"date": "2020-01-31" if low else "2024-06-30"}.get(kind, "1" if low else "2")


def test_every_question_and_every_offered_test_reads_back() -> None:
    made = 0
    for question in CATALOGUE.values():
        for op in tree.BUILDER_OPS_BY_TYPE[question.type]:
            low = question.minimum if question.minimum is not None else 1
            number = f"{low:g}" if question.type in ("integer", "decimal") else _value(question.type)
            high = f"{(question.maximum if question.maximum is not None else 2):g}"
            node = tree.question_leaf(
                CATALOGUE,
                question.key,
                op,
                options=list(question.option_keys[:2]),
                value="no" if question.type == "boolean" else number,
                value2=high if question.type != "date" else _value("date", low=False),
                answered_within="P1Y",
            )
            text = to_text(node)
            assert parse_text(text) == node, text
            assert "answered within P1Y" in text
            made += 1
    assert made > 60


@pytest.mark.parametrize(
    ("key", "op", "inputs", "field", "message"),
    [
        ("rls_nights_week", "ge", {"value": "8"}, "question_value", "enter a number from {low} to {high}"),
        ("rls_nights_week", "ge", {"value": ""}, "question_value", "enter a whole number, such as {example}"),
        ("pack_years", "le", {"value": "lots"}, "question_value", "enter a number, such as {example}"),
        (
            "pack_years",
            "between",
            {"value": "9", "value2": "2"},
            "question_value2",
            "the second value must not be smaller than the first",
        ),
        ("smoking_status", "in", {}, "question_options", "tick at least one answer"),
        ("smoking_status", "between", {"options": ["never"]}, "question_op", "choose how to test the answer"),
        ("willing_mri", "eq", {"value": "perhaps"}, "question_value", "choose yes or no"),
        ("nobody_asked", "eq", {}, "question", "search for a question and choose one of the matches"),
    ],
)
def test_bad_inputs_name_the_input(
    key: str, op: str, inputs: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(tree.BuilderError) as caught:
        tree.question_leaf(CATALOGUE, key, op, **inputs)
    assert caught.value.field == field and caught.value.message == message


def test_none_of_several_options_is_not_in_and_a_multi_choice_is_has() -> None:
    assert (
        to_text(
            tree.question_leaf(
                CATALOGUE, "menopausal_status", "not_in", options=["premenopausal", "perimenopausal"]
            )
        )
        == "not answer menopausal_status in (perimenopausal, premenopausal)"
    )
    assert to_text(tree.question_leaf(CATALOGUE, "smoking_status", "not_in", options=["current"])) == (
        "answer smoking_status != current"
    )
    assert to_text(tree.question_leaf(CATALOGUE, "languages", "not_in", options=["de"])) == (
        "not answer languages has de"
    )
