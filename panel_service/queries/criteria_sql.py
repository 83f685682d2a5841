"""Criteria compiled to SQLAlchemy Core over ``profiles`` and the code tables, for all profiles at once.

Only a definite TRUE may match (P1), so instead of leaning on SQL's NULL logic the compiler
works by polarity: for every node it can build an expression that is TRUE exactly when the node
is TRUE, or one that is TRUE exactly when the node is FALSE. ``not`` swaps the two, ``all`` and
``any`` become ``AND``/``OR`` of the wanted polarity, and each leaf spells both out with the
unanswered case excluded (a NULL column makes a comparison NULL, never TRUE; an unanswered code
list fails its ``*_answered`` guard). Whatever NULLs appear inside are therefore harmless: SQL
negates only ``EXISTS``/``IN`` subquery tests, which are never NULL (ids are never NULL), and
``WHERE`` keeps only TRUE.

Shapes (measured in docs/performance.md): codes are matched as index ranges on the ``(code, participant_id)``
indexes (``code >= 'N17' AND code < 'N1:'``); code tests that sit in one ``any`` (or under one
``not any``) of the same kind are merged into a single subquery over the union of their ranges;
the subquery is a correlated ``EXISTS`` on PostgreSQL (hash semi/anti joins) and ``participant_id
IN (SELECT ...)`` on SQLite, which runs ``EXISTS`` row by row. Age becomes a ``birth_date`` range
computed here for the day, so the index on ``birth_date`` applies.

Histories (§4a, ``domain.history``): a leaf with qualifiers is never merged; its TRUE side is
one subquery over the code's range and the ``definitely`` tests on the stored date bounds, its
FALSE side the negation of one over the code's range and its less specific codes with the
``possibly`` tests. A leaf without qualifiers costs what it did in version 1 on its TRUE side;
its FALSE side adds ``code IN (<ancestors>)`` so that a less specific answer stays unknown.

The code summary (PostgreSQL, ``domain.criteria.summary``): a plain code leaf, or a merged group
of them, is one ``&&`` of the profile's ``condition_codes`` / ``medication_codes`` against the
terms it names (``true_terms``; for FALSE, ``NOT`` against ``false_terms``, which add the less
specific codes marked exact), so the GIN index hands the planner its candidates instead of a
scan of every profile against the join table (docs/performance.md, the layout decision).
Qualified leaves stay on the join tables, which hold each entry's dates; SQLite, whose fastest
shape is ``IN (SELECT ...)`` on the join tables, does not use the summary.

Constants in the SQL text (PostgreSQL): every value of the criteria (birth-date bounds, code
terms, numbers, regions) is rendered into the statement at execution (``literal_execute``), not
sent as a parameter. psycopg prepares a statement after its fifth run on a connection and
PostgreSQL then switches to a generic plan, which cannot see the values: for a count it estimated
one row and added a ``BitmapAnd`` with the whole ``birth_date`` range (15,867 of 20,000 rows for
18-75), twice the time of the plan for the values (docs/performance.md, "Counts and the
incremental match, second round"). With the values in the text every plan is made for them;
SQLAlchemy still caches the compiled form, and the same criteria on the same day is still one
prepared statement.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    case,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.sql import operators as sql_operators
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter, BooleanClauseList

from panel_service.domain.criteria.evaluate import COMPARISONS
from panel_service.domain.criteria.model import (
    DISTANCE_FIELDS,
    NEGATED_OP,
    NUMERIC_FIELDS,
    All,
    Any,
    Condition,
    FieldLeaf,
    Medication,
    Node,
    Not,
    QuestionLeaf,
    Scalar,
)
from panel_service.domain.criteria.questions import question_test
from panel_service.domain.criteria.summary import false_terms, true_terms
from panel_service.domain.criteria.text_form import to_text
from panel_service.domain.geo import SitePoint, Sites, a_threshold, bounding_box
from panel_service.domain.history import Thresholds, subtract_duration, thresholds
from panel_service.domain.regions import region_ancestors, region_descendants
from panel_service.models.people import Profile, ProfileCondition, ProfileMedication
from panel_service.models.questions import ProfileAnswer

profiles = t.cast(Table, Profile.__table__)
profile_conditions = t.cast(Table, ProfileCondition.__table__)
profile_medications = t.cast(Table, ProfileMedication.__table__)
profile_answers = t.cast(Table, ProfileAnswer.__table__)

Clause = ColumnElement[bool]
CodeLeaf = Condition | Medication


def birth_date_threshold(on: dt.date, years: int) -> dt.date:
    """The latest birth date of someone who is at least ``years`` old on ``on``.

    Someone born on 29 February turns a year older on 1 March in other years, so when ``on`` is
    29 February and the year ``years`` back is not a leap year, the threshold is 28 February.
    """
    try:
        return on.replace(year=on.year - years)
    except ValueError:
        return on.replace(year=on.year - years, day=28)


def _successor(prefix: str) -> str:
    """The smallest string above every string that starts with ``prefix`` (byte order)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def code_interval(leaf: CodeLeaf) -> tuple[str, str]:
    """``[start, stop)`` of the stored codes this leaf matches: descendants, or a category range."""
    if isinstance(leaf, Condition) and leaf.range_end is not None:
        return leaf.code, _successor(leaf.range_end)
    return leaf.code, _successor(leaf.code)


def merge_intervals(intervals: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    merged: list[tuple[str, str]] = []
    for start, stop in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


@dataclass(frozen=True)
class _CodeTest:
    leaf: CodeLeaf
    wanted: bool  # True: the leaf must be TRUE; False: it must be FALSE


class _Compiler:
    def __init__(self, on: dt.date, use_exists: bool, sites: Sites = (), use_summary: bool = False) -> None:
        self.on = on
        self.use_exists = use_exists
        self.sites = sites
        self.use_summary = use_summary

    def node(self, node: Node, wanted: bool) -> Clause:
        if isinstance(node, Not):
            return self.node(node.child, not wanted)
        if isinstance(node, All | Any):
            # all-true and any-false are conjunctions; any-true and all-false are disjunctions.
            conjunction = isinstance(node, All) == wanted
            return self.junction(node.children, wanted, conjunction)
        if isinstance(node, Condition | Medication):
            return self.codes(type(node), [node], wanted)
        if isinstance(node, QuestionLeaf):
            return self.question(node, wanted)
        return self.field(node, wanted)

    def junction(self, children: tuple[Node, ...], wanted: bool, conjunction: bool) -> Clause:
        # Code tests that can share one subquery: in a disjunction "has A or has B" is one
        # EXISTS over A's and B's ranges; in a conjunction "not A and not B" one NOT EXISTS.
        # Each group takes the place of its first member, so the SQL keeps the criteria's order.
        mergeable = not conjunction
        groups: dict[type, list[CodeLeaf]] = {}
        slots: list[Clause | type] = []
        for child in children:
            test = _as_code_test(child, wanted)
            if test is not None and test.wanted == mergeable:
                kind = type(test.leaf)
                if kind not in groups:
                    slots.append(kind)
                groups.setdefault(kind, []).append(test.leaf)
            else:
                slots.append(self.node(child, wanted))
        parts = [
            self.codes(slot, groups[slot], mergeable) if isinstance(slot, type) else slot for slot in slots
        ]
        if not conjunction:
            return or_(*parts)
        return and_(*_without_repeated_guards(parts))

    def codes(self, kind: type, leaves: Sequence[CodeLeaf], wanted: bool) -> Clause:
        if len(leaves) == 1 and leaves[0].qualified:
            return self.qualified(leaves[0], wanted)
        if self.use_summary:
            return self.summary(kind, leaves, wanted)
        table = profile_conditions if kind is Condition else profile_medications
        code = table.c.code
        tests: list[Clause] = [
            and_(code >= start, code < stop)
            for start, stop in merge_intervals([code_interval(leaf) for leaf in leaves])
        ]
        if not wanted:
            # FALSE also needs no less specific answer (G25.8 for G25.81 is unknown, §4a).
            ancestors = sorted({ancestor for leaf in leaves for ancestor in leaf.ancestors})
            if ancestors:
                tests.append(code.in_(ancestors))
        listed = self.listed(table, or_(*tests))
        # An unanswered list makes every code test unknown: neither polarity may be TRUE.
        return and_(_answered_guard(kind), listed if wanted else not_(listed))

    def summary(self, kind: type, leaves: Sequence[CodeLeaf], wanted: bool) -> Clause:
        """Plain code leaves (an ``any`` of them) as one overlap with the profile's code summary.

        The guard stays although an unanswered list's summary is NULL (``&&`` and its negation
        are then NULL, never TRUE): it keeps the two shapes alike for the planner and does not
        lean on that.
        """
        column = profiles.c.condition_codes if kind is Condition else profiles.c.medication_codes
        overlap = column.overlap(true_terms(leaves) if wanted else false_terms(leaves))
        return and_(_answered_guard(kind), overlap if wanted else not_(overlap))

    def listed(self, table: Table, where: Clause) -> Clause:
        """Whether the profile has a row of ``table`` where ``where`` holds, in the engine's best shape."""
        if self.use_exists:
            return exists().where(table.c.participant_id == profiles.c.participant_id, where)
        return profiles.c.participant_id.in_(select(table.c.participant_id).where(where))

    def qualified(self, leaf: CodeLeaf, wanted: bool) -> Clause:
        """A leaf with qualifiers, three-valued over the stored date bounds (domain.history).

        TRUE: a matching row definitely satisfies them. FALSE: no matching or less specific row
        possibly does. The row tests mirror ``definitely`` and ``possibly`` term by term.
        """
        kind = type(leaf)
        table = profile_conditions if kind is Condition else profile_medications
        code = table.c.code
        start, stop = code_interval(leaf)
        matching = and_(code >= start, code < stop)
        q = thresholds(self.on, leaf.current, leaf.within, leaf.for_at_least)
        if wanted:
            listed = self.listed(table, and_(matching, *_definitely(table, q)))
        else:
            candidates = or_(matching, code.in_(sorted(leaf.ancestors))) if leaf.ancestors else matching
            listed = not_(self.listed(table, and_(candidates, *_possibly(table, q))))
        return and_(_answered_guard(kind), listed)

    def question(self, leaf: QuestionLeaf, wanted: bool) -> Clause:
        """A ``question`` leaf (§4a): TRUE (FALSE) when a fresh answer passes (fails) the test, or
        the question does not apply to the volunteer's sex and its value for others does (not).

        One subquery over ``profile_answers`` by key and the typed column; no answer, or one
        older than ``answered_within``, satisfies neither polarity (UNKNOWN).
        """
        answers = profile_answers
        terms: list[Clause] = [answers.c.key == leaf.key]
        if leaf.answered_within is not None:
            terms.append(answers.c.answered_on >= subtract_duration(self.on, leaf.answered_within))
        terms.append(_answer_test(leaf, wanted))
        listed = self.listed(answers, and_(*terms))
        if leaf.applies_to is None:
            return listed
        sex = profiles.c.sex
        asked = or_(sex.is_(None), sex.in_(leaf.applies_to))
        parts = [and_(asked, listed)]
        if question_test(leaf)(leaf.value_for_others) == wanted:
            parts.append(and_(sex.is_not(None), sex.not_in(leaf.applies_to)))
        return or_(*parts)

    def field(self, leaf: FieldLeaf, wanted: bool) -> Clause:
        if leaf.field == "region":
            return _region(leaf, wanted)
        if leaf.field in DISTANCE_FIELDS:
            return _distance(leaf, wanted, self.sites)
        if leaf.field == "pregnant":
            return self.pregnant(leaf, wanted)
        if leaf.field == "smoker":
            is_value = (leaf.op == "eq") == wanted
            return profiles.c.smoker == (true() if leaf.value == is_value else false())
        if leaf.field == "age":
            return self.age(leaf.op, leaf.value, wanted)
        column = profiles.c[leaf.field]
        if leaf.op == "between":
            low, high = t.cast(tuple[Scalar, Scalar], leaf.value)
            return column.between(low, high) if wanted else or_(column < low, column > high)
        if leaf.op == "in":
            values = t.cast(tuple[Scalar, ...], leaf.value)
            if leaf.field in NUMERIC_FIELDS:
                # An expanding IN takes its bind type from the first value: (150, 160.5) would be
                # sent as integers and 160.5 would become 160. All floats keep every value exact.
                values = tuple(float(value) for value in values)
            return column.in_(values) if wanted else column.not_in(values)
        op = leaf.op if wanted else NEGATED_OP[leaf.op]
        # operator.eq, operator.lt, ... build SQL comparisons when given a column.
        return t.cast(Clause, COMPARISONS[op](column, leaf.value))

    def pregnant(self, leaf: FieldLeaf, wanted: bool) -> Clause:
        # The rule of fact, computed here rather than trusted from the column: a man is not
        # pregnant, whatever (or whether) the pregnant column says.
        effective = leaf.value if (leaf.op == "eq") == wanted else not leaf.value
        sex, pregnant = profiles.c.sex, profiles.c.pregnant
        # "= true"/"= false" rather than "IS": the same result where only TRUE counts, and
        # PostgreSQL estimates them as well as a hand-written "NOT pregnant".
        if effective:
            return and_(pregnant == true(), or_(sex.is_(None), sex != "male"))
        return or_(sex == "male", pregnant == false())

    def age(self, op: str, value: object, wanted: bool) -> Clause:
        born = profiles.c.birth_date
        if op == "between":
            low, high = t.cast(tuple[int, int], value)
            oldest, youngest = self.threshold(high + 1), self.threshold(low)
            if wanted:
                return and_(born > oldest, born <= youngest)
            return or_(born <= oldest, born > youngest)
        if op == "in":
            ages = t.cast(tuple[int, ...], value)
            if wanted:
                return or_(*(self.age("eq", age, True) for age in ages))
            return and_(*(self.age("ne", age, True) for age in ages))
        op = op if wanted else NEGATED_OP[op]
        years = t.cast(int, value)
        # age >= n  <=>  born on or before the day n years ago; every op is one or two such bounds.
        at_least = {
            "ge": born <= self.threshold(years),
            "gt": born <= self.threshold(years + 1),
            "lt": born > self.threshold(years),
            "le": born > self.threshold(years + 1),
        }
        if op in at_least:
            return at_least[op]
        if op == "eq":
            return and_(born > self.threshold(years + 1), born <= self.threshold(years))
        return or_(born <= self.threshold(years + 1), born > self.threshold(years))

    def threshold(self, years: int) -> dt.date:
        return birth_date_threshold(self.on, years)


def _region(leaf: FieldLeaf, wanted: bool) -> Clause:
    """``region IN (every region inside the wanted ones)``; FALSE also needs the volunteer's region
    not to be one the wanted region lies in (less specific: unknown), as ``evaluate`` does."""
    values = (leaf.value,) if leaf.op != "in" else t.cast(tuple[Scalar, ...], leaf.value)
    inside = sorted({code for value in values for code in region_descendants(str(value))})
    vaguer = sorted({code for value in values for code in region_ancestors(str(value))[1:]})
    column = profiles.c.region
    if wanted == (leaf.op != "ne"):
        return column.in_(inside)
    return column.not_in(inside + vaguer)


def _haversine_a(site: SitePoint) -> ColumnElement[float]:
    """``geo.haversine_a`` in SQL, term by term in the same order (the site's parts are constants)."""
    lat, lon = profiles.c.home_lat, profiles.c.home_lon
    site_lat, site_lon, site_cos = site
    return func.power(func.sin(func.radians(lat - site_lat) / 2), 2) + func.cos(
        func.radians(lat)
    ) * site_cos * func.power(func.sin(func.radians(lon - site_lon) / 2), 2)


def _within(site: SitePoint, km: float, strict: bool) -> Clause:
    """Home within ``km`` of the site (``<`` when strict): a bounding box on the indexed
    coordinates first, then the exact test on the haversine term."""
    lat_low, lat_high, lon_low, lon_high = bounding_box(site, km)
    box = [profiles.c.home_lat.between(lat_low, lat_high)]
    if lon_low is not None:
        box.append(profiles.c.home_lon.between(lon_low, lon_high))
    a, limit = _haversine_a(site), a_threshold(km)
    return and_(*box, a < limit if strict else a <= limit)


def _beyond(site: SitePoint, km: float, strict: bool) -> Clause:
    a, limit = _haversine_a(site), a_threshold(km)
    return a > limit if strict else a >= limit


def _distance(leaf: FieldLeaf, wanted: bool, sites: Sites) -> Clause:
    """The nearest site within / beyond a distance: some site within, every site beyond.

    Without sites the leaf is unknown for everyone, and an unknown home (NULL) makes it unknown
    for that volunteer: neither polarity may be TRUE. The FALSE side negates the TRUE side's
    test under a known home, where every term is a number and ``NOT`` is exact.
    """
    if not sites:
        return false()
    home_known = profiles.c.home_lat.is_not(None)
    if leaf.op == "between":
        low, high = t.cast(tuple[float, float], leaf.value)
        test = and_(
            *(_beyond(site, float(low), False) for site in sites),
            or_(*(_within(site, float(high), False) for site in sites)),
        )
    elif leaf.op in ("le", "lt"):
        test = or_(*(_within(site, float(t.cast(float, leaf.value)), leaf.op == "lt") for site in sites))
    else:
        test = and_(*(_beyond(site, float(t.cast(float, leaf.value)), leaf.op == "gt") for site in sites))
    return and_(home_known, test) if wanted else and_(home_known, not_(test))


def _definitely(table: Table, q: Thresholds) -> list[Clause]:
    status = table.c.status
    terms: list[Clause] = []
    if q.current is not None:
        terms.append(status == ("current" if q.current else "past"))
    if q.within is not None:
        terms.append(or_(status == "current", table.c.until_lo >= q.within, table.c.since_lo >= q.within))
    if q.for_at_least is not None:
        terms.append(and_(status == "current", table.c.since_hi <= q.for_at_least))
    return terms


def _possibly(table: Table, q: Thresholds) -> list[Clause]:
    status = table.c.status
    terms: list[Clause] = []
    if q.current is not None:
        terms.append(or_(status.is_(None), status == ("current" if q.current else "past")))
    if q.within is not None:
        until_hi = table.c.until_hi
        terms.append(or_(status.is_(None), status != "past", until_hi.is_(None), until_hi >= q.within))
    if q.for_at_least is not None:
        since_lo = table.c.since_lo
        terms.append(
            and_(
                or_(status.is_(None), status != "past"),
                or_(since_lo.is_(None), since_lo <= q.for_at_least),
            )
        )
    return terms


def _answer_test(leaf: QuestionLeaf, wanted: bool) -> Clause:
    """The test of a stored answer's typed column, or its negation (the column is never NULL for
    an answer of the question's type, so the negation is exactly "answered and fails")."""
    if leaf.type in ("boolean", "integer", "decimal"):
        column = profile_answers.c.value_num
    elif leaf.type == "date":
        column = profile_answers.c.value_date
    else:
        column = profile_answers.c.value_text
    value: t.Any = leaf.value
    if leaf.type == "boolean":
        value = 1.0 if value else 0.0
    if leaf.op == "has":
        has = column.contains(f"|{value}|", autoescape=True)
        return has if wanted else not_(has)
    if leaf.op == "between":
        low, high = t.cast(tuple[t.Any, t.Any], value)
        return column.between(low, high) if wanted else or_(column < low, column > high)
    if leaf.op == "in":
        values = tuple(t.cast(tuple[t.Any, ...], value))
        if leaf.type in ("integer", "decimal"):
            values = tuple(float(item) for item in values)  # one bind type for every value
        return column.in_(values) if wanted else column.not_in(values)
    op = leaf.op if wanted else NEGATED_OP[leaf.op]
    return t.cast(Clause, COMPARISONS[op](column, value))


def _answered_guard(kind: type) -> Clause:
    column = profiles.c.conditions_answered if kind is Condition else profiles.c.medications_answered
    return column == true()


def _without_repeated_guards(parts: list[Clause]) -> list[Clause]:
    """Flatten ``answered AND listed`` parts of a conjunction and keep only each guard's first use.

    Besides being shorter, this matters to PostgreSQL's planner: a repeated
    ``conditions_answered AND conditions_answered`` squares its selectivity estimate, and the
    underestimate made it pick a nested-loop anti join 1.6x slower than the hash anti join. The
    guard stays where it first appears because SQLite tests the terms in the order written, and
    a guard first (nearly everyone passes it) cost 30 % on the broad benchmark set.
    """
    guards = [_answered_guard(kind) for kind in (Condition, Medication)]
    kept: list[Clause] = []
    seen: set[int] = set()
    for part in parts:
        nested_and = isinstance(part, BooleanClauseList) and part.operator is sql_operators.and_
        for clause in t.cast(BooleanClauseList, part).clauses if nested_and else [part]:
            guard_index = next((index for index, guard in enumerate(guards) if clause.compare(guard)), None)
            if guard_index is not None and guard_index in seen:
                continue
            if guard_index is not None:
                seen.add(guard_index)
            kept.append(clause)
    return kept


def _as_code_test(node: Node, wanted: bool) -> _CodeTest | None:
    """A code leaf under any number of ``not``s, with the polarity it must have."""
    while isinstance(node, Not):
        node, wanted = node.child, not wanted
    if isinstance(node, Condition | Medication) and not node.qualified:
        return _CodeTest(node, wanted)
    return None


_Element = t.TypeVar("_Element", bound=ColumnElement[t.Any])


def _constants_in_text(clause: _Element) -> _Element:
    """``clause`` with each of its bound values rendered into the SQL text at execution (see the
    module's docstring: a prepared statement's generic plan cannot see them)."""

    def replace(element: t.Any, **_options: t.Any) -> t.Any:
        if isinstance(element, BindParameter) and not element.literal_execute:
            return element.render_literal_execute()
        return None

    return t.cast(_Element, visitors.replacement_traverse(t.cast(t.Any, clause), {}, replace))


def compile_where(
    node: Node, on: dt.date, dialect_name: str, sites: Sites = (), *, summary: bool | None = None
) -> Clause:
    """A boolean clause over ``profiles`` that is TRUE exactly when ``evaluate`` says TRUE on ``on``
    (with the same ``sites``, ``geo.site_points`` of the study version). Plain code leaves use the
    code summary on PostgreSQL; ``summary=False`` keeps them on the join tables there too (the
    layout before it, for the benchmarks that compare the two). On PostgreSQL the criteria's
    values are in the SQL text, not parameters."""
    postgresql = dialect_name == "postgresql"
    use_summary = postgresql if summary is None else summary and postgresql
    clause = _Compiler(on, use_exists=postgresql, sites=sites, use_summary=use_summary).node(node, True)
    return _constants_in_text(clause) if postgresql else clause


def matching_ids(node: Node, on: dt.date, dialect_name: str, sites: Sites = ()) -> Select[tuple[int]]:
    """``SELECT participant_id FROM profiles WHERE <criteria>``, ready to filter or insert from."""
    return select(profiles.c.participant_id).where(compile_where(node, on, dialect_name, sites))


def attrition_counts(
    connection: Connection,
    node: Node,
    on: dt.date,
    base_where: Clause | None = None,
    sites: Sites = (),
) -> list[tuple[str, int]]:
    """How many profiles remain after each top-level criterion of an ``all``, in one query.

    Each row is classified by the first criterion it fails (a CASE that stops there), then
    counted per class. Subqueries are written as ``IN (SELECT ...)`` on both engines because
    inside a CASE PostgreSQL can hash an ``IN`` subquery once but would probe an ``EXISTS`` per row.
    Returns ``[(criterion in the text form, remaining), ...]``; a tree that is not an ``all``
    counts as one criterion.
    """
    criteria = node.children if isinstance(node, All) else (node,)
    postgresql = connection.dialect.name == "postgresql"
    compiler = _Compiler(on, use_exists=False, sites=sites, use_summary=postgresql)
    classify = case(
        *((compiler.node(criterion, True).is_not(true()), index) for index, criterion in enumerate(criteria)),
        else_=len(criteria),
    )
    if postgresql:
        classify = _constants_in_text(classify)
    first_failed = classify.label("first_failed")
    query = select(first_failed, func.count()).select_from(profiles)
    if base_where is not None:
        query = query.where(base_where)
    failed_at: dict[int, int] = {
        int(failed): int(count) for failed, count in connection.execute(query.group_by(first_failed))
    }
    remaining: list[tuple[str, int]] = []
    for index, criterion in enumerate(criteria):
        survivors = sum(count for failed, count in failed_at.items() if failed > index)
        remaining.append((to_text(criterion), survivors))
    return remaining


__all__ = [
    "attrition_counts",
    "birth_date_threshold",
    "compile_where",
    "matching_ids",
    "profile_answers",
    "profile_conditions",
    "profile_medications",
    "profiles",
]
