"""Which questions matter to one volunteer now (issue 13 item 1: ask only what matters).

Pure: no Flask, no Celery, no models. The caller hands in the recruiting studies' parsed
criteria (with their sites), the volunteer's ``Facts`` for today and the question catalogue.

A study counts only when its result for the volunteer is UNKNOWN (a TRUE needs nothing more,
and a FALSE is never undone by another answer: the volunteer is not told about it and it is not
counted). Within such a study, an UNKNOWN leaf *could decide* the result when no other part of
the tree already settles the branch it sits on: every ``all`` above it has no FALSE sibling and
every ``any`` above it has no TRUE sibling (a ``not`` passes its child's truth through, negated).
That is the usual test of whether a leaf can still matter under Kleene logic, read off the tree
once instead of trying every answer.

A deciding leaf becomes something to ask:

- a ``question`` leaf: the catalogue question, *missing* when unanswered, *stale* when the
  answer is older than the leaf's ``answered_within`` (a scored instrument is asked through its
  items);
- a qualified ``condition`` or ``medication`` leaf over an answered list: the volunteer's own
  entries that possibly but not definitely satisfy the qualifiers (``since 2025`` against "for at
  least a year"): their history ("still have it? since when?") would settle it.

Fields of the basic profile (age, sex, a list not answered yet) are left to the profile pages;
a less specific code (G25.8 against G25.81) is not something a history answer settles.

Order: by the number of studies an answer could decide (more first), then catalogue order
(history entries after the catalogue, by code). Nothing here names a study: what leaves this
module is a key, its kind and a count, and only the count of *questions* reaches a page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from panel_service.domain.criteria.evaluate import Facts, compile_criteria
from panel_service.domain.criteria.model import All, Any, Condition, Medication, Node, Not, QuestionLeaf
from panel_service.domain.geo import Sites
from panel_service.domain.history import EntryFacts, definitely, possibly, subtract_duration, thresholds
from panel_service.domain.questions import Catalogue


class AskKind(StrEnum):
    QUESTION = "question"
    CONDITION = "condition"  # the history of one of the volunteer's conditions
    MEDICATION = "medication"


class SkipReason(StrEnum):
    """Why a volunteer put a question aside, and so how long it stays aside."""

    LATER = "later"  # "Skip for now"
    RATHER_NOT = "rather_not"  # "I'd rather not say"


# How long a skipped question is not asked again: "skip for now" is a month, "I'd rather not say"
# a year (a choice about privacy is respected longer than a lack of time). Both are asked again
# afterwards, because the studies recruiting then may be different.
SKIP_DAYS = {SkipReason.LATER: 30, SkipReason.RATHER_NOT: 365}

# An ask's stable key, as stored with a skip: ``q:smoking_status``, ``c:G258``, ``m:A12CC``.
KEY_PREFIX = {AskKind.QUESTION: "q", AskKind.CONDITION: "c", AskKind.MEDICATION: "m"}


@dataclass(frozen=True)
class Ask:
    """One thing worth asking: ``key`` is the question key or the volunteer's code."""

    kind: AskKind
    key: str
    stale: bool  # answered, but too long ago for a study that asks for a recent answer
    studies: int  # how many recruiting studies an answer could decide (never shown per study)
    position: int  # catalogue order, for ties

    @property
    def ask_key(self) -> str:
        return f"{KEY_PREFIX[self.kind]}:{self.key}"


@dataclass(frozen=True)
class StudyCriteria:
    """A recruiting study as this rule sees it: its parsed tree and its sites. No id, no title."""

    criteria: Node
    sites: Sites = ()


def truth(node: Node, facts: Facts, sites: Sites) -> int:
    """0 (false), 1 (unknown) or 2 (true), as the compiled evaluator says for this subtree."""
    return int(compile_criteria(node, sites)(facts))


def deciding_leaves(node: Node, facts: Facts, sites: Sites = ()) -> list[Node]:
    """The UNKNOWN leaves that could still change this tree's UNKNOWN result (module docstring).
    Empty when the tree is TRUE or FALSE."""
    if truth(node, facts, sites) != 1:
        return []
    found: list[Node] = []
    _collect(node, facts, sites, found)
    return found


def _collect(node: Node, facts: Facts, sites: Sites, found: list[Node]) -> None:
    """``node`` is UNKNOWN and nothing above it settles its branch."""
    if isinstance(node, Not):
        _collect(node.child, facts, sites, found)
        return
    if isinstance(node, All | Any):
        values = [truth(child, facts, sites) for child in node.children]
        blocking = 0 if isinstance(node, All) else 2  # a FALSE in an all, a TRUE in an any
        if blocking in values:
            return
        for child, value in zip(node.children, values, strict=True):
            if value == 1:
                _collect(child, facts, sites, found)
        return
    found.append(node)


def _history_asks(
    leaf: Condition | Medication, entries: tuple[EntryFacts, ...] | None, on: dt.date
) -> list[str]:
    """The volunteer's codes whose history would settle a qualified leaf."""
    if not leaf.qualified or entries is None:
        return []
    wanted = thresholds(on, leaf.current, leaf.within, leaf.for_at_least)
    return [
        entry.code
        for entry in entries
        if leaf.matches(entry.code) and possibly(entry, wanted) and not definitely(entry, wanted)
    ]


def _question_ask(leaf: QuestionLeaf, facts: Facts, catalogue: Catalogue) -> tuple[str, bool] | None:
    question = catalogue.get(leaf.key)
    if question is None or question.retired:
        return None
    answer = facts.answers.get(leaf.key)
    if answer is None:
        return leaf.key, False
    if leaf.answered_within is not None and answer.answered_on < subtract_duration(
        facts.on, leaf.answered_within
    ):
        return leaf.key, True
    return None


def questions_that_matter(studies: Iterable[StudyCriteria], facts: Facts, catalogue: Catalogue) -> list[Ask]:
    """Everything worth asking this volunteer, best first (module docstring)."""
    counted: dict[tuple[AskKind, str], int] = {}
    stale: dict[tuple[AskKind, str], bool] = {}
    for study in studies:
        keys: dict[tuple[AskKind, str], bool] = {}
        for leaf in deciding_leaves(study.criteria, facts, study.sites):
            if isinstance(leaf, QuestionLeaf):
                found = _question_ask(leaf, facts, catalogue)
                if found is not None:
                    keys[(AskKind.QUESTION, found[0])] = found[1]
            elif isinstance(leaf, Condition):
                for code in _history_asks(leaf, facts.condition_entries, facts.on):
                    keys[(AskKind.CONDITION, code)] = False
            elif isinstance(leaf, Medication):
                for code in _history_asks(leaf, facts.medication_entries, facts.on):
                    keys[(AskKind.MEDICATION, code)] = False
        for key, is_stale in keys.items():
            counted[key] = counted.get(key, 0) + 1
            stale[key] = stale.get(key, False) or is_stale
    order = {key: index for index, key in enumerate(catalogue)}
    last = len(order)
    asks = [
        Ask(kind, key, stale[(kind, key)], count, order.get(key, last) if kind is AskKind.QUESTION else last)
        for (kind, key), count in counted.items()
    ]
    return rank(asks)


def rank(asks: Iterable[Ask]) -> list[Ask]:
    """More studies first; then catalogue order; history entries after questions (conditions,
    then medicines), by code."""
    kinds = list(AskKind)
    return sorted(asks, key=lambda ask: (-ask.studies, ask.position, kinds.index(ask.kind), ask.key))


def skipped_until(skipped_on: dt.date, reason: str) -> dt.date:
    """The last day a skip keeps its question aside."""
    try:
        days = SKIP_DAYS[SkipReason(reason)]
    except ValueError:  # a reason this version does not know: the shorter time aside
        days = SKIP_DAYS[SkipReason.LATER]
    return skipped_on + dt.timedelta(days=days)


def not_skipped(asks: Sequence[Ask], skips: Mapping[str, tuple[dt.date, str]], today: dt.date) -> list[Ask]:
    """``asks`` without those the volunteer put aside and whose time aside has not run out.
    ``skips``: ask key → (day skipped, reason)."""
    return [ask for ask in asks if ask.ask_key not in skips or skipped_until(*skips[ask.ask_key]) < today]
