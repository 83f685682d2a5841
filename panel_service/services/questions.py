"""The stored question catalogue and volunteers' answers (ARCHITECTURE §4a).

``load_seed`` runs after every ``panel db upgrade``: it adds the shipped questions that are not
stored yet and updates the wording, help, section and option wording of those that are. It
never changes a stored key's type (it reports the clash instead) and never un-retires or removes
a question. ``load_catalogue`` is the shipped seed overlaid by the stored rows, so the stable
keys are known even to a database whose seed has not been loaded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import typing as t
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Text, cast, delete, func, select
from sqlalchemy.orm import Session, object_session

from panel_service.domain.questions import (
    OPS_BY_TYPE,
    Answer,
    AnswerValue,
    Catalogue,
    Question,
    QuestionDataError,
    answer_to_json,
    derive,
    question_from_data,
    question_to_data,
    seed_catalogue,
    seed_data,
)
from panel_service.models import Profile
from panel_service.models.questions import ProfileAnswer, QuestionRow
from panel_service.queries.catalogue import catalogue_stamp

log = logging.getLogger(__name__)


class QuestionChangeRefused(ValueError):
    """A change the catalogue forbids (a key or type of an answered question)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def load_seed(session: Session) -> list[str]:
    """Add and update the shipped questions; returns what it did, one line per change."""
    stored = {row.key: row for row in session.scalars(select(QuestionRow))}
    changes: list[str] = []
    items: list[dict[str, Any]] = seed_data()["questions"]  # type: ignore[assignment]
    for position, item in enumerate(items):
        question = question_from_data(item)
        row = stored.get(question.key)
        data = question_to_data(question)
        if row is None:
            session.add(
                QuestionRow(
                    key=question.key,
                    type=question.type,
                    section=question.section,
                    data=data,
                    position=position,
                )
            )
            changes.append(f"added {question.key}")
            continue
        if row.type != question.type:
            changes.append(
                f"kept {question.key} as {row.type}: the seed says {question.type}, and a type never changes"
            )
            log.warning("question %s: stored type %s kept (seed says %s)", row.key, row.type, question.type)
            continue
        merged = _merge_wording(row.data, data)
        if merged != row.data:
            row.data = merged
            row.section = question.section
            row.updated_at = _now()
            changes.append(f"updated {question.key}")
    session.flush()
    return changes


def _merge_wording(stored: Mapping[str, Any], seed: Mapping[str, Any]) -> dict[str, Any]:
    """The stored question with the seed's wording, help, section and options (new options added,
    wording of existing ones updated; options only the store has are kept)."""
    merged = dict(stored)
    for name in (
        "wording",
        "help",
        "section",
        "unit",
        "min",
        "max",
        "applies_to",
        "value_for_others",
        "items",
        "scoring",
    ):
        if name in seed:
            merged[name] = seed[name]
    if "options" in seed:
        options = {option["key"]: dict(option) for option in stored.get("options", [])}
        for option in seed["options"]:
            options[option["key"]] = dict(option)
        merged["options"] = list(options.values())
    return merged


P = ParamSpec("P")
R = TypeVar("R")
CATALOGUE_KEY = "panel.catalogue"


def load_catalogue(session: Session) -> Catalogue:
    """The seed overlaid by the stored questions (admins' additions, wording and retirements).

    Read once per session (a request, a job) and kept in ``session.info``: a page listing twenty
    studies must not read the catalogue twenty times. Changes made through this module drop it."""
    cached = session.info.get(CATALOGUE_KEY)
    if isinstance(cached, Catalogue):
        return cached
    catalogue = _read_catalogue(session)
    session.info[CATALOGUE_KEY] = catalogue
    return catalogue


def _forget_catalogue(session: Session) -> None:
    session.info.pop(CATALOGUE_KEY, None)


def fresh_catalogue(session: Session) -> Catalogue:
    """The catalogue read again: for a session that outlived a change made in another one."""
    _forget_catalogue(session)
    return load_catalogue(session)


def _changes_catalogue(change: Callable[P, R]) -> Callable[P, R]:
    """Drop the session's cached catalogue around a change to the stored questions."""

    @functools.wraps(change)
    def changed(*args: P.args, **kwargs: P.kwargs) -> R:
        session = args[0]
        assert isinstance(session, Session)
        _forget_catalogue(session)
        try:
            return change(*args, **kwargs)
        finally:
            _forget_catalogue(session)

    return changed


# The stored rows as read for a catalogue: key, type, the data as the database's own text, and
# when the question was retired. Equal rows make an equal catalogue.
StoredRows = tuple[tuple[str, str, str, "dt.datetime | None"], ...]
# Catalogues already built, by the rows they were built from, shared by every session of the
# process. Each session still reads the rows (one statement, so a change committed anywhere is
# seen by the next request, exactly as before); only parsing them again (about 40 questions,
# a few milliseconds of every page that shows criteria or questions) is skipped when they are
# unchanged. Catalogues are never modified once built.
_BUILT: dict[StoredRows, Catalogue] = {}
_BUILT_MAX = 8
# The same catalogues by the stamp of the rows they were built from (``queries.catalogue``,
# PostgreSQL only), recorded only from a statement that read the rows and their stamp together
# (one snapshot), so a stamp always names the catalogue of exactly those rows.
_STAMPED: dict[str, Catalogue] = {}


def _read_catalogue(session: Session) -> Catalogue:
    stamp_column = catalogue_stamp(session.get_bind().dialect.name).label("stamp")
    query = select(
        QuestionRow.key, QuestionRow.type, cast(QuestionRow.data, Text), QuestionRow.retired_at, stamp_column
    )
    read = session.execute(query.order_by(QuestionRow.position, QuestionRow.key)).all()
    rows: StoredRows = tuple((row[0], row[1], row[2], row[3]) for row in read)
    built = _BUILT.get(rows)
    if built is None:
        built = _build_catalogue(rows)
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.clear()
        _BUILT[rows] = built
    stamp = read[0][4] if read else None
    if stamp is not None:
        if len(_STAMPED) >= _BUILT_MAX:
            _STAMPED.clear()
        _STAMPED[stamp] = built
    return built


def catalogue_by_stamp(session: Session, stamp: str | None) -> None:
    """For a session that has just read the catalogue's stamp (``queries.catalogue``) in one of
    its statements: when this process has built the catalogue of rows with that stamp, the
    session takes it (``load_catalogue`` then sends no statement); otherwise nothing changes and
    the rows are read when the catalogue is first needed."""
    if stamp is None or isinstance(session.info.get(CATALOGUE_KEY), Catalogue):
        return
    known = _STAMPED.get(stamp)
    if known is not None:
        session.info[CATALOGUE_KEY] = known


def _build_catalogue(rows: StoredRows) -> Catalogue:
    seed = seed_catalogue()
    questions: dict[str, Question] = dict(seed)
    for key, type_, data, retired_at in rows:
        try:
            question = question_from_data({**json.loads(data), "key": key, "type": type_})
        except (QuestionDataError, json.JSONDecodeError, TypeError):
            log.exception("stored question %s cannot be read; the seed's version is used", key)
            continue
        if retired_at is not None:
            question = dataclasses.replace(question, retired=True)
        questions[key] = question
    return Catalogue(list(questions.values()), seed.sections)


def catalogue_of(instance: object) -> Catalogue | None:
    """The catalogue as seen by the session ``instance`` (e.g. a study version) belongs to; None
    (the shipped seed) for a detached one."""
    session = object_session(instance)
    return load_catalogue(session) if session is not None else None


def is_answered(session: Session, key: str) -> bool:
    return session.scalar(select(func.count()).where(ProfileAnswer.key == key).limit(1)) != 0


@_changes_catalogue
def add_question(session: Session, data: Mapping[str, Any]) -> Question:
    question = question_from_data(data)
    if session.get(QuestionRow, question.key) is not None or question.key in seed_catalogue():
        raise QuestionChangeRefused(f"a question with the key {question.key} already exists")
    position = (session.scalar(select(func.max(QuestionRow.position))) or 0) + 1
    session.add(
        QuestionRow(
            key=question.key,
            type=question.type,
            section=question.section,
            data=question_to_data(question),
            position=position,
        )
    )
    session.flush()
    return question


@_changes_catalogue
def update_question(session: Session, key: str, data: Mapping[str, Any]) -> Question:
    """Replace a question's definition; its key and type never change once answered."""
    catalogue = load_catalogue(session)
    current = catalogue.get(key)
    if current is None:
        raise QuestionChangeRefused(f"no question {key}")
    new_key, new_type = data.get("key", key), data.get("type", current.type)
    if (new_key != key or new_type != current.type) and is_answered(session, key):
        raise QuestionChangeRefused(
            f"{key} has been answered, so its key and type can no longer change; retire it and add a new question"
        )
    if new_key != key:
        raise QuestionChangeRefused("a question's key cannot change; retire it and add a new question")
    question = question_from_data({**data, "key": key, "type": new_type})
    row = session.get(QuestionRow, key)
    if row is None:
        row = QuestionRow(key=key, type=question.type, section=question.section, data={}, position=0)
        session.add(row)
    row.type = question.type
    row.section = question.section
    row.data = question_to_data(question)
    row.updated_at = _now()
    session.flush()
    return question


@_changes_catalogue
def retire_question(session: Session, key: str, retired: bool = True) -> None:
    row = session.get(QuestionRow, key)
    if row is None:
        question = load_catalogue(session).get(key)
        if question is None:
            raise QuestionChangeRefused(f"no question {key}")
        row = QuestionRow(
            key=key, type=question.type, section=question.section, data=question_to_data(question)
        )
        session.add(row)
    row.retired_at = _now() if retired else None
    session.flush()


# -- answers ---------------------------------------------------------------------------------


def typed_columns(question: Question, value: AnswerValue) -> dict[str, Any]:
    """The stored columns of one answer: the JSON value and the one typed column for SQL."""
    columns: dict[str, Any] = {
        "value": answer_to_json(value),
        "value_num": None,
        "value_text": None,
        "value_date": None,
    }
    if question.type in ("boolean", "integer", "decimal"):
        columns["value_num"] = float(value)  # type: ignore[arg-type]
    elif question.type == "choice":
        columns["value_text"] = value
    elif question.type == "multi_choice":
        columns["value_text"] = "|" + "|".join(sorted(value)) + "|"  # type: ignore[arg-type]
    else:
        columns["value_date"] = value
    return columns


def stored_value(value: Any, value_date: dt.date | None) -> AnswerValue:
    """An answer's typed value from its stored columns (no catalogue needed)."""
    if value_date is not None:
        return value_date
    if isinstance(value, list):
        return frozenset(str(item) for item in value)
    return t.cast(AnswerValue, value)


def load_answers(session: Session, participant_ids: Iterable[int]) -> dict[int, dict[str, Answer]]:
    rows = session.execute(
        select(
            ProfileAnswer.participant_id,
            ProfileAnswer.key,
            ProfileAnswer.value,
            ProfileAnswer.value_date,
            ProfileAnswer.answered_on,
        ).where(ProfileAnswer.participant_id.in_(list(participant_ids)))
    )
    result: dict[int, dict[str, Answer]] = {}
    for participant_id, key, value, value_date, answered_on in rows:
        result.setdefault(participant_id, {})[key] = Answer(stored_value(value, value_date), answered_on)
    return result


def answers_of(session: Session, participant_id: int) -> dict[str, Answer]:
    return load_answers(session, [participant_id]).get(participant_id, {})


def replace_answers(
    session: Session,
    participant_id: int,
    answers: Mapping[str, Answer],
    catalogue: Catalogue,
    removed: Iterable[str] = (),
) -> dict[str, Answer]:
    """Store a volunteer's answers (instruments derived from their items), replacing those given.

    Keys not in ``answers`` are left as they are; a scored instrument is recomputed from all the
    volunteer's items, and dropped when they are no longer all answered.
    """
    current = answers_of(session, participant_id)
    kept = {key: answer for key, answer in current.items() if key not in set(removed)}
    merged = derive(catalogue, {**kept, **answers})
    write = {key: answer for key, answer in merged.items() if current.get(key) != answer}
    gone = [key for key in current if key not in merged]
    if write or gone:
        session.execute(
            delete(ProfileAnswer).where(
                ProfileAnswer.participant_id == participant_id, ProfileAnswer.key.in_([*write, *gone])
            )
        )
    for key, answer in write.items():
        session.add(
            ProfileAnswer(
                participant_id=participant_id,
                key=key,
                answered_on=answer.answered_on,
                **typed_columns(catalogue[key], answer.value),
            )
        )
    session.flush()
    return merged


def answer_rows(
    participant_id: int, answers: Mapping[str, Answer], catalogue: Catalogue
) -> list[dict[str, Any]]:
    """Insertable rows for ``profile_answers`` (the bulk import), instruments already derived."""
    return [
        {
            "participant_id": participant_id,
            "key": key,
            "answered_on": answer.answered_on,
            **typed_columns(catalogue[key], answer.value),
        }
        for key, answer in derive(catalogue, answers).items()
        if key in catalogue
    ]


def question_json(question: Question, catalogue: Catalogue) -> dict[str, Any]:
    """A question as the API shows it: its definition, its section's title and its criteria ops."""
    data = question_to_data(question)
    return {
        **data,
        "section_title": dict(catalogue.sections.get(question.section, {})),
        "options": data.get("options", []),
        "unit": question.unit,
        "min": question.minimum,
        "max": question.maximum,
        "applies_to": data.get("applies_to"),
        "value_for_others": data.get("value_for_others"),
        "items": list(question.items),
        "scoring": dict(question.scoring),
        "ops": list(OPS_BY_TYPE[question.type]),
        "retired": question.retired,
    }


def save_volunteer_answers(
    session: Session,
    participant_id: int,
    answers: Mapping[str, Answer],
    removed: Iterable[str],
    catalogue: Catalogue,
) -> dict[str, Answer]:
    """A volunteer's own answers from the form: stored, and ``smoker`` made to agree with
    ``smoking_status`` (§4a). The caller queues the re-match (``matching.request_profile_match``)."""
    if session.get(Profile, participant_id) is None:
        session.add(Profile(participant_id=participant_id))
        session.flush()
    merged = replace_answers(session, participant_id, answers, catalogue, removed)
    status = merged.get("smoking_status")
    if "smoking_status" in answers and status is not None:
        profile = session.get(Profile, participant_id)
        assert profile is not None
        profile.smoker = status.value == "current"
    session.flush()
    return merged


def volunteer_sex(session: Session, participant_id: int) -> str | None:
    """The sex a volunteer told us (whom a question applies to), or None."""
    profile = session.get(Profile, participant_id)
    return None if profile is None else profile.sex


def sync_smoking_status(session: Session, participant_id: int, smoker: bool | None, today: dt.date) -> None:
    """``smoker`` was just answered (the profile form): ``true`` means ``smoking_status`` current;
    ``false`` leaves it as it is unless it said current, which is then unanswered (§4a)."""
    status = answers_of(session, participant_id).get("smoking_status")
    if smoker is True and (status is None or status.value != "current"):
        replace_answers(
            session, participant_id, {"smoking_status": Answer("current", today)}, seed_catalogue()
        )
    elif smoker is False and status is not None and status.value == "current":
        replace_answers(session, participant_id, {}, seed_catalogue(), removed=["smoking_status"])
