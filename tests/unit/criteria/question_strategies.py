"""Hypothesis strategies for ``question`` leaves and answers (§4a), over every question type.

The catalogue is the shipped seed plus one ``date`` question (the seed has none) and one
``decimal`` question that applies to men only with a value for everyone else, so that every
type and both kinds of "everyone else" (a value, or not applicable) are drawn. Answer days
cluster around each evaluation day minus each ``answered_within`` duration; values around the
values the criteria compare with. Scored instruments are drawn through their items, some
complete and some partly answered.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import replace

from hypothesis import strategies as st

from panel_service.domain.criteria.json_form import parse_json
from panel_service.domain.criteria.model import Node
from panel_service.domain.history import subtract_duration
from panel_service.domain.profile import ProfileData
from panel_service.domain.questions import (
    OPS_BY_TYPE,
    Answer,
    Catalogue,
    Question,
    derive,
    question_from_data,
    seed_catalogue,
)
from tests.unit.criteria.strategies import DURATIONS, EVALUATION_DAYS, leaf_json, profiles

EXTRA_QUESTIONS = [
    {
        "key": "last_vaccination",
        "type": "date",
        "section": "health_events",
        "wording": {"en": "When were you last vaccinated?"},
    },
    {
        "key": "prostate_volume_ml",
        "type": "decimal",
        "section": "health_events",
        "unit": "ml",
        "min": 0,
        "max": 200,
        "applies_to": {"sex": ["male"]},
        "value_for_others": 0,
        "wording": {"en": "How large is your prostate?"},
    },
]
TEST_CATALOGUE = Catalogue(
    [*seed_catalogue().values(), *(question_from_data(item) for item in EXTRA_QUESTIONS)],
    seed_catalogue().sections,
)
DATES = (dt.date(2020, 1, 1), dt.date(2024, 2, 29), dt.date(2025, 3, 1), dt.date(2026, 11, 25))
DECIMALS = (0, 0.5, 2.5, 5, 7.5, 10, 20)


def _pool(question: Question) -> tuple[t.Any, ...]:
    if question.type == "boolean":
        return (True, False)
    if question.type in ("choice", "multi_choice"):
        return question.option_keys[:4]
    if question.type == "date":
        return DATES
    if question.type == "decimal":
        return DECIMALS
    low = int(question.minimum if question.minimum is not None else 0)
    high = int(question.maximum if question.maximum is not None else 100)
    if high - low > 40:  # years (smoking_quit_year) around 2000, counts near 0
        low = 2000 if low <= 2000 <= high else low
        high = low + 30
    return tuple(sorted({low, low + 1, low + 2, (low + high) // 2, high - 1, high}))


def _json_value(value: t.Any) -> t.Any:
    return value.isoformat() if isinstance(value, dt.date) else value


@st.composite
def question_leaves(draw: st.DrawFn) -> dict[str, object]:
    key = draw(st.sampled_from(sorted(TEST_CATALOGUE)))
    question = TEST_CATALOGUE[key]
    op = draw(st.sampled_from(OPS_BY_TYPE[question.type]))
    pool = st.sampled_from(_pool(question))
    if op == "between":
        low, high = sorted((draw(pool), draw(pool)))
        value: t.Any = [_json_value(low), _json_value(high)]
    elif op == "in":
        value = [_json_value(item) for item in draw(st.lists(pool, min_size=1, max_size=3))]
    else:
        value = _json_value(draw(pool))
    leaf: dict[str, object] = {"question": key, "op": op, "value": value}
    if draw(st.booleans()):
        leaf["answered_within"] = draw(st.sampled_from(DURATIONS))
    return leaf


def criteria_json_with_questions(max_leaves: int = 8) -> st.SearchStrategy[dict[str, object]]:
    return st.recursive(
        st.one_of(leaf_json(), question_leaves(), question_leaves()),
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=4).map(lambda items: {"all": items}),
            st.lists(children, min_size=1, max_size=4).map(lambda items: {"any": items}),
            children.map(lambda child: {"not": child}),
        ),
        max_leaves=max_leaves,
    )


def criteria_with_questions(max_leaves: int = 8) -> st.SearchStrategy[Node]:
    return criteria_json_with_questions(max_leaves).map(lambda obj: parse_json(obj, TEST_CATALOGUE))


@st.composite
def answer_days(draw: st.DrawFn, days: t.Sequence[dt.date]) -> dt.date:
    day = subtract_duration(draw(st.sampled_from(days)), draw(st.sampled_from(DURATIONS)))
    return day + dt.timedelta(days=draw(st.integers(-1, 1)))


@st.composite
def raw_answers(draw: st.DrawFn, days: t.Sequence[dt.date] = EVALUATION_DAYS) -> dict[str, Answer]:
    """Answers as a volunteer gives them: no instrument scores, items complete or not."""
    answers: dict[str, Answer] = {}
    keys = [
        key
        for key, question in TEST_CATALOGUE.items()
        if not question.scored and TEST_CATALOGUE.instrument_of(key) is None
    ]
    for key in draw(st.lists(st.sampled_from(keys), max_size=14, unique=True)):
        question = TEST_CATALOGUE[key]
        if question.type == "multi_choice":
            value: t.Any = frozenset(draw(st.lists(st.sampled_from(question.option_keys[:5]), max_size=3)))
        else:
            value = draw(st.sampled_from(_pool(question)))
        answers[key] = Answer(value, draw(answer_days(days)))
    for instrument in ("phq9", "gad7"):
        mode = draw(st.integers(0, 2))  # none, partly, all
        if mode == 0:
            continue
        items = TEST_CATALOGUE[instrument].items
        chosen = items if mode == 2 else items[: draw(st.integers(1, len(items) - 1))]
        for item in chosen:
            option = draw(st.sampled_from(TEST_CATALOGUE[item].option_keys))
            answers[item] = Answer(option, draw(answer_days(days)))
    return answers


@st.composite
def profiles_with_answers(
    draw: st.DrawFn, around: dt.date | None = None
) -> tuple[ProfileData, dict[str, Answer]]:
    """A profile with answers (instruments derived) and the raw answers it was drawn from."""
    days = EVALUATION_DAYS if around is None else (around,)
    profile = draw(profiles(around=around))
    raw = draw(raw_answers(days))
    return replace(profile, answers=derive(TEST_CATALOGUE, raw)), raw


@st.composite
def leaf_and_answers(draw: st.DrawFn, on: dt.date) -> tuple[Node, dict[str, Answer], str | None]:
    """One question leaf, the answers to its question (or its items) given around ``on`` minus its
    ``answered_within``, and a sex: the edges one leaf can have, drawn often."""
    obj = draw(question_leaves())
    leaf = parse_json(obj, TEST_CATALOGUE)
    question = TEST_CATALOGUE[obj["question"]]  # type: ignore[index]
    duration = t.cast(str | None, obj.get("answered_within")) or draw(st.sampled_from(DURATIONS))
    edge = subtract_duration(on, duration)

    def day() -> dt.date:
        return edge + dt.timedelta(days=draw(st.integers(-1, 1)))

    answers: dict[str, Answer] = {}
    keys = question.items or (question.key,)
    for key in keys:
        if draw(st.integers(0, 5)) == 0:
            continue  # unanswered (or a partly answered instrument)
        item = TEST_CATALOGUE[key]
        if item.type == "multi_choice":
            value: t.Any = frozenset(draw(st.lists(st.sampled_from(item.option_keys[:5]), max_size=3)))
        else:
            value = draw(st.sampled_from(_pool(item)))
        answers[key] = Answer(value, day())
    sex = draw(st.sampled_from((None, "female", "male", "other")))
    return leaf, answers, sex
