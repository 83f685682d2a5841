"""The readable text form: ``age between 18 and 75 and has condition G25.8 and not takes A12CC``.

Hand-written recursive descent rather than lark: the language is tiny (three precedence levels
and one leaf rule per kind), a hand-written parser reports errors in the panel's own words
("expected a value after 'between'") with line, column and caret without translating lark's
token names, it has no grammar file to ship, and it costs nothing at import.

The parser builds the JSON form and hands it to ``parse_json``, so the two forms share one
validator and one normal tree. The printer emits the minimal text for that tree and parses back
to it: ``parse_text(to_text(node)) == node`` for every normal tree.

Grammar (keywords are case-insensitive)::

    expr   := and_ ("or" and_)*
    and_   := unary ("and" unary)*
    unary  := "not" unary | "(" expr ")" | leaf
    leaf   := "has" "condition" CODE qualifier* | "takes" CODE qualifier* | "smoker" | "pregnant"
            | FIELD test | "answer" KEY (test | "has" value) ["answered" "within" DURATION]
    test   := ("=" | "!=" | "<" | "<=" | ">" | ">=") value
            | "between" value "and" value | "in" "(" value ("," value)* ")"
    value  := NUMBER | WORD | "true" | "false"
    qualifier := "currently" | "formerly" | "within" DURATION | "for" "at" "least" DURATION

Qualifiers (§4a) follow the code, at most one of each, printed in that order:
``has condition I21 within P12M``, ``takes A12CC currently``, ``has condition G25.8 for at least
P1Y``, ``not takes A12CC within P3M``. ``currently`` is ``"current": true`` and ``formerly``
``"current": false``; a DURATION is ISO 8601 with one component (``P14D``, ``P2W``, ``P3M``,
``P1Y``).

A ``question`` leaf (§4a) is ``answer`` and the question's key, then a test as for a field, or
``has OPTION`` for a multi_choice, then optionally ``answered within DURATION``:
``answer smoking_status in (current, former)``, ``answer phq9 >= 10 answered within P3M``,
``answer languages has da``, ``answer breastfeeding = false``. Dates are written ``2025-01-31``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from panel_service.domain import json_input
from panel_service.domain.criteria.errors import CriteriaError, CriteriaIssue, CriteriaSyntaxError
from panel_service.domain.criteria.json_form import parse_json
from panel_service.domain.criteria.model import (
    BOOLEAN_FIELDS,
    FIELDS,
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
from panel_service.domain.criteria.questions import question_text
from panel_service.domain.questions import Catalogue

OP_SYMBOLS = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
SYMBOL_OF_OP = {op: symbol for symbol, op in OP_SYMBOLS.items()}
TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<punct><=|>=|!=|==|[=<>(),])
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.-]))
  | (?P<word>[A-Za-z0-9_][A-Za-z0-9_.\-]*)
    """,
    re.VERBOSE,
)
MAX_NUMBER_TEXT = 40
KEYWORDS = {"and", "or", "not", "has", "condition", "takes", "between", "in", "true", "false"}
QUALIFIER_WORDS = {"currently": ("current", True), "formerly": ("current", False)}


@dataclass(frozen=True)
class Token:
    kind: str  # "punct", "number", "word" or "end"
    text: str
    offset: int

    @property
    def keyword(self) -> str:
        return self.text.lower() if self.kind == "word" else self.text

    def describe(self) -> str:
        return "the end of the text" if self.kind == "end" else repr(self.text)


def _tokenise(text: str) -> list[Token]:
    tokens: list[Token] = []
    offset = 0
    while offset < len(text):
        match = TOKEN.match(text, offset)
        if match is None:
            raise _syntax_error(f"unexpected character {text[offset]!r}", text, offset)
        kind = match.lastgroup or "space"
        if kind != "space":
            tokens.append(Token(kind, match.group(), offset))
        offset = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _syntax_error(message: str, text: str, offset: int) -> CriteriaSyntaxError:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return CriteriaSyntaxError(message, text, line, column)


class _TextParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenise(text)
        self.position = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.position]

    def advance(self) -> Token:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def error(self, message: str, token: Token | None = None) -> CriteriaSyntaxError:
        at = token or self.current
        return _syntax_error(f"{message}, found {at.describe()}", self.text, at.offset)

    def expect(self, keyword: str, after: str) -> None:
        if self.current.keyword != keyword:
            raise self.error(f"expected {keyword!r} after {after!r}")
        self.advance()

    def parse(self) -> dict[str, object]:
        if self.current.kind == "end":
            raise self.error("expected criteria")
        tree = self.disjunction()
        if self.current.kind != "end":
            raise self.error("expected 'and', 'or' or the end of the criteria")
        return tree

    def disjunction(self) -> dict[str, object]:
        parts = [self.conjunction()]
        while self.current.keyword == "or":
            self.advance()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else {"any": parts}

    def conjunction(self) -> dict[str, object]:
        parts = [self.unary()]
        while self.current.keyword == "and":
            self.advance()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else {"all": parts}

    def unary(self) -> dict[str, object]:
        token = self.current
        if token.keyword == "not":
            self.advance()
            return {"not": self.unary()}
        if token.text == "(":
            self.advance()
            inner = self.disjunction()
            if self.current.text != ")":
                raise self.error("expected ')' to close the '(' opened earlier")
            self.advance()
            # A parenthesised group stays a group of its own: "(a and b) and c" is not flattened,
            # so that every tree, however nested, prints and parses back to itself.
            return {"group": inner}
        return self.leaf()

    def leaf(self) -> dict[str, object]:
        token = self.advance()
        keyword = token.keyword
        if keyword == "has":
            self.expect("condition", "has")
            return self.qualifiers({"condition": self.code("an ICD-10 code or range after 'has condition'")})
        if keyword == "takes":
            return self.qualifiers({"medication": self.code("an ATC code after 'takes'")})
        if keyword == "answer":
            return self.question_test()
        if keyword in BOOLEAN_FIELDS and not self.at_comparison():
            return {"field": keyword, "op": "eq", "value": True}
        if keyword in FIELDS:
            return self.field_test(keyword)
        raise self.error(
            "expected a criterion such as 'age >= 18', 'has condition G25.8', 'takes A12CC' or 'not ...'",
            token,
        )

    def question_test(self) -> dict[str, object]:
        """``answer KEY`` and a test (as a field's, or ``has OPTION``), then ``answered within D``."""
        token = self.current
        if token.kind != "word":
            raise self.error("expected a question key after 'answer'")
        self.advance()
        key = token.text
        if self.current.keyword == "has":
            self.advance()
            leaf: dict[str, object] = {"question": key, "op": "has", "value": self.value("has")}
        else:
            test = self.field_test(key)
            leaf = {"question": key, "op": test["op"], "value": test["value"]}
        if self.current.keyword == "answered":
            self.advance()
            self.expect("within", "answered")
            leaf["answered_within"] = self.duration("answered within")
        return leaf

    def qualifiers(self, leaf: dict[str, object]) -> dict[str, object]:
        while True:
            token = self.current
            keyword = token.keyword
            value: object
            if keyword in QUALIFIER_WORDS:
                self.advance()
                key, value = QUALIFIER_WORDS[keyword]
            elif keyword == "within":
                self.advance()
                key, value = "within", self.duration("within")
            elif keyword == "for":
                self.advance()
                self.expect("at", "for")
                self.expect("least", "for at")
                key, value = "for_at_least", self.duration("for at least")
            else:
                return leaf
            if key in leaf:
                raise self.error(f"{key.replace('_', ' ')} is already given for this code", token)
            leaf[key] = value

    def duration(self, after: str) -> str:
        token = self.current
        if token.kind != "word":
            raise self.error(f"expected a duration such as P3M after {after!r}")
        self.advance()
        return token.text

    def at_comparison(self) -> bool:
        return (
            self.current.text in OP_SYMBOLS
            or self.current.text == "=="
            or self.current.keyword
            in (
                "between",
                "in",
            )
        )

    def code(self, what: str) -> str:
        token = self.current
        if token.kind not in ("word", "number"):
            raise self.error(f"expected {what}")
        self.advance()
        return token.text

    def field_test(self, field: str) -> dict[str, object]:
        token = self.current
        if token.keyword == "between":
            self.advance()
            low = self.value("between")
            self.expect("and", "between ... ")
            return {"field": field, "op": "between", "value": [low, self.value("and")]}
        if token.keyword == "in":
            self.advance()
            return {"field": field, "op": "in", "value": self.value_list()}
        symbol = "=" if token.text == "==" else token.text
        if symbol not in OP_SYMBOLS:
            raise self.error(f"expected a comparison (=, !=, <, <=, >, >=, between, in) after {field!r}")
        self.advance()
        return {"field": field, "op": OP_SYMBOLS[symbol], "value": self.value(symbol)}

    def value_list(self) -> list[Scalar]:
        if self.current.text != "(":
            raise self.error("expected '(' after 'in'")
        self.advance()
        values = [self.value("(")]
        while self.current.text == ",":
            self.advance()
            values.append(self.value(","))
        if self.current.text != ")":
            raise self.error("expected ',' or ')' in the list of values")
        self.advance()
        return values

    def value(self, after: str) -> Scalar:
        token = self.current
        if token.kind == "number":
            self.advance()
            if len(token.text) > MAX_NUMBER_TEXT:
                # Hundreds of digits (int() refuses past 4,300): out of range whatever the field,
                # which the JSON validation then reports at the value's path.
                return math.inf
            number = float(token.text)
            return number if any(mark in token.text for mark in ".eE") else int(token.text)
        if token.kind == "word":
            self.advance()
            if token.keyword in ("true", "false"):
                return token.keyword == "true"
            return token.text
        raise self.error(f"expected a value after {after!r}")


def _ungroup(obj: object) -> object:
    """Replace the parser's ``group`` markers: a group directly inside a list stays a nested node."""
    if isinstance(obj, dict):
        if "group" in obj:
            return _ungroup(obj["group"])
        return {key: _ungroup(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_ungroup(item) for item in obj]
    return obj


def parse_text(text: str, catalogue: Catalogue | None = None) -> Node:
    """Parse the text form; syntax errors carry line, column and a caret line."""
    return parse_json(_ungroup(_TextParser(text).parse()), catalogue)


def parse_any(source: str | dict[str, object], catalogue: Catalogue | None = None) -> Node:
    """Criteria as a JSON object, as a string holding JSON, or as a string in the text form."""
    if isinstance(source, dict):
        return parse_json(source, catalogue)
    stripped = source.strip()
    if stripped.startswith(("{", "[", '"')):
        try:
            decoded = json_input.loads(source)
        except json.JSONDecodeError as error:
            message = f"not valid JSON: {error.msg}"
            raise CriteriaSyntaxError(message, source, error.lineno, error.colno) from None
        except RecursionError:
            raise CriteriaError([CriteriaIssue("$", "nested too deeply")]) from None
        except json_input.JSONInputError as error:
            raise CriteriaError(
                [CriteriaIssue(path, message) for path, message in error.fields.items()]
            ) from None
        return parse_text(decoded, catalogue) if isinstance(decoded, str) else parse_json(decoded, catalogue)
    if not stripped:
        raise CriteriaError([CriteriaIssue("$", "criteria are empty")])
    return parse_text(source, catalogue)


def _value_text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leaf_text(node: FieldLeaf) -> str:
    if node.field in BOOLEAN_FIELDS and node.op == "eq" and node.value is True:
        return node.field
    if node.op == "between":
        low, high = node.value  # type: ignore[str-unpack,misc]
        return f"{node.field} between {_value_text(low)} and {_value_text(high)}"
    if node.op == "in":
        values = ", ".join(_value_text(value) for value in node.value)  # type: ignore[union-attr]
        return f"{node.field} in ({values})"
    return f"{node.field} {SYMBOL_OF_OP[node.op]} {_value_text(node.value)}"  # type: ignore[arg-type]


def to_text(node: Node) -> str:
    """The text form of a tree; parentheses exactly where the tree needs them to read back."""
    if isinstance(node, All | Any):
        joiner = " and " if isinstance(node, All) else " or "
        return joiner.join(_operand_text(child) for child in node.children)
    if isinstance(node, Not):
        child = node.child
        if isinstance(child, All | Any):
            return f"not ({to_text(child)})"
        return f"not {to_text(child)}"
    if isinstance(node, Condition):
        return f"has condition {node.display}{_qualifiers_text(node)}"
    if isinstance(node, Medication):
        return f"takes {node.display}{_qualifiers_text(node)}"
    if isinstance(node, QuestionLeaf):
        return question_text(node)
    return _leaf_text(node)


def _qualifiers_text(node: Condition | Medication) -> str:
    words = ""
    if node.current is not None:
        words += " currently" if node.current else " formerly"
    if node.within is not None:
        words += f" within {node.within}"
    if node.for_at_least is not None:
        words += f" for at least {node.for_at_least}"
    return words


def _operand_text(child: Node) -> str:
    text = to_text(child)
    return f"({text})" if isinstance(child, All | Any) else text
