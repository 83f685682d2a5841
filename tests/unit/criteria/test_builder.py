"""The criteria builder's pure tree edits and error places (domain/criteria/builder.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel_service.domain.criteria import Node, parse_text, to_text
from panel_service.domain.criteria import builder as b
from panel_service.domain.criteria.model import Not
from tests.unit.criteria.strategies import criteria_trees, leaf_json


def text_after(source: str, edit: str, *args: object) -> str:
    node = parse_text(source) if source else None
    result = getattr(b, edit)(node, *args)
    return to_text(result) if result is not None else ""


def test_rows_give_each_criterion_its_place_and_depth() -> None:
    node = parse_text("age >= 18 and not (has condition G25.8 or takes A12CC) and (sex = female or pregnant)")
    assert [(row.path, row.depth, row.kind) for row in b.rows(node)] == [
        ("0", 0, "leaf"),
        ("1", 0, "not"),
        ("1.0", 1, "any"),
        ("1.0.0", 2, "leaf"),
        ("1.0.1", 2, "leaf"),
        ("2", 0, "any"),
        ("2.0", 1, "leaf"),
        ("2.1", 1, "leaf"),
    ]
    assert [row.path for row in b.groups(node)] == ["1.0", "2"]
    assert [row.path for row in b.rows(parse_text("age >= 18"))] == ["0"]
    assert b.rows(None) == []


def test_add_to_the_top_level_or_a_group() -> None:
    leaf = b.code_leaf("condition", "G25.8", current="current", for_at_least="P1Y")
    assert text_after("", "add", "", leaf) == "has condition G25.8 currently for at least P1Y"
    assert (
        text_after("age >= 18", "add", "", leaf)
        == "age >= 18 and has condition G25.8 currently for at least P1Y"
    )
    assert text_after("age >= 18 and (sex = female or pregnant)", "add", "1", leaf) == (
        "age >= 18 and (sex = female or pregnant or has condition G25.8 currently for at least P1Y)"
    )
    with pytest.raises(b.BuilderError) as refused:
        text_after("age >= 18 and sex = female", "add", "0", leaf)
    assert refused.value.field == "target"
    with pytest.raises(b.BuilderError):
        text_after("age >= 18", "add", "4", leaf)


def test_remove_collapses_groups_left_with_one_criterion_and_drops_empty_ones() -> None:
    source = "age >= 18 and not (has condition G25.8 or takes A12CC)"
    assert text_after(source, "remove", "1.0.0") == "age >= 18 and not takes A12CC"
    assert text_after(source, "remove", "1") == "age >= 18"
    assert text_after(source, "remove", "0") == "not (has condition G25.8 or takes A12CC)"
    assert text_after("age >= 18", "remove", "0") == ""
    assert text_after("not takes A12CC and age > 1", "remove", "0.0") == "age > 1"
    for bad in ("", "5", "0.0", "x", "-1"):
        with pytest.raises(b.BuilderError):
            text_after("age >= 18 and sex = female", "remove", bad)


def test_group_ticked_siblings_as_all_any_or_none() -> None:
    source = "age >= 18 and has condition G25.8 and takes A12CC"
    assert (
        text_after(source, "group", ["1", "2"], "any") == "age >= 18 and (has condition G25.8 or takes A12CC)"
    )
    assert (
        text_after(source, "group", ["2", "1"], "none")
        == "age >= 18 and not (has condition G25.8 or takes A12CC)"
    )
    assert (
        text_after(source, "group", ["2"], "none") == "age >= 18 and has condition G25.8 and not takes A12CC"
    )
    # A root that is not an "all" is the one top-level criterion, at "0".
    assert text_after(
        "sex = female or (age > 1 and pregnant and smoker)", "group", ["0.1.1", "0.1.2"], "any"
    ) == ("sex = female or (age > 1 and (pregnant or smoker))")
    for paths, kind, field in (
        (["1"], "any", "selected"),
        ([], "any", "selected"),
        (["0", "1"], "some", "group_kind"),
        (["0", "7"], "all", "path"),
    ):
        with pytest.raises(b.BuilderError) as refused:
            text_after(source, "group", paths, kind)
        assert refused.value.field == field
    with pytest.raises(b.BuilderError) as refused:
        text_after("age > 1 and (sex = female or pregnant)", "group", ["0", "1.0"], "any")
    assert refused.value.field == "selected"


def test_leaves_from_the_inputs_name_the_input_at_fault() -> None:
    assert to_text(b.field_leaf("bmi", "between", "18,5", "30")) == "bmi between 18.5 and 30"
    assert to_text(b.field_leaf("sex", "in", "female, other")) == "sex in (female, other)"
    assert to_text(b.field_leaf("pregnant", "eq", "nej")) == "pregnant = false"
    assert (
        to_text(b.code_leaf("medication", "A12CC", within=b.duration("3", "M", "within")))
        == "takes A12CC within P3M"
    )
    assert to_text(b.code_leaf("condition", "G25.8", current="past")) == "has condition G25.8 formerly"
    assert b.duration("", "M", "within") is None
    for call, field in (
        (lambda: b.field_leaf("age", "ge", "old"), "value"),
        (lambda: b.field_leaf("age", "ge", "900"), "value"),
        (lambda: b.field_leaf("shoe", "eq", "9"), "field"),
        (lambda: b.field_leaf("age", "like", "9"), "op"),
        (lambda: b.field_leaf("smoker", "eq", "maybe"), "value"),
        (lambda: b.field_leaf("sex", "in", " , "), "value"),
        (lambda: b.code_leaf("condition", "12"), "code"),
        (lambda: b.code_leaf("condition", ""), "code"),
        (lambda: b.code_leaf("condition", "G25.8", current="sometimes"), "current"),
        (lambda: b.code_leaf("condition", "G25.8", current="past", for_at_least="P1Y"), "for_at_least"),
        (lambda: b.code_leaf("drug", "A12CC"), "kind"),
        (lambda: b.duration("3.5", "M", "within"), "within"),
        (lambda: b.duration("3", "Q", "within"), "within_unit"),
    ):
        with pytest.raises(b.BuilderError) as refused:
            call()
        assert refused.value.field == field


def test_errors_are_placed_at_their_line_and_column() -> None:
    assert b.parse_located("") == (None, [])
    node, errors = b.parse_located("age between 18 and 75 and\n  has condition G25.8 and\n  weight_kg > 5000")
    assert node is None and [(e.line, e.column) for e in errors] == [(3, 3)]
    assert "weight_kg" in errors[0].message and "[" not in errors[0].message.split(" got ")[0]
    _, errors = b.parse_located("not (sex = female or\n has condition G25.8 within P3Q)")
    assert [(e.line, e.column) for e in errors] == [(2, 2)]
    _, errors = b.parse_located("age between 75 and 18 and\nsex = female and\n\nage < 500")
    assert sorted((e.line, e.column) for e in errors) == [(1, 1), (4, 1)]
    _, errors = b.parse_located("age >= 18 and\nhas condition")
    assert [(e.line, e.column) for e in errors] == [(2, 14)] and "expected" in errors[0].message
    node, errors = b.parse_located("age >= 18")
    assert errors == [] and node == parse_text("age >= 18")


@settings(max_examples=150, deadline=None)
@given(criteria_trees(max_leaves=8), st.data())
def test_every_edit_keeps_a_tree_that_reads_back_from_its_text(node: Node, data: st.DataObject) -> None:
    rows = b.rows(node)
    row = data.draw(st.sampled_from(rows))
    removed = b.remove(node, row.path)
    if removed is not None:
        assert parse_text(to_text(removed)) == removed
        assert len(b.rows(removed)) < len(rows)
    targets = ["", *(group.path for group in b.groups(node))]
    leaf = b._leaf(data.draw(leaf_json()), {})
    added = b.add(node, data.draw(st.sampled_from(targets)), leaf)
    assert parse_text(to_text(added)) == added
    grouped = b.group(node, [row.path], "none")
    assert parse_text(to_text(grouped)) == grouped
    assert isinstance(b._node_at(grouped, [int(step) for step in row.path.split(".")]), Not)


def test_json_criteria_are_read_too_with_their_paths_as_places() -> None:
    node, errors = b.parse_located(
        '{"all": [{"field": "age", "op": "ge", "value": 18}, {"condition": "G25.8"}]}'
    )
    assert errors == [] and to_text(node) == "age >= 18 and has condition G25.8"  # type: ignore[arg-type]
    _, errors = b.parse_located('{"all": [{"field": "age", "op": "ge", "value": 900}]}')
    assert errors[0].line is None and errors[0].message.startswith("all[0].value: ")
    _, errors = b.parse_located('{"all": [\n  {"field": "age",}]}')
    assert errors[0].line == 2
