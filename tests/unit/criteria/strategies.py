"""Hypothesis strategies for criteria trees and profiles, aimed at the edges where bugs live.

Codes cluster around range and prefix boundaries (N16.9, N17, N19.9, N1A, N20, and around
ICD-10-CM's letter-second QA0: Q99.9, Q9A, QA0, QB0), birth dates
around each evaluation day's birthdays and 29 February, numbers around the values the criteria
compare with. Histories (§4a) have current, past or unknown status and partial dates (year,
month or day, or missing) near each evaluation day minus each qualifier's duration, so that
"today - P3M" falls inside, on the edge of, or just outside what a partial date covers.
Profiles list ancestors of the criteria's codes (G25.8 for G25.81) for the less-specific rule.
"""

from __future__ import annotations

import datetime as dt
import random
import typing as t

from hypothesis import strategies as st

from panel_service.domain.criteria.json_form import parse_json
from panel_service.domain.criteria.model import FIELDS, Node
from panel_service.domain.geo import Home, Sites, site_points
from panel_service.domain.history import Entry, make_entry, subtract_duration
from panel_service.domain.profile import ProfileData

EVALUATION_DAYS = (
    dt.date(2024, 2, 29),
    dt.date(2025, 2, 28),
    dt.date(2025, 3, 1),
    dt.date(2026, 11, 25),
    dt.date(2028, 2, 29),
)
# B00, BZZ, C0A and C09: ranges that the code summary covers by a whole letter (A00-C09: A, B,
# C0 except C0A-C0Z) or by a letter and a character, and codes on each side of those edges.
CATEGORIES = (
    "D65", "D66", "D67", "G25", "N16", "N17", "N18", "N19", "N1A", "N20", "I10", "E11", "Z99", "A00",
    "Q99", "QA0", "QB0", "B00", "BZZ", "C09", "C0A",
)  # fmt: skip
PROFILE_CONDITIONS = (
    "D66", "D669", "D67", "G25", "G258", "G2581", "G259", "G26", "N169", "N17", "N170", "N18", "N183",
    "N19", "N199", "N1A", "N20", "I10", "E11", "E119", "E1190", "Z99", "A00", "A000",
    "Q999", "Q9A", "QA0", "QA00101", "QA08", "QB0", "B99", "BZZ1", "C09", "C0A1",
)  # fmt: skip
CRITERIA_CONDITIONS = (
    "D66", "G25", "G25.8", "G25.81", "N18", "N18.3", "N19", "I10", "E11", "E11.9", "A00", "QA0", "QA0.01",
)  # fmt: skip
PROFILE_MEDICATIONS = (
    "A12CC", "A12C", "A12CC05", "A12CC04", "A12CB01", "A11CC05", "B01AC06", "C10AA05", "C10AA01", "N02BE01", "N02BF01",
    "V03AB15",
)  # fmt: skip
CRITERIA_MEDICATIONS = (
    "A", "A12", "A12C", "A12CC", "A12CC05", "A12CB", "A11", "B01AC06", "C10AA", "C", "N02", "N02BF", "V",
)  # fmt: skip
DURATIONS = ("P14D", "P2W", "P1M", "P3M", "P6M", "P1Y", "P2Y")
REGIONS = ("DK-81", "DK-84", "DK-85", "SE-M")
# Place (§4a): region values up and down the ISO 3166 hierarchy (a volunteer's region below,
# equal to or above the criterion's), homes near, at and far from the sites, sites none or some.
PROFILE_REGIONS = (*REGIONS, "DK", "GB", "GB-ENG", "GB-LND", "GB-CMD", "GB-EDH")
CRITERIA_REGIONS = (*REGIONS, "DK", "SE", "GB", "GB-ENG", "GB-LND", "GB-SCT")
DISTANCES = (0, 5, 25, 50, 100, 150.5, 300, 1000)
SITE_SETS: tuple[tuple[tuple[float, float], ...], ...] = (
    (),
    ((56.16, 10.21),),  # Aarhus
    ((55.68, 12.57), (55.4, 10.39)),  # Copenhagen, Odense
    ((51.51, -0.13), (56.16, 10.21), (-33.87, 151.21)),  # London, Aarhus, Sydney
)
HOMES = (
    (56.16, 10.21),  # at a site
    (55.68, 12.57),
    (55.61, 13.0),  # Malmö
    (57.05, 9.92),  # Aalborg
    (55.4, 10.39),
    (51.45, -2.59),  # Bristol
    (64.15, -21.94),  # Reykjavík
    (-36.85, 174.76),  # Auckland, across the antimeridian from Sydney's box
    (89.99, 0.0),
)
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
        "region": st.sampled_from(CRITERIA_REGIONS),
        "distance_to_site_km": st.sampled_from(DISTANCES),
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
    elif field == "distance_to_site_km":
        op = draw(st.sampled_from(("lt", "le", "gt", "ge", "between")))
    else:
        op = draw(st.sampled_from(("eq", "ne", "lt", "le", "gt", "ge", "between", "in")))
    if op == "in":
        return _leaf_json(field, op, draw(st.lists(values, min_size=1, max_size=3)))
    if op == "between":
        low, high = sorted((draw(values), draw(values)))
        return _leaf_json(field, op, [low, high])
    return _leaf_json(field, op, draw(values))


@st.composite
def qualifiers(draw: st.DrawFn) -> dict[str, object]:
    """None, one or several of current / within / for_at_least (never current false with
    for_at_least, which the validator refuses)."""
    found: dict[str, object] = {}
    if draw(st.integers(0, 2)) == 0:
        return found
    current = draw(st.sampled_from((None, None, True, False)))
    if current is not None:
        found["current"] = current
    if draw(st.booleans()):
        found["within"] = draw(st.sampled_from(DURATIONS))
    if current is not False and draw(st.booleans()):
        found["for_at_least"] = draw(st.sampled_from(DURATIONS))
    return found


@st.composite
def condition_leaves(draw: st.DrawFn) -> dict[str, object]:
    if draw(st.booleans()):
        low, high = sorted((draw(st.sampled_from(CATEGORIES)), draw(st.sampled_from(CATEGORIES))))
        return {"condition": f"{low}-{high}", **draw(qualifiers())}
    return {"condition": draw(st.sampled_from(CRITERIA_CONDITIONS)), **draw(qualifiers())}


@st.composite
def medication_leaves(draw: st.DrawFn) -> dict[str, object]:
    return {"medication": draw(st.sampled_from(CRITERIA_MEDICATIONS)), **draw(qualifiers())}


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


def partial_date(day: dt.date, precision: int) -> str:
    """``day`` cut to a year (0), a month (1) or kept whole (2)."""
    return day.isoformat()[: (4, 7, 10)[precision]]


def _near_threshold(
    pick: t.Callable[[t.Sequence[t.Any]], t.Any], offset: int, precision: int, days: t.Sequence[dt.date]
) -> str:
    day = subtract_duration(pick(days), pick(DURATIONS)) + dt.timedelta(days=offset)
    return partial_date(day, precision)


def history_entry(code: str, status: str | None, since: str | None, until: str | None) -> Entry:
    """An entry from drawn parts; a current entry drops its until, dates come in order."""
    if status == "current":
        until = None
    if since is not None and until is not None and since > until:
        since, until = until, since
    return make_entry(code, status, since, until)


@st.composite
def history_entries(draw: st.DrawFn, code: str, days: t.Sequence[dt.date] = EVALUATION_DAYS) -> Entry:
    if draw(st.integers(0, 2)) == 0:
        return Entry(code)

    def pick(options: t.Sequence[t.Any]) -> t.Any:
        return draw(st.sampled_from(options))

    def maybe_date() -> str | None:
        if draw(st.integers(0, 3)) == 0:
            return None
        return _near_threshold(pick, draw(st.integers(-2, 2)), draw(st.integers(0, 2)), days)

    status = pick((None, "current", "past"))
    return history_entry(code, status, maybe_date(), maybe_date())


def _with_histories(entries: list[Entry]) -> tuple[tuple[str, ...], tuple[Entry, ...]]:
    ordered = sorted(entries)
    return tuple(entry.code for entry in ordered), tuple(entry for entry in ordered if not entry.plain)


@st.composite
def code_list(
    draw: st.DrawFn, pool: tuple[str, ...], size: int, days: t.Sequence[dt.date]
) -> tuple[tuple[str, ...], tuple[Entry, ...]] | None:
    if draw(st.integers(0, 5)) == 0:
        return None
    codes = draw(st.lists(st.sampled_from(pool), max_size=size, unique=True))
    return _with_histories([draw(history_entries(code, days)) for code in codes])


@st.composite
def profiles(draw: st.DrawFn, around: dt.date | None = None) -> ProfileData:
    """A profile; with ``around``, history dates cluster near that day minus each duration."""
    days = EVALUATION_DAYS if around is None else (around,)
    sex = draw(_maybe(st.sampled_from(SEXES)))
    pregnant = draw(st.sampled_from((None, False)) if sex == "male" else _maybe(st.booleans()))
    conditions = draw(code_list(PROFILE_CONDITIONS, 4, days))
    medications = draw(code_list(PROFILE_MEDICATIONS, 3, days))
    return ProfileData(
        birth_date=draw(birth_dates()),
        sex=sex,
        region=draw(_maybe(st.sampled_from(PROFILE_REGIONS))),
        height_cm=draw(_maybe(st.sampled_from(HEIGHTS))),
        weight_kg=draw(_maybe(st.sampled_from(WEIGHTS))),
        smoker=draw(_maybe(st.booleans())),
        pregnant=pregnant,
        conditions=None if conditions is None else conditions[0],
        medications=None if medications is None else medications[0],
        condition_history=() if conditions is None else conditions[1],
        medication_history=() if medications is None else medications[1],
        home=draw(homes()),
    )


def homes() -> st.SearchStrategy[Home | None]:
    return st.none() | st.sampled_from(HOMES).map(lambda point: Home(*point))


def site_sets() -> st.SearchStrategy[Sites]:
    return st.sampled_from(SITE_SETS).map(lambda sites: site_points([{"lat": a, "lon": b} for a, b in sites]))


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

    def entries(pool: tuple[str, ...], most: int) -> tuple[tuple[str, ...], tuple[Entry, ...]]:
        chosen = []
        for code in rng.sample(pool, rng.randint(0, most)):
            if rng.random() < 0.35:
                chosen.append(Entry(code))
                continue

            def maybe_date() -> str | None:
                if rng.random() < 0.25:
                    return None
                return _near_threshold(rng.choice, rng.randint(-2, 2), rng.randint(0, 2), EVALUATION_DAYS)

            chosen.append(
                history_entry(code, rng.choice((None, "current", "past")), maybe_date(), maybe_date())
            )
        return _with_histories(chosen)

    conditions, condition_history = entries(PROFILE_CONDITIONS, 4)
    medications, medication_history = entries(PROFILE_MEDICATIONS, 3)
    return ProfileData(
        birth_date=maybe(born, 0.1),
        sex=sex,
        region=maybe(rng.choice(PROFILE_REGIONS)),
        height_cm=maybe(rng.choice(HEIGHTS)),
        weight_kg=maybe(rng.choice(WEIGHTS)),
        smoker=maybe(rng.random() < 0.3),
        pregnant=maybe(False) if sex == "male" else maybe(rng.random() < 0.2),
        conditions=maybe(conditions),
        medications=maybe(medications),
        condition_history=condition_history,
        medication_history=medication_history,
        home=maybe(Home(*rng.choice(HOMES)), 0.3),
    )
