from __future__ import annotations

import pytest
from hypothesis import given, settings

from panel_service.domain.criteria import (
    CriteriaError,
    CriteriaSyntaxError,
    Node,
    parse_any,
    parse_json,
    parse_text,
    to_json,
    to_text,
)
from tests.unit.criteria.strategies import criteria_trees
from tests.unit.criteria.test_json_form import EXAMPLE

EXAMPLE_TEXT = (
    "age between 18 and 75 and has condition G25.8 and not (has condition N17-N19 or has condition D66 "
    "or pregnant) and not takes A12CC"
)


def test_the_architecture_example_text_is_the_json_example() -> None:
    assert parse_text(EXAMPLE_TEXT) == parse_json(EXAMPLE)
    assert to_text(parse_json(EXAMPLE)) == EXAMPLE_TEXT


@pytest.mark.parametrize(
    ("text", "json"),
    [
        ("bmi >= 30", {"field": "bmi", "op": "ge", "value": 30}),
        ("region in (DK-84, DK-85)", {"field": "region", "op": "in", "value": ["DK-84", "DK-85"]}),
        ("sex = female", {"field": "sex", "op": "eq", "value": "female"}),
        ("smoker", {"field": "smoker", "op": "eq", "value": True}),
        ("not smoker", {"not": {"field": "smoker", "op": "eq", "value": True}}),
        ("smoker = false", {"field": "smoker", "op": "eq", "value": False}),
        ("pregnant != true", {"field": "pregnant", "op": "ne", "value": True}),
        ("weight_kg < 80.5", {"field": "weight_kg", "op": "lt", "value": 80.5}),
        ("takes a12cc05", {"medication": "A12CC05"}),
        (
            "HAS CONDITION g25.81 OR Smoker",
            {"any": [{"condition": "G25.81"}, {"field": "smoker", "op": "eq", "value": True}]},
        ),
    ],
)
def test_text_forms(text: str, json: dict[str, object]) -> None:
    assert to_json(parse_text(text)) == json


@pytest.mark.parametrize(
    "text",
    [
        "bmi >= 30",
        "region in (DK-84, DK-85)",
        "(smoker or pregnant) and (bmi > 30 or age < 20)",
        "(smoker and pregnant) and bmi < 30",
        "not (smoker and pregnant)",
        "not not smoker",
        "smoker or pregnant and bmi < 30",
    ],
)
def test_text_round_trips(text: str) -> None:
    printed = to_text(parse_text(text))
    assert to_text(parse_text(printed)) == printed


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    assert to_json(parse_text("smoker or pregnant and not bmi > 30")) == {
        "any": [
            {"field": "smoker", "op": "eq", "value": True},
            {
                "all": [
                    {"field": "pregnant", "op": "eq", "value": True},
                    {"not": {"field": "bmi", "op": "gt", "value": 30}},
                ]
            },
        ]
    }


@settings(max_examples=300)
@given(criteria_trees())
def test_every_tree_prints_and_parses_back_to_itself(tree: Node) -> None:
    assert parse_text(to_text(tree)) == tree


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("age >= 18 and\n  (bmi > 30 or", 2, 15, "expected a criterion"),
        ("age => 18", 1, 6, "expected a value after '='"),
        ("age between 18 75", 1, 16, "expected 'and'"),
        ("region in DK-84", 1, 11, "expected '('"),
        ("region in (DK-84 DK-85)", 1, 18, "expected ',' or ')'"),
        ("has G25.8", 1, 5, "expected 'condition'"),
        ("age >= 18 smoker", 1, 11, "expected 'and', 'or'"),
        ("(smoker", 1, 8, "expected ')'"),
        ("weight > 3", 1, 1, "expected a criterion"),
        ("age >= 18 $", 1, 11, "unexpected character '$'"),
    ],
)
def test_syntax_errors_show_line_column_and_caret(text: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(CriteriaSyntaxError) as caught:
        parse_text(text)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert fragment in error.issues[0].message
    source_line, caret = error.caret.split("\n")
    assert source_line == text.splitlines()[line - 1]
    assert caret == " " * (column - 1) + "^"


def test_semantic_errors_in_text_name_the_json_path() -> None:
    with pytest.raises(CriteriaError) as caught:
        parse_text("age between 75 and 18 and has condition XX1.1.1")
    assert [issue.path for issue in caught.value.issues] == ["all[0].value", "all[1].condition"]


def test_parse_any_accepts_objects_json_strings_and_text() -> None:
    expected = parse_json(EXAMPLE)
    import json

    assert parse_any(EXAMPLE) == expected
    assert parse_any(json.dumps(EXAMPLE)) == expected
    assert parse_any(EXAMPLE_TEXT) == expected
    assert parse_any(json.dumps(EXAMPLE_TEXT)) == expected


def test_parse_any_reports_broken_json_with_its_position() -> None:
    with pytest.raises(CriteriaSyntaxError) as caught:
        parse_any('{"all": [\n  {"condition": "D66"},\n]}')
    assert caught.value.line == 3
    assert "not valid JSON" in caught.value.issues[0].message


def test_parse_any_refuses_empty_criteria() -> None:
    with pytest.raises(CriteriaError, match="empty"):
        parse_any("   ")
