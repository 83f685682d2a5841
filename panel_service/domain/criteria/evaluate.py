"""In-memory evaluation of criteria against one profile: three-valued (Kleene) logic.

A tree is compiled once into a single Python expression over ``Facts`` (cached by value, so
equal criteria share one compiled form): truth values are the ints 0 (false), 1 (unknown) and 2
(true), so ``all`` is ``min``, ``any`` is ``max`` and ``not`` is ``2 - x``, all done by C
builtins without a Python call per node. Codes are tested against the set of every prefix of
the profile's codes (a descendant test is one set lookup, a category range one ``isdisjoint``
with the range's categories), and an ``any`` of codes becomes a single ``isdisjoint``. The
profile's facts for the day (age, BMI, the pregnancy rule, prefix sets) are derived once however
many studies are checked: one profile against 1,000 studies costs about a millisecond.

The generated source never contains a value from the criteria: field names come from the fixed
list of fields and every value is bound as a named constant, so ``eval`` only ever sees code
this module wrote.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import typing as t
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from panel_service.domain.criteria.model import (
    DISTANCE_FIELDS,
    FIELDS,
    All,
    Any,
    Condition,
    FieldLeaf,
    Medication,
    Node,
    Not,
    QuestionLeaf,
    Truth,
)
from panel_service.domain.criteria.questions import QuestionCheck
from panel_service.domain.geo import Sites, a_threshold, nearest_a
from panel_service.domain.history import Entry, EntryFacts, definitely, entry_facts, possibly, thresholds
from panel_service.domain.profile import ProfileData, age_on
from panel_service.domain.questions import Answer
from panel_service.domain.regions import region_ancestors

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
    condition_prefixes: frozenset[str] | None  # every prefix of every code: G2581 → G, G2, G25, ...
    medication_prefixes: frozenset[str] | None
    condition_codes: frozenset[str] | None  # the codes themselves, for the less-specific rule
    medication_codes: frozenset[str] | None
    condition_entries: tuple[EntryFacts, ...] | None  # with date bounds, for qualified leaves
    medication_entries: tuple[EntryFacts, ...] | None
    on: dt.date
    # Place (§4a): the volunteer's region and every region it lies in; the home point.
    region_ancestors: frozenset[str] | None = None
    home: tuple[float, float] | None = None
    answers: Mapping[str, Answer] = field(default_factory=dict)  # catalogue answers (§4a) by key


def _prefixes(codes: tuple[str, ...] | None) -> frozenset[str] | None:
    if codes is None:
        return None
    return frozenset(code[:length] for code in codes for length in range(1, len(code) + 1))


def _entries(entries: tuple[Entry, ...] | None) -> tuple[EntryFacts, ...] | None:
    return None if entries is None else tuple(entry_facts(entry) for entry in entries)


def _codes(codes: tuple[str, ...] | None) -> frozenset[str] | None:
    return None if codes is None else frozenset(codes)


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
        condition_prefixes=_prefixes(profile.conditions),
        medication_prefixes=_prefixes(profile.medications),
        condition_codes=_codes(profile.conditions),
        medication_codes=_codes(profile.medications),
        condition_entries=_entries(profile.condition_entries),
        medication_entries=_entries(profile.medication_entries),
        on=on,
        region_ancestors=None if profile.region is None else frozenset(region_ancestors(profile.region)),
        home=None if profile.home is None else (profile.home.lat, profile.home.lon),
        answers=profile.answers,
    )


Check = Callable[[Facts], Truth]
TRUTHS = (FALSE, UNKNOWN, TRUE)
# Digits sort before letters, as in the code tables (byte order, COLLATE "C"): Q99 < QA0 < QB0.
ICD10_SECOND = ICD10_THIRD = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SYMBOLS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@functools.lru_cache(maxsize=4096)
def compile_criteria(node: Node, sites: Sites = ()) -> Check:
    """A function from ``Facts`` to ``Truth`` for this tree and the study's sites (``geo.site_points``,
    for ``distance_to_site_km``); cached by value."""
    writer = _SourceWriter(sites)
    source = f"lambda f: TRUTHS[{writer.node(node)}]"
    check: Check = eval(source, {"TRUTHS": TRUTHS, **writer.constants})  # noqa: S307 - see module docstring
    return check


def evaluate(node: Node, profile: ProfileData, on: dt.date, sites: Sites = ()) -> Truth:
    return compile_criteria(node, sites)(profile_facts(profile, on))


def evaluate_many(
    nodes: Iterable[Node], profile: ProfileData, on: dt.date, sites: Iterable[Sites] | None = None
) -> list[Truth]:
    """One profile against many criteria (the incremental match): facts are derived once.
    ``sites`` gives each tree's study sites, in the same order (none when omitted)."""
    facts = profile_facts(profile, on)
    if sites is None:
        return [compile_criteria(node)(facts) for node in nodes]
    return [compile_criteria(node, where)(facts) for node, where in zip(nodes, sites, strict=True)]


def range_categories(low: str, high: str) -> frozenset[str]:
    """Every well-formed ICD-10 category from ``low`` to ``high`` inclusive (at most 33,696).

    ICD-10-CM puts letters second as well (``QA0``), so ``Q00-QA0`` holds Q00 to Q99 and QA0.
    """
    letters = [chr(code) for code in range(ord(low[0]), ord(high[0]) + 1)]
    return frozenset(
        category
        for letter in letters
        for second in ICD10_SECOND
        for third in ICD10_THIRD
        if low <= (category := letter + second + third) <= high
    )


class _SourceWriter:
    """Writes one expression per node; its value is 0 (false), 1 (unknown) or 2 (true)."""

    def __init__(self, sites: Sites = ()) -> None:
        self.constants: dict[str, object] = {}
        self.sites = sites

    def constant(self, value: object) -> str:
        name = f"k{len(self.constants)}"
        self.constants[name] = value
        return name

    def node(self, node: Node) -> str:
        if isinstance(node, Not):
            return f"(2 - {self.node(node.child)})"
        if isinstance(node, All):
            return self.combine("min", [self.node(child) for child in node.children])
        if isinstance(node, Any):
            return self.any(node.children)
        if isinstance(node, Condition | Medication):
            if node.qualified:
                return self.qualified(node)
            return self.codes(type(node), [node])
        if isinstance(node, QuestionLeaf):
            return f"{self.constant(QuestionCheck(node))}(f.answers, f.sex, f.on)"
        return self.field(node)

    def qualified(self, leaf: Condition | Medication) -> str:
        attribute = "condition_entries" if isinstance(leaf, Condition) else "medication_entries"
        return f"{self.constant(QualifiedCheck(leaf))}(f.{attribute}, f.on)"

    def combine(self, function: str, parts: list[str]) -> str:
        return parts[0] if len(parts) == 1 else f"{function}({', '.join(parts)})"

    def any(self, children: tuple[Node, ...]) -> str:
        # "has A or has B or has C" is one isdisjoint against the union of what each matches.
        groups: dict[type, list[Condition | Medication]] = {}
        parts: list[str] = []
        for child in children:
            if isinstance(child, Condition | Medication) and not child.qualified:
                groups.setdefault(type(child), []).append(child)
            else:
                parts.append(self.node(child))
        parts += [self.codes(kind, leaves) for kind, leaves in groups.items()]
        return self.combine("max", parts)

    def codes(self, kind: type, leaves: list[Condition | Medication]) -> str:
        attribute = "condition_prefixes" if kind is Condition else "medication_prefixes"
        listed = "condition_codes" if kind is Condition else "medication_codes"
        wanted: set[str] = set()
        ancestors: set[str] = set()
        for leaf in leaves:
            if isinstance(leaf, Condition) and leaf.range_end is not None:
                wanted |= range_categories(leaf.code, leaf.range_end)
            else:
                wanted.add(leaf.code)
            ancestors |= leaf.ancestors
        # Unanswered list: unknown. Answered: closed, so not listed means not present, unless a
        # listed code is less specific than a wanted one (G25.8 for G25.81): unknown (§4a).
        if len(wanted) == 1:
            present = f"{self.constant(next(iter(wanted)))} in f.{attribute}"
        else:
            present = f"not f.{attribute}.isdisjoint({self.constant(frozenset(wanted))})"
        absent = "0"
        if ancestors:
            absent = f"(0 if f.{listed}.isdisjoint({self.constant(frozenset(ancestors))}) else 1)"
        return f"(1 if f.{attribute} is None else 2 if {present} else {absent})"

    def field(self, leaf: FieldLeaf) -> str:
        if leaf.field not in FIELDS:  # never true for a parsed tree; guards the generated source
            raise ValueError(f"unknown field {leaf.field!r}")
        if leaf.field == "region":
            return self.region(leaf)
        if leaf.field in DISTANCE_FIELDS:
            return f"{self.constant(DistanceCheck(leaf, self.sites))}(f.home)"
        value = f"f.{leaf.field}"
        if leaf.op == "between":
            low, high = leaf.value  # type: ignore[str-unpack,misc]
            test = f"{self.constant(low)} <= {value} <= {self.constant(high)}"
        elif leaf.op == "in":
            test = f"{value} in {self.constant(frozenset(leaf.value))}"  # type: ignore[arg-type]
        else:
            test = f"{value} {SYMBOLS[leaf.op]} {self.constant(leaf.value)}"
        return f"(1 if {value} is None else 2 if {test} else 0)"

    def region(self, leaf: FieldLeaf) -> str:
        """A region matches itself and every subdivision inside it; a volunteer's region that
        the criterion's region lies in (England, asked about London) is less specific: UNKNOWN."""
        wanted = (leaf.value,) if leaf.op != "in" else leaf.value
        inside = frozenset(wanted)  # type: ignore[arg-type]
        vaguer = frozenset(code for value in wanted for code in region_ancestors(str(value))[1:])  # type: ignore[union-attr]
        present = f"not f.region_ancestors.isdisjoint({self.constant(inside)})"
        result = f"(1 if f.region is None else 2 if {present} else 1 if f.region in {self.constant(vaguer)} else 0)"
        return f"(2 - {result})" if leaf.op == "ne" else result


class DistanceCheck:
    """``distance_to_site_km``: the haversine term to the nearest site against the op's
    precomputed thresholds (``domain.geo``). UNKNOWN without a home, and UNKNOWN when the study
    lists no sites (there is no nearest site to be near to or far from)."""

    __slots__ = ("high", "low", "op", "sites")

    def __init__(self, leaf: FieldLeaf, sites: Sites) -> None:
        self.op, self.sites = leaf.op, sites
        if leaf.op == "between":
            low, high = leaf.value  # type: ignore[str-unpack,misc]
        else:
            low = high = leaf.value
        self.low, self.high = a_threshold(float(low)), a_threshold(float(high))

    def __call__(self, home: tuple[float, float] | None) -> int:
        a = nearest_a(home, self.sites)
        if a is None:
            return 1
        op = self.op
        if op == "le":
            meets = a <= self.high
        elif op == "lt":
            meets = a < self.high
        elif op == "ge":
            meets = a >= self.low
        elif op == "gt":
            meets = a > self.low
        else:
            meets = self.low <= a <= self.high
        return 2 if meets else 0


class QualifiedCheck:
    """A code leaf with qualifiers over a list of entries: TRUE when some matching entry
    definitely satisfies them, UNKNOWN when one possibly does or a less specific entry possibly
    would, FALSE otherwise (and UNKNOWN for an unanswered list)."""

    __slots__ = ("leaf",)

    def __init__(self, leaf: Condition | Medication) -> None:
        self.leaf = leaf

    def __call__(self, entries: tuple[EntryFacts, ...] | None, on: dt.date) -> int:
        if entries is None:
            return 1
        leaf = self.leaf
        wanted = thresholds(on, leaf.current, leaf.within, leaf.for_at_least)
        ancestors = leaf.ancestors
        result = 0
        for entry in entries:
            if leaf.matches(entry.code):
                if definitely(entry, wanted):
                    return 2
                if possibly(entry, wanted):
                    result = 1
            elif entry.code in ancestors and possibly(entry, wanted):
                result = 1
        return result


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
