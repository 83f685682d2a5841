"""Histories and qualifiers (product contract §4a), and "a less specific answer is UNKNOWN".

The property test checks the evaluator against a small evaluator written here from the words of
§4a alone: it enumerates the worlds an entry's answer allows (each status it may have, each day
its partial dates may stand for, since never after until) and asks whether the qualifiers hold
in all of them (TRUE), in none (FALSE) or in some. Days are enumerated over every day that can
change a comparison: the first and last day each partial date covers, each qualifier's threshold
and the days either side of it, and the other date's bounds (a missing date may be any day, so
it takes those candidates and two far-away days).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel_service.domain.criteria import (
    CriteriaError,
    Truth,
    evaluate,
    explain,
    parse_json,
    parse_text,
    to_text,
)
from panel_service.domain.criteria.model import All, Any, Condition, FieldLeaf, Medication, Node, Not
from panel_service.domain.history import make_entry, partial_date_bounds, subtract_duration
from panel_service.domain.profile import ProfileData
from panel_service.domain.profile_json import ProfileJSONError, profile_from_json, profile_to_json
from tests.unit.criteria.strategies import (
    EVALUATION_DAYS,
    criteria_trees,
    history_entry,
    partial_date,
    profiles,
    qualifiers,
)

T, F, U = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN
FAR_PAST, FAR_FUTURE = dt.date(1901, 1, 1), dt.date(9000, 1, 1)


def truth_of(text: str, profile: ProfileData, on: dt.date) -> Truth:
    return evaluate(parse_text(text), profile, on)


# --- dates and durations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "duration", "expected"),
    [
        (dt.date(2026, 5, 31), "P3M", dt.date(2026, 2, 28)),  # clamped to the end of February
        (dt.date(2028, 5, 31), "P3M", dt.date(2028, 2, 29)),
        (dt.date(2026, 3, 31), "P1M", dt.date(2026, 2, 28)),
        (dt.date(2026, 1, 15), "P2M", dt.date(2025, 11, 15)),
        (dt.date(2028, 2, 29), "P1Y", dt.date(2027, 2, 28)),
        (dt.date(2026, 6, 15), "P1Y", dt.date(2025, 6, 15)),
        (dt.date(2026, 6, 15), "P2W", dt.date(2026, 6, 1)),
        (dt.date(2026, 6, 15), "P14D", dt.date(2026, 6, 1)),
    ],
)
def test_today_minus_a_duration_clamps_to_the_end_of_a_shorter_month(
    day: dt.date, duration: str, expected: dt.date
) -> None:
    assert subtract_duration(day, duration) == expected


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2025", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        ("2025-11-03", dt.date(2025, 11, 3), dt.date(2025, 11, 3)),
    ],
)
def test_a_partial_date_stands_for_every_day_it_covers(text: str, first: dt.date, last: dt.date) -> None:
    assert partial_date_bounds(text) == (first, last)


@pytest.mark.parametrize(
    "text", ["25", "2025-13", "2025-02-30", "2025-1", "2025-01-01T00", "\uff12\uff10\uff12\uff15", "2025\n"]
)
def test_malformed_partial_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY"):
        make_entry("I214", None, text, None)


# --- the worked examples of §4a --------------------------------------------------------------

ON = dt.date(2026, 6, 15)


def with_condition(
    code: str, status: str | None = None, since: str | None = None, until: str | None = None
) -> ProfileData:
    entry = make_entry(code, status, since, until)
    return ProfileData(conditions=(code,), condition_history=() if entry.plain else (entry,))


def with_medication(
    code: str, status: str | None = None, since: str | None = None, until: str | None = None
) -> ProfileData:
    entry = make_entry(code, status, since, until)
    return ProfileData(medications=(code,), medication_history=() if entry.plain else (entry,))


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("2025", U),  # 2025-01-01 is long enough ago, 2025-12-31 is not: §4a's own example
        ("2024", T),
        ("2025-06", U),  # 2025-06-15 is exactly a year before, 2025-06-30 is not
        ("2025-06-15", T),
        ("2025-06-16", F),
        ("2025-07", F),
        (None, U),
    ],
)
def test_for_at_least_over_partial_dates(since: str | None, expected: Truth) -> None:
    profile = with_condition("G2581", "current", since)
    assert truth_of("has condition G25.8 for at least P1Y", profile, ON) is expected


def test_for_at_least_needs_a_current_entry() -> None:
    assert truth_of("has condition G25.8 for at least P1Y", with_condition("G2581", "past", "2020"), ON) is F
    assert truth_of("has condition G25.8 for at least P1Y", with_condition("G2581", None, "2020"), ON) is U


@pytest.mark.parametrize(
    ("status", "since", "until", "expected"),
    [
        ("current", None, None, T),
        ("past", None, "2026-04", T),  # ended in April, after 15 March
        ("past", None, "2026-03", U),  # some day of March is after 15 March, some before
        ("past", None, "2026-03-14", F),
        ("past", None, "2025", F),
        ("past", None, None, U),
        ("past", "2026-04", None, T),  # began after 15 March, so present after it
        (None, None, None, U),
        (None, "2026-05", None, T),
    ],
)
def test_no_magnesium_in_the_last_three_months(
    status: str | None, since: str | None, until: str | None, expected: Truth
) -> None:
    profile = with_medication("A12CC05", status, since, until)
    assert truth_of("takes A12CC within P3M", profile, ON) is expected
    assert truth_of("not takes A12CC within P3M", profile, ON) is expected.negate()


def test_current_qualifier() -> None:
    assert truth_of("takes A12CC currently", with_medication("A12CC05", "current"), ON) is T
    assert truth_of("takes A12CC currently", with_medication("A12CC05", "past"), ON) is F
    assert truth_of("takes A12CC currently", with_medication("A12CC05"), ON) is U
    assert truth_of("takes A12CC formerly", with_medication("A12CC05", until="2025"), ON) is T
    assert truth_of("takes A12CC formerly", ProfileData(medications=()), ON) is F
    assert truth_of("takes A12CC formerly", ProfileData(), ON) is U


def test_a_plain_code_keeps_its_version_1_meaning() -> None:
    plain = with_condition("G2581")
    assert truth_of("has condition G25.8", plain, ON) is T
    assert truth_of("has condition N18", plain, ON) is F


# --- less specific answers -------------------------------------------------------------------


def test_a_less_specific_answer_is_unknown_and_the_explanation_says_so() -> None:
    profile = ProfileData(conditions=("G258",))
    explanation = explain(parse_text("has condition G25.81"), profile, ON)
    assert explanation.result is U
    (leaf,) = explanation.leaves
    assert (
        "you told us about restless legs (G25.8), which is less specific than what the study asks"
        in leaf.sentence
    )
    assert leaf.question is not None and "G25.81" in leaf.question
    assert truth_of("not has condition G25.81", profile, ON) is U


def test_a_less_specific_medication_is_unknown() -> None:
    assert truth_of("takes A12CC05", ProfileData(medications=("A12CC",)), ON) is U
    assert truth_of("takes A12CC05", ProfileData(medications=("A12CC", "A12CC05")), ON) is T
    assert truth_of("takes A12CC05", ProfileData(medications=("A12CB",)), ON) is F


def test_a_less_specific_answer_that_cannot_meet_the_qualifiers_is_false() -> None:
    profile = with_condition("G258", "past", until="2010")
    assert truth_of("has condition G25.81 within P1Y", profile, ON) is F
    assert truth_of("has condition G25.81 within P1Y", with_condition("G258", "current"), ON) is U


def test_ranges_have_no_less_specific_answers() -> None:
    # Every answered code is at least a category, which lies in a range or does not.
    assert truth_of("has condition N17-N19", ProfileData(conditions=("N20",)), ON) is F


# --- explanations ----------------------------------------------------------------------------


def test_explanations_say_what_the_volunteer_told_us() -> None:
    stopped = with_medication("A12CC05", "past", "2024", "2025")
    (leaf,) = explain(parse_text("takes A12CC within P3M"), stopped, ON).leaves
    assert leaf.result is F
    assert leaf.sentence.startswith("you told us you stopped taking magnesium oxide (A12CC05) in 2025")
    assert "in the last 3 months" in leaf.sentence
    since = with_condition("G2581", "current", "2025")
    (leaf,) = explain(parse_text("has condition G25.8 for at least P1Y"), since, ON).leaves
    assert leaf.result is U
    assert "since 2025" in leaf.sentence and "for at least 1 year" in leaf.sentence
    assert leaf.question is not None


# --- the language ----------------------------------------------------------------------------


def test_qualifiers_in_the_text_and_json_forms() -> None:
    node = parse_text(
        "has condition I21 within p12m and takes A12CC currently and not takes A12CC within P3M"
    )
    assert (
        to_text(node)
        == "has condition I21 within P12M and takes A12CC currently and not takes A12CC within P3M"
    )
    assert node == parse_json(
        {
            "all": [
                {"condition": "I21", "within": "P12M"},
                {"medication": "A12CC", "current": True},
                {"not": {"medication": "A12CC", "within": "P3M"}},
            ]
        }
    )


@pytest.mark.parametrize(
    ("criteria", "path", "message"),
    [
        ({"all": [{"field": "age", "op": "ge", "value": 18}, {"field": "smoker", "op": "eq", "value": True},
                  {"condition": "I21", "within": "3 months"}]}, "all[2].within", "expected an ISO 8601 duration like P3M"),
        ({"medication": "A12CC", "for_at_least": "P1Y2M"}, "for_at_least", "expected an ISO 8601 duration"),
        ({"medication": "A12CC", "within": "P0D"}, "within", "expected an ISO 8601 duration"),
        ({"medication": "A12CC", "within": 3}, "within", "got 3"),
        ({"medication": "A12CC", "current": "yes"}, "current", "current takes true or false"),
        ({"medication": "A12CC", "current": False, "for_at_least": "P1Y"}, "for_at_least", "cannot be combined"),
        ({"field": "age", "op": "ge", "value": 18, "within": "P1Y"}, "within", "unknown key"),
    ],
)  # fmt: skip
def test_bad_qualifiers_are_refused_with_their_path(
    criteria: dict[str, object], path: str, message: str
) -> None:
    with pytest.raises(CriteriaError) as caught:
        parse_json(criteria)
    assert any(issue.path == path and message in issue.message for issue in caught.value.issues), caught.value


# --- profile JSON ----------------------------------------------------------------------------


def test_profile_json_takes_histories_and_gives_them_back() -> None:
    source = {
        "conditions": ["G25.8", {"code": "I21.4", "status": "past", "since": "2025-11", "until": "2026-01"}],
        "medications": [{"code": "A12CC05", "status": "current", "since": "2026"}, "C10AA05"],
    }
    profile = profile_from_json(source)
    assert profile.conditions == ("G258", "I214")
    assert [entry.to_json() for entry in profile.condition_entries or ()] == [
        "G258",
        {"code": "I214", "status": "past", "since": "2025-11", "until": "2026-01"},
    ]
    assert profile_from_json(profile_to_json(profile)) == profile


def test_an_until_makes_an_entry_past() -> None:
    profile = profile_from_json({"medications": [{"code": "A12CC05", "until": "2025"}]})
    assert profile.medication_history[0].status == "past"


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        ({"code": "I21.4", "status": "ongoing"}, "conditions[0].status", "expected current or past"),
        ({"code": "I21.4", "since": "2025-13"}, "conditions[0].since", "YYYY"),
        ({"code": "I21.4", "since": 2025}, "conditions[0].since", "YYYY"),
        ({"code": "I21.4", "status": "current", "until": "2025"}, "conditions[0].until", "no end date"),
        ({"code": "I21.4", "since": "2026", "until": "2025-06"}, "conditions[0].until", "before since"),
        ({"code": "X"}, "conditions[0].code", "not a well-formed ICD-10 code"),
        ({"code": "I21.4", "when": "2025"}, "conditions[0].when", "unknown key"),
    ],
)
def test_bad_histories_are_refused_with_their_key(entry: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(ProfileJSONError) as caught:
        profile_from_json({"conditions": [entry]})
    assert any(where == key and message in text for where, text in caught.value.errors), caught.value.errors


def test_one_code_with_two_histories_is_refused() -> None:
    with pytest.raises(ProfileJSONError, match="listed twice"):
        profile_from_json(
            {"conditions": [{"code": "I21.4", "since": "2020"}, {"code": "I214", "since": "2021"}]}
        )


# --- the independent evaluator ---------------------------------------------------------------


def _days(text: str | None, interesting: list[dt.date]) -> list[dt.date]:
    """The days a partial date allows that can change a comparison with ``interesting``."""
    low, high = partial_date_bounds(text) if text else (FAR_PAST, FAR_FUTURE)
    nearby = {day + dt.timedelta(days=shift) for day in interesting for shift in (-1, 0, 1)}
    return sorted({low, high} | {day for day in nearby if low <= day <= high})


def _worlds(entry_status: str | None, since: str | None, until: str | None, interesting: list[dt.date]):  # type: ignore[no-untyped-def]
    bounds = [*interesting]
    for text in (since, until):
        if text:
            bounds += partial_date_bounds(text)
    for status in (entry_status,) if entry_status else ("current", "past"):
        for start in _days(since, bounds):
            if status == "current":
                yield status, start, None
                continue
            for end in _days(until, bounds):
                if start <= end:
                    yield status, start, end


def _holds(
    leaf: Condition | Medication, on: dt.date, status: str, start: dt.date, end: dt.date | None
) -> bool:
    if leaf.current is not None and (status == "current") != leaf.current:
        return False
    if leaf.within is not None:
        threshold = subtract_duration(on, leaf.within)
        # present at some day on or after the threshold: still current, or ended on or after it
        if not (status == "current" or (end is not None and end >= threshold)):
            return False
    if leaf.for_at_least is not None:
        threshold = subtract_duration(on, leaf.for_at_least)
        if not (status == "current" and start <= threshold):
            return False
    return True


def _code_truth(leaf: Condition | Medication, profile: ProfileData, on: dt.date) -> Truth:
    entries = profile.condition_entries if isinstance(leaf, Condition) else profile.medication_entries
    if entries is None:
        return U
    wanted = leaf.code
    is_range = isinstance(leaf, Condition) and leaf.range_end is not None
    thresholds = [subtract_duration(on, d) for d in (leaf.within, leaf.for_at_least) if d]
    result = F
    for entry in entries:
        if is_range:
            matches = wanted <= entry.code[:3] <= t_end(leaf)
            vaguer = False
        else:
            matches = entry.code.startswith(wanted)
            vaguer = wanted.startswith(entry.code) and entry.code != wanted
        if not (matches or vaguer):
            continue
        outcomes = {
            _holds(leaf, on, *world) for world in _worlds(entry.status, entry.since, entry.until, thresholds)
        }
        if matches and outcomes == {True}:
            return T
        if True in outcomes:
            result = U
    return result


def t_end(leaf: Condition | Medication) -> str:
    assert isinstance(leaf, Condition) and leaf.range_end is not None
    return leaf.range_end


def independent(node: Node, profile: ProfileData, on: dt.date) -> Truth:
    if isinstance(node, All):
        return min(independent(child, profile, on) for child in node.children)
    if isinstance(node, Any):
        return max(independent(child, profile, on) for child in node.children)
    if isinstance(node, Not):
        return independent(node.child, profile, on).negate()
    if isinstance(node, FieldLeaf):
        return evaluate(node, profile, on)  # field leaves have their own tests
    return _code_truth(node, profile, on)


@settings(max_examples=400, deadline=None)
@given(tree=criteria_trees(6), data=st.data(), on=st.sampled_from(EVALUATION_DAYS))
def test_the_evaluator_agrees_with_the_independent_one(tree: Node, data: st.DataObject, on: dt.date) -> None:
    profile = data.draw(profiles(around=on), label="profile")
    assert evaluate(tree, profile, on) is independent(tree, profile, on), to_text(tree)


def test_the_worlds_cover_a_whole_month_boundary() -> None:
    # Sanity of the small evaluator itself: "2026-03" against 15 March offers days on both sides.
    days = _days("2026-03", [dt.date(2026, 3, 15)])
    assert dt.date(2026, 3, 14) in days and dt.date(2026, 3, 15) in days and dt.date(2026, 3, 31) in days
    assert list(itertools.pairwise(days)) and days == sorted(days)


RELATED_CODES = (
    ("condition", "G25.8", "G258"),
    ("condition", "G25.8", "G2581"),
    ("condition", "G25.81", "G258"),  # less specific
    ("condition", "G25.81", "G25"),  # less specific
    ("condition", "N17-N19", "N183"),
    ("condition", "N17-N19", "N20"),
    ("medication", "A12CC", "A12CC05"),
    ("medication", "A12CC05", "A12CC"),  # less specific
    ("medication", "A12CC05", "A12CB01"),
)


@st.composite
def leaf_and_profile(draw: st.DrawFn) -> tuple[Node, ProfileData, dt.date]:
    """One code leaf with qualifiers and one related entry whose dates sit on either side of,
    or cover, the leaf's own thresholds: where a wrong bound in either evaluator shows."""
    on = draw(st.sampled_from(EVALUATION_DAYS))
    kind, wanted, code = draw(st.sampled_from(RELATED_CODES))
    leaf: dict[str, object] = {kind: wanted, **draw(qualifiers())}
    durations = [str(leaf[key]) for key in ("within", "for_at_least") if key in leaf] or ["P3M"]

    def partial() -> str | None:
        if draw(st.integers(0, 2)) == 0:
            return None
        day = subtract_duration(on, draw(st.sampled_from(durations))) + dt.timedelta(
            days=draw(st.integers(-2, 2))
        )
        return partial_date(day, draw(st.integers(0, 2)))

    normalised = code
    entry = history_entry(normalised, draw(st.sampled_from((None, "current", "past"))), partial(), partial())
    codes = (normalised,)
    history = () if entry.plain else (entry,)
    if kind == "condition":
        return parse_json(leaf), ProfileData(conditions=codes, condition_history=history), on
    return parse_json(leaf), ProfileData(medications=codes, medication_history=history), on


@settings(max_examples=1500, deadline=None)
@given(case=leaf_and_profile())
def test_one_leaf_against_one_entry_agrees_with_the_independent_evaluator(
    case: tuple[Node, ProfileData, dt.date],
) -> None:
    leaf, profile, on = case
    assert evaluate(leaf, profile, on) is independent(leaf, profile, on), (to_text(leaf), profile)
    assert evaluate(Not(leaf), profile, on) is independent(Not(leaf), profile, on)


SMALL_DAY = dt.date(2026, 5, 31)  # "today - P3M" is clamped to 28 February


def small_space() -> tuple[list[Node], list[ProfileData]]:
    """Every allowed combination of qualifiers on ``G25.8`` (within P3M, for at least P1Y), and
    a profile per status, since and until (each missing, or a year, month or day at or beside
    each threshold), listing G25.81 (matching) or G25 (less specific)."""
    within, at_least = "P3M", "P1Y"
    dates: list[str | None] = [None]
    for duration in (within, at_least):
        for shift in (-1, 0, 1):
            day = subtract_duration(SMALL_DAY, duration) + dt.timedelta(days=shift)
            dates += [partial_date(day, precision) for precision in (0, 1, 2)]
    dates = list(dict.fromkeys(dates))
    leaves: list[Node] = []
    for current, has_within, has_at_least in itertools.product(
        (None, True, False), (False, True), (False, True)
    ):
        if current is False and has_at_least:
            continue
        leaf: dict[str, object] = {"condition": "G25.8"}
        if current is not None:
            leaf["current"] = current
        if has_within:
            leaf["within"] = within
        if has_at_least:
            leaf["for_at_least"] = at_least
        leaves.append(parse_json(leaf))
    people = []
    for status, since, until in itertools.product((None, "current", "past"), dates, dates):
        entry = history_entry("G2581", status, since, until)
        for code in ("G2581", "G25"):
            people.append(ProfileData(conditions=(code,), condition_history=(replace(entry, code=code),)))
    return leaves, people


def test_every_small_history_against_every_qualifier_agrees_with_the_independent_evaluator() -> None:
    leaves, people = small_space()
    for leaf, profile in itertools.product(leaves, people):
        expected = independent(leaf, profile, SMALL_DAY)
        assert evaluate(leaf, profile, SMALL_DAY) is expected, (to_text(leaf), profile.condition_history)
    assert len(leaves) * len(people) > 10_000
