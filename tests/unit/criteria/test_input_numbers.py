"""Absurd numbers and unusable text in criteria and JSON input are refused by path, never a crash
(P8): 1e400 is inf as a float, an int of thousands of digits overflows float() and exceeds Python's
int-string conversion limit, and a lone surrogate cannot be encoded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel_service.domain import json_input
from panel_service.domain.criteria import CriteriaError, parse_any, parse_json
from tests.unit.criteria.test_cli import run

HUGE = st.integers(min_value=16, max_value=6000).map(lambda n: int("9" * min(n, 4000)))


@pytest.mark.parametrize(
    "criteria",
    [
        {"all": [{"field": "bmi", "op": "lt", "value": float("inf")}, {"condition": "G25"}]},
        {"all": [{"field": "bmi", "op": "lt", "value": 10**400}, {"condition": "G25"}]},
        {"all": [{"field": "age", "op": "eq", "value": -(10**4000)}, {"condition": "G25"}]},
    ],
)
def test_json_criteria_refuse_absurd_numbers_at_their_path(criteria: dict[str, object]) -> None:
    with pytest.raises(CriteriaError) as caught:
        parse_json(criteria)
    assert [(issue.path, issue.message) for issue in caught.value.issues] == [
        ("all[0].value", "number out of range")
    ]


@settings(max_examples=25, deadline=None)
@given(number=HUGE, field=st.sampled_from(["age", "bmi", "height_cm", "weight_kg"]))
def test_any_huge_integer_is_out_of_range_in_every_form(number: int, field: str) -> None:
    leaf = {"field": field, "op": "between", "value": [1, number]}
    for source in (leaf, f"{field} between 1 and {number}", f"{field} >= {number}"):
        with pytest.raises(CriteriaError) as caught:
            parse_any(source)  # type: ignore[arg-type]
        assert "number out of range" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("bmi < 1e400", "$"),
        ("smoker and age > " + "9" * 5000, "all[1].value"),
        ("age between 18 and 1e999", "$"),
    ],
)
def test_text_criteria_refuse_absurd_numbers(text: str, path: str) -> None:
    with pytest.raises(CriteriaError) as caught:
        parse_any(text)
    issues = caught.value.issues
    assert any(issue.message == "number out of range" for issue in issues), issues
    assert path == "$" or any(issue.path == path for issue in issues)


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        ('{"title": "a\\u0000b"}', "title", json_input.CONTROL_CHARACTER),
        ('{"a": [1, "\\ud800"]}', "a[1]", json_input.LONE_SURROGATE),
        ('{"n": ' + "9" * 5000 + "}", "n", json_input.OUT_OF_RANGE),
        ('{"n": 9223372036854775808}', "n", json_input.OUT_OF_RANGE),
        ('{"n": 1e400}', "n", json_input.OUT_OF_RANGE),
        ('{"n": [NaN]}', "n[0]", json_input.NOT_A_NUMBER),
        ('{"k\\u0001": 1}', "k\\x01", "key " + json_input.CONTROL_CHARACTER),
        ("[" * 70 + "]" * 70, "[0]" * 64, "nested too deeply (at most 64 levels)"),
    ],
)
def test_json_input_names_the_path_of_each_refused_value(raw: str, path: str, message: str) -> None:
    with pytest.raises(json_input.JSONInputError) as caught:
        json_input.loads(raw)
    assert caught.value.fields == {path: message}


def test_json_input_accepts_ordinary_json() -> None:
    text = '{"a": [1, -9223372036854775807, 2.5e10, "tab\\tline\\nbreak", "é✓"], "b": null}'
    assert json_input.loads(text) == json.loads(text)


def test_cli_check_refuses_absurd_numbers_without_crashing(tmp_path: Path) -> None:
    for name, content in (
        (
            "json.json",
            '{"all": [{"field": "bmi", "op": "lt", "value": 1e400}, {"field": "age", "op": "gt", "value": '
            + "9" * 5000
            + "}]}",
        ),
        ("text.txt", "bmi < 1e400 and age > " + "9" * 5000),
    ):
        path = tmp_path / name
        path.write_text(content)
        result = run("check", path)
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "number out of range" in result.stderr
        assert result.stdout == ""
