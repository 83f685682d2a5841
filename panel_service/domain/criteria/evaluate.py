"""In-memory evaluation of criteria against one profile: three-valued (Kleene) logic.

A tree is compiled once into nested closures (cached by value, so equal criteria share one
compiled form) and run against ``Facts``: the profile's values for one day, derived once (age,
BMI, the pregnancy rule) however many studies are checked. Checking one profile against 1,000
studies then costs about a microsecond a study.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import typing as t
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from panel_service.domain.criteria.model import (
    All,
    Any,
    Condition,
    FieldLeaf,
    Medication,
    Node,
    Not,
    Truth,
)
from panel_service.domain.profile import ProfileData, age_on

TRUE, FALSE, UNKNOWN = Truth.TRUE, Truth.FALSE, Truth.UNKNOWN
COMPARISONS: dict[str, Callable[[t.Any, t.Any], t.Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


@dataclass(frozen=True, slots=True)
class Facts:
    """A profile as the criteria see it on one day. ``None`` = unanswered."""

    age: int | None
    sex: str | None
    region: str | None
    bmi: float | None
    height_cm: float | None
    weight_kg: float | None
    smoker: bool | None
    pregnant: bool | None  # after the rule of fact: false when sex is male
    conditions: tuple[str, ...] | None
    medications: tuple[str, ...] | None


def profile_facts(profile: ProfileData, on: dt.date) -> Facts:
    return Facts(
        age=None if profile.birth_date is None else age_on(profile.birth_date, on),
        sex=profile.sex,
        region=profile.region,
        bmi=profile.bmi,
        height_cm=profile.height_cm,
        weight_kg=profile.weight_kg,
        smoker=profile.smoker,
        pregnant=profile.effective_pregnant,
        conditions=profile.conditions,
        medications=profile.medications,
    )


Check = Callable[[Facts], Truth]


@functools.lru_cache(maxsize=4096)
def compile_criteria(node: Node) -> Check:
    """A function from ``Facts`` to ``Truth`` for this tree; cached by value."""
    return _compile(node)


def evaluate(node: Node, profile: ProfileData, on: dt.date) -> Truth:
    return compile_criteria(node)(profile_facts(profile, on))


def evaluate_many(nodes: Iterable[Node], profile: ProfileData, on: dt.date) -> list[Truth]:
    """One profile against many criteria (the incremental match): facts are derived once."""
    facts = profile_facts(profile, on)
    return [compile_criteria(node)(facts) for node in nodes]


def _compile(node: Node) -> Check:
    if isinstance(node, All):
        return _all([_compile(child) for child in node.children])
    if isinstance(node, Any):
        return _any([_compile(child) for child in node.children])
    if isinstance(node, Not):
        return _not(_compile(node.child))
    if isinstance(node, Condition):
        return _codes(node, operator.attrgetter("conditions"))
    if isinstance(node, Medication):
        return _codes(node, operator.attrgetter("medications"))
    return _field(node)


def _all(checks: list[Check]) -> Check:
    def check(facts: Facts) -> Truth:
        result = TRUE
        for child in checks:
            outcome = child(facts)
            if outcome is FALSE:
                return FALSE
            if outcome is UNKNOWN:
                result = UNKNOWN
        return result

    return check


def _any(checks: list[Check]) -> Check:
    def check(facts: Facts) -> Truth:
        result = FALSE
        for child in checks:
            outcome = child(facts)
            if outcome is TRUE:
                return TRUE
            if outcome is UNKNOWN:
                result = UNKNOWN
        return result

    return check


def _not(inner: Check) -> Check:
    negation = {TRUE: FALSE, FALSE: TRUE, UNKNOWN: UNKNOWN}

    def check(facts: Facts) -> Truth:
        return negation[inner(facts)]

    return check


def _codes(leaf: Condition | Medication, codes_of: Callable[[Facts], tuple[str, ...] | None]) -> Check:
    matches = leaf.matches

    def check(facts: Facts) -> Truth:
        codes = codes_of(facts)
        if codes is None:
            return UNKNOWN  # the list was never answered
        for code in codes:
            if matches(code):
                return TRUE
        return FALSE  # an answered list is closed: not listed means not present

    return check


def _field(leaf: FieldLeaf) -> Check:
    value_of = operator.attrgetter(leaf.field)
    test = field_test(leaf)

    def check(facts: Facts) -> Truth:
        value = value_of(facts)
        if value is None:
            return UNKNOWN
        return TRUE if test(value) else FALSE

    return check


def field_test(leaf: FieldLeaf) -> Callable[[object], bool]:
    """The test of a field leaf on a known (answered) value."""
    if leaf.op == "between":
        low, high = leaf.value  # type: ignore[str-unpack,misc]
        return lambda value: low <= value <= high  # type: ignore[operator]
    if leaf.op == "in":
        allowed = frozenset(leaf.value)  # type: ignore[arg-type]
        return lambda value: value in allowed
    compare, expected = COMPARISONS[leaf.op], leaf.value
    return lambda value: compare(value, expected)
