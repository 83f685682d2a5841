"""Hypothesis strategies for criteria trees and profiles, aimed at the edges where bugs live.

Codes cluster around range and prefix boundaries (N16.9, N17, N19.9, N1A, N20, and around
ICD-10-CM's letter-second QA0: Q99.9, Q9A, QA0, QB0), birth dates
around each evaluation day's birthdays and 29 February, numbers around the values the criteria
compare with.
"""

from __future__ import annotations

import datetime as dt
import random
import typing as t

from hypothesis import strategies as st

from panel_service.domain.criteria.json_form import parse_json
from panel_service.domain.criteria.model import FIELDS, Node
from panel_service.domain.profile import ProfileData

EVALUATION_DAYS = (
    dt.date(2024, 2, 29),
    dt.date(2025, 2, 28),
    dt.date(2025, 3, 1),
    dt.date(2026, 11, 25),
    dt.date(2028, 2, 29),
)
CATEGORIES = (
    "D65", "D66", "D67", "G25", "N16", "N17", "N18", "N19", "N1A", "N20", "I10", "E11", "Z99", "A00",
    "Q99", "QA0", "QB0",
)  # fmt: skip
PROFILE_CONDITIONS = (
    "D66", "D669", "D67", "G25", "G258", "G2581", "G259", "G26", "N169", "N17", "N170", "N18", "N183",
    "N19", "N199", "N1A", "N20", "I10", "E11", "E119", "E1190", "Z99", "A00", "A000",
    "Q999", "Q9A", "QA0", "QA00101", "QA08", "QB0",
)  # fmt: skip
CRITERIA_CONDITIONS = (
    "D66", "G25", "G25.8", "G25.81", "N18", "N18.3", "N19", "I10", "E11", "E11.9", "A00", "QA0", "QA0.01",
)  # fmt: skip
PROFILE_MEDICATIONS = (
    "A12CC05", "A12CC04", "A12CB01", "A11CC05", "B01AC06", "C10AA05", "C10AA01", "N02BE01", "N02BF01",
    "V03AB15",
)  # fmt: skip
CRITERIA_MEDICATIONS = (
    "A", "A12", "A12C", "A12CC", "A12CC05", "A12CB", "A11", "B01AC06", "C10AA", "C", "N02", "N02BF", "V",
)  # fmt: skip
REGIONS = ("DK-81", "DK-84", "DK-85", "SE-M")
SEXES = ("female", "male", "other")
AGES = (0, 17, 18, 19, 39, 40, 41, 74, 75, 76, 90)
BMIS = (18.5, 24.9, 25, 25.1, 29.9, 30, 30.1, 40)
HEIGHTS = (150, 160.5, 170, 180.2, 190)
WEIGHTS = (50, 60.5, 72.3, 80, 95.5, 120)


def _leaf_json(field: str, op: str, value: object) -> dict[str, object]:
    return {"field": field, "op": op, "value": value}


def _values_for(field: str) -> st.SearchStrategy[t.Any]:
    pools: dict[str, st.SearchStrategy[t.Any]] = {
        "age": st.sampled_from(AGES),
        "bmi": st.sampled_from(BMIS) | st.floats(15, 45).map(lambda value: round(value, 1)),
        "height_cm": st.sampled_from(HEIGHTS),
        "weight_kg": st.sampled_from(WEIGHTS),
        "sex": st.sampled_from(SEXES),
        "region": st.sampled_from(REGIONS),
        "smoker": st.booleans(),
        "pregnant": st.booleans(),
    }
    return pools[field]


@st.composite
def field_leaves(draw: st.DrawFn) -> dict[str, object]:
    field = draw(st.sampled_from(FIELDS))
    values = _values_for(field)
    if field in ("smoker", "pregnant"):
        return _leaf_json(field, draw(st.sampled_from(("eq", "ne"))), draw(values))
    if field in ("sex", "region"):
        op = draw(st.sampled_from(("eq", "ne", "in")))
    else:
        op = draw(st.sampled_from(("eq", "ne", "lt", "le", "gt", "ge", "between", "in")))
    if op == "in":
        return _leaf_json(field, op, draw(st.lists(values, min_size=1, max_size=3)))
    if op == "between":
        low, high = sorted((draw(values), draw(values)))
        return _leaf_json(field, op, [low, high])
    return _leaf_json(field, op, draw(values))


@st.composite
def condition_leaves(draw: st.DrawFn) -> dict[str, object]:
    if draw(st.booleans()):
        low, high = sorted((draw(st.sampled_from(CATEGORIES)), draw(st.sampled_from(CATEGORIES))))
        return {"condition": f"{low}-{high}"}
    return {"condition": draw(st.sampled_from(CRITERIA_CONDITIONS))}


def medication_leaves() -> st.SearchStrategy[dict[str, object]]:
    return st.sampled_from(CRITERIA_MEDICATIONS).map(lambda code: {"medication": code})


def leaf_json() -> st.SearchStrategy[dict[str, object]]:
    return st.one_of(field_leaves(), condition_leaves(), medication_leaves())


def criteria_json(max_leaves: int = 12) -> st.SearchStrategy[dict[str, object]]:
    return st.recursive(
        leaf_json(),
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=4).map(lambda items: {"all": items}),
            st.lists(children, min_size=1, max_size=4).map(lambda items: {"any": items}),
            children.map(lambda child: {"not": child}),
        ),
        max_leaves=max_leaves,
    )


def criteria_trees(max_leaves: int = 12) -> st.SearchStrategy[Node]:
    return criteria_json(max_leaves).map(parse_json)


def _shift_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@st.composite
def birth_dates(draw: st.DrawFn) -> dt.date | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    if draw(st.integers(0, 5)) == 0:
        return dt.date(draw(st.sampled_from((1948, 1956, 1984, 1988, 2000, 2004, 2008))), 2, 29)
    day = draw(st.sampled_from(EVALUATION_DAYS))
    years = draw(st.sampled_from(AGES))
    return _shift_years(day, years) + dt.timedelta(days=draw(st.integers(-2, 2)))


def _maybe(strategy: st.SearchStrategy[t.Any]) -> st.SearchStrategy[t.Any]:
    return st.none() | strategy


@st.composite
def profiles(draw: st.DrawFn) -> ProfileData:
    sex = draw(_maybe(st.sampled_from(SEXES)))
    pregnant = draw(st.sampled_from((None, False)) if sex == "male" else _maybe(st.booleans()))
    code_lists = st.lists(st.sampled_from(PROFILE_CONDITIONS), max_size=4, unique=True).map(tuple)
    medication_lists = st.lists(st.sampled_from(PROFILE_MEDICATIONS), max_size=3, unique=True).map(tuple)
    return ProfileData(
        birth_date=draw(birth_dates()),
        sex=sex,
        region=draw(_maybe(st.sampled_from(REGIONS))),
        height_cm=draw(_maybe(st.sampled_from(HEIGHTS))),
        weight_kg=draw(_maybe(st.sampled_from(WEIGHTS))),
        smoker=draw(_maybe(st.booleans())),
        pregnant=pregnant,
        conditions=draw(_maybe(code_lists)),
        medications=draw(_maybe(medication_lists)),
    )


def random_profile(rng: random.Random) -> ProfileData:
    """A profile from the same pools as ``profiles()``, for fixed seeded populations."""

    def maybe(value: t.Any, unanswered: float = 0.15) -> t.Any:
        return None if rng.random() < unanswered else value

    sex = maybe(rng.choice(SEXES))
    day = rng.choice(EVALUATION_DAYS)
    if rng.random() < 0.1:
        born: dt.date | None = dt.date(rng.choice((1948, 1956, 1984, 1988, 2000, 2004)), 2, 29)
    else:
        born = _shift_years(day, rng.choice(AGES)) + dt.timedelta(days=rng.randint(-2, 2))
    conditions = tuple(rng.sample(PROFILE_CONDITIONS, rng.randint(0, 4)))
    medications = tuple(rng.sample(PROFILE_MEDICATIONS, rng.randint(0, 3)))
    return ProfileData(
        birth_date=maybe(born, 0.1),
        sex=sex,
        region=maybe(rng.choice(REGIONS)),
        height_cm=maybe(rng.choice(HEIGHTS)),
        weight_kg=maybe(rng.choice(WEIGHTS)),
        smoker=maybe(rng.random() < 0.3),
        pregnant=maybe(False) if sex == "male" else maybe(rng.random() < 0.2),
        conditions=maybe(conditions),
        medications=maybe(medications),
    )
