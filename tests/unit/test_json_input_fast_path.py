"""``json_input.loads`` skips the full walk when the text cannot hold a refused value (the bulk
import's fast path): it must refuse exactly what the full walk refuses, with the same paths."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel_service.domain import json_input

TRICKY_TEXT = st.sampled_from(
    ["plain", "Jørgensen", "\x00", "\x08", "\x0c", "\x1f", "\x7f", "tab\tand\nline", "\\u0000", "😀", "a\\b"]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    TRICKY_TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=4), TRICKY_TEXT), children, max_size=3),
    ),
    max_leaves=12,
)


def full_walk(text: str) -> dict[str, str]:
    value = json.loads(
        text,
        parse_int=json_input._parse_int,
        parse_float=json_input._parse_float,
        parse_constant=json_input._parse_constant,
    )
    return json_input.refusals(value)


def outcome(text: str) -> dict[str, str]:
    try:
        json_input.loads(text)
    except json_input.JSONInputError as exc:
        return exc.fields
    return {}


@settings(max_examples=300, deadline=None)
@given(VALUES, st.booleans())
def test_the_fast_path_refuses_exactly_what_the_full_walk_refuses(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert outcome(text) == full_walk(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "x\\u0000"}',
        '{"a": "x\\b"}',
        '{"a": "x\\f"}',
        '{"a": "\\ud800"}',
        '{"a": "\\uDFFF"}',
        '{"a": "\x7f"}',
        '{"a\\u0001": 1}',
        '{"a": 1e400}',
        '{"a": NaN}',
        '{"a": 123456789012345678901234}',
        "[" * 65 + "]" * 65,
        "[" * 64 + "1" + "]" * 64,
        "[" * 64 + "]" * 64,
        '{"a": "\\\\u0000"}',
        '{"a": "\\ud83d\\ude00"}',
    ],
)
def test_the_fast_path_on_the_edges(text: str) -> None:
    assert outcome(text) == full_walk(text)
