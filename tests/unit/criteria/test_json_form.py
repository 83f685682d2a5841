from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from panel_service.domain.criteria import (
    All,
    Condition,
    CriteriaError,
    FieldLeaf,
    Medication,
    Not,
    canonical_json,
    criteria_hash,
    parse_json,
    to_json,
)
from panel_service.domain.criteria.json_form import MAX_DEPTH, MAX_NODES
from tests.unit.criteria.strategies import criteria_json

EXAMPLE = {
    "all": [
        {"field": "age", "op": "between", "value": [18, 75]},
        {"condition": "G25.8"},
        {
            "not": {
                "any": [
                    {"condition": "N17-N19"},
                    {"condition": "D66"},
                    {"field": "pregnant", "op": "eq", "value": True},
                ]
            }
        },
        {"not": {"medication": "A12CC"}},
    ]
}


def issues_of(obj: object) -> list[tuple[str, str]]:
    with pytest.raises(CriteriaError) as caught:
        parse_json(obj)
    return [(issue.path, issue.message) for issue in caught.value.issues]


def test_the_architecture_example_parses_to_the_expected_tree() -> None:
    tree = parse_json(EXAMPLE)
    assert isinstance(tree, All)
    assert tree.children[0] == FieldLeaf("age", "between", (18, 75))
    assert tree.children[1] == Condition("G258")
    assert tree.children[3] == Not(Medication("A12CC"))
    assert to_json(tree) == EXAMPLE


def test_canonical_form_normalises_codes_numbers_and_lists() -> None:
    messy = {
        "all": [
            {"value": 30.0, "op": "ge", "field": "bmi"},
            {"condition": "g2581"},
            {"condition": "n17 - n19"},
            {"medication": "a12cc05"},
            {"field": "region", "op": "in", "value": ["dk-85", "DK-84", "DK-85"]},
            {"field": "sex", "op": "eq", "value": "Female"},
        ]
    }
    assert to_json(parse_json(messy)) == {
        "all": [
            {"field": "bmi", "op": "ge", "value": 30},
            {"condition": "G25.81"},
            {"condition": "N17-N19"},
            {"medication": "A12CC05"},
            {"field": "region", "op": "in", "value": ["DK-84", "DK-85"]},
            {"field": "sex", "op": "eq", "value": "female"},
        ]
    }
    assert list(json.loads(canonical_json(parse_json(messy)))["all"][0]) == ["field", "op", "value"]


def test_a_group_of_one_is_its_child() -> None:
    assert parse_json({"all": [{"any": [{"condition": "D66"}]}]}) == Condition("D66")


def test_equal_criteria_share_a_hash_and_different_ones_do_not() -> None:
    reordered_keys = {"all": [{"op": "between", "value": [18, 75], "field": "age"}, *EXAMPLE["all"][1:]]}
    assert criteria_hash(parse_json(EXAMPLE)) == criteria_hash(parse_json(reordered_keys))
    changed = {"all": [{"field": "age", "op": "between", "value": [18, 76]}, *EXAMPLE["all"][1:]]}
    assert criteria_hash(parse_json(EXAMPLE)) != criteria_hash(parse_json(changed))
    assert len(criteria_hash(parse_json(EXAMPLE))) == 64


@settings(max_examples=300)
@given(criteria_json())
def test_normalising_is_idempotent(obj: dict[str, object]) -> None:
    tree = parse_json(obj)
    assert parse_json(to_json(tree)) == tree
    assert to_json(parse_json(to_json(tree))) == to_json(tree)
    assert criteria_hash(parse_json(json.loads(canonical_json(tree)))) == criteria_hash(tree)


@pytest.mark.parametrize(
    ("obj", "path", "quoted"),
    [
        ({"all": [{"field": "agee", "op": "eq", "value": 1}]}, "all[0].field", '"agee"'),
        ({"field": "age", "op": "about", "value": 1}, "op", '"about"'),
        ({"field": "age", "op": "eq", "value": 1, "unit": "years"}, "unit", '"unit"'),
        ({"all": [{"condition": "D66"}, {"foo": 1}]}, "all[1]", '"foo"'),
        ({"all": [{"condition": "D66"}, 5]}, "all[1]", "5"),
        ({"all": []}, "all", '"all"'),
        ({"any": []}, "any", '"any"'),
        ({"all": {"condition": "D66"}}, "all", '{"condition": "D66"}'),
        (
            {"all": [{"condition": "D66"}, {"field": "age", "op": "eq", "value": "old"}]},
            "all[1].value",
            '"old"',
        ),
        ({"field": "age", "op": "eq", "value": 18.5}, "value", "18.5"),
        ({"field": "age", "op": "eq", "value": True}, "value", "true"),
        ({"field": "age", "op": "ge", "value": -1}, "value", "-1"),
        ({"field": "bmi", "op": "ge", "value": "30"}, "value", '"30"'),
        ({"field": "sex", "op": "eq", "value": "woman"}, "value", '"woman"'),
        ({"field": "sex", "op": "lt", "value": "female"}, "op", '"lt"'),
        ({"field": "smoker", "op": "eq", "value": "yes"}, "value", '"yes"'),
        ({"field": "pregnant", "op": "in", "value": [True]}, "op", '"in"'),
        ({"field": "region", "op": "eq", "value": "Denmark"}, "value", '"Denmark"'),
        ({"field": "age", "op": "between", "value": [75, 18]}, "value", "[75, 18]"),
        ({"field": "age", "op": "between", "value": [18]}, "value", "[18]"),
        ({"field": "age", "op": "between", "value": [18, 40, 75]}, "value", "[18, 40, 75]"),
        ({"field": "age", "op": "between", "value": 18}, "value", "18"),
        ({"field": "age", "op": "between", "value": [18, "x"]}, "value[1]", '"x"'),
        ({"field": "region", "op": "in", "value": []}, "value", "[]"),
        ({"field": "region", "op": "in", "value": "DK-84"}, "value", '"DK-84"'),
        ({"field": "region", "op": "in", "value": ["DK-84", "nowhere"]}, "value[1]", '"nowhere"'),
        ({"condition": "G2"}, "condition", '"G2"'),
        ({"condition": "25.8"}, "condition", '"25.8"'),
        ({"condition": 258}, "condition", "258"),
        ({"condition": "N19-N17"}, "condition", '"N19-N17"'),
        ({"condition": "N17.1-N19"}, "condition", '"N17.1-N19"'),
        ({"condition": "N17-"}, "condition", '"N17-"'),
        ({"medication": "A1"}, "medication", '"A1"'),
        ({"medication": "A12CC5"}, "medication", '"A12CC5"'),
        ({"medication": "A12CC-A12CD"}, "medication", '"A12CC-A12CD"'),
        ({"field": "age", "value": 3}, "$", '"op"'),
        ({"field": "age", "op": "eq"}, "$", '"value"'),
        ("age > 3", "$", '"age > 3"'),
    ],
)
def test_each_invalid_input_names_its_path_and_quotes_the_offender(
    obj: object, path: str, quoted: str
) -> None:
    issues = issues_of(obj)
    assert len(issues) == 1, issues
    assert issues[0][0] == path
    assert quoted in issues[0][1]


def test_every_error_is_reported_not_just_the_first() -> None:
    issues = issues_of(
        {
            "all": [
                {"field": "agee", "op": "eq", "value": 1},
                {"field": "age", "op": "between", "value": [75, 18]},
                {"not": {"any": [{"condition": "XX"}, {"medication": "A1"}]}},
            ]
        }
    )
    assert [path for path, _ in issues] == [
        "all[0].field",
        "all[1].value",
        "all[2].not.any[0].condition",
        "all[2].not.any[1].medication",
    ]


def test_depth_is_limited() -> None:
    tree: dict[str, object] = {"condition": "D66"}
    for _ in range(MAX_DEPTH):
        tree = {"not": tree}
    issues = issues_of(tree)
    assert len(issues) == 1
    assert issues[0][0].endswith(".not")
    assert "deeply" in issues[0][1]


def test_node_count_is_limited() -> None:
    issues = issues_of({"any": [{"condition": "D66"}] * MAX_NODES})
    assert len(issues) == 1
    assert issues[0][0] == f"any[{MAX_NODES - 1}]"
    assert "too many nodes" in issues[0][1]
