"""The criteria tree: frozen dataclasses, hashable, so compiled forms can be cached by value."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import TypeAlias

from panel_service.domain.profile import display_icd10

Scalar: TypeAlias = bool | int | float | str
FieldValue: TypeAlias = Scalar | tuple[Scalar, ...]

NUMERIC_FIELDS = ("age", "bmi", "height_cm", "weight_kg")
BOOLEAN_FIELDS = ("smoker", "pregnant")
# Place (§4a): the great-circle distance from the volunteer's home to the nearest site of the
# study version; the evaluators take the sites with the criteria.
DISTANCE_FIELDS = ("distance_to_site_km",)
FIELDS = ("age", "sex", "region", "bmi", "height_cm", "weight_kg", "smoker", "pregnant", *DISTANCE_FIELDS)
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "between", "in")
OPS_BY_FIELD_KIND = {
    "numeric": OPS,
    "choice": ("eq", "ne", "in"),
    "boolean": ("eq", "ne"),
    "distance": ("lt", "le", "gt", "ge", "between"),
}
# The op whose result is the negation of each op, for a known value.
NEGATED_OP = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le"}


def field_kind(field: str) -> str:
    if field in DISTANCE_FIELDS:
        return "distance"
    if field in NUMERIC_FIELDS:
        return "numeric"
    if field in BOOLEAN_FIELDS:
        return "boolean"
    return "choice"


class Truth(enum.IntEnum):
    """Kleene's three values, ordered so that ``and`` is ``min``, ``or`` is ``max``, ``not`` is ``2 - x``."""

    FALSE = 0
    UNKNOWN = 1
    TRUE = 2

    def __str__(self) -> str:
        return self.name.lower()

    def negate(self) -> Truth:
        return Truth(2 - self.value)


class _CachedHash:
    """Nodes key the compiled-criteria cache; a tree's hash is computed once, not per lookup."""

    _hash: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((type(self).__name__, *astuple_shallow(self))))

    def __hash__(self) -> int:
        return self._hash


def astuple_shallow(node: object) -> tuple[object, ...]:
    return tuple(getattr(node, name) for name in node.__dataclass_fields__ if name != "_hash")  # type: ignore[attr-defined]


@dataclass(frozen=True, eq=True)
class All(_CachedHash):
    children: tuple[Node, ...]
    _hash: int = field(init=False, repr=False, compare=False)

    __hash__ = _CachedHash.__hash__


@dataclass(frozen=True, eq=True)
class Any(_CachedHash):
    children: tuple[Node, ...]
    _hash: int = field(init=False, repr=False, compare=False)

    __hash__ = _CachedHash.__hash__


@dataclass(frozen=True, eq=True)
class Not(_CachedHash):
    child: Node
    _hash: int = field(init=False, repr=False, compare=False)

    __hash__ = _CachedHash.__hash__


@dataclass(frozen=True)
class FieldLeaf:
    """``value`` is a scalar, or a ``(low, high)`` pair for ``between``, or a sorted tuple for ``in``."""

    field: str
    op: str
    value: FieldValue


@dataclass(frozen=True)
class Condition:
    """ICD-10 code (normalised, no dot: ``G258``) matching its descendants, or a category range.

    For a range ``N17-N19``, ``code`` is ``N17`` and ``range_end`` is ``N19``.
    """

    code: str
    range_end: str | None = None
    current: bool | None = None  # qualifiers (§4a); durations in canonical ISO 8601 (``P3M``)
    within: str | None = None
    for_at_least: str | None = None

    @property
    def qualified(self) -> bool:
        return self.current is not None or self.within is not None or self.for_at_least is not None

    @property
    def ancestors(self) -> frozenset[str]:
        """Codes less specific than this leaf's (strict prefixes of at least a category).

        A range's members are categories or their descendants and a volunteer's code is at
        least a category, so no answered code is less specific than a range.
        """
        if self.range_end is not None:
            return frozenset()
        return frozenset(self.code[:length] for length in range(3, len(self.code)))

    @property
    def display(self) -> str:
        if self.range_end is not None:
            return f"{self.code}-{self.range_end}"
        return display_icd10(self.code)

    def matches(self, code: str) -> bool:
        if self.range_end is not None:
            return self.code <= code[:3] <= self.range_end
        return code.startswith(self.code)


@dataclass(frozen=True)
class Medication:
    """ATC code of any level (``A12CC``), matching its descendants (``A12CC05``)."""

    code: str
    current: bool | None = None
    within: str | None = None
    for_at_least: str | None = None

    @property
    def qualified(self) -> bool:
        return self.current is not None or self.within is not None or self.for_at_least is not None

    @property
    def ancestors(self) -> frozenset[str]:
        """Codes less specific than this leaf's: every strict prefix that is an ATC level."""
        return frozenset(self.code[:length] for length in (1, 3, 4, 5) if length < len(self.code))

    @property
    def display(self) -> str:
        return self.code

    def matches(self, code: str) -> bool:
        return code.startswith(self.code)


QuestionValue: TypeAlias = bool | int | float | str | dt.date | tuple[int | float | str | dt.date, ...]


@dataclass(frozen=True)
class QuestionLeaf:
    """A test of an answer to a catalogue question (§4a): ``{"question": KEY, "op": OP, "value": V}``.

    ``value`` is a scalar (a date for a ``date`` question, an option key for a ``choice`` or the
    ``has`` of a ``multi_choice``), a ``(low, high)`` pair for ``between`` or a sorted tuple for
    ``in``. ``answered_within`` (canonical ISO 8601) makes an older answer unknown. The rest is
    copied from the catalogue when the leaf is validated, so both evaluators need nothing else:
    the question's ``type``, whom it ``applies_to`` (sexes; None = everyone) and its value for
    everyone else (None: not applicable, which only ``ne`` holds for).
    """

    key: str
    op: str
    value: QuestionValue
    answered_within: str | None = None
    type: str = "boolean"
    applies_to: tuple[str, ...] | None = None
    value_for_others: bool | int | float | str | frozenset[str] | dt.date | None = None


Leaf: TypeAlias = FieldLeaf | Condition | Medication | QuestionLeaf
Node: TypeAlias = All | Any | Not | FieldLeaf | Condition | Medication | QuestionLeaf


def leaves(node: Node) -> list[Leaf]:
    if isinstance(node, All | Any):
        return [leaf for child in node.children for leaf in leaves(child)]
    if isinstance(node, Not):
        return leaves(node.child)
    return [node]
