"""``question`` leaves (ARCHITECTURE §4a): validation against a catalogue, the JSON and text forms,
the test on a known answer, and explanations in English and Danish.

``{"question": "smoking_status", "op": "in", "value": ["current", "former"], "answered_within": "P12M"}``

Ops per question type are ``domain.questions.OPS_BY_TYPE``. Three values: an unanswered question
is UNKNOWN, and so is an answer given before today - ``answered_within``. For someone whose sex
the question does not apply to, the answer is the question's value for everyone else, always
current; when that is null (not applicable) only ``ne`` holds.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import typing as t
from collections.abc import Callable

from panel_service.domain.criteria.model import QuestionLeaf, QuestionValue
from panel_service.domain.history import duration_words, normalise_duration, subtract_duration
from panel_service.domain.questions import OPS_BY_TYPE, Answer, AnswerValue, Catalogue, Question

MAX_IN_VALUES = 200
MAX_MAGNITUDE = 10**9
SYMBOLS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _quote(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{'' if path == '$' else path}[{key}]"
    return key if path == "$" else f"{path}.{key}"


class QuestionParser:
    """Validates one ``question`` leaf, reporting each problem at its JSON path through ``fail``."""

    def __init__(self, fail: Callable[[str, str], None], catalogue: Catalogue) -> None:
        self.fail = fail
        self.catalogue = catalogue

    def leaf(self, obj: dict[str, object], path: str) -> QuestionLeaf | None:
        key, op = obj.get("question"), obj.get("op")
        question = self.catalogue.get(key) if isinstance(key, str) else None
        if question is None:
            self.fail(_join(path, "question"), f"unknown question {_quote(key)}; see GET /api/v1/questions")
            return None
        ops = OPS_BY_TYPE[question.type]
        if "op" not in obj:
            self.fail(path, 'missing key "op"')
            return None
        if op not in ops:
            self.fail(
                _join(path, "op"),
                f"op {_quote(op)} does not apply to the {question.type} question {_quote(key)}; "
                f"its ops are {', '.join(ops)}",
            )
            return None
        within = None
        if "answered_within" in obj:
            try:
                within = normalise_duration(t.cast(str, obj["answered_within"]))
            except ValueError:
                self.fail(
                    _join(path, "answered_within"),
                    "expected an ISO 8601 duration like P12M (one of P#D, P#W, P#M, P#Y; "
                    f"at most P100Y), got {_quote(obj['answered_within'])}",
                )
                return None
        if "value" not in obj:
            self.fail(path, 'missing key "value"')
            return None
        value = self.value(question, str(op), obj["value"], _join(path, "value"))
        if value is None:
            return None
        return QuestionLeaf(
            key=question.key,
            op=str(op),
            value=value,
            answered_within=within,
            type=question.type,
            applies_to=question.applies_to,
            value_for_others=question.value_for_others,
        )

    def value(self, question: Question, op: str, value: object, path: str) -> QuestionValue | None:
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                self.fail(path, f"between takes exactly two values [low, high], got {_quote(value)}")
                return None
            low = self.scalar(question, value[0], _join(path, 0))
            high = self.scalar(question, value[1], _join(path, 1))
            if low is None or high is None:
                return None
            if t.cast(t.Any, low) > high:
                self.fail(path, f"between needs low <= high, got {_quote(value)}")
                return None
            return (low, high)
        if op == "in":
            if not isinstance(value, list) or not value:
                self.fail(path, f"in takes a non-empty list of values, got {_quote(value)}")
                return None
            if len(value) > MAX_IN_VALUES:
                self.fail(path, f"in takes at most {MAX_IN_VALUES} values, got {len(value)}")
                return None
            items = [self.scalar(question, item, _join(path, index)) for index, item in enumerate(value)]
            if any(item is None for item in items):
                return None
            present = [item for item in items if item is not None]
            return tuple(sorted(set(present), key=t.cast(t.Any, None)))
        return self.scalar(question, value, path)

    def scalar(
        self, question: Question, value: object, path: str
    ) -> bool | int | float | str | dt.date | None:
        kind = question.type
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            self.fail(path, f"{question.key} takes true or false, got {_quote(value)}")
            return None
        if kind in ("choice", "multi_choice"):
            if isinstance(value, str) and value in question.option_keys:
                return value
            self.fail(
                path,
                f"{_quote(value)} is not an option of {question.key}; its options are "
                f"{', '.join(question.option_keys)}",
            )
            return None
        if kind == "date":
            if isinstance(value, str) and len(value) == 10:
                try:
                    return dt.date.fromisoformat(value)
                except ValueError:
                    pass
            self.fail(path, f"{question.key} takes a date as YYYY-MM-DD, got {_quote(value)}")
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))
            or not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE
        ):
            self.fail(path, f"{question.key} takes a number, got {_quote(value)}")
            return None
        if kind == "integer" and not float(value).is_integer():
            self.fail(path, f"{question.key} takes whole numbers, got {_quote(value)}")
            return None
        low = question.minimum if question.minimum is not None else -MAX_MAGNITUDE
        high = question.maximum if question.maximum is not None else MAX_MAGNITUDE
        if not low <= value <= high:
            self.fail(path, f"{question.key} takes a number from {low:g} to {high:g}, got {_quote(value)}")
            return None
        return int(value) if float(value).is_integer() else float(value)


def _json_value(value: object) -> object:
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def question_to_json(leaf: QuestionLeaf) -> dict[str, object]:
    obj: dict[str, object] = {"question": leaf.key, "op": leaf.op, "value": _json_value(leaf.value)}
    if leaf.answered_within is not None:
        obj["answered_within"] = leaf.answered_within
    return obj


def _text_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def question_text(leaf: QuestionLeaf) -> str:
    """``answer smoking_status in (current, former) answered within P12M``."""
    if leaf.op == "between":
        low, high = t.cast(tuple[object, object], leaf.value)
        test = f"between {_text_value(low)} and {_text_value(high)}"
    elif leaf.op == "in":
        test = "in (" + ", ".join(_text_value(item) for item in t.cast(tuple[object, ...], leaf.value)) + ")"
    elif leaf.op == "has":
        test = f"has {_text_value(leaf.value)}"
    else:
        test = f"{SYMBOLS[leaf.op]} {_text_value(leaf.value)}"
    within = f" answered within {leaf.answered_within}" if leaf.answered_within else ""
    return f"answer {leaf.key} {test}{within}"


def question_test(leaf: QuestionLeaf) -> Callable[[object], bool]:
    """The test on a known answer; ``None`` (not applicable) passes only ``ne``."""
    op, expected = leaf.op, leaf.value

    def test(value: object) -> bool:
        if value is None:
            return op == "ne"
        if op == "has":
            return expected in t.cast(frozenset[str], value)
        if op == "in":
            return value in t.cast(tuple[object, ...], expected)
        if op == "between":
            low, high = t.cast(tuple[t.Any, t.Any], expected)
            return bool(low <= value <= high)
        compare = {
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "lt": lambda a, b: a < b,
            "le": lambda a, b: a <= b,
            "gt": lambda a, b: a > b,
            "ge": lambda a, b: a >= b,
        }[op]
        return bool(compare(value, expected))

    return test


class QuestionCheck:
    """A ``question`` leaf over a profile's answers and sex: 0 (false), 1 (unknown) or 2 (true)."""

    __slots__ = ("leaf", "test")

    def __init__(self, leaf: QuestionLeaf) -> None:
        self.leaf = leaf
        self.test = question_test(leaf)

    def __call__(self, answers: t.Mapping[str, Answer] | None, sex: str | None, on: dt.date) -> int:
        leaf = self.leaf
        if leaf.applies_to is not None and sex is not None and sex not in leaf.applies_to:
            return 2 if self.test(leaf.value_for_others) else 0
        answer = None if answers is None else answers.get(leaf.key)
        if answer is None:
            return 1
        if leaf.answered_within is not None and answer.answered_on < subtract_duration(
            on, leaf.answered_within
        ):
            return 1
        return 2 if self.test(answer.value) else 0


# -- explanations ------------------------------------------------------------------------------

WORDS = {
    "en": {
        "unanswered": "you have not answered the question “{question}”",
        "stale": "you answered the question “{question}” on {day}, more than {ago} ago, so we need a newer answer",
        "others": "the question “{question}” is not asked of people whose sex is {sex}, so we count the answer as {answer}",
        "not_applicable": "not applicable",
        "known": "you answered “{question}” with {answer}",
        "is": ", and that is {wanted}",
        "is_not": ", and that is not {wanted}",
        "yes": "yes",
        "no": "no",
        "between": "between {low} and {high}",
        "in": "one of {values}",
        "has": "an answer that includes {value}",
        "or": " or ",
        "eq": "{value}",
        "ne": "anything other than {value}",
        "lt": "below {value}",
        "le": "at most {value}",
        "gt": "above {value}",
        "ge": "at least {value}",
        "sexes": {"female": "female", "male": "male", "other": "other"},
    },
    "da": {
        "unanswered": "du har ikke svaret på spørgsmålet “{question}”",
        "stale": "du svarede på spørgsmålet “{question}” den {day}, for mere end {ago} siden, så vi har brug for et nyere svar",
        "others": "spørgsmålet “{question}” stilles ikke til personer, hvis køn er {sex}, så vi regner svaret som {answer}",
        "not_applicable": "ikke relevant",
        "known": "du svarede “{question}” med {answer}",
        "is": ", og det er {wanted}",
        "is_not": ", og det er ikke {wanted}",
        "yes": "ja",
        "no": "nej",
        "between": "mellem {low} og {high}",
        "in": "en af {values}",
        "has": "et svar, der omfatter {value}",
        "or": " eller ",
        "eq": "{value}",
        "ne": "alt andet end {value}",
        "lt": "under {value}",
        "le": "højst {value}",
        "gt": "over {value}",
        "ge": "mindst {value}",
        "sexes": {"female": "kvinde", "male": "mand", "other": "andet"},
    },
}
DURATION_DA = {
    "day": "dag",
    "days": "dage",
    "week": "uge",
    "weeks": "uger",
    "month": "måned",
    "months": "måneder",
}
DURATION_DA |= {"year": "år", "years": "år"}


def _ago(duration: str, language: str) -> str:
    words = duration_words(duration)
    if language != "da":
        return words
    amount, _, unit = words.partition(" ")
    return f"{amount} {DURATION_DA.get(unit, unit)}"


def _answer_words(question: Question | None, value: object, language: str) -> str:
    words = WORDS.get(language, WORDS["en"])
    if value is None:
        return str(words["not_applicable"])
    if isinstance(value, bool):
        return f"“{words['yes'] if value else words['no']}”"
    if isinstance(value, frozenset):
        return ", ".join(_answer_words(question, item, language) for item in sorted(value)) or "-"
    if isinstance(value, str) and question is not None and question.option(value) is not None:
        return f"“{question.option(value).text(language)}”"  # type: ignore[union-attr]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    unit = f" {question.unit}" if question is not None and question.unit else ""
    return f"{value}{unit}"


def _wanted_words(leaf: QuestionLeaf, question: Question | None, language: str) -> str:
    words = WORDS.get(language, WORDS["en"])
    if leaf.op == "between":
        low, high = t.cast(tuple[object, object], leaf.value)
        return str(words["between"]).format(
            low=_answer_words(question, low, language), high=_answer_words(question, high, language)
        )
    if leaf.op == "in":
        values = str(words["or"]).join(
            _answer_words(question, item, language) for item in t.cast(tuple[object, ...], leaf.value)
        )
        return str(words["in"]).format(values=values)
    return str(words[leaf.op]).format(value=_answer_words(question, leaf.value, language))


def question_sentence(
    leaf: QuestionLeaf,
    result: int,
    answers: t.Mapping[str, Answer] | None,
    sex: str | None,
    on: dt.date,
    catalogue: Catalogue,
    language: str = "en",
) -> tuple[str, str | None]:
    """The sentence for a question leaf and, when it is unknown, the question that would settle it."""
    words = WORDS.get(language, WORDS["en"])
    question = catalogue.get(leaf.key)
    wording = question.text(language) if question is not None else leaf.key
    if leaf.applies_to is not None and sex is not None and sex not in leaf.applies_to:
        sexes = t.cast(dict[str, str], words["sexes"])
        return (
            str(words["others"]).format(
                question=wording,
                sex=sexes.get(sex, sex),
                answer=_answer_words(question, leaf.value_for_others, language),
            ),
            None,
        )
    answer = None if answers is None else answers.get(leaf.key)
    if answer is None:
        return str(words["unanswered"]).format(question=wording), wording
    if result == 1:
        ago = _ago(leaf.answered_within or "P1D", language)
        return str(words["stale"]).format(
            question=wording, day=answer.answered_on.isoformat(), ago=ago
        ), wording
    sentence = str(words["known"]).format(
        question=wording, answer=_answer_words(question, answer.value, language)
    )
    tail = words["is"] if result == 2 else words["is_not"]
    return sentence + str(tail).format(wanted=_wanted_words(leaf, question, language)), None


__all__ = [
    "AnswerValue",
    "QuestionCheck",
    "QuestionParser",
    "question_sentence",
    "question_test",
    "question_text",
    "question_to_json",
]
