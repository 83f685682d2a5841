"""JSON form: parsing with full validation, the canonical normal form, and its hash.

``parse_json`` collects every problem before raising, each with the JSON path where it sits
(``all[1].value``) and the offending key or value quoted, so the API and the web editor can show
each error at its place. The tree it returns is already normal: codes normalised, ``in`` lists
sorted without duplicates, whole numbers as ints, and an ``all``/``any`` of one child replaced
by that child. ``to_json(parse_json(x))`` is therefore the canonical form and normalising twice
changes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing as t

from panel_service.domain.criteria.errors import CriteriaError, CriteriaIssue
from panel_service.domain.criteria.model import (
    FIELDS,
    OPS,
    OPS_BY_FIELD_KIND,
    All,
    Any,
    Condition,
    FieldLeaf,
    FieldValue,
    Medication,
    Node,
    Not,
    QuestionLeaf,
    Scalar,
    field_kind,
)
from panel_service.domain.geo import MAX_DISTANCE_KM
from panel_service.domain.history import normalise_duration
from panel_service.domain.profile import ICD10_CATEGORY, REGION_CODE, normalise_atc, normalise_icd10
from panel_service.domain.questions import Catalogue, seed_catalogue
from panel_service.domain.regions import normalise_region
from panel_service.domain.vocab import SEXES

MAX_DEPTH = 16
MAX_NODES = 500
MAX_IN_VALUES = 200
MAX_AGE = 150
# Far beyond every field's own bounds, and small enough to convert to float and print.
MAX_MAGNITUDE = 10**15
NUMBER_LIMITS = {
    "bmi": (0.0, 200.0),
    "height_cm": (0.0, 300.0),
    "weight_kg": (0.0, 1000.0),
    "distance_to_site_km": (0.0, MAX_DISTANCE_KM),
}
CODE_KINDS = ("condition", "medication")
NODE_KEYS = ("all", "any", "not", "field", "condition", "medication", "question")
LEAF_KEYS = ("field", "op", "value")
QUALIFIER_KEYS = ("current", "within", "for_at_least")
QUESTION_KEYS = ("question", "op", "value", "answered_within")


def quote(value: object) -> str:
    """Quote a key or value the way it looks in JSON, so users recognise what they wrote."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{'' if path == '$' else path}[{key}]"
    return key if path == "$" else f"{path}.{key}"


class _Parser:
    def __init__(self, catalogue: Catalogue | None = None) -> None:
        self.catalogue = catalogue
        self.issues: list[CriteriaIssue] = []
        self.node_count = 0
        self.node_limit_reported = False

    def fail(self, path: str, message: str) -> None:
        self.issues.append(CriteriaIssue(path, message))

    def node(self, obj: object, path: str, depth: int) -> Node | None:
        self.node_count += 1
        if self.node_count > MAX_NODES:
            if not self.node_limit_reported:
                self.fail(path, f"too many nodes: criteria may have at most {MAX_NODES}")
                self.node_limit_reported = True
            return None
        if depth > MAX_DEPTH:
            self.fail(path, f"nested too deeply: criteria may be at most {MAX_DEPTH} levels deep")
            return None
        if not isinstance(obj, dict):
            self.fail(path, f'expected an object such as {{"all": [...]}}, got {quote(obj)}')
            return None
        kinds = [key for key in NODE_KEYS if key in obj]
        if not kinds:
            keys = ", ".join(quote(key) for key in obj) or "none"
            expected = ", ".join(quote(key) for key in NODE_KEYS)
            self.fail(path, f"unknown node: expected one of {expected}; got keys {keys}")
            return None
        kind = kinds[0]
        allowed = LEAF_KEYS if kind == "field" else (kind, *QUALIFIER_KEYS) if kind in CODE_KINDS else (kind,)
        if kind == "question":
            allowed = QUESTION_KEYS
        for key in obj:
            if key not in allowed:
                self.fail(join_path(path, key), f"unknown key {quote(key)} in a {quote(kind)} node")
        if kind in ("all", "any"):
            return self.group(kind, obj[kind], join_path(path, kind), depth)
        if kind == "not":
            child = self.node(obj["not"], join_path(path, "not"), depth + 1)
            return None if child is None else Not(child)
        if kind in CODE_KINDS:
            qualifiers = self.qualifiers(obj, path)
            leaf = (self.condition if kind == "condition" else self.medication)(
                obj[kind], join_path(path, kind)
            )
            if leaf is None or qualifiers is None:
                return None
            return dataclasses.replace(leaf, **qualifiers)
        if kind == "question":
            from panel_service.domain.criteria.questions import QuestionParser

            return QuestionParser(self.fail, self.catalogue or seed_catalogue()).leaf(obj, path)
        return self.field_leaf(obj, path)

    def qualifiers(self, obj: dict[str, object], path: str) -> dict[str, t.Any] | None:
        """``current``, ``within`` and ``for_at_least`` of a code leaf, or None after an error."""
        found: dict[str, t.Any] = {}
        valid = True
        current = obj.get("current")
        if "current" in obj:
            if isinstance(current, bool):
                found["current"] = current
            else:
                self.fail(join_path(path, "current"), f"current takes true or false, got {quote(current)}")
                valid = False
        for key in ("within", "for_at_least"):
            if key not in obj:
                continue
            try:
                found[key] = normalise_duration(t.cast(str, obj[key]))
            except ValueError:
                self.fail(
                    join_path(path, key),
                    "expected an ISO 8601 duration like P3M (one of P#D, P#W, P#M, P#Y; "
                    f"at most P100Y), got {quote(obj[key])}",
                )
                valid = False
        if found.get("current") is False and "for_at_least" in found:
            self.fail(
                join_path(path, "for_at_least"),
                'for_at_least means current, so it cannot be combined with "current": false',
            )
            valid = False
        return found if valid else None

    def group(self, kind: str, items: object, path: str, depth: int) -> Node | None:
        if not isinstance(items, list):
            self.fail(path, f"{quote(kind)} takes a list of criteria, got {quote(items)}")
            return None
        if not items:
            self.fail(path, f"{quote(kind)} must not be empty")
            return None
        children = [self.node(item, join_path(path, index), depth + 1) for index, item in enumerate(items)]
        present = tuple(child for child in children if child is not None)
        if len(present) != len(children):
            return None
        if len(present) == 1:
            return present[0]
        return All(present) if kind == "all" else Any(present)

    def condition(self, value: object, path: str) -> Condition | None:
        if not isinstance(value, str):
            self.fail(
                path,
                f'a condition is an ICD-10 code or range ("G25.8", "N17-N19"), got {quote(value)}',
            )
            return None
        if "-" in value:
            return self.condition_range(value, path)
        try:
            return Condition(normalise_icd10(value))
        except ValueError:
            self.fail(path, f'not a well-formed ICD-10 code: {quote(value)} (expected e.g. "G25.8")')
            return None

    def condition_range(self, value: str, path: str) -> Condition | None:
        low, _, high = (part.strip().upper() for part in value.partition("-"))
        if not (ICD10_CATEGORY.match(low) and ICD10_CATEGORY.match(high)):
            self.fail(
                path,
                f'not a well-formed ICD-10 range: {quote(value)} (expected two categories, e.g. "N17-N19")',
            )
            return None
        if low > high:
            self.fail(path, f"ICD-10 range {quote(value)} runs backwards: {low} comes after {high}")
            return None
        return Condition(low, high)

    def medication(self, value: object, path: str) -> Medication | None:
        if not isinstance(value, str):
            self.fail(path, f'a medication is an ATC code such as "A12CC", got {quote(value)}')
            return None
        try:
            return Medication(normalise_atc(value))
        except ValueError:
            self.fail(
                path, f'not a well-formed ATC code: {quote(value)} (expected e.g. "A12CC" or "A12CC05")'
            )
            return None

    def field_leaf(self, obj: dict[str, object], path: str) -> FieldLeaf | None:
        field, op = obj.get("field"), obj.get("op")
        valid = True
        if field not in FIELDS:
            fields = ", ".join(FIELDS)
            self.fail(join_path(path, "field"), f"unknown field {quote(field)}; fields are {fields}")
            valid = False
        if "op" not in obj:
            self.fail(path, 'missing key "op"')
            return None
        if op not in OPS:
            self.fail(join_path(path, "op"), f"unknown op {quote(op)}; ops are {', '.join(OPS)}")
            return None
        if not valid:
            return None
        field, op = t.cast(str, field), t.cast(str, op)
        if op not in OPS_BY_FIELD_KIND[field_kind(field)]:
            self.fail(join_path(path, "op"), f"op {quote(op)} does not apply to field {quote(field)}")
            return None
        if "value" not in obj:
            self.fail(path, 'missing key "value"')
            return None
        value = self.field_value(field, op, obj["value"], join_path(path, "value"))
        return None if value is None else FieldLeaf(field, op, value)

    def field_value(self, field: str, op: str, value: object, path: str) -> FieldValue | None:
        if op == "between":
            return self.between(field, value, path)
        if op == "in":
            return self.in_list(field, value, path)
        return self.scalar(field, value, path)

    def between(self, field: str, value: object, path: str) -> FieldValue | None:
        if not isinstance(value, list) or len(value) != 2:
            self.fail(path, f"between takes exactly two values [low, high], got {quote(value)}")
            return None
        low = self.scalar(field, value[0], join_path(path, 0))
        high = self.scalar(field, value[1], join_path(path, 1))
        if low is None or high is None:
            return None
        if t.cast(float, low) > t.cast(float, high):
            self.fail(path, f"between needs low <= high, got {quote(value)}")
            return None
        return (low, high)

    def in_list(self, field: str, value: object, path: str) -> FieldValue | None:
        if not isinstance(value, list) or not value:
            self.fail(path, f"in takes a non-empty list of values, got {quote(value)}")
            return None
        if len(value) > MAX_IN_VALUES:
            self.fail(path, f"in takes at most {MAX_IN_VALUES} values, got {len(value)}")
            return None
        items = [self.scalar(field, item, join_path(path, index)) for index, item in enumerate(value)]
        present = [item for item in items if item is not None]
        if len(present) != len(items):
            return None
        return tuple(sorted(set(present), key=_sort_key))

    def scalar(self, field: str, value: object, path: str) -> Scalar | None:
        kind = field_kind(field)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            self.fail(path, f"{field} takes true or false, got {quote(value)}")
            return None
        if kind in ("numeric", "distance"):
            return self.number(field, value, path)
        if field == "sex":
            if isinstance(value, str) and value.strip().lower() in SEXES:
                return value.strip().lower()
            self.fail(path, f"sex takes one of {', '.join(SEXES)}, got {quote(value)}")
            return None
        return self.region(value, path)

    def region(self, value: object, path: str) -> Scalar | None:
        """A country (``DK``) or any ISO 3166-2 subdivision (``DK-84``, ``GB-ENG``) ISO 3166 knows."""
        try:
            return normalise_region(value)
        except ValueError:
            pass
        if isinstance(value, str) and (REGION_CODE.match(value.strip().upper()) or len(value.strip()) == 2):
            self.fail(path, f"unknown region {quote(value)}: not an ISO 3166 country or subdivision")
        else:
            self.fail(
                path,
                f'region takes an ISO 3166-2 code such as "DK-84" or a country such as "DK", got {quote(value)}',
            )
        return None

    def number(self, field: str, value: object, path: str) -> Scalar | None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and math.isnan(value))
        ):
            self.fail(path, f"{field} takes a number, got {quote(value)}")
            return None
        # Checked before any float() or quote(): 1e400 is inf, and an int of thousands of digits
        # overflows float() and cannot even be printed (Python's int-string conversion limit).
        if not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
            self.fail(path, "number out of range")
            return None
        if field == "age":
            if not float(value).is_integer() or not 0 <= value <= MAX_AGE:
                self.fail(path, f"age takes whole years from 0 to {MAX_AGE}, got {quote(value)}")
                return None
            return int(value)
        low, high = NUMBER_LIMITS[field]
        if not low <= value <= high:
            self.fail(path, f"{field} takes a number from {low:g} to {high:g}, got {quote(value)}")
            return None
        return int(value) if float(value).is_integer() else float(value)


def _sort_key(value: Scalar) -> tuple[int, float, str]:
    if isinstance(value, str):
        return (1, 0.0, value)
    return (0, float(value), "")


def parse_json(obj: object, catalogue: Catalogue | None = None) -> Node:
    """Validate a JSON value (already decoded) and return the normal tree; raise ``CriteriaError``.

    ``question`` leaves are checked against ``catalogue`` (default: the shipped seed).
    """
    parser = _Parser(catalogue)
    node = parser.node(obj, "$", 1)
    if parser.issues or node is None:
        raise CriteriaError(parser.issues or [CriteriaIssue("$", "criteria could not be read")])
    return node


def to_json(node: Node) -> dict[str, object]:
    """The canonical JSON form: fixed key order, codes in their display form (``G25.81``)."""
    if isinstance(node, All):
        return {"all": [to_json(child) for child in node.children]}
    if isinstance(node, Any):
        return {"any": [to_json(child) for child in node.children]}
    if isinstance(node, Not):
        return {"not": to_json(node.child)}
    if isinstance(node, Condition | Medication):
        kind = "condition" if isinstance(node, Condition) else "medication"
        leaf: dict[str, object] = {kind: node.display}
        for key in QUALIFIER_KEYS:
            if getattr(node, key) is not None:
                leaf[key] = getattr(node, key)
        return leaf
    if isinstance(node, QuestionLeaf):
        from panel_service.domain.criteria.questions import question_to_json

        return question_to_json(node)
    value: object = list(node.value) if isinstance(node.value, tuple) else node.value
    return {"field": node.field, "op": node.op, "value": value}


def canonical_json(node: Node) -> str:
    return json.dumps(to_json(node), separators=(",", ":"), ensure_ascii=False)


def criteria_hash(node: Node) -> str:
    """SHA-256 (hex) of the canonical JSON: equal criteria, however written, share one hash."""
    return hashlib.sha256(canonical_json(node).encode("utf-8")).hexdigest()
