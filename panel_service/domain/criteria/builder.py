"""The criteria builder's tree edits and error places (issue 13 item 8), pure.

The builder shows a tree as rows and edits it by adding a leaf to a group, grouping sibling
criteria as all / any / none of them, and removing a criterion. Every edit goes through the JSON
validator (``parse_json``), so the tree is always one the language accepts and the text form is
always ``to_text`` of it. A place in the tree is a dotted list of child positions (``"1.0"``):
the top level is the root's children when the root is an ``all``, else the root alone.

``locate`` turns validation errors (JSON paths such as ``all[1].condition``) into the line and
column of the text the coordinator wrote, so errors are shown where they were made.
"""

from __future__ import annotations

import datetime as dt
import math
import typing as t
from dataclasses import dataclass

from panel_service.domain.criteria.errors import CriteriaError, CriteriaIssue, CriteriaSyntaxError
from panel_service.domain.criteria.json_form import join_path, parse_json, to_json
from panel_service.domain.criteria.model import (
    FIELDS,
    All,
    Any,
    Condition,
    Medication,
    Node,
    Not,
    QuestionLeaf,
    field_kind,
)
from panel_service.domain.criteria.text_form import _TextParser, _ungroup, parse_any, to_text
from panel_service.domain.questions import Catalogue, Question

GROUP_KINDS = ("all", "any", "none")
DURATION_UNITS = ("D", "W", "M", "Y")
TRUE_WORDS = {"true", "yes", "ja", "sand"}
FALSE_WORDS = {"false", "no", "nej", "falsk"}


class BuilderError(ValueError):
    """A builder step that cannot be done; ``field`` names the builder input at fault.

    ``message`` is a fixed English sentence (the web layer translates it as a whole), with
    ``{name}`` places filled from ``params``."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        self.field = field
        self.message = message
        self.params = params
        super().__init__(f"{field}: {message.format(**params) if params else message}")


@dataclass(frozen=True)
class Row:
    path: str  # "" is never a row; "0", "1.2", ...
    depth: int
    kind: str  # "all", "any", "not" or "leaf"
    node: Node

    @property
    def text(self) -> str:
        return to_text(self.node)


@dataclass(frozen=True)
class Located:
    line: int | None
    column: int | None
    message: str


# --- the tree as rows -------------------------------------------------------------------------


def top_items(node: Node | None) -> list[Node]:
    if node is None:
        return []
    return list(node.children) if isinstance(node, All) else [node]


def _children(node: Node) -> list[Node]:
    if isinstance(node, All | Any):
        return list(node.children)
    if isinstance(node, Not):
        return [node.child]
    return []


def _kind(node: Node) -> str:
    if isinstance(node, All):
        return "all"
    if isinstance(node, Any):
        return "any"
    if isinstance(node, Not):
        return "not"
    return "leaf"


def rows(node: Node | None) -> list[Row]:
    """Every node below the root, depth first, with its place."""
    out: list[Row] = []

    def walk(items: list[Node], prefix: str, depth: int) -> None:
        for index, item in enumerate(items):
            path = f"{prefix}{index}"
            out.append(Row(path, depth, _kind(item), item))
            walk(_children(item), f"{path}.", depth + 1)

    walk(top_items(node), "", 0)
    return out


def groups(node: Node | None) -> list[Row]:
    """The groups a criterion can be added to (``all`` and ``any``), besides the top level."""
    return [row for row in rows(node) if row.kind in ("all", "any")]


def _parse_path(path: str) -> list[int]:
    if path == "":
        return []
    try:
        steps = [int(part) for part in path.split(".")]
    except ValueError:
        raise BuilderError("path", "that criterion is no longer there; the page was out of date") from None
    if any(step < 0 for step in steps):
        raise BuilderError("path", "that criterion is no longer there; the page was out of date")
    return steps


def _rebuild(kind: str, items: list[Node]) -> Node | None:
    """A group of ``kind`` over ``items``, collapsed when it has one item, gone when none."""
    if not items:
        return None
    if kind == "not":
        return Not(items[0])
    if len(items) == 1:
        return items[0]
    return All(tuple(items)) if kind == "all" else Any(tuple(items))


def _edit(items: list[Node], steps: list[int], change: t.Callable[[list[Node]], list[Node]]) -> list[Node]:
    """``items`` with ``change`` applied to the child list found by following ``steps``."""
    if not steps:
        return change(items)
    head, rest = steps[0], steps[1:]
    if head >= len(items):
        raise BuilderError("path", "that criterion is no longer there; the page was out of date")
    target = items[head]
    kind = _kind(target)
    if kind == "leaf":
        raise BuilderError("path", "a single criterion holds no others")
    changed = _edit(_children(target), rest, change)
    rebuilt = _rebuild(kind, changed)
    return [*items[:head], *([rebuilt] if rebuilt is not None else []), *items[head + 1 :]]


def _normal(items: list[Node], catalogue: Catalogue | None = None) -> Node | None:
    root = _rebuild("all", items)
    return None if root is None else parse_json(to_json(root), catalogue)


def add(node: Node | None, target: str, new: Node, catalogue: Catalogue | None = None) -> Node:
    """``new`` appended to the group at ``target`` ("" for the top level)."""
    steps = _parse_path(target)
    if steps:
        found = _node_at(node, steps)
        if not isinstance(found, All | Any):
            raise BuilderError("target", "criteria can only be added to an all or any group")
    result = _normal(_edit(top_items(node), steps, lambda items: [*items, new]), catalogue)
    assert result is not None
    return result


def remove(node: Node | None, path: str, catalogue: Catalogue | None = None) -> Node | None:
    """The tree without the criterion at ``path``; a group left empty goes too, one left with
    one criterion becomes that criterion."""
    steps = _parse_path(path)
    if not steps:
        raise BuilderError("path", "choose a criterion to remove")
    _node_at(node, steps)
    *parent, last = steps
    return _normal(
        _edit(top_items(node), parent, lambda items: [*items[:last], *items[last + 1 :]]), catalogue
    )


def group(node: Node | None, paths: list[str], kind: str, catalogue: Catalogue | None = None) -> Node:
    """The criteria at ``paths`` (siblings) replaced, where the first of them was, by one group:
    all of them, any of them, or none of them (``not`` over ``any``)."""
    if kind not in GROUP_KINDS:
        raise BuilderError("group_kind", "choose all, any or none")
    if not paths:
        raise BuilderError("selected", "tick the criteria to put in a group")
    parsed = [_parse_path(path) for path in paths]
    parents = {tuple(steps[:-1]) for steps in parsed if steps}
    if len(parents) != 1 or any(not steps for steps in parsed):
        raise BuilderError("selected", "tick criteria that are in the same group")
    parent = list(parents.pop())
    if parent and _kind(_node_at(node, parent)) == "leaf":
        raise BuilderError("selected", "tick criteria that are in the same group")
    for steps in parsed:
        _node_at(node, steps)
    positions = sorted({steps[-1] for steps in parsed})
    if kind != "none" and len(positions) < 2:
        raise BuilderError("selected", "tick at least two criteria to make an all or any group")

    def change(items: list[Node]) -> list[Node]:
        chosen = [items[position] for position in positions]
        if kind == "none":
            made: Node = Not(chosen[0] if len(chosen) == 1 else Any(tuple(chosen)))
        else:
            made = All(tuple(chosen)) if kind == "all" else Any(tuple(chosen))
        kept = [item for position, item in enumerate(items) if position not in positions]
        kept.insert(positions[0], made)
        return kept

    result = _normal(_edit(top_items(node), parent, change), catalogue)
    assert result is not None
    return result


def _node_at(node: Node | None, steps: list[int]) -> Node:
    items = top_items(node)
    found: Node | None = None
    for step in steps:
        if step >= len(items):
            raise BuilderError("path", "that criterion is no longer there; the page was out of date")
        found = items[step]
        items = _children(found)
    assert found is not None
    return found


# --- leaves from the builder's inputs --------------------------------------------------------


def duration(amount: str, unit: str, field: str) -> str | None:
    """``P3M`` from "3" and "M"; None when no amount is given."""
    amount = amount.strip()
    if not amount:
        return None
    if not amount.isdigit() or not 0 < int(amount) <= 1200:
        raise BuilderError(field, "enter a whole number, such as 3")
    if unit not in DURATION_UNITS:
        raise BuilderError(field + "_unit", "choose days, weeks, months or years")
    return f"P{int(amount)}{unit}"


def code_leaf(
    kind: str,
    code: str,
    *,
    current: str = "",
    within: str | None = None,
    for_at_least: str | None = None,
) -> Node:
    """A condition or medication leaf with its qualifiers, validated like any criteria."""
    if kind not in ("condition", "medication"):
        raise BuilderError("kind", "choose a condition or a medicine")
    code = code.strip()
    if not code:
        raise BuilderError("code", "search for a name and choose one of the matches")
    obj: dict[str, object] = {kind: code}
    if current in ("current", "past"):
        obj["current"] = current == "current"
    elif current:
        raise BuilderError("current", "choose now, in the past or either")
    if within:
        obj["within"] = within
    if for_at_least:
        obj["for_at_least"] = for_at_least
    return _leaf(
        obj, {"current": "current", "within": "within", "for_at_least": "for_at_least", kind: "code"}
    )


def _coerce(field: str, text: str) -> object:
    text = text.strip()
    kind = field_kind(field)
    if kind == "boolean":
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise BuilderError("value", "choose yes or no")
    if kind == "numeric":
        number = text.replace(",", ".")
        try:
            return int(number)
        except ValueError:
            try:
                return float(number)
            except ValueError:
                raise BuilderError("value", "enter a number, such as 18") from None
    if not text:
        raise BuilderError("value", "enter a value")
    return text


def field_leaf(field: str, op: str, value: str, value2: str = "") -> Node:
    """A field test from the builder's inputs: ``between`` takes two values, ``in`` a list
    separated by commas (or, for numbers, semicolons)."""
    if field not in FIELDS:
        raise BuilderError("field", "choose what to test")
    wanted: object
    if op == "between":
        wanted = [_coerce(field, value), _coerce(field, value2)]
    elif op == "in":
        separator = ";" if field_kind(field) == "numeric" else ","
        parts = [part for part in value.split(separator) if part.strip()]
        if not parts:
            raise BuilderError("value", "enter the values, separated by commas")
        wanted = [_coerce(field, part) for part in parts]
    else:
        wanted = _coerce(field, value)
    return _leaf(
        {"field": field, "op": op, "value": wanted}, {"field": "field", "op": "op", "value": "value"}
    )


# --- question leaves ----------------------------------------------------------------------------

# What the builder offers for each question type (§4a's ops, in coordinator words): a choice is
# "one of" or "none of" the ticked options, a multi_choice "includes any" or "includes none" of
# them, a number or date at least / at most / between / exactly, a yes-or-no question yes or no.
BUILDER_OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "boolean": ("eq",),
    "choice": ("in", "not_in"),
    "multi_choice": ("in", "not_in"),
    "integer": ("ge", "le", "between", "eq"),
    "decimal": ("ge", "le", "between"),
    "date": ("ge", "le", "between"),
}
NUMBER_EXAMPLE = "2"


def _words(text: str) -> list[str]:
    return [word for word in "".join(c if c.isalnum() else " " for c in text.casefold()).split() if word]


def search_questions(
    catalogue: Catalogue, query: str, language: str = "en", limit: int = 10
) -> list[Question]:
    """The questions whose wording (in any language), help or key holds every word of ``query``
    (a word matches the start of a word); the coordinator's language and the key first."""
    wanted = _words(query)
    if not wanted:
        return []
    scored: list[tuple[int, int, Question]] = []
    for order, question in enumerate(catalogue.values()):
        if question.retired:
            continue
        texts = [question.key.replace("_", " "), *question.wording.values(), *question.help.values()]
        words = _words(" ".join(texts))
        if not all(any(word.startswith(part) for word in words) for part in wanted):
            continue
        own = _words(question.text(language))
        rank = (
            0
            if query.strip().casefold() == question.key
            else (1 if all(any(word.startswith(part) for word in own) for part in wanted) else 2)
        )
        if catalogue.instrument_of(question.key) is not None:
            rank += 3  # a scale's single item after the scale itself and other questions
        scored.append((rank, order, question))
    return [question for _rank, _order, question in sorted(scored, key=lambda item: item[:2])][:limit]


def _question_scalar(question: Question, text: str, field: str) -> object:
    text = text.strip()
    if question.type == "date":
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise BuilderError(field, "enter a date as year-month-day, such as 2025-01-31") from None
        return day.isoformat()
    number_text = text.replace(",", ".")
    try:
        number = float(number_text)
    except ValueError:
        number = math.nan
    if not text or math.isnan(number) or math.isinf(number):
        if question.type == "integer":
            raise BuilderError(field, "enter a whole number, such as {example}", example=NUMBER_EXAMPLE)
        raise BuilderError(field, "enter a number, such as {example}", example=NUMBER_EXAMPLE)
    if question.type == "integer" and not number.is_integer():
        raise BuilderError(field, "enter a whole number, such as {example}", example=NUMBER_EXAMPLE)
    low = question.minimum if question.minimum is not None else -1e9
    high = question.maximum if question.maximum is not None else 1e9
    if not low <= number <= high:
        raise BuilderError(field, "enter a number from {low} to {high}", low=f"{low:g}", high=f"{high:g}")
    return int(number) if number.is_integer() else number


def question_leaf(
    catalogue: Catalogue,
    key: str,
    op: str,
    *,
    options: t.Sequence[str] = (),
    value: str = "",
    value2: str = "",
    answered_within: str | None = None,
) -> Node:
    """A ``question`` leaf from the builder's inputs, validated like any criteria.

    ``op`` is one of ``BUILDER_OPS_BY_TYPE`` for the question's type: ``in`` / ``not_in`` take the
    ticked ``options`` (one ticked is ``=`` / ``!=``; "none of" several is ``not (... in ...)``;
    for a multi_choice each option is a ``has``); a yes-or-no question takes ``value`` yes or no;
    numbers and dates take ``value`` (and ``value2`` for between)."""
    question = catalogue.get(key.strip())
    if question is None or question.retired:
        raise BuilderError("question", "search for a question and choose one of the matches")
    if op not in BUILDER_OPS_BY_TYPE[question.type]:
        raise BuilderError("question_op", "choose how to test the answer")
    base: dict[str, object] = {"question": question.key}
    if answered_within:
        base["answered_within"] = answered_within
    inputs = {"question": "question", "op": "question_op", "value": "question_value"}
    inputs["answered_within"] = "question_within"
    obj: dict[str, object]
    if question.type == "boolean":
        answer = value.strip().lower()
        if answer not in TRUE_WORDS | FALSE_WORDS:
            raise BuilderError("question_value", "choose yes or no")
        obj = {**base, "op": "eq", "value": answer in TRUE_WORDS}
    elif question.type in ("choice", "multi_choice"):
        known = question.option_keys
        chosen = [option for option in known if option in set(options)]
        if not chosen or len(set(options)) != len(chosen):
            raise BuilderError("question_options", "tick at least one answer")
        negate = op == "not_in"
        if question.type == "multi_choice":
            has = [{**base, "op": "has", "value": option} for option in chosen]
            inner: dict[str, object] = has[0] if len(has) == 1 else {"any": has}
            node = _leaf({"not": inner} if negate else inner, inputs, catalogue)
            return node
        if len(chosen) == 1:
            obj = {**base, "op": "ne" if negate else "eq", "value": chosen[0]}
        else:
            obj = {**base, "op": "in", "value": chosen}
            if negate:
                return _leaf({"not": obj}, inputs, catalogue)
    elif op == "between":
        low = _question_scalar(question, value, "question_value")
        high = _question_scalar(question, value2, "question_value2")
        if t.cast(t.Any, low) > high:
            raise BuilderError("question_value2", "the second value must not be smaller than the first")
        obj = {**base, "op": "between", "value": [low, high]}
    else:
        obj = {**base, "op": op, "value": _question_scalar(question, value, "question_value")}
    return _leaf(obj, inputs, catalogue)


def _leaf(obj: dict[str, object], inputs: dict[str, str], catalogue: Catalogue | None = None) -> Node:
    try:
        return parse_json(obj, catalogue)
    except CriteriaError as error:
        issue = error.issues[0]
        key = issue.path.split(".", 1)[0].split("[", 1)[0]
        raise BuilderError(inputs.get(key, "value"), issue.message) from None


# --- where in the text an error lies ---------------------------------------------------------


class _LocatingParser(_TextParser):
    """The text parser, remembering where each part of the tree it builds began."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.starts: dict[int, int] = {}

    def _mark(self, start: int, result: dict[str, object]) -> dict[str, object]:
        self.starts.setdefault(id(result), start)
        return result

    def disjunction(self) -> dict[str, object]:
        start = self.current.offset
        return self._mark(start, super().disjunction())

    def conjunction(self) -> dict[str, object]:
        start = self.current.offset
        return self._mark(start, super().conjunction())

    def unary(self) -> dict[str, object]:
        start = self.current.offset
        return self._mark(start, super().unary())

    def leaf(self) -> dict[str, object]:
        start = self.current.offset
        return self._mark(start, super().leaf())


def _offsets(obj: object, starts: dict[int, int], path: str, out: dict[str, int]) -> None:
    """JSON path → offset, over the parser's output as ``_ungroup`` will shape it."""
    if not isinstance(obj, dict):
        return
    if "group" in obj:
        _offsets(obj["group"], starts, path, out)
        out.setdefault(path, starts.get(id(obj), 0))
        return
    if id(obj) in starts:
        out.setdefault(path, starts[id(obj)])
    for key, value in obj.items():
        inner = join_path(path, key)
        if isinstance(value, list):
            for index, item in enumerate(value):
                _offsets(item, starts, join_path(inner, index), out)
        else:
            _offsets(value, starts, inner, out)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def parse_located(text: str, catalogue: Catalogue | None = None) -> tuple[Node | None, list[Located]]:
    """The text form read into a tree, or every error with the line and column it concerns;
    ``question`` leaves are checked against ``catalogue`` (default: the shipped seed)."""
    if not text.strip():
        return None, []
    if is_json(text):
        # JSON criteria have no lines of criteria to point at: their paths are the places.
        try:
            return parse_any(text, catalogue), []
        except CriteriaSyntaxError as error:
            message = error.issues[0].message.split(": ", 1)[-1].split("\n", 1)[0]
            return None, [Located(error.line, error.column, message)]
        except CriteriaError as error:
            return None, [Located(None, None, str(issue)) for issue in error.issues]
    try:
        parser = _LocatingParser(text)
        raw = parser.parse()
    except CriteriaSyntaxError as error:
        message = error.issues[0].message.split(": ", 1)[-1].split("\n", 1)[0]
        return None, [Located(error.line, error.column, message)]
    except RecursionError:
        return None, [Located(None, None, "nested too deeply")]
    try:
        return parse_json(_ungroup(raw), catalogue), []
    except CriteriaError as error:
        places: dict[str, int] = {}
        _offsets(raw, parser.starts, "$", places)
        return None, [_locate(text, issue, places) for issue in error.issues]


def is_json(text: str) -> bool:
    """Criteria written as JSON (as ``parse_any`` decides), not in the text form."""
    return text.strip().startswith(("{", "[", '"'))


def _locate(text: str, issue: CriteriaIssue, places: dict[str, int]) -> Located:
    path = issue.path
    while True:
        if path in places:
            line, column = _line_column(text, places[path])
            return Located(line, column, issue.message)
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            break
        path = path[:cut]
    if "$" in places:
        line, column = _line_column(text, places["$"])
        return Located(line, column, issue.message)
    return Located(None, None, issue.message)


def leaf_question(node: Node) -> str | None:
    """The catalogue key a question leaf (or "not" over question leaves about one key) tests."""
    if isinstance(node, QuestionLeaf):
        return node.key
    return None


def leaf_code(node: Node) -> tuple[str, str] | None:
    """("icd10" | "atc", display code) of a code leaf, for naming it."""
    if isinstance(node, Condition):
        return "icd10", node.display
    if isinstance(node, Medication):
        return "atc", node.display
    return None
