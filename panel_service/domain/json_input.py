"""Decoding JSON from outside (request bodies, criteria strings, files given to the CLI).

Python's ``json`` accepts more than Panel can store or compute with: lone surrogates
(``"\\ud800"`` decodes to a str that UTF-8 and PostgreSQL refuse), ``NaN`` and ``Infinity``,
floats such as ``1e400`` that become ``inf``, integers of hundreds of digits (and raises a bare
``ValueError`` deep inside the scanner past 4,300 digits), and NUL characters that PostgreSQL
refuses in text. ``loads`` decodes with hooks that never convert an absurd number, then walks
the result once and refuses it with the JSON path of every offending value, so callers answer
"``criteria.all[0].value``: number out of range" instead of failing later.
"""

from __future__ import annotations

import json
import math
import re
import typing as t

# Integers fit in a signed 64-bit column; nothing Panel stores or compares needs more.
MAX_INT = 2**63 - 1
# A float's text longer than this is not a measurement anyone typed.
MAX_FLOAT_TEXT = 64
MAX_DEPTH = 64
OUT_OF_RANGE = "number out of range"
NOT_A_NUMBER = "not a number JSON allows (NaN and Infinity are refused)"
LONE_SURROGATE = "contains invalid Unicode (a lone surrogate)"
CONTROL_CHARACTER = "contains a control character"
# C0 controls other than tab, line feed and carriage return, DEL, and every surrogate code point.
_REFUSED_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Escapes that may decode to a refused character: \b, \f, \u0000-\u001f, \u007f and surrogates
# (a false alarm, such as an escaped backslash before "u0000" or a valid surrogate pair, only
# sends the value through the full walk).
_REFUSED_ESCAPE = re.compile(r"\\(?:[bf]|u(?:00[01][0-9a-fA-F]|007[fF]|[dD][89a-fA-F][0-9a-fA-F]{2}))")


class JSONInputError(ValueError):
    """JSON that decodes but holds values Panel refuses; ``fields`` maps each JSON path to why."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{path}: {message}" for path, message in fields.items()))


class _Refused:
    """Stands in for a number the decoder would not convert; the walk reports it by path."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parse_int(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > 19:
        return _Refused(OUT_OF_RANGE)
    value = int(text)
    return value if -MAX_INT <= value <= MAX_INT else _Refused(OUT_OF_RANGE)


def _parse_float(text: str) -> float | _Refused:
    if len(text) > MAX_FLOAT_TEXT:
        return _Refused(OUT_OF_RANGE)
    value = float(text)
    return value if math.isfinite(value) else _Refused(OUT_OF_RANGE)


def _parse_constant(_text: str) -> _Refused:
    return _Refused(NOT_A_NUMBER)


def text_problem(value: str, *, multiline: bool = True) -> str | None:
    """Why a string may not be stored, or None: a lone surrogate, or a control character
    (tab and line breaks are allowed where ``multiline``)."""
    found = _REFUSED_CHARACTERS.search(value)
    if found is None:
        if multiline or ("\n" not in value and "\r" not in value):
            return None
        return CONTROL_CHARACTER
    return LONE_SURROGATE if _SURROGATE.match(found.group()) else CONTROL_CHARACTER


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{'' if path == '$' else path}[{key}]"
    return key if path == "$" else f"{path}.{key}"


def refusals(obj: object) -> dict[str, str]:
    """Every refused value in a decoded JSON value, by path (``$`` is the whole value)."""
    found: dict[str, str] = {}
    stack: list[tuple[object, str, int]] = [(obj, "$", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            found[path] = f"nested too deeply (at most {MAX_DEPTH} levels)"
        elif isinstance(value, _Refused):
            found[path] = value.reason
        elif isinstance(value, str):
            problem = text_problem(value)
            if problem:
                found[path] = problem
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = text_problem(key)
                if problem:
                    found[join_path(path, _printable(key))] = f"key {problem}"
                    continue
                stack.append((item, join_path(path, key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, join_path(path, index), depth + 1) for index, item in enumerate(value))
    return dict(sorted(found.items()))


def _clean(value: object, depth: int = 1) -> bool:
    """True when ``refusals`` would find nothing, strings aside: no refused number and nothing
    nested past ``MAX_DEPTH`` (depth counted as ``refusals`` counts it)."""
    if depth > MAX_DEPTH:
        return False
    items: t.Iterable[object]
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return not isinstance(value, _Refused)
    if value and depth >= MAX_DEPTH:
        return False  # its items would be past the limit
    for item in items:
        if isinstance(item, dict | list):
            if not _clean(item, depth + 1):
                return False
        elif isinstance(item, _Refused):
            return False
    return True


def _printable(key: str) -> str:
    return key.encode("unicode_escape").decode("ascii")


def loads(text: str | bytes | bytearray) -> t.Any:
    """``json.loads`` that refuses what Panel cannot use (see the module docstring). Raises
    ``json.JSONDecodeError`` for text that is not JSON and ``JSONInputError`` for JSON holding
    refused values."""
    value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    if (
        isinstance(text, str)
        and "\\" not in text
        and _REFUSED_CHARACTERS.search(text) is None
        and _clean(value)
    ):
        # No escape in the text and no refused character in it: no string or key can hold one
        # (JSON text cannot hold a raw control character in a string), so only numbers and depth
        # are left, which ``_clean`` checks without building paths (the bulk import's fast path).
        return value
    problems = refusals(value)
    if problems:
        raise JSONInputError(problems)
    return value
