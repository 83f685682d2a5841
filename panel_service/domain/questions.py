"""The question catalogue (ARCHITECTURE §4a): questions as data, answers checked against them.

Pure: no Flask, no models. The catalogue is a value (``Catalogue``) that callers pass in — the
shipped seed (``seed_catalogue()``, read from ``domain/data/questions.json``) or the one stored
in the database (``services.questions.load_catalogue``). The criteria validator, the profile
JSON reader and the forms all take it as an argument.

A question has a ``type``:

- ``boolean``; ``integer`` and ``decimal`` (optional ``unit``, ``min``, ``max``);
- ``choice`` (one option key) and ``multi_choice`` (a set of option keys);
- ``date`` (``YYYY-MM-DD``).

``applies_to`` (``{"sex": [...]}``) names whom a question is asked; for everyone else the
answer is ``value_for_others`` (``breastfeeding`` is false for men), or *not applicable* when
that is null (``menopausal_status`` for men): no value, so every test on it is false except
``ne`` (a man is not "premenopausal"). A scored instrument (``phq9``, ``gad7``) lists its
``items`` (choice questions) and a ``scoring`` of their options; its value is the sum, known
only once every item is answered, and dated by the oldest item's answer.

``smoker`` (the version-1 profile field) and ``smoking_status`` agree: ``current`` means smoker,
``never`` and ``former`` mean not; ``smoker: true`` alone means ``current``; ``smoker: false``
alone leaves ``smoking_status`` unanswered (``agree_smoking``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources

from panel_service.domain.vocab import LANGUAGES, SEXES

QUESTION_TYPES = ("boolean", "integer", "decimal", "choice", "multi_choice", "date")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
OPTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
RESERVED_OPTIONS = ("true", "false")
MAX_MAGNITUDE = 10**9
# Ops per question type (ARCHITECTURE §4a): "has" is one option of a multi_choice.
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "boolean": ("eq", "ne"),
    "integer": ("eq", "ne", "lt", "le", "gt", "ge", "between", "in"),
    "decimal": ("eq", "ne", "lt", "le", "gt", "ge", "between"),
    "choice": ("eq", "ne", "in"),
    "multi_choice": ("has",),
    "date": ("eq", "ne", "lt", "le", "gt", "ge", "between"),
}

AnswerValue = bool | int | float | str | dt.date | frozenset[str]


@dataclass(frozen=True)
class Option:
    key: str
    wording: Mapping[str, str] = field(compare=False, hash=False)

    def text(self, language: str = "en") -> str:
        return self.wording.get(language) or self.wording.get("en") or self.key


@dataclass(frozen=True)
class Question:
    key: str
    type: str
    section: str = "other"
    wording: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    help: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    options: tuple[Option, ...] = ()
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    applies_to: tuple[str, ...] | None = None  # sexes asked; None = everyone
    value_for_others: AnswerValue | None = None
    items: tuple[str, ...] = ()
    scoring: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    retired: bool = False

    @property
    def option_keys(self) -> tuple[str, ...]:
        return tuple(option.key for option in self.options)

    @property
    def scored(self) -> bool:
        return bool(self.items)

    def text(self, language: str = "en") -> str:
        return self.wording.get(language) or self.wording.get("en") or self.key

    def help_text(self, language: str = "en") -> str:
        return self.help.get(language) or self.help.get("en") or ""

    def option(self, key: str) -> Option | None:
        return next((option for option in self.options if option.key == key), None)

    def applies(self, sex: str | None) -> bool:
        """Whether this question is asked of someone of ``sex`` (unknown sex: asked)."""
        return self.applies_to is None or sex is None or sex in self.applies_to


class Catalogue(Mapping[str, Question]):
    """Questions by key, in catalogue order, plus section titles."""

    def __init__(self, questions: list[Question], sections: Mapping[str, Mapping[str, str]] | None = None):
        self._questions = {question.key: question for question in questions}
        self.sections: dict[str, Mapping[str, str]] = dict(sections or {})
        self._item_of = {item: q.key for q in questions for item in q.items}
        # The scored instruments in catalogue order (``derive`` runs once per imported line).
        self.instruments: tuple[Question, ...] = tuple(q for q in self._questions.values() if q.scored)

    def __getitem__(self, key: str) -> Question:
        return self._questions[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._questions)

    def __len__(self) -> int:
        return len(self._questions)

    def instrument_of(self, item_key: str) -> str | None:
        return self._item_of.get(item_key)

    def section_title(self, section: str, language: str = "en") -> str:
        titles = self.sections.get(section, {})
        return titles.get(language) or titles.get("en") or section.replace("_", " ").capitalize()


class QuestionDataError(ValueError):
    """A catalogue entry that cannot be read; the message names the key."""


def _wording(obj: object, where: str) -> dict[str, str]:
    if obj is None:
        return {}
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise QuestionDataError(f"{where}: expected {{language: text}}")
    return {language: text for language, text in obj.items() if language in LANGUAGES}


def question_from_data(obj: Mapping[str, object]) -> Question:
    """A question from its JSON form (the seed file and the stored row share it)."""
    key = obj.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise QuestionDataError(
            f"question key {key!r}: lower-case letters, digits and _, starting with a letter"
        )
    kind = obj.get("type")
    if kind not in QUESTION_TYPES:
        raise QuestionDataError(f"{key}: type must be one of {', '.join(QUESTION_TYPES)}")
    options = []
    for item in obj.get("options") or []:  # type: ignore[attr-defined]
        if not isinstance(item, dict) or not OPTION_PATTERN.match(str(item.get("key", ""))):
            raise QuestionDataError(f"{key}: an option needs a key of lower-case letters, digits and _")
        if item["key"] in RESERVED_OPTIONS:  # the text form reads these as booleans
            raise QuestionDataError(f"{key}: {item['key']} cannot be an option key")
        options.append(Option(item["key"], _wording(item.get("wording"), f"{key}.{item['key']}")))
    if kind in ("choice", "multi_choice") and not options:
        raise QuestionDataError(f"{key}: a {kind} question needs options")
    applies = obj.get("applies_to")
    applies_to: tuple[str, ...] | None = None
    if applies:
        sexes = applies.get("sex") if isinstance(applies, dict) else None
        if not isinstance(sexes, list) or not sexes or not set(sexes) <= set(SEXES):
            raise QuestionDataError(f'{key}: applies_to is {{"sex": [{", ".join(SEXES)}]}}')
        applies_to = tuple(sorted(sexes))
    question = Question(
        key=key,
        type=str(kind),
        section=str(obj.get("section") or "other"),
        wording=_wording(obj.get("wording"), key),
        help=_wording(obj.get("help"), key),
        options=tuple(options),
        unit=str(obj["unit"]) if obj.get("unit") else None,
        minimum=_number(obj.get("min")),
        maximum=_number(obj.get("max")),
        applies_to=applies_to,
        items=tuple(str(item) for item in obj.get("items") or []),  # type: ignore[attr-defined]
        scoring={str(k): int(v) for k, v in (obj.get("scoring") or {}).items()},  # type: ignore[attr-defined]
        retired=bool(obj.get("retired")),
    )
    others = obj.get("value_for_others")
    if others is not None:
        try:
            value = answer_value(question, others)
        except ValueError as error:
            raise QuestionDataError(f"{key}: value_for_others: {error}") from None
        question = dataclasses.replace(question, value_for_others=value)
    return question


def question_to_data(question: Question) -> dict[str, object]:
    data: dict[str, object] = {
        "key": question.key,
        "type": question.type,
        "section": question.section,
        "wording": dict(question.wording),
        "help": dict(question.help),
    }
    if question.options:
        data["options"] = [{"key": o.key, "wording": dict(o.wording)} for o in question.options]
    for name, value in (("unit", question.unit), ("min", question.minimum), ("max", question.maximum)):
        if value is not None:
            data[name] = value
    if question.applies_to is not None:
        data["applies_to"] = {"sex": list(question.applies_to)}
        data["value_for_others"] = answer_to_json(question.value_for_others)
    if question.items:
        data["items"] = list(question.items)
        data["scoring"] = dict(question.scoring)
    if question.retired:
        data["retired"] = True
    return data


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QuestionDataError(f"expected a number, got {value!r}")
    return value


@functools.cache
def seed_data() -> dict[str, object]:
    text = resources.files("panel_service.domain").joinpath("data/questions.json").read_text("utf-8")
    data: dict[str, object] = json.loads(text)
    return data


@functools.cache
def seed_catalogue() -> Catalogue:
    """The catalogue the package ships; ``panel db upgrade`` loads it into the database."""
    data = seed_data()
    questions = [question_from_data(item) for item in data["questions"]]  # type: ignore[attr-defined]
    sections = {item["key"]: item["title"] for item in data["sections"]}  # type: ignore[attr-defined]
    return Catalogue(questions, sections)


def answer_value(question: Question, value: object) -> AnswerValue:
    """The typed value of an answer given as JSON, or ``ValueError`` saying what is expected."""
    kind = question.type
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected true or false, got {json.dumps(value)}")
    if kind in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ValueError(f"expected a number, got {json.dumps(value)}")
        if not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
            raise ValueError("number out of range")
        if kind == "integer":
            if not float(value).is_integer():
                raise ValueError(f"expected a whole number, got {value}")
            value = int(value)
        elif float(value).is_integer():
            value = int(value)
        low = question.minimum if question.minimum is not None else -MAX_MAGNITUDE
        high = question.maximum if question.maximum is not None else MAX_MAGNITUDE
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low:g} to {high:g}, got {value}")
        return value
    if kind == "choice":
        if isinstance(value, str) and value in question.option_keys:
            return value
        raise ValueError(f"expected one of {', '.join(question.option_keys)}, got {json.dumps(value)}")
    if kind == "multi_choice":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"expected a list of options, got {json.dumps(value)}")
        unknown = [item for item in value if item not in question.option_keys]
        if unknown:
            raise ValueError(f"not an option of {question.key}: {', '.join(unknown)}")
        return frozenset(value)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value) if len(value) == 10 else _bad_date(value)
        except ValueError:
            pass
    raise ValueError(f"expected a date as YYYY-MM-DD, got {json.dumps(value)}")


def _bad_date(value: str) -> dt.date:
    raise ValueError(value)


def answer_to_json(value: AnswerValue | None) -> object:
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Answer:
    value: AnswerValue
    answered_on: dt.date


def score(question: Question, answers: Mapping[str, Answer]) -> Answer | None:
    """A scored instrument's value from its items; None while any item is unanswered."""
    given = [answers.get(item) for item in question.items]
    if any(answer is None for answer in given):
        return None
    known = [answer for answer in given if answer is not None]
    total = sum(question.scoring.get(str(answer.value), 0) for answer in known)
    return Answer(total, min(answer.answered_on for answer in known))


def derive(catalogue: Catalogue, answers: Mapping[str, Answer]) -> dict[str, Answer]:
    """Answers with every scored instrument computed from its items (a partly answered one dropped)."""
    result = {key: answer for key, answer in answers.items() if not _is_instrument(catalogue, key)}
    for question in catalogue.instruments:
        if question.items and question.items[0] not in result:
            continue  # an item unanswered: no score (what ``score`` answers, found sooner)
        total = score(question, result)
        if total is not None:
            result[question.key] = total
    return result


def _is_instrument(catalogue: Catalogue, key: str) -> bool:
    question = catalogue.get(key)
    return question is not None and question.scored


def agree_smoking(
    smoker: bool | None, answers: Mapping[str, Answer], *, smoker_given: bool, today: dt.date
) -> tuple[bool | None, dict[str, Answer]]:
    """Make ``smoker`` and ``smoking_status`` agree (§4a); the status wins when both are given.

    ``smoker_given``: the caller was told ``smoker`` now (an import line, the profile form), so
    ``smoker: true`` without a status means ``current``.
    """
    result = dict(answers)
    status = result.get("smoking_status")
    if status is not None:
        return status.value == "current", result
    if smoker_given and smoker is True:
        result["smoking_status"] = Answer("current", today)
    return smoker, result


def answers_from_json(
    catalogue: Catalogue, obj: object, today: dt.date, path: str = "answers"
) -> tuple[dict[str, Answer], list[tuple[str, str]]]:
    """``{"key": value}`` or ``{"key": {"value": v, "answered_on": "YYYY-MM-DD"}}`` → answers and errors.

    Scored instruments are not answered directly: their items are. Errors are ``(path, message)``.
    """
    errors: list[tuple[str, str]] = []
    answers: dict[str, Answer] = {}
    if obj is None:
        return answers, errors
    if not isinstance(obj, dict):
        return answers, [(path, 'expected an object such as {"smoking_status": "never"}')]
    for key, given in obj.items():
        where = f"{path}.{key}"
        question = catalogue.get(key)
        if question is None:
            errors.append((where, f"unknown question {json.dumps(key)}"))
            continue
        if question.scored:
            items = ", ".join(question.items)
            errors.append((where, f"{key} is scored from its items ({items}); answer those"))
            continue
        day = today
        value = given
        if isinstance(given, dict):
            unknown = [name for name in given if name not in ("value", "answered_on")]
            if unknown or "value" not in given:
                errors.append((where, 'expected {"value": ..., "answered_on": "YYYY-MM-DD"}'))
                continue
            value = given["value"]
            if "answered_on" in given:
                try:
                    day = dt.date.fromisoformat(str(given["answered_on"]))
                except ValueError:
                    errors.append((f"{where}.answered_on", "expected a date as YYYY-MM-DD"))
                    continue
                if day > today:
                    errors.append((f"{where}.answered_on", "lies in the future"))
                    continue
        if value is None:
            continue
        try:
            answers[key] = Answer(answer_value(question, value), day)
        except ValueError as error:
            errors.append((f"{where}.value" if isinstance(given, dict) else where, str(error)))
    return answers, errors


def answers_to_json(answers: Mapping[str, Answer], catalogue: Catalogue | None = None) -> dict[str, object]:
    """The JSON form of answers (instruments left out when ``catalogue`` says they are scored)."""
    return {
        key: {"value": answer_to_json(answer.value), "answered_on": answer.answered_on.isoformat()}
        for key, answer in sorted(answers.items())
        if catalogue is None or not _is_instrument(catalogue, key)
    }
